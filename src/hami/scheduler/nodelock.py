"""Acquire and release HAMi's per-node lock ``hami.io/mutex.lock`` through the API (spec §1.4).

The lock serialises pod starts on a node between the extender's Bind and the device plugin's
Allocate. It is written with a JSON merge patch carrying the node's resourceVersion, so two writers
never both win; conflicts and server errors are retried with backoff. A lock older than the
timeout, an unparsable one, or one whose owner pod no longer exists is stolen; the same pod
re-locking succeeds. An in-process mutex per node also serialises our own attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hami.api.annotations import NODE_LOCK
from hami.api.errors import DecodeError
from hami.api.nodelock import format_lock, is_expired, parse_lock
from hami.k8s import errors
from hami.k8s.informer import Backoff
from hami.k8s.port import JsonObj, KubeClient

log = logging.getLogger(__name__)


class NodeLockError(Exception):
    """The lock could not be taken; ``contention`` is True when another live pod holds it."""

    def __init__(self, message: str, *, contention: bool = False) -> None:
        super().__init__(message)
        self.contention = contention


@dataclass
class LockStats:
    """Counters exported as metrics."""

    acquired: int = 0
    released: int = 0
    stolen: int = 0
    conflicts: int = 0
    contention: int = 0
    failures: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class NodeLocker:
    """Takes and releases node locks for pods via a :class:`~hami.k8s.port.KubeClient`."""

    client: KubeClient
    timeout: timedelta = timedelta(minutes=5)
    retries: int = 5
    backoff: Backoff = field(default_factory=lambda: Backoff(0.1, 2.0, 2.0, 0.5))
    clock: Callable[[], datetime] = _utcnow
    stats: LockStats = field(default_factory=LockStats)
    _mutexes: dict[str, asyncio.Lock] = field(default_factory=dict)

    def _mutex(self, node: str) -> asyncio.Lock:
        mutex = self._mutexes.get(node)
        if mutex is None:
            mutex = self._mutexes[node] = asyncio.Lock()
        return mutex

    async def acquire(
        self, node: str, namespace: str, name: str, *, cached: JsonObj | None = None
    ) -> None:
        """Lock ``node`` for pod ``namespace/name`` or raise :class:`NodeLockError`.

        ``cached`` (the node as an informer last saw it) saves the first GET; a stale copy only
        costs a Conflict (the patch carries its resourceVersion) and a fresh read."""
        async with self._mutex(node):
            last: Exception | None = None
            attempt = 0
            while attempt < self.retries:
                use, cached = cached, None
                try:
                    obj = use if use is not None else await self.client.get_node(node)
                    await self._try_acquire(node, namespace, name, obj)
                    self.stats.acquired += 1
                    return
                except errors.Conflict as exc:
                    self.stats.conflicts += 1
                    last = exc
                except NodeLockError:
                    if use is not None:
                        continue  # judge contention on a fresh read only
                    self.stats.contention += 1
                    raise
                except errors.NotFound as exc:
                    self.stats.failures += 1
                    raise NodeLockError(f"node {node} not found") from exc
                except errors.ApiError as exc:
                    if not errors.is_retryable(exc):
                        self.stats.failures += 1
                        raise NodeLockError(f"node {node}: lock failed: {exc}") from exc
                    last = exc
                if use is not None:
                    continue  # a stale cached copy: retry at once with a fresh read
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
            self.stats.failures += 1
            raise NodeLockError(
                f"node {node}: lock for {namespace}/{name} failed "
                f"after {self.retries} tries: {last}"
            )

    async def _try_acquire(self, node: str, namespace: str, name: str, obj: JsonObj) -> None:
        meta = obj.get("metadata") or {}
        current = (meta.get("annotations") or {}).get(NODE_LOCK)
        now = self.clock()
        if current:
            verdict = await self._judge(node, current, namespace, name, now)
            if verdict == "mine":
                return
        await self.client.patch_node_metadata(
            node,
            annotations={NODE_LOCK: format_lock(now, namespace, name)},
            resource_version=str(meta.get("resourceVersion", "")) or None,
        )
        log.debug("node %s locked for %s/%s", node, namespace, name)

    async def _judge(
        self, node: str, current: str, namespace: str, name: str, now: datetime
    ) -> str:
        """ "mine" (already ours), "steal" (stale), or raise contention."""
        try:
            lock = parse_lock(current)
        except DecodeError as exc:
            log.warning("node %s: unreadable lock %r stolen: %s", node, current, exc)
            self.stats.stolen += 1
            return "steal"
        if lock.namespace is not None and lock.name is not None and lock.owned_by(namespace, name):
            return "mine"
        if is_expired(lock, now, self.timeout):
            log.info("node %s: expired lock %r stolen by %s/%s", node, current, namespace, name)
            self.stats.stolen += 1
            return "steal"
        if lock.namespace is None or lock.name is None:
            raise NodeLockError(f"node {node}: node lock contention (legacy lock)", contention=True)
        try:
            await self.client.get_pod(lock.namespace, lock.name)
        except errors.NotFound:
            log.info("node %s: lock of deleted pod %s/%s stolen", node, lock.namespace, lock.name)
            self.stats.stolen += 1
            return "steal"
        raise NodeLockError(
            f"node {node}: node lock contention (held by {lock.namespace}/{lock.name})",
            contention=True,
        )

    async def release(self, node: str, namespace: str, name: str) -> bool:
        """Remove the lock if pod ``namespace/name`` holds it (or it is legacy/expired/garbage).
        Returns whether a lock was removed; errors are logged, never raised."""
        async with self._mutex(node):
            for attempt in range(self.retries):
                try:
                    obj = await self.client.get_node(node)
                    meta = obj.get("metadata") or {}
                    current = (meta.get("annotations") or {}).get(NODE_LOCK)
                    if not current or not self._releasable(current, namespace, name):
                        return False
                    await self.client.patch_node_metadata(
                        node,
                        annotations={NODE_LOCK: None},
                        resource_version=str(meta.get("resourceVersion", "")) or None,
                    )
                    self.stats.released += 1
                    return True
                except errors.NotFound:
                    return False
                except errors.ApiError as exc:
                    if not errors.is_retryable(exc):
                        log.warning(
                            "node %s: releasing lock of %s/%s: %s", node, namespace, name, exc
                        )
                        return False
                await asyncio.sleep(self.backoff.delay(attempt))
            log.warning("node %s: could not release lock of %s/%s", node, namespace, name)
            return False

    def _releasable(self, current: str, namespace: str, name: str) -> bool:
        try:
            lock = parse_lock(current)
        except DecodeError:
            return True
        if lock.namespace is None:
            return True
        return lock.owned_by(namespace, name) or is_expired(lock, self.clock(), self.timeout)
