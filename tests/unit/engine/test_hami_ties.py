"""GPU choice on ties exactly as HAMi v2.10 (issue 13 point 4).

HAMi stable-sorts a node's devices with its policy comparator and walks the sorted list from the
end, so on equal keys it takes the highest NUMA id, then the GPU registered last. Each case
places pods one after another (real Fit, usage added between pods) and lists the GPU indexes
HAMi hands out; the expectations were derived from HAMi's comparator, not from our code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hami.api.types import ContainerRequest
from hami.device.nvidia.fit import DeviceUsage, Selection, add_usage, fit_container
from hami.engine.policy import order_devices, parse_chain
from hami.engine.score import device_score, node_score


def gpu(index: int, numa: int, *, used: int = 0, mem: int = 0, cores: int = 0,
        totalcore: int = 100) -> DeviceUsage:  # fmt: skip
    return DeviceUsage(f"GPU-{index}", index, "NVIDIA A100", numa, "hami-core", True, 10, 1000,
                       totalcore, used, mem, cores)  # fmt: skip


def node(numas: list[int]) -> list[DeviceUsage]:
    return [gpu(i, n) for i, n in enumerate(numas)]


@dataclass
class Case:
    name: str
    devices: list[DeviceUsage]
    policy: str
    pods: list[int]
    """GPUs per pod (each asks 100 MiB and 0 cores per GPU)."""
    expected: list[list[int]]
    numa_bind: bool = False
    hami: list[list[int]] | None = None
    """What HAMi itself does where we deliberately differ (documented exception)."""
    tags: list[str] = field(default_factory=list)


CASES = [
    Case("spread-idle-4-pods", node([0, 0, 1, 1]), "spread", [1, 1, 1, 1], [[3], [2], [1], [0]]),
    Case("binpack-idle-2-pods", node([0, 0, 1, 1]), "binpack", [1, 1], [[3], [3]]),
    Case("mutex-idle-3-pods", node([0, 0, 1, 1]), "mutex", [1, 1, 1], [[3], [2], [1]]),
    Case("default-empty-is-spread", node([0, 0, 1, 1]), "", [1, 1], [[3], [2]]),
    Case("spread-two-gpus", node([0, 0, 1, 1]), "spread", [2], [[3, 2]]),
    Case("binpack-busy-gpu-first",
         [gpu(0, 0), gpu(1, 0, used=1, mem=500), gpu(2, 1), gpu(3, 1)], "binpack", [1], [[1]]),
    Case("spread-avoids-busy",
         [gpu(0, 0), gpu(1, 0), gpu(2, 1), gpu(3, 1, used=1, mem=500)], "spread", [1, 1],
         [[2], [1]]),
    Case("spread-mixed-numa", node([1, 0, 1, 0]), "spread", [1, 1, 1, 1], [[2], [0], [3], [1]]),
    Case("binpack-mixed-numa", node([1, 0, 1, 0]), "binpack", [1, 1], [[2], [2]]),
    Case("mutex-busy-highest-numa-idle",
         [gpu(0, 0), gpu(1, 0), gpu(2, 1), gpu(3, 1, used=1, mem=10)], "mutex", [1, 1], [[2], [1]]),
    Case("numa-alone-ignores-usage", node([0, 0, 1, 1]), "numa", [1, 1], [[3], [3]]),
    Case("spread,numa-chain", node([1, 0, 1, 0]), "spread,numa", [1, 1], [[2], [0]]),
    Case("binpack,numa-chain", node([0, 0, 1, 1]), "binpack,numa", [1, 1], [[3], [3]]),
    Case("numa-bind-spread-keeps-group", node([0, 0, 1, 1]), "spread", [2, 2],
         [[3, 2], [3, 2]], numa_bind=True),
    Case("numa-bind-binpack-busy-low-group", [gpu(0, 0, used=1, mem=500), gpu(1, 0), gpu(2, 1),
         gpu(3, 1)], "binpack", [1], [[0]], numa_bind=True),
    Case("numa-bind-binpack-packs-used-group (differs)",
         [gpu(0, 0), gpu(1, 0), gpu(2, 1), gpu(3, 1, used=1, mem=500)], "binpack", [1], [[3]],
         numa_bind=True, hami=[[1]]),
    Case("registration-order-not-index",
         [gpu(2, 0), gpu(0, 0), gpu(1, 0)], "spread", [1], [[1]]),
    Case("chain-tie-is-highest-index",
         [gpu(2, 0), gpu(0, 0), gpu(1, 0)], "spread,numa", [1], [[2]]),
]  # fmt: skip


def place(case: Case) -> list[list[int]]:
    devs = [d.copy() for d in case.devices]
    chain = parse_chain(case.policy)
    sel = Selection(numa_bind=case.numa_bind, mutex="mutex" in chain)
    out: list[list[int]] = []
    for nums in case.pods:
        ordered = order_devices(devs, chain, numa_bind=case.numa_bind)
        res = fit_container(ordered, ContainerRequest(nums, "NVIDIA", 100), sel)
        assert res.devices is not None, res.reasons
        by_id = {d.id: d for d in devs}
        for granted in res.devices:
            add_usage(by_id[granted.uuid], granted)
        out.append([by_id[g.uuid].index for g in res.devices])
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gpu_choice_matches_hami(case: Case) -> None:
    assert place(case) == case.expected
    if case.hami is not None:
        assert case.hami != case.expected  # a documented difference, not a copy


def test_hami_zero_capacity_zeroes_the_whole_score() -> None:
    busy_no_cores = gpu(0, 0, used=5, mem=500, totalcore=0)
    assert device_score(busy_no_cores) == 0.0
    assert node_score(5, 10, 0, 0, 500, 1000) == 0.0
    assert node_score(5, 10, 50, 100, 500, 1000) == pytest.approx(15.0)
    light = gpu(1, 0, used=1, mem=100)
    walk = order_devices([busy_no_cores, light], parse_chain("binpack"))
    assert [d.index for d in walk] == [1, 0]


def test_chain_is_marked_composite() -> None:
    assert parse_chain("binpack").composite is False
    assert parse_chain("fast,binpack").composite is True
    assert parse_chain("numa") == ("numa",) and parse_chain("numa").composite is True
    assert parse_chain("garbage") == ("spread",)
