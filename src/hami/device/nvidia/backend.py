"""NVIDIA as one :class:`~hami.device.base.DeviceBackend` among others (cw ``NVIDIA``).

Every role delegates to the NVIDIA modules beside it: requests (:mod:`.request`), the fit with its
:class:`~hami.device.nvidia.fit.Selection`, MIG picks, topology chooser and NUMA binding
(:mod:`.fit`), the pruning summary (:mod:`.summary`) and the webhook rules (:mod:`.admission`).
Register annotation ``hami.io/node-nvidia-register``; allocation annotations
``hami.io/vgpu-devices-to-allocate`` and ``-allocated``; the shared owner lock; health is v2.10's
capacity rule with the ``hami.io/node-handshake`` stamp; quota on gpumem (x memoryFactor) and
gpucores, checked inside the fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hami.api.annotations import (
    DEVICES_ALLOCATED,
    DEVICES_TO_ALLOCATE,
    NODE_HANDSHAKE,
    NODE_NVIDIA_REGISTER,
    NVIDIA_TYPE,
)
from hami.api.noderegister import decode_node_devices
from hami.api.poddevices import encode_pod_devices
from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig, NvidiaConfig
from hami.device.base import (
    SHARED_LOCK,
    DeviceBackend,
    DeviceUsage,
    FitContext,
    FitResult,
    HealthKind,
    LockStyle,
)
from hami.device.nvidia.admission import NvidiaAdmission
from hami.device.nvidia.fit import (
    Selection,
    fit_container,
    selection_from_annotations,
    whole_gpu_hint,
)
from hami.device.nvidia.request import container_requests, pod_has_managed_resources
from hami.device.nvidia.summary import NvidiaSummary


class NvidiaBackend(NvidiaAdmission):
    """Every role for NVIDIA GPUs; the admission rules are :class:`NvidiaAdmission`'s."""

    clears_stale_handshake = True

    type_keyword = NVIDIA_TYPE
    to_allocate_annotation = DEVICES_TO_ALLOCATE
    allocated_annotation = DEVICES_ALLOCATED
    register_annotation = NODE_NVIDIA_REGISTER
    handshake_annotation = NODE_HANDSHAKE
    lock_annotation = SHARED_LOCK
    metric_device_type = NVIDIA_TYPE
    fit_checks_quota = True
    scores_nodes = False

    def __init__(self, cfg: NvidiaConfig) -> None:
        super().__init__(cfg)

    # --- requests -------------------------------------------------------------------------
    @property
    def resource_names(self) -> tuple[str, ...]:
        return self.cfg.resource_names

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        """See :func:`hami.device.nvidia.request.container_requests`."""
        return container_requests(pod, self.cfg)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        """See :func:`hami.device.nvidia.request.pod_has_managed_resources`."""
        return pod_has_managed_resources(pod, self.cfg)

    # --- inventory and health -------------------------------------------------------------
    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        """Devices from the node's register annotation; raises DecodeError when malformed."""
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(self.register_annotation)
        return decode_node_devices(value) if value else []

    @property
    def health_kind(self) -> HealthKind:
        return "capacity"

    @property
    def count_resource(self) -> str:
        return self.cfg.resource_count_name

    # --- fit ------------------------------------------------------------------------------
    def pod_selection(self, annotations: Mapping[str, str]) -> Selection:
        """``nvidia.com/use-gputype`` and friends (the pod's GPU policy comes in the context)."""
        return selection_from_annotations(annotations)

    def fit_container(
        self,
        ordered: Sequence[DeviceUsage],
        req: ContainerRequest,
        selection: Any,
        ctx: FitContext,
    ) -> FitResult:
        """See :func:`hami.device.nvidia.fit.fit_container` (cordons, quota, topology, mutex)."""
        return fit_container(
            ordered,
            req,
            selection,
            cordoned=ctx.cordoned,
            quota=ctx.quota,
            choose=ctx.choose,
            mutex=ctx.mutex,
        )

    def score_node(self, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
        return 0.0

    summarize = NvidiaSummary
    """The pruning summary (:class:`~hami.device.base.FitSummarizer`): the class itself, called
    as ``summarize(devices, cordoned)`` (one call less on every usage change)."""

    # --- allocation, lock, quota, hints ---------------------------------------------------
    def pod_annotations(
        self, devices: PodSingleDevice, selection: Any, *, now: datetime
    ) -> dict[str, str]:
        """The same encoded devices under ``-to-allocate`` and ``-allocated`` (in that order)."""
        encoded = encode_pod_devices(devices)
        return {DEVICES_TO_ALLOCATE: encoded, DEVICES_ALLOCATED: encoded}

    @property
    def lock_style(self) -> LockStyle:
        return "owner"

    @property
    def memory_resource(self) -> str:
        return self.cfg.resource_memory_name

    @property
    def core_resource(self) -> str:
        return self.cfg.resource_core_name

    @property
    def memory_factor(self) -> int:
        return int(self.cfg.memory_factor)

    def pending_hint(self, pod: Mapping[str, Any]) -> str | None:
        """See :func:`hami.device.nvidia.fit.whole_gpu_hint` (a :class:`PendingHint`)."""
        return whole_gpu_hint(pod, self.cfg)


def backends(config: DeviceConfig) -> list[DeviceBackend]:
    """NVIDIA's backends for ``config`` (always exactly one)."""
    return [NvidiaBackend(config.nvidia)]
