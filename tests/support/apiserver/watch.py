"""Watch plumbing of the stand-in: committed events, per-watch filtering and delivery queues.

Every write commits one :class:`Event` (the store's resourceVersion goes up by one per write, so
the retained history is contiguous). Each open watch owns a :class:`Watcher`; the store pushes
every event of its resource to the watcher's queue (thread-safely), and the watcher translates it
for its namespace and selector. As the real watch cache does, an object that stops matching the
selector is sent as DELETED (with its new state) and one that starts matching as ADDED.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .convert import from_storage
from .resources import ResourceType
from .selectors import Selector


@dataclass(frozen=True)
class Event:
    """One committed write: ``type`` is ADDED, MODIFIED or DELETED; ``old`` the prior state."""

    rv: int
    type: str
    rt: ResourceType
    namespace: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


class Watcher:
    """Delivery queue and filter of one open watch, living on the server's event loop.

    Created on the loop's thread. A write made on that thread queues its event directly; one
    made elsewhere (a test thread) queues it too and wakes the loop thread-safely. Events of
    other resources or namespaces are never queued."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rt: ResourceType,
        namespace: str | None,
        selector: Selector,
    ) -> None:
        self.loop = loop
        self.rt = rt
        self.namespace = namespace
        self.selector = selector
        self.events: deque[Event | None] = deque()
        self.closed = False
        self._thread = threading.get_ident()
        self._waiter: asyncio.Future[None] | None = None
        # resourceVersion of the last event of this resource sent or passed over (what a
        # bookmark reports: the real watch cache is per resource), and of the last line sent.
        # A bookmark goes out only when it moves the client forward (last_rv > sent_rv), as
        # the real cache sends none to a watcher it has nothing newer for.
        self.last_rv = 0
        self.sent_rv = 0
        # set while the stream is live: sends an event at once (no queue, no task wakeup)
        self.direct: Callable[[Event], None] | None = None

    def push(self, event: Event | None) -> None:
        """Send or queue an event (None: end of stream); safe from any thread.

        Called under the store's lock, so events are sent or queued in commit order; one made
        on the loop's thread while nothing is queued is sent at once through ``direct``."""
        if self.closed:
            return
        on_loop = threading.get_ident() == self._thread
        if event is not None:
            if event.rt.storage_key != self.rt.storage_key:
                return
            if self.namespace is not None and event.namespace != self.namespace:
                if not self.events:
                    self.last_rv = event.rv
                return
            if on_loop and self.direct is not None and not self.events:
                self.last_rv = event.rv
                self.direct(event)
                return
        self.events.append(event)
        if on_loop:
            self._wake()
            return
        try:
            self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # loop closed: the server is gone
            self.closed = True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Return once an event is queued, or after ``timeout`` seconds (None: no limit)."""
        if self.events:
            return
        self._waiter = waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._wake) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def verdict(self, event: Event) -> str | None:
        """The event type this watch reports for ``event``, or None if not its business."""
        if event.rt.storage_key != self.rt.storage_key:
            return None
        if self.namespace is not None and event.namespace != self.namespace:
            return None
        now = self.selector.matches(event.obj)
        kind = event.type
        if kind == "MODIFIED":
            before = event.old is not None and self.selector.matches(event.old)
            if now and not before:
                return "ADDED"
            if before and not now:
                return "DELETED"
            return kind if now else None
        return kind if now else None

    def translate(self, event: Event) -> tuple[str, dict[str, Any]] | None:
        """The (type, object) this watch reports for ``event``, or None if not its business."""
        kind = self.verdict(event)
        if kind is None:
            return None
        return kind, with_type(self.rt, from_storage(self.rt, event.obj))


def with_type(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``obj`` with ``kind``/``apiVersion`` first, as the server serializes
    it. Nested values are shared: pass an object the caller owns, or only serialize the result."""
    body = {"kind": rt.kind, "apiVersion": rt.api_version}
    body.update({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
    return body


def bookmark(rt: ResourceType, rv: int) -> dict[str, Any]:
    """The object of a BOOKMARK event: an empty object carrying only ``resourceVersion``."""
    return {
        "kind": rt.kind,
        "apiVersion": rt.api_version,
        "metadata": {"resourceVersion": str(rv), "creationTimestamp": None},
    }
