"""Lease-based leader election: one leader at a time, fail-over, step-down before expiry."""

from __future__ import annotations

import asyncio
import contextlib

from hami.k8s import errors
from hami.k8s.fake import FakeKube
from hami.scheduler.leader import LeaderElector


def _elector(kube: FakeKube, identity: str, clock: list[float]) -> LeaderElector:
    return LeaderElector(
        kube, namespace="kube-system", name="hami-scheduler", identity=identity,
        lease_duration=3.0, renew_deadline=2.0, retry_period=0.5, monotonic=lambda: clock[0],
    )  # fmt: skip


async def test_first_candidate_wins_second_waits() -> None:
    kube, clock = FakeKube(), [100.0]
    a, b = _elector(kube, "a", clock), _elector(kube, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert a.is_leader and not b.is_leader
    lease = kube.get("leases", "kube-system", "hami-scheduler")
    assert lease["spec"]["holderIdentity"] == "a"


async def test_takeover_only_after_lease_duration_and_old_leader_steps_down_first() -> None:
    kube, clock = FakeKube(), [100.0]
    a, b = _elector(kube, "a", clock), _elector(kube, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # b observes a's record at t=100
    # a stops renewing (stalled). At every instant at most one of them claims leadership.
    for step in range(1, 40):
        clock[0] = 100.0 + step * 0.25
        await b.try_acquire_or_renew()
        assert not (a.is_leader and b.is_leader), clock[0]
    assert b.is_leader and not a.is_leader
    lease = kube.get("leases", "kube-system", "hami-scheduler")
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_conflicting_writes_have_one_winner() -> None:
    kube, clock = FakeKube(), [100.0]
    a, b = _elector(kube, "a", clock), _elector(kube, "b", clock)
    kube.fail_next(
        "create_lease", errors.AlreadyExists("exists", status=409, reason="AlreadyExists")
    )
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()
    assert a.is_leader and not b.is_leader


async def test_run_reports_transitions_and_releases_on_stop() -> None:
    kube = FakeKube()
    seen: list[bool] = []

    async def on_transition(leader: bool) -> None:
        seen.append(leader)

    a = LeaderElector(
        kube,
        namespace="ns",
        name="l",
        identity="a",
        lease_duration=3.0,
        renew_deadline=2.0,
        retry_period=0.05,
        on_transition=on_transition,
    )
    task = asyncio.get_running_loop().create_task(a.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if seen:
            break
    assert seen == [True]
    await a.release()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert seen == [True, False]
    assert kube.get("leases", "ns", "l")["spec"]["holderIdentity"] == ""


async def test_release_after_stopping_hands_over_at_once() -> None:
    """The runner stops the election loop first and releases afterwards (SIGTERM path): the
    lease must still be given up, and the other candidate takes it on its next round."""
    kube, clock = FakeKube(), [100.0]
    a, b = _elector(kube, "a", clock), _elector(kube, "b", clock)
    task = asyncio.get_running_loop().create_task(a.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if a.is_leader:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not a.is_leader
    assert await a.release()
    spec = kube.get("leases", "kube-system", "hami-scheduler")["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    clock[0] += 0.1  # far less than lease_duration
    assert await b.try_acquire_or_renew() and b.is_leader
    assert not await a.release()  # no longer ours: untouched
    assert kube.get("leases", "kube-system", "hami-scheduler")["spec"]["holderIdentity"] == "b"
