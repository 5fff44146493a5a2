"""InFlightBinds: pods filtered onto a node whose Bind has not finished."""

from __future__ import annotations

from hami.scheduler.inflight import InFlightBinds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_placed_pod_makes_its_node_busy_for_others_only() -> None:
    binds = InFlightBinds(ttl_s=10, clock=Clock())
    binds.placed("ns/a", "n1")
    assert binds.busy("n1", "ns/b")
    assert not binds.busy("n1", "ns/a")  # its own retried filter may pick the node again
    assert not binds.busy("n2", "ns/b")


def test_done_ends_it_and_a_new_placement_moves_it() -> None:
    binds = InFlightBinds(ttl_s=10, clock=Clock())
    binds.placed("ns/a", "n1")
    binds.placed("ns/a", "n2")  # retried filter chose another node
    assert not binds.busy("n1", "ns/b")
    assert binds.busy("n2", "ns/b")
    binds.done("ns/a")
    assert not binds.busy("n2", "ns/b")
    assert len(binds) == 0
    binds.done("ns/unknown")  # no-op


def test_entries_expire_when_bind_never_comes() -> None:
    clock = Clock()
    binds = InFlightBinds(ttl_s=10, clock=clock)
    binds.placed("ns/a", "n1")
    clock.now += 9.9
    assert binds.busy("n1", "ns/b")
    clock.now += 0.2
    assert not binds.busy("n1", "ns/b")
    assert len(binds) == 0
