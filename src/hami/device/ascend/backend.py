"""One Ascend model as a whole backend (:class:`hami.device.base.DeviceBackend`).

HAMi builds one backend per entry of ``vnpus.configs`` (``Ascend910A`` ... ``Ascend910C``); each
is keyed by its common word and has its own resources, annotations and templates. This class
only wires the role modules of the package to one model's config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.config.vendors import AscendModelConfig
from hami.device.ascend import fit, inventory, request, score
from hami.device.ascend.admission import AscendAdmission
from hami.device.ascend.annotations import pod_annotations as allocation_annotations
from hami.device.ascend.fit import AscendSelection
from hami.device.ascend.keys import NETWORK_WEIGHT, AscendKeys
from hami.device.base import (
    SHARED_LOCK,
    DeviceUsage,
    FitContext,
    FitResult,
    HealthKind,
    LockStyle,
)


class AscendBackend(AscendAdmission):
    """Every role of one Ascend model (the admission part is inherited)."""

    clears_stale_handshake = True

    health_kind: HealthKind = "handshake"
    fit_checks_quota = False
    lock_annotation = SHARED_LOCK
    lock_style: LockStyle = "owner"

    def __init__(self, cfg: AscendModelConfig, hami_vnpu_core: bool = False) -> None:
        super().__init__(cfg)
        self.keys = AscendKeys(cfg.common_word)
        self.hami_vnpu_core = hami_vnpu_core
        """Global ``vnpus.hamiVnpuCore``: nodes without ``hami-vnpu-core`` support hami-core."""

    def __repr__(self) -> str:
        return f"AscendBackend({self.type_keyword!r})"

    # --- RequestParser ----------------------------------------------------------------------

    @property
    def type_keyword(self) -> str:
        return self.cfg.common_word

    @property
    def to_allocate_annotation(self) -> str:
        return self.keys.to_allocate

    @property
    def allocated_annotation(self) -> str:
        return self.keys.allocated

    @property
    def resource_names(self) -> tuple[str, ...]:
        return request.resource_names(self.cfg)

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        return request.container_requests(pod, self.cfg)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return request.pod_has_managed_resources(pod, self.cfg)

    # --- NodeInventory / HealthCheck --------------------------------------------------------

    @property
    def register_annotation(self) -> str:
        return self.keys.register

    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        return inventory.node_devices(node, self.keys.register)

    @property
    def handshake_annotation(self) -> str:
        return self.keys.handshake

    @property
    def count_resource(self) -> str:
        return self.cfg.resource_name

    # --- DeviceFitter -----------------------------------------------------------------------

    @property
    def scores_nodes(self) -> bool:
        return score.scores_nodes(self.cfg.common_word)

    def pod_selection(self, annotations: Mapping[str, str]) -> AscendSelection:
        return fit.selection_from_annotations(annotations, self.keys)

    def fit_container(
        self,
        ordered: Sequence[DeviceUsage],
        req: ContainerRequest,
        selection: Any,
        ctx: FitContext,
    ) -> FitResult:
        sel = selection if isinstance(selection, AscendSelection) else AscendSelection()
        return fit.fit_container(
            ordered, req, sel, ctx, cw=self.cfg.common_word, hami_core_default=self.hami_vnpu_core
        )

    def score_node_bound(self, requests: Sequence[ContainerRequest]) -> float | None:
        """At most the ring weight per container that asks (each adds a share <= 1)."""
        return float(NETWORK_WEIGHT * len(requests)) if self.scores_nodes else 0.0

    def score_node(self, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
        return score.network_score(self.cfg.common_word, devices, picked)

    # --- AllocationWriter -------------------------------------------------------------------

    def pod_annotations(
        self, devices: PodSingleDevice, selection: Any, *, now: datetime
    ) -> dict[str, str]:
        hami_core = isinstance(selection, AscendSelection) and selection.hami_core
        return allocation_annotations(devices, self.keys, self.cfg, hami_core=hami_core, now=now)

    # --- QuotaNames / MetricTypes -----------------------------------------------------------

    @property
    def memory_resource(self) -> str:
        return self.cfg.resource_memory_name

    @property
    def core_resource(self) -> str:
        return self.cfg.resource_core_name

    @property
    def memory_factor(self) -> int:
        """``memoryFactor`` as applied (only above 1; the 910C default leaves it unset = 1)."""
        return max(self.cfg.memory_factor, 1)

    @property
    def metric_device_type(self) -> str:
        return self.cfg.common_word
