"""Acquire and release HAMi's per-node lock ``hami.io/mutex.lock`` through the API (spec §1.4).

The lock serialises pod starts on a node between the extender's Bind and the device plugin's
Allocate. It is written with a JSON merge patch carrying the node's resourceVersion, so two writers
never both win; conflicts and server errors are retried with backoff. A lock older than the
timeout, an unparsable one, or one whose owner pod no longer needs it (gone, being deleted,
finished, bound elsewhere, ``bind-phase`` success/failed, nothing left to allocate on this node:
:func:`~hami.api.nodelock.stale_owner`) is stolen; the same pod re-locking succeeds.

Binds for one node wait their turn here (FIFO per node, bounded by ``wait_s``) instead of failing
on contention: the head of the queue retries when the node informer shows the node changed
(:meth:`NodeLocker.on_node_event`) and at least every ``poll_s``. :meth:`NodeLocker.busy` reports
a queued bind so the filter can prefer other nodes.

A vendor may use its own lock in "bare-time" style (Cambricon's ``cambricon.com/dsmlu.lock``,
vendors §2.7): :meth:`NodeLocker.acquire_bare` writes a bare RFC3339 time with a merge patch (no
resourceVersion, as HAMi), refuses at once while the value is younger than 2 minutes
(``node <n> has been locked within 2 minutes``; not contention, so no waiting) and replaces an
older or unreadable one; :meth:`NodeLocker.release_bare` deletes it whoever wrote it (the vendor's
device plugin clears it itself after Allocate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hami.api.annotations import NODE_LOCK
from hami.api.errors import DecodeError
from hami.api.nodelock import (
    bare_lock_held,
    format_lock,
    format_rfc3339,
    is_expired,
    parse_lock,
    stale_owner,
)
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
    waited: int = 0
    """Acquisitions that met a held lock and waited their turn."""


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
    poll_s: float = 0.5
    """While a bind waits for the lock, re-check at least this often (besides node events)."""
    _mutexes: dict[str, asyncio.Lock] = field(default_factory=dict)
    """node -> short critical section around our lock writes and releases."""
    _turns: dict[str, asyncio.Lock] = field(default_factory=dict)
    """node -> FIFO of our binds waiting for (or taking) that node's lock."""
    _wakes: dict[str, asyncio.Event] = field(default_factory=dict)
    """node -> set by the node informer when the node changed (the lock may be gone)."""
    _queued: dict[str, int] = field(default_factory=dict)
    """node -> our binds queued for or taking its lock."""
    unseen_s: float = 5.0
    _unseen: dict[str, tuple[str, float]] = field(default_factory=dict)
    """node -> (resourceVersion our lock patch produced, when), until the cache shows it."""
    _patching: dict[str, list[str]] = field(default_factory=dict)
    """node -> versions the node informer delivered while our lock patch was in flight."""
    _written: dict[str, str] = field(default_factory=dict)
    """node -> resourceVersion the lock write of the last :meth:`acquire` produced."""

    def lock_version(self, node: str) -> str | None:
        """The resourceVersion that the last :meth:`acquire` of ``node`` wrote the lock at;
        None when that acquire wrote nothing (the lock was ours already). Read it right after
        ``acquire`` returns: a write made after the caller's request arrived."""
        return self._written.get(node)

    def _mutex(self, node: str) -> asyncio.Lock:
        mutex = self._mutexes.get(node)
        if mutex is None:
            mutex = self._mutexes[node] = asyncio.Lock()
        return mutex

    def _turn(self, node: str) -> asyncio.Lock:
        turn = self._turns.get(node)
        if turn is None:
            turn = self._turns[node] = asyncio.Lock()
        return turn

    def busy(self, node: str, namespace: str, name: str, cached: JsonObj | None) -> bool:
        """Whether a Bind of pod ``namespace/name`` to ``node`` would meet a held lock now:
        one of our own binds is queued for it or taking it, we took it and the cache has not
        caught up yet, or the cached node carries a live lock of another pod. No I/O; it only
        steers the filter."""
        if self._queued.get(node):
            return True
        mutex = self._mutexes.get(node)
        if mutex is not None and mutex.locked():
            return True
        if cached is None:
            return False
        ours = self._unseen.get(node)
        if ours is not None:
            # The node informer has not delivered the version our lock patch produced yet, so
            # the cache predates our lock. Bounded in time in case a relist skips that version.
            if time.monotonic() - ours[1] < self.unseen_s:
                return True
            del self._unseen[node]
        current = ((cached.get("metadata") or {}).get("annotations") or {}).get(NODE_LOCK)
        if not current:
            return False
        try:
            lock = parse_lock(current)
        except DecodeError:
            return False  # garbage: a Bind steals it
        if lock.namespace is not None and lock.owned_by(namespace, name):
            return False
        return not is_expired(lock, self.clock(), self.timeout)

    def on_node_event(self, event_type: str, old: JsonObj | None, new: JsonObj | None) -> None:
        """Node informer handler: the cache now holds (or has passed) our lock patch; binds
        waiting for this node retry now."""
        obj = new if new is not None else old
        if obj is None or not (self._unseen or self._patching or self._wakes):
            return
        meta = obj.get("metadata") or {}
        name = str(meta.get("name", ""))
        wake = self._wakes.get(name)
        if wake is not None:
            wake.set()
        during = self._patching.get(name)
        if during is not None:  # the event may overtake the answer to our patch
            during.append(str(meta.get("resourceVersion", "")))
        ours = self._unseen.get(name)
        if ours is not None and (new is None or str(meta.get("resourceVersion", "")) == ours[0]):
            del self._unseen[name]

    async def acquire(
        self,
        node: str,
        namespace: str,
        name: str,
        *,
        cached: JsonObj | None = None,
        wait_s: float = 0.0,
        refresh: Callable[[str], JsonObj | None] | None = None,
        annotation: str = NODE_LOCK,
    ) -> JsonObj:
        """Lock ``node`` for pod ``namespace/name`` and return the node as locked, or raise
        :class:`NodeLockError`. ``annotation`` is the owner-style lock (the shared one).

        While another pod holds the lock, wait in this node's FIFO queue for up to ``wait_s``
        seconds (0: fail at once on contention). ``cached`` (the node as an informer last saw
        it) saves the first GET, and ``refresh(node)`` gives the cached node for later tries; a
        stale copy only costs a Conflict (the patch carries its resourceVersion) and a fresh
        read."""
        deadline = time.monotonic() + wait_s
        turn = self._turn(node)
        self._queued[node] = self._queued.get(node, 0) + 1
        try:
            try:
                if self._queued[node] == 1:  # no other bind holds or awaits the turn
                    await turn.acquire()  # free: taken at once, no timer to arm
                else:
                    async with asyncio.timeout(max(0.0, wait_s)):
                        await turn.acquire()
            except TimeoutError:
                self.stats.contention += 1
                raise NodeLockError(
                    f"node {node}: node lock contention ({namespace}/{name} waited "
                    f"{wait_s:.1f}s behind other binds)",
                    contention=True,
                ) from None
            try:
                return await self._acquire_in_turn(node, namespace, name, cached, deadline,
                                                   refresh, annotation)  # fmt: skip
            finally:
                turn.release()
        finally:
            self._queued[node] -= 1
            if not self._queued[node]:
                del self._queued[node]
                self._wakes.pop(node, None)

    async def _acquire_in_turn(
        self,
        node: str,
        namespace: str,
        name: str,
        cached: JsonObj | None,
        deadline: float,
        refresh: Callable[[str], JsonObj | None] | None,
        annotation: str = NODE_LOCK,
    ) -> JsonObj:
        """Head of the node's queue: try, and on contention wait for a node event or poll."""
        waited = False
        while True:
            wake = self._wakes.get(node)
            if wake is None:
                wake = self._wakes[node] = asyncio.Event()
            wake.clear()  # node events from now on wake us
            try:
                return await self._acquire_now(node, namespace, name, cached, annotation)
            except NodeLockError as exc:
                left = deadline - time.monotonic()
                if not exc.contention or left <= 0:
                    self.stats.contention += exc.contention
                    raise
            if not waited:
                waited = True
                self.stats.waited += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, self.poll_s)):
                    await wake.wait()
            cached = refresh(node) if refresh is not None else None

    async def _acquire_now(
        self,
        node: str,
        namespace: str,
        name: str,
        cached: JsonObj | None,
        annotation: str = NODE_LOCK,
    ) -> JsonObj:
        """One try (with retries of conflicts and server errors); raises on contention."""
        async with self._mutex(node):
            last: Exception | None = None
            attempt = 0
            while attempt < self.retries:
                use, cached = cached, None
                try:
                    obj = use if use is not None else await self.client.get_node(node)
                    locked = await self._try_acquire(node, namespace, name, obj, annotation)
                    self.stats.acquired += 1
                    return locked
                except errors.Conflict as exc:
                    self.stats.conflicts += 1
                    last = exc
                except NodeLockError:
                    if use is not None:
                        continue  # judge contention on a fresh read only
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

    async def _try_acquire(
        self, node: str, namespace: str, name: str, obj: JsonObj, annotation: str = NODE_LOCK
    ) -> JsonObj:
        self._written.pop(node, None)
        meta = obj.get("metadata") or {}
        current = (meta.get("annotations") or {}).get(annotation)
        now = self.clock()
        if current:
            verdict = await self._judge(node, current, namespace, name, now)
            if verdict == "mine":
                return obj
        self._patching[node] = []
        try:
            patched = await self.client.patch_node_metadata(
                node,
                annotations={annotation: format_lock(now, namespace, name)},
                resource_version=str(meta.get("resourceVersion", "")) or None,
            )
        finally:
            seen = self._patching.pop(node, [])
        version = str((patched.get("metadata") or {}).get("resourceVersion", ""))
        if version:
            self._written[node] = version
        if version and version not in seen:
            self._unseen[node] = (version, time.monotonic())
        log.debug("node %s locked for %s/%s", node, namespace, name)
        return patched

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
            owner = await self.client.get_pod(lock.namespace, lock.name)
        except errors.NotFound:
            log.info("node %s: lock of deleted pod %s/%s stolen", node, lock.namespace, lock.name)
            self.stats.stolen += 1
            return "steal"
        why = stale_owner(owner, node)
        if why is not None:
            log.info("node %s: lock of %s/%s stolen by %s/%s: the owner %s", node,
                     lock.namespace, lock.name, namespace, name, why)  # fmt: skip
            self.stats.stolen += 1
            return "steal"
        raise NodeLockError(
            f"node {node}: node lock contention (held by {lock.namespace}/{lock.name})",
            contention=True,
        )

    async def release(
        self, node: str, namespace: str, name: str, *, annotation: str = NODE_LOCK
    ) -> bool:
        """Remove the lock if pod ``namespace/name`` holds it (or it is legacy/expired/garbage).
        Returns whether a lock was removed; errors are logged, never raised."""
        async with self._mutex(node):
            for attempt in range(self.retries):
                try:
                    obj = await self.client.get_node(node)
                    meta = obj.get("metadata") or {}
                    current = (meta.get("annotations") or {}).get(annotation)
                    if not current or not self._releasable(current, namespace, name):
                        return False
                    await self.client.patch_node_metadata(
                        node,
                        annotations={annotation: None},
                        resource_version=str(meta.get("resourceVersion", "")) or None,
                    )
                    self.stats.released += 1
                    wake = self._wakes.get(node)
                    if wake is not None:
                        wake.set()  # our own next bind for this node goes now
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

    # -- "bare-time" locks (a vendor's own, e.g. Cambricon's) ------------------------------------
    async def acquire_bare(self, node: str, annotation: str) -> JsonObj:
        """Set ``annotation`` on ``node`` to the current time and return the patched node, or
        raise :class:`NodeLockError` when it holds a time younger than 2 minutes. The value is
        judged on a fresh read; server errors and conflicts are retried with backoff."""
        self._written.pop(node, None)  # no fence for the cached re-check (Binder)
        async with self._mutex(node):
            last: Exception | None = None
            for attempt in range(self.retries):
                try:
                    obj = await self.client.get_node(node)
                    now = self.clock()
                    current = ((obj.get("metadata") or {}).get("annotations") or {}).get(annotation)
                    if current and self._bare_held(node, annotation, current, now):
                        self.stats.failures += 1
                        raise NodeLockError(f"node {node} has been locked within 2 minutes")
                    patched = await self.client.patch_node_metadata(
                        node, annotations={annotation: format_rfc3339(now)}
                    )
                    self.stats.acquired += 1
                    return patched
                except errors.NotFound as exc:
                    self.stats.failures += 1
                    raise NodeLockError(f"node {node} not found") from exc
                except errors.ApiError as exc:
                    if not errors.is_retryable(exc):
                        self.stats.failures += 1
                        raise NodeLockError(f"node {node}: {annotation} failed: {exc}") from exc
                    last = exc
                await asyncio.sleep(self.backoff.delay(attempt))
            self.stats.failures += 1
            raise NodeLockError(
                f"node {node}: {annotation} failed after {self.retries} tries: {last}"
            )

    def _bare_held(self, node: str, annotation: str, current: str, now: datetime) -> bool:
        """Whether a bare-time value still holds; an older or unreadable one is replaced."""
        try:
            held = bare_lock_held(current, now, annotation)
        except DecodeError as exc:
            log.warning("node %s: unreadable %s %r replaced: %s", node, annotation, current, exc)
            held = False
        if not held:
            self.stats.stolen += 1
        return held

    async def release_bare(self, node: str, annotation: str) -> bool:
        """Delete ``annotation`` from ``node`` whoever set it. Returns whether the patch went
        through; errors are logged, never raised."""
        async with self._mutex(node):
            for attempt in range(self.retries):
                try:
                    await self.client.patch_node_metadata(node, annotations={annotation: None})
                    self.stats.released += 1
                    return True
                except errors.NotFound:
                    return False
                except errors.ApiError as exc:
                    if not errors.is_retryable(exc):
                        log.warning("node %s: releasing %s: %s", node, annotation, exc)
                        return False
                await asyncio.sleep(self.backoff.delay(attempt))
            log.warning("node %s: could not release %s", node, annotation)
            return False
