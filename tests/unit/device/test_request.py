"""Request derivation (spec §4.1) as a table: count from limits then requests, memoryFactor,
percentage sentinel 101, defaultMemory / 100 % fallback, defaultCores, clamps, and containers
ordered init-first with None where nothing is asked."""

from __future__ import annotations

from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.api.types import PERCENTAGE_UNSET, ContainerRequest
from hami.config.devices import NvidiaConfig
from hami.device.nvidia.request import container_requests, pod_has_managed_resources

GPU, MEM, PCT, CORES, PRIO = (
    "nvidia.com/gpu",
    "nvidia.com/gpumem",
    "nvidia.com/gpumem-percentage",
    "nvidia.com/gpucores",
    "nvidia.com/priority",
)


def _cfg(**kw: Any) -> NvidiaConfig:
    return NvidiaConfig.model_validate(kw)


def _ctr(limits: dict[str, Any] | None = None, requests: dict[str, Any] | None = None) -> Any:
    res: dict[str, Any] = {}
    if limits is not None:
        res["limits"] = limits
    if requests is not None:
        res["requests"] = requests
    return {"name": "c", "resources": res}


def _req(nums: int, mem: int = 0, pct: int = PERCENTAGE_UNSET, cores: int = 0) -> ContainerRequest:
    return ContainerRequest(
        nums=nums, type="NVIDIA", memreq=mem, mem_percentage_req=pct, coresreq=cores
    )


CASES = [
    ("no-resources", _ctr(), {}, None),
    ("gpu-only-whole-card", _ctr({GPU: 1}), {}, _req(1, pct=100)),
    ("gpu-from-requests", _ctr(requests={GPU: "2"}), {}, _req(2, pct=100)),
    ("limits-win", _ctr({GPU: 1, MEM: 1000}, {GPU: 3, MEM: 9}), {}, _req(1, mem=1000)),
    ("mem", _ctr({GPU: 1, MEM: "3000"}), {}, _req(1, mem=3000)),
    ("mem-factor", _ctr({GPU: 1, MEM: 3}), {"memoryFactor": 1024}, _req(1, mem=3072)),
    ("pct", _ctr({GPU: 1, PCT: 50}), {}, _req(1, pct=50)),
    ("pct-clamped", _ctr({GPU: 1, PCT: 150}), {}, _req(1, pct=100)),
    ("pct-zero-ignored", _ctr({GPU: 1, PCT: 0}), {}, _req(1, pct=100)),
    ("mem-and-pct", _ctr({GPU: 1, MEM: 10, PCT: 20}), {}, _req(1, mem=10, pct=20)),
    ("default-memory", _ctr({GPU: 1}), {"defaultMemory": 2048}, _req(1, mem=2048)),
    ("default-memory-not-with-pct", _ctr({GPU: 1, PCT: 30}), {"defaultMemory": 2048},
     _req(1, pct=30)),
    ("cores", _ctr({GPU: 2, MEM: 1, CORES: 30}), {}, _req(2, mem=1, cores=30)),
    ("cores-clamped", _ctr({GPU: 1, MEM: 1, CORES: 300}), {}, _req(1, mem=1, cores=100)),
    ("default-cores", _ctr({GPU: 1, MEM: 1}), {"defaultCores": 20}, _req(1, mem=1, cores=20)),
    ("explicit-cores-beat-default", _ctr({GPU: 1, MEM: 1, CORES: 0}), {"defaultCores": 20},
     _req(1, mem=1)),
    ("mem-without-gpu", _ctr({MEM: 1000}), {}, None),
    ("zero-gpus", _ctr({GPU: 0, MEM: 1000}), {}, None),
    ("mem-out-of-int32-dropped", _ctr({GPU: 1, MEM: 2**31}), {}, None),
    ("negative-mem-dropped", _ctr({GPU: 1, MEM: -1}), {}, None),
    ("renamed-resources", _ctr({"x.io/vgpu": 1, "x.io/vmem": 5}),
     {"resourceCountName": "x.io/vgpu", "resourceMemoryName": "x.io/vmem"}, _req(1, mem=5)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ctr", "cfg", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_single_container(ctr: Any, cfg: dict[str, Any], expected: ContainerRequest | None) -> None:
    pod = {"spec": {"containers": [ctr]}}
    assert container_requests(pod, _cfg(**cfg)) == [expected]


def test_init_containers_first_and_none_entries() -> None:
    pod = {
        "spec": {
            "initContainers": [_ctr(), _ctr({GPU: 1, MEM: 100})],
            "containers": [_ctr({GPU: 2, MEM: 200}), _ctr({"cpu": "1"})],
        }
    }
    assert container_requests(pod, _cfg()) == [None, _req(1, mem=100), _req(2, mem=200), None]


def test_pod_without_spec() -> None:
    assert container_requests({}, _cfg()) == []


@pytest.mark.parametrize(
    ("containers", "expected"),
    [([_ctr()], False), ([_ctr({MEM: 1})], True), ([_ctr(requests={PRIO: 1})], True),
     ([_ctr({"cpu": 1}), _ctr({CORES: 1})], True)],
    ids=["nothing", "mem-only", "priority-in-requests", "second-container"],
)  # fmt: skip
def test_pod_has_managed_resources(containers: list[Any], expected: bool) -> None:
    assert pod_has_managed_resources({"spec": {"containers": containers}}, _cfg()) is expected


def test_garbage_quantity_names_pod_container_and_resource() -> None:
    pod = {
        "metadata": {"namespace": "ml", "name": "p"},
        "spec": {
            "containers": [{"name": "trainer", "resources": {"limits": {GPU: 1, MEM: "lots"}}}]
        },
    }
    with pytest.raises(DecodeError) as info:
        container_requests(pod, _cfg())
    message = str(info.value)
    assert "ml/p" in message
    assert "trainer" in message
    assert MEM in message
