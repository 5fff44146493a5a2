"""The registered device backends, by common word (cw) in sorted order.

The webhook, the extender services and the CLI iterate this mapping; only
:mod:`hami.device.registry` names vendors. :func:`device_backends` builds it from a device
config and the vendor flags (``--enable-ascend``, ``--enable-iluvatar``).

Transition shim: until the multi-vendor registry (``DeviceRegistry.backends``,
``from_config(config, *, enable_ascend, enable_iluvatar)``) is merged, the registry holds NVIDIA
in role maps only, and :class:`_RoleMapsBackend` presents those roles as one backend. Once the
registry has ``backends`` the first branch of :func:`device_backends` is taken and the class can
go.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, MutableMapping
from typing import Any, cast

from hami.api.annotations import NODE_HANDSHAKE, NVIDIA_TYPE
from hami.api.types import ContainerRequest, DeviceInfo
from hami.config.devices import DeviceConfig
from hami.device.base import SHARED_LOCK, DeviceBackend, HealthKind, LockStyle
from hami.device.registry import DeviceRegistry


def device_backends(
    config: DeviceConfig, *, enable_ascend: bool = False, enable_iluvatar: bool = False
) -> Mapping[str, DeviceBackend]:
    """Every backend the device config enables (Ascend and Iluvatar only with their flag),
    keyed and sorted by cw."""
    build: Any = DeviceRegistry.from_config
    if "enable_ascend" in inspect.signature(build).parameters:
        registry = build(config, enable_ascend=enable_ascend, enable_iluvatar=enable_iluvatar)
        backends: Mapping[str, DeviceBackend] = registry.backends
    else:
        backends = {NVIDIA_TYPE: cast(DeviceBackend, _RoleMapsBackend(build(config)))}
    return dict(sorted(backends.items()))


class _RoleMapsBackend:
    """NVIDIA of the single-vendor registry as one backend (transition only; see module doc):
    the members the services use, with NVIDIA's values."""

    health_kind: HealthKind = "capacity"
    handshake_annotation = NODE_HANDSHAKE
    lock_annotation = SHARED_LOCK
    lock_style: LockStyle = "owner"
    fit_checks_quota = True
    metric_device_type = NVIDIA_TYPE

    def __init__(self, registry: DeviceRegistry) -> None:
        self._cfg = registry.config.nvidia
        self._parser = registry.parsers[NVIDIA_TYPE]
        self._inventory = registry.inventories[NVIDIA_TYPE]
        self._mutator = registry.mutators[NVIDIA_TYPE]
        self.type_keyword = self._parser.type_keyword
        self.to_allocate_annotation = self._parser.to_allocate_annotation
        self.allocated_annotation = self._parser.allocated_annotation
        self.resource_names = self._parser.resource_names
        self.register_annotation = self._inventory.register_annotation
        self.count_resource = self._cfg.resource_count_name
        self.memory_resource = self._cfg.resource_memory_name
        self.core_resource = self._cfg.resource_core_name
        self.memory_factor = max(int(self._cfg.memory_factor), 1)

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        return self._parser.container_requests(pod)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return self._parser.pod_has_managed_resources(pod)

    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        return self._inventory.node_devices(node)

    def validate_container(self, container: Mapping[str, Any]) -> str | None:
        return self._mutator.validate_container(container)

    def mutate_container(self, container: MutableMapping[str, Any]) -> bool:
        return self._mutator.mutate_container(container)

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        self._mutator.mutate_pod(pod)

    def pending_hint(self, pod: Mapping[str, Any]) -> str | None:
        from hami.device.nvidia.fit import whole_gpu_hint

        return whole_gpu_hint(pod, self._cfg)
