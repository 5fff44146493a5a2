"""The node lock protocol (spec §1.4) through the port, against the fake cluster."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hami.api.nodelock import format_lock, parse_lock
from hami.k8s import errors
from hami.k8s.fake import FakeKube
from hami.k8s.informer import Backoff
from hami.scheduler.nodelock import NodeLocker, NodeLockError
from tests.component.scheduler.objects import make_node, make_pod

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
LOCK = "hami.io/mutex.lock"


#: The lock owner between Bind and Allocate on n1: placed there, devices still to allocate.
_DEVS = "GPU-n1-00,NVIDIA,1000,0:;"
MID_BIND = {"hami.io/vgpu-node": "n1", "hami.io/vgpu-devices-to-allocate": _DEVS,
            "hami.io/vgpu-devices-allocated": _DEVS}  # fmt: skip


def _owner(**changes: Any) -> dict[str, Any]:
    """The lock owner ``other/owner`` mid-bind on n1, with ``changes`` merged in per section."""
    pod = make_pod("owner", namespace="other", annotations=dict(MID_BIND))
    for section, values in changes.items():
        pod.setdefault(section, {}).update(values)
    return pod


def _setup(
    lock: str | None, *, owner_exists: bool = True, owner: dict[str, Any] | None = None
) -> tuple[FakeKube, NodeLocker]:
    kube = FakeKube()
    kube.add("nodes", make_node("n1", annotations={LOCK: lock} if lock else None))
    if owner_exists:
        kube.add("pods", owner or _owner())
    locker = NodeLocker(kube, clock=lambda: NOW, backoff=Backoff(0.001, 2, 0.01, 0))
    return kube, locker


def _lock_of(kube: FakeKube) -> str | None:
    return (kube.get("nodes", "", "n1")["metadata"].get("annotations") or {}).get(LOCK)


@pytest.mark.parametrize(
    ("existing", "owner_exists", "acquires"),
    [
        (None, True, True),
        (format_lock(NOW - timedelta(seconds=10), "default", "me"), True, True),
        (format_lock(NOW - timedelta(seconds=10), "other", "owner"), True, False),
        (format_lock(NOW - timedelta(minutes=6), "other", "owner"), True, True),
        (format_lock(NOW - timedelta(seconds=10), "other", "owner"), False, True),
        ("garbage,,", True, True),
        ("2026-05-01T11:59:00Z", True, False),
        ("2026-05-01T11:50:00Z", True, True),
    ],
    ids=["free", "same-pod-relock", "live-contention", "expired-stolen", "deleted-owner-stolen",
         "garbage-stolen", "legacy-live", "legacy-expired"],
)  # fmt: skip
async def test_acquire(existing: str | None, owner_exists: bool, acquires: bool) -> None:
    kube, locker = _setup(existing, owner_exists=owner_exists)
    if acquires:
        await locker.acquire("n1", "default", "me")
        lock = parse_lock(_lock_of(kube) or "")
        assert (lock.namespace, lock.name) == ("default", "me")
    else:
        with pytest.raises(NodeLockError) as info:
            await locker.acquire("n1", "default", "me")
        assert info.value.contention
        assert "contention" in str(info.value)
        assert _lock_of(kube) == existing


HELD = format_lock(NOW - timedelta(seconds=10), "other", "owner")
STALE_OWNERS = [
    ("bound-elsewhere", {"spec": {"nodeName": "n2"}}),
    ("succeeded", {"status": {"phase": "Succeeded"}}),
    ("failed", {"status": {"phase": "Failed"}}),
    ("being-deleted", {"metadata": {"deletionTimestamp": "2026-05-01T11:59:00Z"}}),
    ("bind-phase-success", {"spec": {"nodeName": "n1"}, "metadata": {"annotations": {
        **MID_BIND, "hami.io/bind-phase": "success"}}}),
    ("bind-phase-failed", {"spec": {"nodeName": "n1"}, "metadata": {"annotations": {
        **MID_BIND, "hami.io/bind-phase": "failed"}}}),
    ("placed-elsewhere", {"metadata": {"annotations": {**MID_BIND, "hami.io/vgpu-node": "n2"}}}),
    ("never-placed", {"metadata": {"annotations": {}}}),
    ("nothing-left", {"metadata": {"annotations": {
        **MID_BIND, "hami.io/vgpu-devices-to-allocate": ";"}}}),
]  # fmt: skip
LIVE_OWNERS = [
    ("mid-bind", {}),
    ("other-vendor-mid-bind", {"metadata": {"annotations": {
        "hami.io/vgpu-node": "n1", "hami.io/dcu-devices-to-allocate": "n1-dcu-0,DCU,1024,10:;"}}}),
    ("allocating", {"spec": {"nodeName": "n1"}, "metadata": {"annotations": {
        **MID_BIND, "hami.io/bind-phase": "allocating"}}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "stolen"),
    [(c, True) for _, c in STALE_OWNERS] + [(c, False) for _, c in LIVE_OWNERS],
    ids=[n for n, _ in STALE_OWNERS] + [n for n, _ in LIVE_OWNERS],
)
async def test_lock_of_an_owner_that_no_longer_needs_it_is_stolen(
    changes: dict[str, Any], stolen: bool
) -> None:
    owner = _owner()
    for section, values in changes.items():
        owner[section].update(values)
    kube, locker = _setup(HELD, owner=owner)
    if stolen:
        await locker.acquire("n1", "default", "me")
        assert parse_lock(_lock_of(kube) or "").name == "me"
        assert locker.stats.stolen == 1
    else:
        with pytest.raises(NodeLockError, match="held by other/owner"):
            await locker.acquire("n1", "default", "me")
        assert _lock_of(kube) == HELD


async def test_contention_waits_in_turn_and_wakes_on_the_node_event() -> None:
    kube, locker = _setup(HELD)
    locker.poll_s = 30.0  # only the node event may wake the waiter
    waiter = asyncio.create_task(locker.acquire("n1", "default", "me", wait_s=10))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    assert locker.busy("n1", "default", "third", None)  # a queued bind steers the filter
    before = kube.get("nodes", "", "n1")
    await kube.patch_node_metadata("n1", annotations={LOCK: None})
    started = time.monotonic()
    locker.on_node_event("MODIFIED", before, kube.get("nodes", "", "n1"))
    node = await asyncio.wait_for(waiter, 2)
    assert time.monotonic() - started < 1
    assert parse_lock(node["metadata"]["annotations"][LOCK]).name == "me"
    assert locker.stats.waited == 1 and locker.stats.contention == 0
    assert not locker._queued and not locker._wakes


async def test_waiters_go_in_arrival_order_and_give_up_after_wait_s() -> None:
    kube, locker = _setup(HELD)
    locker.poll_s = 0.01
    order: list[str] = []

    async def bind(name: str, wait_s: float) -> None:
        await locker.acquire("n1", "default", name, wait_s=wait_s)
        order.append(name)
        await locker.release("n1", "default", name)

    tasks = []
    for i in range(4):
        tasks.append(asyncio.create_task(bind(f"p{i}", 5)))
        await asyncio.sleep(0.01)
    late = asyncio.create_task(bind("late", 0.05))
    await asyncio.sleep(0.1)
    with pytest.raises(NodeLockError, match="contention"):
        await late
    await kube.patch_node_metadata("n1", annotations={LOCK: None})
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["p0", "p1", "p2", "p3"]


async def test_conflicts_are_retried_with_resource_version() -> None:
    kube, locker = _setup(None)
    kube.fail_next("patch_node_metadata", errors.Conflict("modified", status=409), count=2)
    await locker.acquire("n1", "default", "me")
    assert locker.stats.conflicts == 2 and locker.stats.acquired == 1
    assert parse_lock(_lock_of(kube) or "").name == "me"


async def test_stale_resource_version_is_a_conflict() -> None:
    kube, _ = _setup(None)
    rv = kube.get("nodes", "", "n1")["metadata"]["resourceVersion"]
    await kube.patch_node_metadata("n1", annotations={"x": "1"})
    with pytest.raises(errors.Conflict):
        await kube.patch_node_metadata("n1", annotations={LOCK: "x"}, resource_version=rv)


async def test_gives_up_after_retries() -> None:
    kube, locker = _setup(None)
    kube.fail_next("patch_node_metadata", errors.ServerError("down", status=500), count=10)
    with pytest.raises(NodeLockError, match="after 5 tries"):
        await locker.acquire("n1", "default", "me")
    assert _lock_of(kube) is None


async def test_unknown_node() -> None:
    _, locker = _setup(None)
    with pytest.raises(NodeLockError, match="not found"):
        await locker.acquire("nope", "default", "me")


@pytest.mark.parametrize(
    ("holder", "released"),
    [(("default", "me"), True), (("other", "owner"), False)],
    ids=["own-lock", "someone-elses"],
)
async def test_release_only_own_lock(holder: tuple[str, str], released: bool) -> None:
    kube, locker = _setup(format_lock(NOW, *holder))
    assert await locker.release("n1", "default", "me") is released
    assert (_lock_of(kube) is None) is released


BUSY = [
    ("free", None, False),
    ("held-by-other", format_lock(NOW - timedelta(seconds=10), "other", "owner"), True),
    ("held-by-this-pod", format_lock(NOW - timedelta(seconds=10), "default", "me"), False),
    ("expired", format_lock(NOW - timedelta(minutes=6), "other", "owner"), False),
    ("legacy-live", "2026-05-01T11:59:00Z", True),
    ("legacy-expired", "2026-05-01T11:50:00Z", False),
    ("garbage", "garbage,,", False),
]  # fmt: skip


@pytest.mark.parametrize(("lock", "busy"), [c[1:] for c in BUSY], ids=[c[0] for c in BUSY])
def test_busy_judges_the_cached_lock(lock: str | None, busy: bool) -> None:
    kube, locker = _setup(lock)
    assert locker.busy("n1", "default", "me", kube.get("nodes", "", "n1")) is busy


async def test_busy_while_our_own_bind_holds_the_mutex() -> None:
    kube, locker = _setup(None)
    node = kube.get("nodes", "", "n1")
    async with locker._mutex("n1"):  # a Bind of another pod is between lock and binding
        assert locker.busy("n1", "default", "me", node)
    assert not locker.busy("n1", "default", "me", node)
    assert not locker.busy("n1", "default", "me", None)


async def test_busy_after_our_lock_until_the_cache_catches_up() -> None:
    kube, locker = _setup(None)
    stale = kube.get("nodes", "", "n1")
    await locker.acquire("n1", "other", "owner", cached=stale)
    assert locker.busy("n1", "default", "me", stale)  # the watch has not delivered the lock yet
    fresh = kube.get("nodes", "", "n1")
    await locker.release("n1", "other", "owner")
    released = kube.get("nodes", "", "n1")
    # the cache may jump past our version only through the watch, which passes it first
    assert locker.busy("n1", "default", "me", released)
    locker.on_node_event("MODIFIED", stale, fresh)
    assert locker.busy("n1", "default", "me", fresh)  # now the cache shows the lock itself
    locker.on_node_event("MODIFIED", fresh, released)
    assert not locker.busy("n1", "default", "me", released)


def test_unseen_lock_is_forgotten_after_a_while() -> None:
    kube, locker = _setup(None)
    locker._unseen["n1"] = ("999", time.monotonic() - locker.unseen_s - 1)
    assert not locker.busy("n1", "default", "me", kube.get("nodes", "", "n1"))
    assert "n1" not in locker._unseen


# --- "bare-time" locks (Cambricon's cambricon.com/dsmlu.lock, vendors §2.7) ---------------------
MLU_LOCK = "cambricon.com/dsmlu.lock"


def _bare_of(kube: FakeKube) -> str | None:
    return (kube.get("nodes", "", "n1")["metadata"].get("annotations") or {}).get(MLU_LOCK)


@pytest.mark.parametrize(
    ("existing", "acquires"),
    [
        (None, True),
        ("2026-05-01T11:58:30Z", False),
        ("2026-05-01T19:58:30+08:00", False),
        ("2026-05-01T11:57:59Z", True),
        ("not a time", True),
    ],
    ids=["free", "young-refused", "young-offset-refused", "older-replaced", "garbage-replaced"],
)
async def test_bare_time_lock(existing: str | None, acquires: bool) -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("n1", annotations={MLU_LOCK: existing} if existing else None))
    locker = NodeLocker(kube, clock=lambda: NOW, backoff=Backoff(0.001, 2, 0.01, 0))
    if acquires:
        patched = await locker.acquire_bare("n1", MLU_LOCK)
        assert _bare_of(kube) == "2026-05-01T12:00:00Z"
        assert patched["metadata"]["annotations"][MLU_LOCK] == "2026-05-01T12:00:00Z"
        assert _lock_of(kube) is None  # the shared lock is not touched
    else:
        with pytest.raises(NodeLockError) as info:
            await locker.acquire_bare("n1", MLU_LOCK)
        assert str(info.value) == "node n1 has been locked within 2 minutes"
        assert not info.value.contention
        assert _bare_of(kube) == existing


class _PatchSpy(FakeKube):
    """Records the keyword arguments of every node patch."""

    def __init__(self) -> None:
        super().__init__()
        self.node_patches: list[dict[str, Any]] = []

    async def patch_node_metadata(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.node_patches.append(kwargs)
        return await super().patch_node_metadata(name, **kwargs)


async def test_bare_time_lock_ignores_resource_version_and_release_ignores_owner() -> None:
    kube = _PatchSpy()
    kube.add("nodes", make_node("n1", annotations={MLU_LOCK: "2026-05-01T11:59:59Z"}))
    locker = NodeLocker(kube, clock=lambda: NOW, backoff=Backoff(0.001, 2, 0.01, 0))
    assert await locker.release_bare("n1", MLU_LOCK)  # written by someone else, still deleted
    assert _bare_of(kube) is None
    await locker.acquire_bare("n1", MLU_LOCK)
    assert kube.node_patches == [
        {"annotations": {MLU_LOCK: None}},
        {"annotations": {MLU_LOCK: "2026-05-01T12:00:00Z"}},
    ]


async def test_bare_time_lock_retries_server_errors() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("n1"))
    locker = NodeLocker(kube, clock=lambda: NOW, backoff=Backoff(0.001, 2, 0.01, 0))
    kube.fail_next("patch_node_metadata", errors.ServerError("boom", status=500), count=2)
    await locker.acquire_bare("n1", MLU_LOCK)
    assert _bare_of(kube) == "2026-05-01T12:00:00Z"
    assert await locker.release_bare("n1", MLU_LOCK)
    kube.fail_next("patch_node_metadata", errors.ServerError("boom", status=500), count=5)
    with pytest.raises(NodeLockError, match="failed after 5 tries"):
        await locker.acquire_bare("n1", MLU_LOCK)


async def test_bare_time_lock_unknown_node() -> None:
    locker = NodeLocker(FakeKube(), clock=lambda: NOW, backoff=Backoff(0.001, 2, 0.01, 0))
    with pytest.raises(NodeLockError, match="node n9 not found"):
        await locker.acquire_bare("n9", MLU_LOCK)
    assert not await locker.release_bare("n9", MLU_LOCK)


async def test_lock_version_is_the_version_this_acquire_wrote() -> None:
    kube, locker = _setup(None)
    await locker.acquire("n1", "default", "me")
    locked = kube.get("nodes", "", "n1")["metadata"]["resourceVersion"]
    assert locker.lock_version("n1") == locked
    await locker.acquire("n1", "default", "me")  # ours already: nothing written now
    assert locker.lock_version("n1") is None
    assert kube.get("nodes", "", "n1")["metadata"]["resourceVersion"] == locked
    assert locker.lock_version("n2") is None


async def test_a_bare_lock_write_is_no_fence_for_the_cached_recheck() -> None:
    _kube, locker = _setup(None)
    await locker.acquire("n1", "default", "me")
    assert locker.lock_version("n1") is not None
    await locker.acquire_bare("n1", "cambricon.com/dsmlu.lock")
    assert locker.lock_version("n1") is None
