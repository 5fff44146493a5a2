"""The list+watch cache: relist on 410, resume after dropped watches, backoff on errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from hami.k8s import errors
from hami.k8s.fake import FakeKube
from hami.k8s.informer import Backoff, Informer
from hami.k8s.port import JsonObj, Kind
from tests.component.scheduler.objects import make_node


@contextlib.asynccontextmanager
async def running(inf: Informer) -> AsyncIterator[Informer]:
    task = asyncio.get_running_loop().create_task(inf.run())
    try:
        assert await inf.wait_synced(5)
        yield inf
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0.005)


def _names(inf: Informer) -> list[str]:
    return sorted(inf.snapshot())


async def test_list_then_watch_and_handlers_see_every_change() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("a"))
    seen: list[tuple[str, str]] = []

    def handler(kind: str, old: JsonObj | None, new: JsonObj | None) -> None:
        obj = new or old or {}
        seen.append((kind, obj["metadata"]["name"]))

    inf = Informer(kube, Kind.NODES)
    inf.add_handler(handler)
    async with running(inf):
        kube.add("nodes", make_node("b"))
        await kube.patch_node_metadata("a", annotations={"x": "1"})
        kube.delete("nodes", "", "b")
        await settle()
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert _names(inf) == ["a"]


async def test_dropped_watch_resumes_without_losing_events() -> None:
    kube = FakeKube()
    inf = Informer(kube, Kind.NODES, backoff=Backoff(0.001, 2, 0.01, 0))
    async with running(inf):
        kube.add("nodes", make_node("a"))
        await settle()
        kube.drop_watches()
        kube.add("nodes", make_node("b"))  # happens while no watch is open
        await settle()
        assert _names(inf) == ["a", "b"]
        assert inf.relists == 1


async def test_gone_triggers_relist_and_diff() -> None:
    kube = FakeKube(history=2)
    inf = Informer(kube, Kind.NODES, backoff=Backoff(0.001, 2, 0.01, 0))
    kube.add("nodes", make_node("old"))
    async with running(inf):
        kube.drop_watches()
        kube.fail_next("watch", errors.Gone("too old", status=410))
        for name in ("n1", "n2", "n3"):
            kube.add("nodes", make_node(name))
        kube.delete("nodes", "", "old")
        await settle()
        assert _names(inf) == ["n1", "n2", "n3"]
        assert inf.relists >= 2


@pytest.mark.parametrize(
    "error",
    [errors.ServerError("down", status=500), errors.TransportError("refused")],
    ids=["500", "transport"],
)
async def test_errors_back_off_and_recover(error: errors.ApiError) -> None:
    kube = FakeKube()
    inf = Informer(kube, Kind.NODES, backoff=Backoff(0.001, 2, 0.01, 0))
    async with running(inf):
        kube.drop_watches()
        kube.fail_next("watch", error, count=3)
        kube.add("nodes", make_node("late"))
        await settle()
        assert _names(inf) == ["late"]
        assert inf.errors == 3


async def test_failing_handler_does_not_break_the_cache() -> None:
    kube = FakeKube()

    def bad(kind: str, old: JsonObj | None, new: JsonObj | None) -> None:
        raise RuntimeError("handler bug")

    inf = Informer(kube, Kind.NODES)
    inf.add_handler(bad)
    async with running(inf):
        kube.add("nodes", make_node("a"))
        await settle()
        assert _names(inf) == ["a"]


async def test_quiet_watch_is_debug_and_a_real_failure_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("a"))
    kube.fail_next("watch", errors.WatchQuiet("watch nodes: no data for 75s"))
    inf = Informer(kube, Kind.NODES, backoff=Backoff(initial=0.01, maximum=0.01))
    with caplog.at_level("DEBUG", logger="hami.k8s.informer"):
        async with running(inf):
            await settle()
            kube.add("nodes", make_node("b"))  # the reconnected watch still delivers
            await settle()
            assert _names(inf) == ["a", "b"]
            quiet = [r for r in caplog.records if "no data for 75s" in r.getMessage()]
            assert [r.levelname for r in quiet] == ["DEBUG"]
            assert inf.errors == 0
            kube.fail_next("watch", errors.TransportError("watch nodes: connection reset"))
            kube.drop_watches()
            await settle()
    failed = [r for r in caplog.records if "connection reset" in r.getMessage()]
    assert [r.levelname for r in failed] == ["WARNING"] and inf.errors == 1


async def test_seen_and_wait_seen_follow_the_watch() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("a"))
    inf = Informer(kube, Kind.NODES)
    async with running(inf):
        now = inf.resource_version
        assert inf.seen(now) and inf.seen("1")
        ahead = str(int(now) + 1)
        assert not inf.seen(ahead)
        assert not inf.seen("abc") and not inf.seen("") and not inf.seen("²")
        assert not await inf.wait_seen(ahead, 0.02)  # nothing happened: gives up
        waiter = asyncio.get_running_loop().create_task(inf.wait_seen(ahead, 5))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await kube.patch_node_metadata("a", annotations={"x": "1"})
        assert await asyncio.wait_for(waiter, 5)
        assert inf.seen(ahead) and inf._waiters == []
        assert await inf.wait_seen(now, 0)
