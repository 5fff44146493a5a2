"""Cambricon's part of the mutating webhook (vendors spec §2.8).

HAMi only looks: a container "uses" Cambricon iff the count resource is in its limits, and
nothing is added or changed. We also read the container's MLU values once, so one that is not
an integer quantity is answered with a one-line denial instead of a pod that never schedules.
"""

from __future__ import annotations

from hami.config.vendors import CambriconConfig
from hami.device.common import LookOnlyAdmission


class CambriconAdmission(LookOnlyAdmission):
    """Implements :class:`hami.device.base.AdmissionMutator` for Cambricon."""

    def __init__(self, cfg: CambriconConfig) -> None:
        super().__init__(cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name)
        self.cfg = cfg
