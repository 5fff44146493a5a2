"""The explicit vendor registry, built from a :class:`DeviceConfig` and passed in (no globals).

HAMi keeps ``DevicesMap`` as a package global; here the CLI (or a test) builds one
:class:`DeviceRegistry` and hands it to the webhook, the engine and the services.
NVIDIA is the only vendor today; the registry is keyed by the vendor's type keyword.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hami.api.annotations import (
    DEVICES_ALLOCATED,
    DEVICES_TO_ALLOCATE,
    NODE_NVIDIA_REGISTER,
    NVIDIA_TYPE,
)
from hami.api.noderegister import decode_node_devices
from hami.api.types import ContainerRequest, DeviceInfo
from hami.config.devices import DeviceConfig, NvidiaConfig
from hami.device.base import AdmissionMutator, NodeInventory, RequestParser
from hami.device.nvidia.admission import NvidiaAdmission
from hami.device.nvidia.request import container_requests, pod_has_managed_resources


class NvidiaBackend:
    """NVIDIA's request parsing and node inventory (one object, two roles)."""

    type_keyword = NVIDIA_TYPE
    to_allocate_annotation = DEVICES_TO_ALLOCATE
    allocated_annotation = DEVICES_ALLOCATED
    register_annotation = NODE_NVIDIA_REGISTER

    @property
    def resource_names(self) -> tuple[str, ...]:
        return self.cfg.resource_names

    def __init__(self, cfg: NvidiaConfig) -> None:
        self.cfg = cfg

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        """See :func:`hami.device.nvidia.request.container_requests`."""
        return container_requests(pod, self.cfg)

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        """See :func:`hami.device.nvidia.request.pod_has_managed_resources`."""
        return pod_has_managed_resources(pod, self.cfg)

    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        """Devices from the node's register annotation; raises DecodeError when malformed."""
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(self.register_annotation)
        return decode_node_devices(value) if value else []


@dataclass(frozen=True)
class DeviceRegistry:
    """Vendors by type keyword, split by role."""

    config: DeviceConfig
    parsers: Mapping[str, RequestParser] = field(default_factory=dict)
    mutators: Mapping[str, AdmissionMutator] = field(default_factory=dict)
    inventories: Mapping[str, NodeInventory] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: DeviceConfig) -> DeviceRegistry:
        """Build the registry for every vendor the config enables (NVIDIA always)."""
        nvidia = NvidiaBackend(config.nvidia)
        return cls(
            config=config,
            parsers={NVIDIA_TYPE: nvidia},
            mutators={NVIDIA_TYPE: NvidiaAdmission(config.nvidia)},
            inventories={NVIDIA_TYPE: nvidia},
        )

    @property
    def managed_resources(self) -> tuple[str, ...]:
        """Every resource name any vendor manages (for the extender's managedResources)."""
        return self.config.nvidia.resource_names
