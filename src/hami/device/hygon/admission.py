"""Hygon's part of the mutating webhook (vendors spec §3, step 8).

HAMi only looks: a container "uses" Hygon iff the count resource is in its limits, and nothing
is added or changed. We also read the container's DCU values once, so one that is not an
integer quantity is answered with a one-line denial instead of a pod that never schedules.
"""

from __future__ import annotations

from hami.config.vendors import HygonConfig
from hami.device.common import LookOnlyAdmission


class HygonAdmission(LookOnlyAdmission):
    """Implements :class:`hami.device.base.AdmissionMutator` for Hygon."""

    def __init__(self, cfg: HygonConfig) -> None:
        super().__init__(cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name)
        self.cfg = cfg
