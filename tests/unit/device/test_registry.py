"""The registry is built from config and its NVIDIA backend satisfies each role Protocol."""

from __future__ import annotations

import pytest

from hami.api.errors import DecodeError
from hami.api.noderegister import encode_node_devices
from hami.api.types import DeviceInfo
from hami.config.devices import DeviceConfig, parse_device_config
from hami.device.base import AdmissionMutator, NodeInventory, RequestParser
from hami.device.nvidia.admission import NvidiaAdmission
from hami.device.nvidia.backend import NvidiaBackend
from hami.device.registry import DeviceRegistry

# Typed assignments: mypy checks conformance, as Go's `var _ Iface = (*T)(nil)`.
_parser: RequestParser = NvidiaBackend(DeviceConfig().nvidia)
_inventory: NodeInventory = NvidiaBackend(DeviceConfig().nvidia)
_mutator: AdmissionMutator = NvidiaAdmission(DeviceConfig().nvidia)


def test_registry_from_config_uses_that_config() -> None:
    cfg = parse_device_config({"nvidia": {"resourceCountName": "x.io/gpu"}})
    reg = DeviceRegistry.from_config(cfg)
    assert set(reg.parsers) == set(reg.mutators) == set(reg.inventories) == {"DCU", "MLU", "NVIDIA"}
    assert "x.io/gpu" in reg.managed_resources
    pod = {"spec": {"containers": [{"resources": {"limits": {"x.io/gpu": 1}}}]}}
    assert reg.parsers["NVIDIA"].pod_has_managed_resources(pod)
    (req,) = reg.parsers["NVIDIA"].container_requests(pod)
    assert req is not None
    assert req.nums == 1


def test_two_registries_are_independent() -> None:
    a = DeviceRegistry.from_config(DeviceConfig())
    b = DeviceRegistry.from_config(parse_device_config({"nvidia": {"resourceCountName": "y/g"}}))
    assert a.managed_resources != b.managed_resources


def test_node_devices_from_annotation() -> None:
    devices = [DeviceInfo("GPU-1", 10, 16384, 100, "NVIDIA T4", health=True)]
    node = {
        "metadata": {"annotations": {"hami.io/node-nvidia-register": encode_node_devices(devices)}}
    }
    inv = DeviceRegistry.from_config(DeviceConfig()).inventories["NVIDIA"]
    assert inv.node_devices(node) == devices
    assert inv.node_devices({"metadata": {}}) == []
    bad = {"metadata": {"annotations": {"hami.io/node-nvidia-register": "junk"}}}
    with pytest.raises(DecodeError):
        inv.node_devices(bad)
