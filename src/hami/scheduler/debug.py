"""``--profiling``: a Python analogue of the Go ``/debug/pprof/*`` HAMi serves next to /filter.

When the flag is on, the extender app also serves (plain text, GET only):

- ``/debug/pprof/``: an index of the profiles below;
- ``/debug/pprof/goroutine``: the stack of every asyncio task of the serving loop and of every
  thread (what a Go goroutine dump tells an operator: where is everything waiting);
- ``/debug/pprof/heap``: garbage-collector counters and the object counts by type (top 50).

:func:`routes` returns the starlette routes; the app adds them only when profiling is enabled.
The dumps are built by pure functions of the task/frame collections so they can be tested.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import io
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from types import FrameType

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

PREFIX = "/debug/pprof"

PROFILES: dict[str, str] = {
    "goroutine": "Stack traces of all asyncio tasks and all threads",
    "heap": "Garbage-collector counters and live object counts by type",
}


def index_text() -> str:
    """The ``/debug/pprof/`` page: one line per profile, as Go's index lists them."""
    lines = ["hami scheduler profiles (Python analogue of Go's net/http/pprof):", ""]
    lines += [f"{PREFIX}/{name}\t{about}" for name, about in PROFILES.items()]
    return "\n".join(lines) + "\n"


def task_stacks(tasks: Iterable[asyncio.Task[object]], limit: int = 64) -> str:
    """Stack of each task (name, state, coroutine and where it is suspended)."""
    out = io.StringIO()
    ordered = sorted(tasks, key=lambda t: t.get_name())
    out.write(f"asyncio tasks: {len(ordered)}\n")
    for task in ordered:
        state = "done" if task.done() else "pending"
        out.write(f"\ntask {task.get_name()} [{state}] {task.get_coro()!r}\n")
        for frame in task.get_stack(limit=limit):
            out.write(_frame_line(frame))
    return out.getvalue()


def thread_stacks(
    frames: Mapping[int, FrameType], threads: Iterable[threading.Thread], limit: int = 64
) -> str:
    """Stack of each thread, named where the thread is known."""
    names = {t.ident: t.name for t in threads}
    out = io.StringIO()
    out.write(f"threads: {len(frames)}\n")
    for ident, frame in sorted(frames.items()):
        out.write(f"\nthread {names.get(ident, '?')} (id {ident})\n")
        out.write("".join(traceback.format_stack(frame, limit=limit)))
    return out.getvalue()


def _frame_line(frame: FrameType) -> str:
    code = frame.f_code
    return f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n'


def heap_text(top: int = 50) -> str:
    """gc generation counts/stats and the ``top`` most common live object types."""
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    lines = [f"gc counts: {gc.get_count()}", f"gc thresholds: {gc.get_threshold()}"]
    lines += [f"gc generation {i}: {stats}" for i, stats in enumerate(gc.get_stats())]
    lines += ["", f"objects tracked by gc: {sum(counts.values())}", ""]
    lines += [f"{n:>10} {name}" for name, n in counts.most_common(top)]
    return "\n".join(lines) + "\n"


async def _index(request: Request) -> Response:
    return PlainTextResponse(index_text())


async def _goroutine(request: Request) -> Response:
    body = (
        task_stacks(asyncio.all_tasks())
        + "\n"
        + thread_stacks(sys._current_frames(), threading.enumerate())
    )
    return PlainTextResponse(body)


async def _heap(request: Request) -> Response:
    return PlainTextResponse(heap_text())


def routes() -> list[Route]:
    """The profiling routes (add them to the extender app when ``--profiling`` is on)."""
    return [
        Route(f"{PREFIX}/", _index, methods=["GET"]),
        Route(f"{PREFIX}/goroutine", _goroutine, methods=["GET"]),
        Route(f"{PREFIX}/heap", _heap, methods=["GET"]),
    ]
