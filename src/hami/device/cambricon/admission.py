"""Cambricon's part of the mutating webhook (vendors spec §2.8).

HAMi only looks: a container "uses" Cambricon iff the count resource is in its limits, and
nothing is added or changed. We also read the container's MLU values once, so one that is not
an integer quantity is answered with a one-line denial instead of a pod that never schedules.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from hami.config.vendors import CambriconConfig
from hami.device.common import in_limits, resource_value


class CambriconAdmission:
    """Implements :class:`hami.device.base.AdmissionMutator` for Cambricon MLU."""

    def __init__(self, cfg: CambriconConfig) -> None:
        self.cfg = cfg

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        """Raises :class:`~hami.api.errors.DecodeError` when an MLU value is not an integer
        quantity; no other denial."""
        field = f"container {container.get('name', '')!s}"
        cfg = self.cfg
        for name in (cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name):
            resource_value(container, name, field)
        return None

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        """True when the count resource is in the limits; the container is left unchanged."""
        return in_limits(container, self.cfg.resource_count_name)

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Nothing to change at pod level."""
