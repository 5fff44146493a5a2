"""Watch plumbing of the stand-in: committed events, per-watch filtering and delivery queues.

Every write commits one :class:`Event` (the store's resourceVersion goes up by one per write, so
the retained history is contiguous). Each open watch owns a :class:`Watcher`; the store pushes
every event to every watcher's asyncio queue thread-safely, and the watcher translates it for its
resource, namespace and selector. As the real watch cache does, an object that stops matching the
selector is sent as DELETED (with its new state) and one that starts matching as ADDED.
"""

from __future__ import annotations

import asyncio
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
    """Delivery queue and filter of one open watch, living on the server's event loop."""

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
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.closed = False

    def push(self, event: Event | None) -> None:
        """Hand an event (None: end of stream) over to the loop; safe from any thread."""
        if self.closed:
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # loop closed: the server is gone
            self.closed = True

    def translate(self, event: Event) -> tuple[str, dict[str, Any]] | None:
        """The (type, object) this watch reports for ``event``, or None if not its business."""
        if event.rt.storage_key != self.rt.storage_key:
            return None
        if self.namespace is not None and event.namespace != self.namespace:
            return None
        now = self.selector.matches(event.obj)
        before = event.old is not None and self.selector.matches(event.old)
        kind = event.type
        if kind == "MODIFIED":
            if now and not before:
                kind = "ADDED"
            elif before and not now:
                kind = "DELETED"
            elif not now:
                return None
        elif not now:
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
