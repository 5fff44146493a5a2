"""NVML GPUs + settings -> register annotation entries and kubelet virtual devices."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hami.api.noderegister import encode_node_devices
from hami.deviceplugin.inventory import (
    mig_resources,
    model_type,
    node_devices,
    physical_uuid,
    preferred,
    virtual_devices,
)
from hami.deviceplugin.nvml import GpuInfo, MigDevice
from hami.deviceplugin.settings import PluginSettings

S = PluginSettings(node_name="n1")
G0 = GpuInfo(0, "GPU-aaaa", "Tesla V100-PCIE-32GB", 32768)
G1 = GpuInfo(1, "GPU-bbbb", "Tesla V100-PCIE-32GB", 32768, numa=1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Tesla V100-PCIE-32GB", "NVIDIA-Tesla V100-PCIE-32GB"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"),
        ("NVIDIA-H100", "NVIDIA-H100"),
    ],
    ids=["prefixed", "already-nvidia", "already-dash"],
)
def test_model_type(name: str, expected: str) -> None:
    assert model_type(name) == expected


def test_register_annotation_golden() -> None:
    """The spec §3.3 example, byte for byte."""
    value = encode_node_devices(node_devices([G0, G1], S, {}))
    assert value == (
        '[{"id":"GPU-aaaa","count":10,"devmem":32768,"devcore":100,'
        '"type":"NVIDIA-Tesla V100-PCIE-32GB","mode":"hami-core","health":true},'
        '{"id":"GPU-bbbb","index":1,"count":10,"devmem":32768,"devcore":100,'
        '"type":"NVIDIA-Tesla V100-PCIE-32GB","numa":1,"mode":"hami-core","health":true}]'
    )


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"memory_scaling": 1.5}, "devmem", [49152, 49152]),
        ({"core_scaling": 2.0}, "devcore", [200, 200]),
        ({"split_count": 4}, "count", [4, 4]),
        ({"filter_uuids": frozenset({"GPU-aaaa"})}, "id", ["GPU-bbbb"]),
        ({"filter_indexes": frozenset({1})}, "id", ["GPU-aaaa"]),
        ({"operating_mode": "hami-core"}, "mode", ["hami-core", "hami-core"]),
    ],
    ids=["mem-scaling", "core-scaling", "split", "filter-uuid", "filter-index", "mode"],
)
def test_node_devices_knobs(changes: dict[str, object], field: str, expected: list[object]) -> None:
    devs = node_devices([G0, G1], replace(S, **changes), {})  # type: ignore[arg-type]
    assert [getattr(d, field) for d in devs] == expected


def test_preconfigured_memory_and_health() -> None:
    g = GpuInfo(0, "GPU-gh", "NVIDIA GH200", 0)
    (dev,) = node_devices([g], replace(S, preconfigured_memory=96000), {"GPU-gh": False})
    assert dev.devmem == 96000
    assert dev.health is False


def test_virtual_devices_two_gpus_split_ten() -> None:
    vds = virtual_devices([G0, G1], S, {"GPU-bbbb": False})
    assert [v.id for v in vds] == [f"GPU-aaaa-{i}" for i in range(10)] + [
        f"GPU-bbbb-{i}" for i in range(10)
    ]
    assert [v.healthy for v in vds] == [True] * 10 + [False] * 10
    assert {v.numa for v in vds} == {None}
    numa = virtual_devices([G1], replace(S, enable_numa_topology=True), {})
    assert {v.numa for v in numa} == {1}


@pytest.mark.parametrize(
    ("virtual", "uuid"),
    [("GPU-aaaa-3", "GPU-aaaa"), ("GPU-aaaa-10", "GPU-aaaa"), ("MIG-x", "MIG-x")],
    ids=str,
)
def test_physical_uuid(virtual: str, uuid: str) -> None:
    assert physical_uuid(virtual) == uuid


def test_preferred_follows_scheduler_choice() -> None:
    avail = ["GPU-aaaa-0", "GPU-aaaa-1", "GPU-bbbb-0", "GPU-bbbb-1"]
    assert preferred(avail, [], 1, ["GPU-bbbb"]) == ["GPU-bbbb-0"]
    assert preferred(avail, [], 2, ["GPU-bbbb", "GPU-aaaa"]) == ["GPU-bbbb-0", "GPU-aaaa-0"]
    # no wish: one slot per distinct GPU
    assert preferred(avail, [], 2, []) == ["GPU-aaaa-0", "GPU-bbbb-0"]
    assert preferred(avail, ["GPU-aaaa-1"], 1, ["GPU-bbbb"]) == ["GPU-aaaa-1"]


def test_mig_mixed_resources_and_hidden_from_hami() -> None:
    mig = GpuInfo(
        2,
        "GPU-mig",
        "NVIDIA A100-SXM4-40GB",
        40960,
        mig_enabled=True,
        mig_devices=(MigDevice("MIG-1", "1g.5gb", 4864), MigDevice("MIG-2", "3g.20gb", 19968)),
    )
    mixed = replace(S, mig_strategy="mixed")
    res = mig_resources([G0, mig], mixed, {})
    assert {k: [d.id for d in v] for k, v in res.items()} == {
        "nvidia.com/mig-1g.5gb": ["MIG-1"],
        "nvidia.com/mig-3g.20gb": ["MIG-2"],
    }
    assert [d.id for d in node_devices([G0, mig], mixed, {})] == ["GPU-aaaa"]
    assert mig_resources([G0, mig], S, {}) == {}
    assert [d.id for d in node_devices([G0, mig], S, {})] == ["GPU-aaaa", "GPU-mig"]
