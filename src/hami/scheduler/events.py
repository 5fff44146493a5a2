"""Kubernetes Events about pods, in HAMi's wording (``FilteringSucceed``, ``BindingFailed``, ...).

Events are best effort: they are created in background tasks so a slow or failing apiserver never
delays a filter or bind answer; failures are logged and counted, never raised.

Repeats are counted, not piled up, as client-go's event recorder does: the recorder remembers
the Events it sent (a bounded LRU keyed by pod, type, reason, message and source) and a repeat
within :data:`AGGREGATE_WINDOW_S` of the last occurrence merge-patches that Event's ``count`` and
``lastTimestamp`` instead of creating another object. A patch answered 404 (the Event expired or
was deleted) creates a new Event. Repeats still queued are folded before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient

log = logging.getLogger(__name__)

FILTERING_SUCCEED: Final = "FilteringSucceed"
FILTERING_FAILED: Final = "FilteringFailed"
BINDING_SUCCEED: Final = "BindingSucceed"
BINDING_FAILED: Final = "BindingFailed"

COMPONENT: Final = "hami-scheduler"
_MAX_PENDING = 1000
#: Sent Events remembered for aggregation (client-go's recorder keeps 4096 too).
SENT_CACHE: Final = 4096
#: A repeat later than this after the last occurrence starts a new Event.
AGGREGATE_WINDOW_S: Final = 600.0
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_event(
    pod: Mapping[str, Any],
    event_type: str,
    reason: str,
    message: str,
    *,
    now: datetime,
    host: str = "",
) -> JsonObj:
    """A core/v1 Event about ``pod``."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    name = meta.get("name") or "unknown"
    stamp = now.strftime(_STAMP)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": ns},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": ns,
            "name": name,
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT, "host": host} if host else {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": host or COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


_Key = tuple[str, str, str, str, str, str]


@dataclass(slots=True)
class _Sent:
    """An Event object that exists on the apiserver: where it is, its count, last occurrence."""

    namespace: str
    name: str
    count: int
    last: datetime


class EventRecorder:
    """Queues events and sends them from one background task through the client.

    One sender instead of a task per event keeps event traffic off the filter/bind hot path
    (one apiserver connection, no task churn). An event identical to one still queued (same pod,
    type, reason and message) is folded into it; one identical to an Event already sent within
    :data:`AGGREGATE_WINDOW_S` patches that Event's ``count`` and ``lastTimestamp`` (see the
    module docstring).
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        host: str = "",
        clock: Callable[[], datetime] = _utcnow,
        window_s: float = AGGREGATE_WINDOW_S,
        sent_cache: int = SENT_CACHE,
        record_normal: bool = True,
    ) -> None:
        self._client = client
        self._record_normal = record_normal
        self._host = host
        self._clock = clock
        self._window = timedelta(seconds=window_s)
        self._sent_cache = sent_cache
        self._pending: dict[_Key, JsonObj] = {}  # insertion ordered: sent first in, first out
        self._sent: OrderedDict[_Key, _Sent] = OrderedDict()  # LRU, most recent last
        self._worker: asyncio.Task[None] | None = None
        self.sent = 0
        self.patched = 0
        self.failed = 0
        self.dropped = 0
        self.aggregated = 0
        self.skipped = 0

    def record(self, pod: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Queue an Event (Normal ones only with ``record_normal``); repeats are aggregated."""
        if event_type == "Normal" and not self._record_normal:
            self.skipped += 1
            return
        meta = pod.get("metadata") or {}
        key: _Key = (
            str(meta.get("namespace") or "default"), str(meta.get("name") or ""),
            str(meta.get("uid") or ""), event_type, reason, message[:1024],
        )  # fmt: skip
        now = self._clock()
        queued = self._pending.get(key)
        if queued is not None:
            queued["count"] += 1
            queued["lastTimestamp"] = now.strftime(_STAMP)
            self.aggregated += 1
            return
        if len(self._pending) >= _MAX_PENDING:
            self.dropped += 1
            return
        self._pending[key] = build_event(pod, event_type, reason, message, now=now, host=self._host)
        loop = asyncio.get_running_loop()
        worker = self._worker
        if worker is None or worker.done() or worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            key = next(iter(self._pending))
            await self._send(key, self._pending.pop(key))

    async def _send(self, key: _Key, event: JsonObj) -> None:
        try:
            if await self._patch_repeat(key, event):
                return
            await self._client.create_event(event)
            self.sent += 1
            meta = event["metadata"]
            self._remember(key, _Sent(meta["namespace"], meta["name"], event["count"],
                                      self._clock()))  # fmt: skip
        except Exception as exc:  # events are best effort
            self.failed += 1
            involved = event["involvedObject"]
            log.warning(
                "event %s for pod %s/%s not recorded: %s",
                event["reason"],
                involved["namespace"],
                involved["name"],
                exc,
            )

    async def _patch_repeat(self, key: _Key, event: JsonObj) -> bool:
        """Count ``event`` on the Event sent before for ``key``, if any within the window.
        False: nothing to patch (none sent, too old, or it expired: 404), create a new one."""
        prior = self._sent.get(key)
        if prior is None:
            return False
        if self._clock() - prior.last > self._window:
            del self._sent[key]
            return False
        count = prior.count + event["count"]
        changes = {"count": count, "lastTimestamp": event["lastTimestamp"]}
        try:
            await self._client.patch_event(prior.namespace, prior.name, changes)
        except errors.NotFound:
            del self._sent[key]
            return False
        prior.count, prior.last = count, self._clock()
        self._sent.move_to_end(key)
        self.patched += 1
        return True

    def _remember(self, key: _Key, sent: _Sent) -> None:
        self._sent[key] = sent
        self._sent.move_to_end(key)
        while len(self._sent) > self._sent_cache:
            self._sent.popitem(last=False)

    async def flush(self) -> None:
        """Wait until every queued event was sent (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        while self._worker is not None and not self._worker.done():
            if self._worker.get_loop() is not loop:
                return  # a sender of a finished loop: nothing this loop can wait for
            await asyncio.wait([self._worker])
