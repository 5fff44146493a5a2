"""The Hygon DCU backend: one object with every role of
:class:`hami.device.base.DeviceBackend`, built from the ``hygon:`` config section.

Legacy colon register annotation, the generic handshake on ``hami.io/node-handshake-dcu``,
standard fit with type and id filters, no score, the standard allocation pair and HAMi's
shared owner lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.config.vendors import HygonConfig
from hami.device.base import (
    SHARED_LOCK,
    DeviceUsage,
    FitContext,
    FitResult,
    HealthKind,
    LockStyle,
)
from hami.device.common import VendorResources, standard_annotations
from hami.device.hygon import fit, inventory, request
from hami.device.hygon.admission import HygonAdmission
from hami.device.hygon.keys import ALLOCATED, DCU, HANDSHAKE, REGISTER, TO_ALLOCATE


class HygonBackend(HygonAdmission, VendorResources):
    """Hygon DCU (common word ``DCU``)."""

    clears_stale_handshake = True

    type_keyword = DCU
    metric_device_type = DCU
    to_allocate_annotation: str | None = TO_ALLOCATE
    allocated_annotation = ALLOCATED
    register_annotation: str | None = REGISTER
    health_kind: HealthKind = "handshake"
    handshake_annotation: str | None = HANDSHAKE
    fit_checks_quota = False
    scores_nodes = False
    lock_annotation = SHARED_LOCK
    lock_style: LockStyle = "owner"

    def __init__(self, cfg: HygonConfig) -> None:
        HygonAdmission.__init__(self, cfg)
        VendorResources.__init__(
            self, cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name
        )

    # -- requests ----------------------------------------------------------------------------
    @property
    def memory_factor(self) -> int:
        return request.effective_factor(self.cfg)

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        return request.container_requests(pod, self.cfg)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return request.pod_has_managed_resources(pod, self.cfg)

    # -- inventory ---------------------------------------------------------------------------
    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        return inventory.node_devices(node)

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
        """The standard pair ({} when no container got a card)."""
        if not any(devices):
            return {}
        return standard_annotations(devices, TO_ALLOCATE, ALLOCATED)
