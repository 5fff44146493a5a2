"""``--profiling`` routes (/debug/pprof/*) served over a real socket, and their pure dumps."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from hami.scheduler import debug


@contextlib.asynccontextmanager
async def _served() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=debug.routes())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        assert not task.done(), "server failed to start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def _parked_forever() -> None:
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("path", "status", "needles"),
    [
        ("/debug/pprof/", 200, ["/debug/pprof/goroutine", "/debug/pprof/heap"]),
        ("/debug/pprof/goroutine", 200,
         ["asyncio tasks:", "task parked-task [pending]", "in _parked_forever", "threads:",
          "thread MainThread"]),
        ("/debug/pprof/heap", 200, ["gc counts:", "objects tracked by gc:", " dict"]),
        ("/debug/pprof/profile", 404, []),
    ],
    ids=["index", "goroutine", "heap", "unknown-profile"],
)  # fmt: skip
async def test_routes(path: str, status: int, needles: list[str]) -> None:
    parked = asyncio.get_running_loop().create_task(_parked_forever(), name="parked-task")
    await asyncio.sleep(0)
    try:
        async with _served() as http:
            resp = await http.get(path)
    finally:
        parked.cancel()
    assert resp.status_code == status
    for needle in needles:
        assert needle in resp.text, needle


async def test_post_is_refused() -> None:
    async with _served() as http:
        assert (await http.post("/debug/pprof/goroutine")).status_code == 405


def test_thread_stacks_name_known_and_unknown_threads() -> None:
    frames = sys._current_frames()
    me = threading.get_ident()
    text = debug.thread_stacks({me: frames[me], 424242: frames[me]}, [threading.current_thread()])
    assert f"thread {threading.current_thread().name} (id {me})" in text
    assert "thread ? (id 424242)" in text
    assert "threads: 2" in text
