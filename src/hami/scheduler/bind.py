"""Extender Bind (spec §1.3 step 5): node lock, re-check, ``bind-phase``/``bind-time`` stamp.

kube-scheduler calls our bind verb only for pods that ask for our resources, so every bind is
managed: the pod must carry a decision (``hami.io/vgpu-node``) for the node. When this replica's
cache lacks it (the filter ran on another replica a moment ago) the pod is read from the API.
Bind then takes the pod's node locks (:func:`bind_locks`: in sorted vendor order each distinct
lock of the vendors its app containers ask for; the shared ``hami.io/mutex.lock`` waits its turn,
FIFO per node, at most ``--node-lock-retry-timeout``; a vendor's own "bare-time" lock such as
Cambricon's is refused at once while held), and under the locks re-validates the pod's devices
against the node's inventory and the pods already bound there, read fresh from the API
(:mod:`~hami.engine.bindcheck`). The lock is the single point of truth: whatever two replicas
decided, no GPU is over-committed. A pod that no longer fits has its decision cleared, so the next
filter decides again. Finally it creates ``pods/binding`` carrying ``hami.io/bind-phase=allocating``
and ``hami.io/bind-time`` as Binding annotations, which the apiserver applies to the pod in the
same write. Any failure releases the locks taken, in reverse order, and is answered in ``Error``
(HTTP 200), with a ``BindingFailed`` event; success records ``BindingSucceed`` (the device
plugins release the locks after Allocate). Each bind logs one INFO line.

The fresh read under the lock (GET of the pod, LIST of the pods on the node) is skipped when the
pod informer's cache provably holds at least as much: it has reached the resourceVersion of the
lock this bind just wrote (see :meth:`Binder._cached_view`). Only the pods that may hold one of
the pod's devices go into the re-check (:func:`may_share_gpus`); the others cannot change its
answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from hami.api.annotations import (
    BIND_PHASE,
    BIND_PHASE_ALLOCATING,
    BIND_TIME,
    DEVICES_ALLOCATED,
    DEVICES_TO_ALLOCATE,
    MIG_ALLOCATIONS,
    VGPU_NODE,
)
from hami.api.errors import DecodeError
from hami.api.extender import BINDING_ARGS_FIELDS, ExtenderBindingResult, binding_result, go_fields
from hami.device.base import SHARED_LOCK, DeviceBackend, LockStyle
from hami.device.registry import DeviceRegistry
from hami.engine.bindcheck import holds_devices, misfit
from hami.engine.state import held_devices
from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient
from hami.scheduler import events
from hami.scheduler.nodelock import NodeLocker, NodeLockError

log = logging.getLogger(__name__)

#: The annotations a Filter decision consists of besides the vendors' (cleared when the
#: decision went stale); :func:`decision_keys` adds every backend's pair.
DECISION_KEYS = (VGPU_NODE, DEVICES_TO_ALLOCATE, DEVICES_ALLOCATED, MIG_ALLOCATIONS)


def decision_keys(registry: DeviceRegistry) -> tuple[str, ...]:
    """Every annotation a stale decision is cleared of: node, MIG list, and each backend's
    to-allocate and allocated annotations (vendor extras are overwritten by the next one)."""
    keys = dict.fromkeys(DECISION_KEYS)
    for backend in registry.backends.values():
        for key in (backend.to_allocate_annotation, backend.allocated_annotation):
            if key:
                keys[key] = None
    return tuple(keys)


class BindArgsError(ValueError):
    """The ``ExtenderBindingArgs`` body is malformed."""


@dataclass
class BindStats:
    """Counters exported as metrics."""

    ok: int = 0
    failed: int = 0
    stale: int = 0
    """Binds refused because the decision no longer fit the node (re-check under the lock)."""
    cached_checks: int = 0
    """Re-checks made from the informer cache (it had seen the lock write): no GET, no LIST."""
    listed_checks: int = 0
    """Re-checks made from a fresh GET of the pod and LIST of the pods on the node."""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _placed(pod: Mapping[str, Any]) -> str:
    return str((_meta(pod).get("annotations") or {}).get(VGPU_NODE) or "")


@dataclass(frozen=True, slots=True)
class BindLock:
    """One node lock a bind takes: the annotation and its style (see ``NodeLockSpec``)."""

    annotation: str
    style: LockStyle


#: The lock of a managed pod whose app containers ask no vendor for devices.
SHARED = BindLock(SHARED_LOCK, "owner")


def _asks(backend: DeviceBackend, pod: Mapping[str, Any], first: int = 0) -> bool:
    """Whether containers from index ``first`` on (init containers first) ask ``backend`` for
    devices; an unreadable request counts as asking."""
    try:
        requests = backend.container_requests(pod)
    except DecodeError:
        return True
    return any(r is not None and r.nums > 0 for r in requests[first:])


def asks_for_devices(pod: Mapping[str, Any], backends: Mapping[str, DeviceBackend] | None) -> bool:
    """Whether ``pod`` asks any backend for a device (unreadable requests count as asking)."""
    if backends is None:
        return True
    return any(_asks(b, pod) for b in backends.values())


def bind_locks(
    pod: Mapping[str, Any], backends: Mapping[str, DeviceBackend] | None
) -> list[BindLock]:
    """The node locks a bind of ``pod`` takes, in order: in sorted cw order, each distinct lock
    of the vendors its **app** containers ask for (init containers ignored, vendors §0.1), so a
    multi-vendor pod holds the shared lock once, plus Cambricon's own. A pod whose app containers
    ask nothing (only init containers do) takes the shared lock: the bind's re-check runs under
    it (HAMi takes none)."""
    if backends is None:
        return [SHARED]
    spec = pod.get("spec") or {}
    first_app = len(spec.get("initContainers") or []) if isinstance(spec, Mapping) else 0
    locks: dict[str, BindLock] = {}
    for cw in sorted(backends):
        backend = backends[cw]
        if backend.lock_annotation not in locks and _asks(backend, pod, first_app):
            locks[backend.lock_annotation] = BindLock(backend.lock_annotation, backend.lock_style)
    return list(locks.values()) or [SHARED]


class Binder:
    """Binds pods for the extender through a :class:`~hami.k8s.port.KubeClient`."""

    def __init__(
        self,
        client: KubeClient,
        locker: NodeLocker,
        recorder: events.EventRecorder,
        *,
        cached_pod: Callable[[str], JsonObj | None],
        cached_node: Callable[[str], JsonObj | None],
        clock: Callable[[], datetime],
        forget: Callable[[str], None] = lambda uid: None,
        registry: DeviceRegistry,
        lock_retry_timeout_s: float = 28.0,
        cache_seen: Callable[[str, float], Awaitable[bool]] | None = None,
        cached_on_node: Callable[[str], Iterable[JsonObj]] | None = None,
        cache_wait_s: float = 0.02,
    ) -> None:
        self.client = client
        self._cache_seen = cache_seen
        self._cached_on_node = cached_on_node
        self.cache_wait_s = cache_wait_s
        self._waiting = True
        self.locker = locker
        self.recorder = recorder
        self._cached_pod = cached_pod
        self._cached_node = cached_node
        self._forget = forget
        self._registry = registry
        self._backends = registry.backends
        self.clock = clock
        self.lock_retry_timeout_s = lock_retry_timeout_s
        self.stats = BindStats()

    async def bind(self, args: Any) -> ExtenderBindingResult:
        """Answer an ``ExtenderBindingArgs``: lock, re-check, stamp, bind; ``Error`` on failure."""
        try:
            ns, name, uid, node = parse_bind_args(args)
        except BindArgsError as exc:
            self.stats.failed += 1
            log.warning("bind refused: %s", exc, extra={"outcome": "error"})
            return binding_result(str(exc))
        ref = f"{ns}/{name}"
        started = time.monotonic()
        pod = self._cached_pod(ref)
        fresh = False
        if pod is None or (uid and _meta(pod).get("uid") != uid) or _placed(pod) != node:
            # Not in this cache yet, or the decision is missing or for another node: another
            # replica may have filtered it a moment ago. Only the API can tell.
            try:
                pod = await self.client.get_pod(ns, name)
            except errors.ApiError as exc:
                return self._failed(None, ref, node, f"reading the pod: {exc}", started)
            fresh = True
        if uid and _meta(pod).get("uid") != uid:
            return self._failed(pod, ref, node, f"uid {uid} does not match the pod", started)
        placed = _placed(pod)
        if not placed and not asks_for_devices(pod, self._backends):
            return await self._bind_plain(pod, ns, name, uid, node, started)
        if placed != node:
            why = (f"the last filter placed it on node {placed}" if placed else
                   f"it has no {VGPU_NODE} decision")  # fmt: skip
            return self._failed(pod, ref, node, f"{why}; the next filter decides again", started)
        queued = time.monotonic()
        taken: list[BindLock] = []
        try:
            locked = await self._lock(node, ns, name, bind_locks(pod, self._backends), taken)
        except NodeLockError as exc:
            await self._release(node, ns, name, taken)
            return self._failed(pod, ref, node, str(exc), started, time.monotonic() - queued)
        waited = time.monotonic() - queued
        try:
            view = await self._cached_view(ref, node)
            if view is not None:
                pod, on_node = view
                self.stats.cached_checks += 1
            else:
                if not fresh:  # the decision this replica cached may be older than the API's
                    pod = await self.client.get_pod(ns, name)
                on_node = await self.client.list_pods(field_selector=f"spec.nodeName={node}")
                self.stats.listed_checks += 1
            # the UUID test first: it drops most pods for the price of a substring search
            others = [
                p for p in may_share_gpus(pod, on_node, self._registry)
                if holds_devices(p, node, uid, ref)
            ]  # fmt: skip
            stale = misfit(pod, locked, others, self._registry)
            if stale is not None:
                await self._release(node, ns, name, taken)
                if _placed(pod) == node:  # a newer decision for another node stays
                    await self._drop_decision(pod, ns, name)
                self.stats.stale += 1
                return self._failed(pod, ref, node, f"{stale}; the next filter decides again",
                                    started, waited)  # fmt: skip
            # The stamp rides on the Binding: the apiserver writes it and spec.nodeName in one
            # update, so the device plugin never sees a stamped pod without its node (or the
            # reverse), and bind costs one request less than a separate PATCH.
            stamp = {BIND_PHASE: BIND_PHASE_ALLOCATING,
                     BIND_TIME: str(int(self.clock().timestamp()))}  # fmt: skip
            await self.client.bind_pod(ns, name, node, uid=uid or None, annotations=stamp)
        except errors.ApiError as exc:
            await self._release(node, ns, name, taken)
            return self._failed(pod, ref, node, str(exc), started, waited)
        return self._succeeded(pod, ref, node, started, waited)

    async def _lock(
        self, node: str, ns: str, name: str, locks: Sequence[BindLock], taken: list[BindLock]
    ) -> JsonObj:
        """Take ``locks`` in order, appending each to ``taken``; the node as last locked."""
        locked: JsonObj | None = None
        for lock in locks:
            if lock.style == "bare-time":
                locked = await self.locker.acquire_bare(node, lock.annotation)
            else:
                cached = locked if locked is not None else self._cached_node(node)
                locked = await self.locker.acquire(
                    node, ns, name, cached=cached, wait_s=self.lock_retry_timeout_s,
                    refresh=self._cached_node, annotation=lock.annotation,
                )  # fmt: skip
            taken.append(lock)
        assert locked is not None  # bind_locks never answers no lock
        return locked

    async def _release(self, node: str, ns: str, name: str, taken: Sequence[BindLock]) -> None:
        """Release the locks taken, last first."""
        for lock in reversed(taken):
            if lock.style == "bare-time":
                await self.locker.release_bare(node, lock.annotation)
            else:
                await self.locker.release(node, ns, name, annotation=lock.annotation)

    async def _cached_view(self, ref: str, node: str) -> tuple[JsonObj, Iterable[JsonObj]] | None:
        """(pod, pods on ``node``) from the pod informer's cache, when that is as fresh as a
        GET and a LIST made now; None otherwise (the caller reads the API).

        Why it is safe: the lock write that :meth:`NodeLocker.acquire` just made happened after
        kube-scheduler sent this bind, and its resourceVersion ``R`` is an etcd revision, from
        the one sequence that orders every write to pods and nodes. A cache that has reached
        ``R`` (:meth:`Informer.seen`) holds every pod write made before this bind arrived (the
        decision on the pod, by whichever replica filtered it) and every binding to this node
        made before the lock was ours; a replica binds only under the lock, so nothing binds
        here in between. That is all a LIST under the lock would show. When the lock was ours
        already (no write now), the version is not an integer, or the cache does not reach
        ``R`` within :attr:`cache_wait_s` (at once, after such a wait timed out), None. (This
        assumes pods and nodes live in one etcd, as they do unless the apiserver splits them
        with ``--etcd-servers-overrides``.)"""
        if self._cache_seen is None or self._cached_on_node is None:
            return None
        written = self.locker.lock_version(node)
        if written is None:
            return None
        if not await self._cache_seen(written, 0.0):
            # Wait for the watch only while waiting pays: in a busy cluster the next pod event
            # comes within milliseconds; in a quiet one none may come, and a bind holding the
            # lock should not sit out the wait each time. A wait that timed out stops waiting
            # until the cache is found ahead of a lock write again.
            if not self._waiting:
                return None
            if not await self._cache_seen(written, self.cache_wait_s):
                self._waiting = False
                return None
        else:
            self._waiting = True
        pod = self._cached_pod(ref)
        if pod is None:
            return None
        return pod, self._cached_on_node(node)

    async def _bind_plain(
        self, pod: JsonObj, ns: str, name: str, uid: str, node: str, started: float
    ) -> ExtenderBindingResult:
        """A pod that asks for none of our devices: nothing to lock or allocate."""
        try:
            await self.client.bind_pod(ns, name, node, uid=uid or None)
        except errors.ApiError as exc:
            return self._failed(pod, f"{ns}/{name}", node, str(exc), started)
        return self._succeeded(pod, f"{ns}/{name}", node, started, 0.0)

    async def _drop_decision(self, pod: Mapping[str, Any], ns: str, name: str) -> None:
        """Forget a decision that no longer fits, here and on the pod (best effort)."""
        self._forget(str(_meta(pod).get("uid") or ""))
        try:
            await self.client.patch_pod_metadata(
                ns,
                name,
                annotations=dict.fromkeys(decision_keys(self._registry)),
                labels={VGPU_NODE: None},
            )
        except errors.ApiError as exc:
            log.warning("pod %s/%s: clearing the stale decision failed: %s", ns, name, exc)

    def _succeeded(
        self, pod: JsonObj, ref: str, node: str, started: float, waited: float
    ) -> ExtenderBindingResult:
        self.stats.ok += 1
        _log_bind(logging.INFO, ref, node, "bound", started, waited)
        self.recorder.record(
            pod, "Normal", events.BINDING_SUCCEED, f"Successfully binding node [{node}] to {ref}"
        )
        return binding_result()

    def _failed(
        self,
        pod: JsonObj | None,
        ref: str,
        node: str,
        why: str,
        started: float,
        waited: float = 0.0,
    ) -> ExtenderBindingResult:
        self.stats.failed += 1
        msg = f"bind pod {ref} to node {node}: {why}"
        _log_bind(logging.INFO, ref, node, "failed", started, waited, why)
        if pod is not None:
            self.recorder.record(pod, "Warning", events.BINDING_FAILED, msg)
        return binding_result(msg)


def _log_bind(
    level: int, ref: str, node: str, outcome: str, started: float, waited: float,
    error: str | None = None,
) -> None:  # fmt: skip
    """The one line per bind: pod, node, outcome, lock wait (text and structured fields)."""
    took = time.monotonic() - started
    fields: dict[str, Any] = {
        "pod": ref, "node": node, "outcome": outcome,
        "lock_wait_s": round(waited, 3), "duration_s": round(took, 3),
    }  # fmt: skip
    if error is not None:
        fields["error"] = error
    log.log(level, "bind pod=%s node=%s outcome=%s lock_wait=%.3fs took=%.3fs%s", ref, node,
            outcome, waited, took, f" error={error!r}" if error else "", extra=fields)  # fmt: skip


_Pod = TypeVar("_Pod", bound=Mapping[str, Any])


def may_share_gpus(
    pod: Mapping[str, Any], others: Iterable[_Pod], registry: DeviceRegistry
) -> list[_Pod]:
    """The pods of ``others`` that may hold one of the devices ``pod``'s decision names.

    :func:`~hami.engine.bindcheck.misfit` weighs the other pods' charges on the pod's own
    GPUs only, so a pod whose allocation annotations do not mention any of those GPU UUIDs
    cannot change its answer: a decoded UUID is always a substring of the annotation text (the
    device list is plain text; the MIG list is JSON, kept whole when it has an escape). Keeps
    everything when the pod's own decision does not decode (misfit says why)."""
    try:
        held = held_devices(pod, registry)
    except DecodeError:
        return list(others)
    if held is None:
        return list(others)
    uuids = tuple({d.uuid for per_vendor in held[0].values() for ctr in per_vendor for d in ctr})
    keys = tuple(registry.allocated_annotations.values())
    kept = []
    # One pass per pod, one annotation at a time (a UUID never spans two annotations): the
    # pods on a busy node are many, and most hold none of these GPUs.
    for other in others:
        meta = other.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
        if not annotations:
            continue  # holds nothing
        mig = annotations.get(MIG_ALLOCATIONS)
        if mig is not None and (type(mig) is not str or "\\" in mig):
            kept.append(other)  # odd, or a JSON escape may spell a UUID differently
            continue
        values = [annotations.get(key) for key in keys]
        if mig is not None:
            values.append(mig)
        for value in values:
            if value is None:
                continue
            if type(value) is not str or any(uuid in value for uuid in uuids):
                kept.append(other)  # odd values: let misfit judge them
                break
    return kept


def parse_bind_args(args: Any) -> tuple[str, str, str, str]:
    """(namespace, name, uid, node) from an ``ExtenderBindingArgs``, keys matched as Go
    matches them (kube-scheduler writes ``PodName``...; any case is accepted)."""
    if not isinstance(args, Mapping):
        raise BindArgsError("binding args must be a JSON object")
    fields = go_fields(args, BINDING_ARGS_FIELDS)
    values = []
    for key in ("PodNamespace", "PodName", "PodUID", "Node"):
        value = fields.get(key, "")
        if not isinstance(value, str):
            raise BindArgsError(f"binding args: '{key}' must be a string")
        if key != "PodUID" and not value:
            raise BindArgsError(f"binding args: '{key}' is required")
        values.append(value)
    return values[0], values[1], values[2], values[3]
