"""One Iluvatar chip as a :class:`~hami.device.base.DeviceBackend` (vendors spec §4): request,
inventory, generic handshake, standard fit (score 0), standard annotations, the shared node
lock and the webhook part, all keyed by the chip's common word."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.config.vendors import IluvatarChipConfig
from hami.device.base import (
    SHARED_LOCK,
    DeviceUsage,
    FitContext,
    FitResult,
    HealthKind,
    LockStyle,
)
from hami.device.common import UuidFilter, VendorResources, standard_annotations
from hami.device.iluvatar import fit, inventory, request
from hami.device.iluvatar.admission import IluvatarAdmission
from hami.device.iluvatar.keys import MEMORY_UNIT_MIB, ChipKeys


class IluvatarBackend(IluvatarAdmission, VendorResources):
    """Everything HAMi's Iluvatar backend decides, for one entry of ``iluvatars:``."""

    health_kind: HealthKind = "handshake"
    clears_stale_handshake = False
    """HAMi's Iluvatar cleanup is a no-op (vendors §4.9): a node found unhealthy keeps its
    stale ``Requesting_`` stamp, so it stays unhealthy until the plugin reports again (Hygon and
    Ascend delete the stamp, and their nodes come back for 60 s on the next pass)."""
    fit_checks_quota = False
    scores_nodes = False
    lock_annotation = SHARED_LOCK
    lock_style: LockStyle = "owner"
    memory_factor = MEMORY_UNIT_MIB
    """Quota compares ``limits.<cw>.vMem`` in MiB: one unit is 256 MiB (HAMi leaves the
    factor unset here and compares units with MiB)."""

    def __init__(self, chip: IluvatarChipConfig) -> None:
        IluvatarAdmission.__init__(self, chip)
        VendorResources.__init__(
            self, chip.resource_count_name, chip.resource_memory_name, chip.resource_core_name
        )
        self.keys = ChipKeys(chip.common_word)

    # --- request ------------------------------------------------------------------------------

    @property
    def type_keyword(self) -> str:
        return self.chip.common_word

    @property
    def metric_device_type(self) -> str:
        return self.chip.common_word

    @property
    def to_allocate_annotation(self) -> str:
        return self.keys.to_allocate

    @property
    def allocated_annotation(self) -> str:
        return self.keys.allocated

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        return request.container_requests(pod, self.chip)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return request.pod_has_managed_resources(pod, self.chip)

    # --- inventory and health -----------------------------------------------------------------

    @property
    def register_annotation(self) -> str:
        return self.keys.register

    @property
    def handshake_annotation(self) -> str:
        return self.keys.handshake

    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        return inventory.node_devices(node, self.keys.register)

    # --- fit, score, annotations --------------------------------------------------------------

    def pod_selection(self, annotations: Mapping[str, str]) -> UuidFilter:
        return fit.pod_selection(annotations, self.keys)

    def fit_container(
        self,
        ordered: Sequence[DeviceUsage],
        req: ContainerRequest,
        selection: Any,
        ctx: FitContext,
    ) -> FitResult:
        return fit.fit_container(ordered, req, selection, ctx, self.chip.common_word)

    def score_node(self, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
        """Iluvatar adds nothing to the node score."""
        return 0.0

    def pod_annotations(
        self, devices: PodSingleDevice, selection: Any, *, now: datetime
    ) -> dict[str, str]:
        """The same encoded devices under ``hami.io/<cw>-devices-to-allocate`` and
        ``-allocated``."""
        return standard_annotations(devices, self.keys.to_allocate, self.keys.allocated)
