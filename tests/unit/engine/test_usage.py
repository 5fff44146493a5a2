"""Pod charges (init containers as max(peak init, sum app), spec §4.2), node summaries, index."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import pytest

from hami.api.types import PERCENTAGE_UNSET, ContainerDevice, ContainerRequest, DeviceInfo
from hami.config.devices import DeviceConfig
from hami.device.nvidia.summary import NvidiaSummary
from hami.device.registry import DeviceRegistry
from hami.engine.index import ANY, NodeIndex
from hami.engine.usage import DeviceCharge, NodeUsage, pod_charges

SUMMARIZERS = DeviceRegistry.from_config(DeviceConfig()).summarizers


def cd(uuid: str, mem: int, cores: int = 0) -> ContainerDevice:
    return ContainerDevice(uuid, "NVIDIA", mem, cores)


CHARGES = [
    ("one-app", 0, ((cd("a", 1000, 10),),), {"a": DeviceCharge(1, 1000, 10)}),
    ("two-apps-same-gpu", 0, ((cd("a", 1000),), (cd("a", 500, 5),)), {"a": DeviceCharge(2, 1500, 5)}),
    ("init-peak-wins", 1, ((cd("a", 5000, 50),), (cd("a", 3000, 10),)), {"a": DeviceCharge(1, 5000, 50)}),
    ("app-sum-wins", 1, ((cd("a", 5000),), (cd("a", 3000),), (cd("a", 3000),)), {"a": DeviceCharge(2, 6000, 0)}),
    ("peak-over-inits", 2, ((cd("a", 100),), (cd("a", 7000),), (cd("a", 10),)), {"a": DeviceCharge(1, 7000, 0)}),
    ("init-only-gpu-takes-a-slot", 1, ((cd("b", 2000),), (cd("a", 10),)), {"a": DeviceCharge(1, 10, 0), "b": DeviceCharge(1, 2000, 0)}),
    ("empty-blocks", 1, ((), (), (cd("a", 1),)), {"a": DeviceCharge(1, 1, 0)}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("init", "devs", "expected"), [c[1:] for c in CHARGES], ids=[c[0] for c in CHARGES]
)
def test_pod_charges(
    init: int, devs: tuple[tuple[ContainerDevice, ...], ...], expected: dict[str, DeviceCharge]
) -> None:
    assert pod_charges({"NVIDIA": devs}, init) == expected


def node() -> NodeUsage:
    devs = [DeviceInfo(f"g{i}", 2, 1000 * (i + 1), 100, "NVIDIA T4", index=i) for i in range(3)]
    return NodeUsage("n", {"NVIDIA": devs}, summarizers=SUMMARIZERS, cordoned=["g2"])


def req(
    nums: int = 1, mem: int = 0, pct: int = PERCENTAGE_UNSET, cores: int = 0
) -> ContainerRequest:
    return ContainerRequest(nums, "NVIDIA", mem, pct, cores)


MAY_FIT = [
    ("fits", req(mem=2000), True),
    ("cordoned-gpu-not-counted", req(mem=2001), False),
    ("two-gpus", req(nums=2, mem=1000), True),
    ("two-gpus-too-big", req(nums=2, mem=1001), False),
    ("three-gpus-one-cordoned", req(nums=3), False),
    ("percentage", req(pct=100), True),
    ("cores", req(cores=100), True),
    ("zero-nums", req(nums=0, mem=10**9), True),
]


@pytest.mark.parametrize(("r", "ok"), [c[1:] for c in MAY_FIT], ids=[c[0] for c in MAY_FIT])
def test_may_fit(r: ContainerRequest, ok: bool) -> None:
    assert node().may_fit(r) is ok


def test_charge_updates_summary_and_score() -> None:
    n = node()
    n.charge(("g1", 2, 500, 100), 1, ())
    assert n.summaries["NVIDIA"].free_mems == (1000,) and n.score > 0
    assert not n.may_fit(req(mem=1001))
    n.charge(("g1", 2, 500, 100), -1, ())
    assert n.summaries["NVIDIA"].free_mems == (2000, 1000) and n.score == 0


def b(bits: int, tenths: int, cores: int) -> int:
    """An NVIDIA summary bucket."""
    return bits * 12 + tenths // 2 * 2 + cores


def test_node_index_walks_admitted_buckets_in_score_order_both_ways() -> None:
    idx = NodeIndex()
    summaries = {"NVIDIA": NvidiaSummary}
    for name, score, bucket in (("b", 1.0, b(12, 10, 1)), ("a", 1.0, b(10, 2, 0)),
                                ("c", 3.0, b(14, 10, 1)), ("d", 0.0, b(11, 10, 1))):  # fmt: skip
        idx.set(name, score, (("NVIDIA", bucket),), summaries)
    idx.set("d", 5.0, (("NVIDIA", b(11, 10, 1)),), summaries)
    idx.set("e", 2.0, (("FAKE", ANY),))
    every = ((req(mem=1), None),)
    assert [e[1] for e in idx.walk(every, False, True)] == ["d", "c", "a", "b"]
    assert [e[1] for e in idx.walk(every, False, False)] == ["a", "b", "c", "d"]
    big = ((req(mem=3000), None),)  # 12 bits: a (10) and d (11) cannot hold it
    assert [e[1] for e in idx.walk(big, False, True)] == ["c", "b"]
    whole = ((req(cores=100), None),)
    assert [e[1] for e in idx.walk(whole, False, False)] == ["b", "c", "d"]
    idx.discard("c")
    idx.discard("zzz")
    assert [e[1] for e in idx.walk(every, False, False)] == ["a", "b", "d"]
    fake = ((ContainerRequest(1, "FAKE", 0), None),)
    assert [e[1] for e in idx.walk(fake, False, False)] == ["e"]
    assert list(idx.walk(((ContainerRequest(1, "MLU", 0), None),), False, False)) == []
