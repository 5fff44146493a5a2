"""Kubernetes Events about pods, in HAMi's wording (``FilteringSucceed``, ``BindingFailed``, ...).

Events are best effort: they are created in background tasks so a slow or failing apiserver never
delays a filter or bind answer; failures are logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from hami.k8s.port import JsonObj, KubeClient

log = logging.getLogger(__name__)

FILTERING_SUCCEED: Final = "FilteringSucceed"
FILTERING_FAILED: Final = "FilteringFailed"
BINDING_SUCCEED: Final = "BindingSucceed"
BINDING_FAILED: Final = "BindingFailed"

COMPONENT: Final = "hami-scheduler"
_MAX_PENDING = 1000


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
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
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


class EventRecorder:
    """Queues events and sends them from one background task through the client.

    One sender instead of a task per event keeps event traffic off the filter/bind hot path
    (one apiserver connection, no task churn). Like kube's event recorder, an event identical to
    one still queued (same pod, type, reason and message) is folded into it: ``count`` goes up
    and ``lastTimestamp`` moves, rather than a second object being created.
    """

    def __init__(
        self, client: KubeClient, *, host: str = "", clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._client = client
        self._host = host
        self._clock = clock
        self._pending: dict[_Key, JsonObj] = {}  # insertion ordered: sent first in, first out
        self._worker: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.aggregated = 0

    def record(self, pod: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        meta = pod.get("metadata") or {}
        key: _Key = (
            str(meta.get("namespace") or "default"), str(meta.get("name") or ""),
            str(meta.get("uid") or ""), event_type, reason, message,
        )  # fmt: skip
        now = self._clock()
        queued = self._pending.get(key)
        if queued is not None:
            queued["count"] += 1
            queued["lastTimestamp"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
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
            await self._send(self._pending.pop(key))

    async def _send(self, event: JsonObj) -> None:
        try:
            await self._client.create_event(event)
            self.sent += 1
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

    async def flush(self) -> None:
        """Wait until every queued event was sent (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        while self._worker is not None and not self._worker.done():
            if self._worker.get_loop() is not loop:
                return  # a sender of a finished loop: nothing this loop can wait for
            await asyncio.wait([self._worker])
