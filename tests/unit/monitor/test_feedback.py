"""The priority feedback loop's decisions: priorities x activity x policies (spec §7.3)."""

from __future__ import annotations

import itertools

import pytest

from hami.monitor.feedback import ContainerState, decide, throttled

GPU, OTHER = "GPU-a", "GPU-b"


def state(
    key: str, prio: int, rk: int, switch: int = 1, uuids: tuple[str, ...] = (GPU,)
) -> ContainerState:
    return ContainerState(key, prio, rk, switch, uuids)


# (A's priority, A's recent_kernel, B's priority, B's recent_kernel) ->
#   (A: switch, blocked), (B: switch, blocked)
# recent_kernel 2 = launched during the last period (active after the decrement), 1 = going idle
# (0 after the decrement: inactive), 0 = idle, -1 = blocked earlier.
TABLE = [
    # both active, same priority: both capped, nobody blocked
    ((1, 2, 1, 2), (1, False), (1, False)),
    ((0, 2, 0, 2), (1, False), (1, False)),
    # A alone active: uncapped; idle B sees another same-priority task: capped if it starts
    ((1, 2, 1, 0), (0, False), (1, False)),
    ((1, 2, 1, 1), (0, False), (1, False)),
    # nobody active: nobody capped
    ((1, 0, 1, 0), (0, False), (0, False)),
    ((1, 1, 1, 1), (0, False), (0, False)),
    # A high priority (0) active, B low (1) active: B blocked and capped, A uncapped
    ((0, 2, 1, 2), (0, False), (1, True)),
    # A high active, B low idle: B blocked (as HAMi: it would run against a higher priority)
    ((0, 2, 1, 0), (0, False), (1, True)),
    # A high idle, B low active: B runs alone, uncapped; A too (a lower one is not "higher")
    ((0, 0, 1, 2), (0, False), (0, False)),
    # B was blocked, A went idle: B unblocked (-1 -> 0)
    ((0, 0, 1, -1), (0, False), (0, False)),
    ((0, 1, 1, -1), (0, False), (0, False)),
    # B blocked, A still active: stays blocked
    ((0, 2, 1, -1), (0, False), (1, True)),
    # priorities beyond HAMi's 0/1 work (HAMi would index out of range)
    ((5, 2, 7, 2), (0, False), (1, True)),
    ((-3, 2, 2, 2), (0, False), (1, True)),
]


@pytest.mark.parametrize(("inp", "a_out", "b_out"), TABLE)
def test_two_containers_on_one_gpu(
    inp: tuple[int, int, int, int], a_out: tuple[int, bool], b_out: tuple[int, bool]
) -> None:
    pa, ra, pb, rb = inp
    a, b = decide([state("a", pa, ra), state("b", pb, rb)])
    assert (a.utilization_switch, a.blocked) == a_out, a
    assert (b.utilization_switch, b.blocked) == b_out, b


def test_decrement_and_minimal_writes() -> None:
    a, b, c = decide([state("a", 1, 2, 0), state("b", 1, 0, 0), state("c", 1, -1, 0)])
    assert (a.recent_kernel, a.active, a.write_recent_kernel) == (1, True, 1)
    assert a.write_utilization_switch is None  # 0 already, A is alone
    assert (b.recent_kernel, b.write_recent_kernel) == (0, None)
    assert b.write_utilization_switch == 1  # another same-priority task is active
    assert (c.recent_kernel, c.write_recent_kernel) == (0, 0)  # unblocked
    again = decide([state("x", 1, 0, 0)])
    assert not again[0].changes


def test_different_gpus_do_not_contend() -> None:
    a, b = decide([state("a", 1, 2, uuids=(GPU,)), state("b", 0, 2, uuids=(OTHER,))])
    assert (a.utilization_switch, a.blocked, b.utilization_switch, b.blocked) == (
        0,
        False,
        0,
        False,
    )


def test_multi_gpu_container_sees_contention_on_any_of_its_gpus() -> None:
    a, b = decide([state("a", 1, 2, uuids=(OTHER, GPU)), state("b", 0, 2, uuids=(GPU,))])
    assert (a.utilization_switch, a.blocked) == (1, True)
    assert (b.utilization_switch, b.blocked) == (0, False)


def test_same_gpu_listed_twice_counts_once() -> None:
    (a,) = decide([state("a", 1, 2, uuids=(GPU, GPU))])
    assert (a.utilization_switch, a.blocked) == (0, False)


POLICY_TABLE = [
    # policy, switch, sm_limit -> throttled
    ("default", 0, 30, False),
    ("default", 1, 30, True),
    ("force", 0, 30, True),
    ("force", 1, 30, True),
    ("disable", 1, 30, False),
    ("disable", 0, 30, False),
    ("DEFAULT", 1, 30, True),
    ("Force", 0, 30, True),
    ("anything", 1, 30, True),
    ("default", 1, 100, False),
    ("force", 1, 0, False),
]


@pytest.mark.parametrize(("policy", "switch", "limit", "expect"), POLICY_TABLE)
def test_policy_semantics(policy: str, switch: int, limit: int, expect: bool) -> None:
    assert throttled(policy, switch, limit) is expect


@pytest.mark.parametrize(
    ("policy", "pa", "ra", "pb", "rb"),
    list(itertools.product(("default", "force", "disable"), (0, 1), (0, 2), (0, 1), (0, 2))),
)
def test_full_grid_caps_only_under_contention(
    policy: str, pa: int, ra: int, pb: int, rb: int
) -> None:
    """Under ``default`` a container is capped iff a same-or-higher-priority other is active."""
    a, b = decide([state("a", pa, ra), state("b", pb, rb)])
    for me, other_prio, other_rk, d in ((pa, pb, rb, a), (pb, pa, ra, b)):
        contended = other_rk == 2 and other_prio <= me
        capped = throttled(policy, d.utilization_switch, 30)
        expect = {"default": contended, "force": True, "disable": False}[policy]
        assert capped is expect, (policy, pa, ra, pb, rb, d)
        assert d.blocked is (other_rk == 2 and other_prio < me)
