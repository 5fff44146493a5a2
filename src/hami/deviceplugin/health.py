"""GPU health shared by ListAndWatch and the node registration loop.

A background thread blocks in NVML's event wait for critical XIDs (the blocking call cannot run on
the event loop) and marks GPUs unhealthy in :class:`HealthState`. Coroutines wait on the state's
generation number to stream the change to kubelet and re-patch the node annotation. As in NVIDIA's
plugin, an unhealthy GPU stays unhealthy until the plugin restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable

from hami.deviceplugin.nvml import Nvml, NvmlError, is_critical_xid

log = logging.getLogger(__name__)


class HealthState:
    """Per-GPU health plus a generation counter that bumps on every change.

    :meth:`mark_unhealthy` may be called from any thread; waiters run on ``loop``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, uuids: Iterable[str] = ()) -> None:
        self._loop = loop
        self._health: dict[str, bool] = dict.fromkeys(uuids, True)
        self._generation = 0
        self._changed = asyncio.Condition()

    @property
    def generation(self) -> int:
        return self._generation

    def snapshot(self) -> dict[str, bool]:
        return dict(self._health)

    def mark_unhealthy(self, uuid: str, reason: str) -> None:
        """Thread-safe: schedule the change on the event loop."""
        self._loop.call_soon_threadsafe(self._set, uuid, False, reason)

    def _set(self, uuid: str, healthy: bool, reason: str) -> None:
        if self._health.get(uuid, True) == healthy:
            return
        self._health[uuid] = healthy
        self._generation += 1
        log.warning("GPU %s is now %s: %s", uuid, "healthy" if healthy else "unhealthy", reason)
        self._loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_change(self, seen: int, timeout_s: float | None = None) -> int:
        """Wait until the generation differs from ``seen`` (or timeout); return the current one."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._generation != seen), timeout_s
                )
        return self._generation


class XidWatcher:
    """Thread that turns NVML XID events into :class:`HealthState` changes."""

    def __init__(
        self,
        nvml: Nvml,
        state: HealthState,
        ignored: Iterable[int],
        poll_s: float = 5.0,
    ) -> None:
        self._nvml = nvml
        self._state = state
        self._ignored = frozenset(ignored)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xid-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._poll_s + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._nvml.wait_xid(self._poll_s)
            except NvmlError as exc:
                log.error("XID watch failed, retrying: %s", exc)
                self._stop.wait(self._poll_s)
                continue
            for ev in events:
                if is_critical_xid(ev.xid, self._ignored):
                    self._state.mark_unhealthy(ev.uuid, f"XID {ev.xid}")
                else:
                    log.info("GPU %s: XID %d ignored (application error)", ev.uuid, ev.xid)
