"""The Cambricon MLU backend: one object with every role of
:class:`hami.device.base.DeviceBackend`, built from the ``cambricon:`` config section.

Capacity-derived cards, always healthy, standard fit with quota, no score, the standard
allocation pair plus the dynamic-sMLU annotations, and Cambricon's own bare-time node lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.config.vendors import CambriconConfig
from hami.device.base import (
    DeviceUsage,
    FitContext,
    FitResult,
    HealthKind,
    LockStyle,
)
from hami.device.cambricon import allocation, fit, inventory, request
from hami.device.cambricon.admission import CambriconAdmission
from hami.device.cambricon.keys import ALLOCATED, DSMLU_LOCK, MEMORY_UNIT, MLU, TO_ALLOCATE
from hami.device.common import VendorResources


class CambriconBackend(CambriconAdmission, VendorResources):
    """Cambricon MLU (common word ``MLU``)."""

    clears_stale_handshake = True

    type_keyword = MLU
    metric_device_type = MLU
    to_allocate_annotation: str | None = TO_ALLOCATE
    allocated_annotation = ALLOCATED
    register_annotation: str | None = None
    health_kind: HealthKind = "always"
    handshake_annotation: str | None = None
    fit_checks_quota = True
    scores_nodes = False
    lock_annotation = DSMLU_LOCK
    lock_style: LockStyle = "bare-time"
    memory_factor = MEMORY_UNIT

    def __init__(self, cfg: CambriconConfig) -> None:
        CambriconAdmission.__init__(self, cfg)
        VendorResources.__init__(
            self, cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name
        )

    # -- requests ----------------------------------------------------------------------------
    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        return request.container_requests(pod, self.cfg)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return request.pod_has_managed_resources(pod, self.cfg)

    # -- inventory ---------------------------------------------------------------------------
    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        return inventory.node_devices(node, self.cfg)

    # -- fit ---------------------------------------------------------------------------------
    def pod_selection(self, annotations: Mapping[str, str]) -> fit.Selection:
        return fit.selection_from_annotations(annotations)

    def fit_container(
        self,
        ordered: Sequence[DeviceUsage],
        req: ContainerRequest,
        selection: fit.Selection,
        ctx: FitContext,
    ) -> FitResult:
        return fit.fit_container(ordered, req, selection, ctx)

    def score_node(self, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
        return 0.0

    # -- allocation --------------------------------------------------------------------------
    def pod_annotations(
        self, devices: PodSingleDevice, selection: Any, *, now: datetime
    ) -> dict[str, str]:
        return allocation.pod_annotations(devices)
