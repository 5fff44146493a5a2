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


class EventRecorder:
    """Creates events in the background through the client."""

    def __init__(
        self, client: KubeClient, *, host: str = "", clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._client = client
        self._host = host
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def record(self, pod: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        if len(self._tasks) >= _MAX_PENDING:
            self.dropped += 1
            return
        event = build_event(pod, event_type, reason, message, now=self._clock(), host=self._host)
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        """Wait for the events in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
