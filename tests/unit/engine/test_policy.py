"""GPU policy chains and ordering (spec §4.5) and node policy selection (§4.6)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hami.device.nvidia.fit import DeviceUsage
from hami.engine.policy import node_prefers_high, order_devices, parse_chain
from hami.engine.policy.topology import chooser, parse_scores
from hami.engine.score import ScoringWeights

BASE = DeviceUsage("GPU-0", 0, "NVIDIA A100", 0, "hami-core", True, 10, 1000, 100)


def d(uuid: str, index: int, *, used: int = 0, mem: int = 0, numa: int = 0) -> DeviceUsage:
    return replace(BASE, id=uuid, index=index, used=used, usedmem=mem, numa=numa, mig_used=[])


DEVS = [
    d("idle0", 0, numa=1),
    d("busy", 1, used=3, mem=600),
    d("light", 2, used=1, mem=100),
    d("idle1", 3),
]

CHAINS = [
    # HAMi walks its stable-sorted list from the end: on ties the highest NUMA id, then the
    # device registered last, comes first (issue 13 point 4; see test_hami_ties.py).
    ("spread", "spread", False, ["idle0", "idle1", "light", "busy"]),
    ("binpack", "binpack", False, ["busy", "light", "idle0", "idle1"]),
    ("mutex", "mutex", False, ["idle0", "idle1", "light", "busy"]),
    ("numa-alone-is-numa-then-index", "numa", False, ["idle0", "idle1", "light", "busy"]),
    ("binpack,numa", "binpack,numa", False, ["busy", "light", "idle0", "idle1"]),
    ("spread-numa-bind", "spread", True, ["idle0", "idle1", "light", "busy"]),
    ("binpack-numa-bind-busy-group-first", "binpack", True, ["busy", "light", "idle1", "idle0"]),
    ("topology-orders-like-spread", "topology-aware", False, ["idle0", "idle1", "light", "busy"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("chain", "numa_bind", "order"), [c[1:] for c in CHAINS], ids=[c[0] for c in CHAINS]
)
def test_order_devices(chain: str, numa_bind: bool, order: list[str]) -> None:
    got = order_devices(DEVS, parse_chain(chain), numa_bind=numa_bind)
    assert [x.id for x in got] == order


PARSE = [
    ("single", "binpack", ("binpack",)),
    ("chain", "Binpack, NUMA", ("binpack", "numa")),
    ("numa-alone-is-a-chain", "numa", ("numa",)),
    ("filter-only-gets-spread", "mutex,topology-aware", ("mutex", "topology-aware")),
    ("unknown-dropped", "fast,binpack", ("binpack",)),
    ("empty", "", ("spread",)),
    ("dupes", "spread,spread", ("spread",)),
]


@pytest.mark.parametrize(("value", "chain"), [p[1:] for p in PARSE], ids=[p[0] for p in PARSE])
def test_parse_chain(value: str, chain: tuple[str, ...]) -> None:
    assert parse_chain(value) == chain


@pytest.mark.parametrize(
    ("policy", "default", "high"),
    [
        ("binpack", "binpack", True),
        ("spread", "binpack", False),
        (" SPREAD ", "binpack", False),
        ("weird", "spread", False),
        ("weird", "binpack", True),
    ],
)
def test_node_policy(policy: str, default: str, high: bool) -> None:
    assert node_prefers_high(policy, default) is high


def test_weights_change_order() -> None:
    devs = [d("slots", 0, used=5), d("mem", 1, mem=900)]
    by_mem = order_devices(devs, ("binpack",), weights=ScoringWeights(0, 0, 1))
    by_slot = order_devices(devs, ("binpack",), weights=ScoringWeights(1, 0, 0))
    assert ([x.id for x in by_mem], [x.id for x in by_slot]) == (["mem", "slots"], ["slots", "mem"])


def test_topology_chooser() -> None:
    scores = {"a": {"b": 100, "c": 10}, "b": {"a": 100, "c": 10}, "c": {"a": 10, "b": 10}}
    devs = [d("a", 0), d("b", 1), d("c", 2)]
    choose = chooser(scores)
    assert [x.id for x in choose(devs, 2)] == ["a", "b"]
    assert [x.id for x in choose(devs, 1)] == ["c"]


def test_parse_scores_tolerates_garbage() -> None:
    assert parse_scores("n1", "not json") == {}
    assert parse_scores("n1", None) == {}
    assert parse_scores("n1", '[{"uuid":"a","score":{"b":5}}]') == {"a": {"b": 5}}
