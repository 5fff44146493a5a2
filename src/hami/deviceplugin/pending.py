"""Find the pod kubelet is admitting, and close its bind window (spec §1.3 step 7).

kubelet's Allocate names only virtual device IDs, never the pod. The scheduler's Bind left two
clues: the node lock ``hami.io/mutex.lock`` names the pod, and the pod carries ``bind-time``,
``bind-phase`` and ``vgpu-node``. We trust the lock first and fall back to listing the node's
pending pods. After serving, :func:`finish` writes the consumed annotation back and, once every
container is served, marks ``bind-phase=success`` and deletes the lock; :func:`fail` marks
``failed`` and deletes the lock. When kubelet's admission failed without Allocate reaching us
(the plugin was down: the pod ends ``Failed`` still ``allocating``), :func:`release_stale_lock`
finds the lock's owner no longer needs it, marks it ``failed`` and deletes the lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from hami.api import annotations as ann
from hami.api.errors import DecodeError
from hami.api.nodelock import parse_lock, stale_owner
from hami.deviceplugin.allocate import AllocateError
from hami.k8s.errors import ApiError, Conflict, NotFound
from hami.k8s.port import JsonObj, KubeClient, obj_key

log = logging.getLogger(__name__)

_LIVE_PHASES = (ann.BIND_PHASE_ALLOCATING, ann.BIND_PHASE_SUCCESS)


class NoPendingPod(AllocateError):
    """No pod on this node is waiting for devices."""


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def has_work(value: str) -> bool:
    """Whether a to-allocate value holds anything besides separators (cheap, no decoding)."""
    return bool(value.replace(";", "").replace(":", "").strip())


def is_candidate(pod: Mapping[str, Any], node: str) -> bool:
    """A pod the scheduler bound to ``node`` that still waits for devices."""
    annos = annotations_of(pod)
    phase = (pod.get("status") or {}).get("phase", "Pending")
    return (
        phase == "Pending"
        and ann.BIND_TIME in annos
        and annos.get(ann.BIND_PHASE) in _LIVE_PHASES
        and annos.get(ann.VGPU_NODE) == node
        and has_work(annos.get(ann.DEVICES_TO_ALLOCATE, ""))
    )


def _bind_time(pod: Mapping[str, Any]) -> int:
    try:
        return int(annotations_of(pod).get(ann.BIND_TIME, "0"))
    except ValueError:
        return 0


async def _pod_from_lock(kube: KubeClient, node: str) -> JsonObj | None:
    node_obj = await kube.get_node(node)
    raw = annotations_of(node_obj).get(ann.NODE_LOCK)
    if not raw:
        return None
    try:
        lock = parse_lock(raw)
    except DecodeError as exc:
        log.warning("node %s: unreadable lock, falling back to pod list: %s", node, exc)
        return None
    if lock.namespace is None or lock.name is None:
        return None
    try:
        pod = await kube.get_pod(lock.namespace, lock.name)
    except NotFound:
        log.info("node %s: lock owner %s/%s is gone", node, lock.namespace, lock.name)
        return None
    return pod if is_candidate(pod, node) else None


async def find_pending_pod(kube: KubeClient, node: str, resource: str = "") -> JsonObj:
    """The pod Allocate serves: the lock owner, else the oldest bound candidate on ``node``."""
    pod = await _pod_from_lock(kube, node)
    if pod is not None:
        return pod
    pods = await kube.list_pods(field_selector=f"spec.nodeName={node}")
    candidates = [p for p in pods if is_candidate(p, node)]
    if not candidates:
        raise NoPendingPod(f"node {node}: no pending pod with devices to allocate"
                           f"{bypass_hint(pods, resource)}")  # fmt: skip
    return min(candidates, key=_bind_time)


def bypass_hint(pods: list[JsonObj], resource: str) -> str:
    """Why a pod kubelet admits has no assignment: it asks for ``resource`` but never went
    through hami (its admission webhook was skipped, e.g. created while hami was down under
    ``failurePolicy: Ignore``, or another scheduler placed it). Pure; "" when none such."""
    if not resource:
        return ""
    for pod in pods:
        spec = pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase != "Pending" or ann.BIND_TIME in annotations_of(pod):
            continue
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        if any(resource in ((c.get("resources") or {}).get("limits") or {}) for c in containers):
            meta = pod.get("metadata") or {}
            return (
                f"; pod {meta.get('namespace')}/{meta.get('name')} asks for {resource} but was "
                f"not placed by hami (scheduler {spec.get('schedulerName') or 'default-scheduler'}"
                "): it skipped hami's admission webhook, e.g. created while hami was down with "
                "failurePolicy Ignore. Delete and re-create the pod"
            )
    return ""


async def find_with_retry(
    kube: KubeClient, node: str, retries: int, delay_s: float = 0.1, resource: str = ""
) -> JsonObj:
    """:func:`find_pending_pod`, retried briefly: the bind may still be in flight."""
    for attempt in range(retries + 1):
        try:
            return await find_pending_pod(kube, node, resource)
        except NoPendingPod:
            if attempt == retries:
                raise
            await asyncio.sleep(delay_s * (2**attempt))
    raise AssertionError("unreachable")


async def release_lock(kube: KubeClient, node: str, namespace: str, name: str) -> None:
    """Delete ``hami.io/mutex.lock`` when it belongs to ``namespace/name`` (or is legacy)."""
    for _ in range(5):
        node_obj = await kube.get_node(node)
        raw = annotations_of(node_obj).get(ann.NODE_LOCK)
        if not raw:
            return
        try:
            lock = parse_lock(raw)
            mine = lock.namespace is None or lock.owned_by(namespace, name)
        except DecodeError:
            mine = True  # garbage lock: nobody can own it, clear it
        if not mine:
            log.info("node %s: lock held by %s, not %s/%s; left alone", node, raw, namespace, name)
            return
        rv = (node_obj.get("metadata") or {}).get("resourceVersion")
        try:
            await kube.patch_node_metadata(
                node, annotations={ann.NODE_LOCK: None}, resource_version=rv
            )
            log.info("node %s: released lock of %s/%s", node, namespace, name)
            return
        except Conflict:
            continue
    log.warning("node %s: could not release lock of %s/%s (conflicts)", node, namespace, name)


def pod_ref(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace", "default")), str(meta.get("name", ""))


async def finish(kube: KubeClient, node: str, pod: JsonObj, to_allocate: str, done: bool) -> None:
    """Write back the consumed annotation; when ``done``, set success and release the lock."""
    ns, name = pod_ref(pod)
    changes: dict[str, str | None] = {ann.DEVICES_TO_ALLOCATE: to_allocate}
    if done:
        changes[ann.BIND_PHASE] = ann.BIND_PHASE_SUCCESS
    await kube.patch_pod_metadata(ns, name, annotations=changes)
    if done:
        await release_lock(kube, node, ns, name)
        log.info("pod %s: all containers allocated on %s", obj_key(pod), node)


async def fail(kube: KubeClient, node: str, pod: JsonObj, reason: str) -> None:
    """Mark the pod's bind failed and release the lock; API errors are logged, not raised."""
    ns, name = pod_ref(pod)
    log.error("pod %s on node %s: allocation failed: %s", obj_key(pod), node, reason)
    try:
        await kube.patch_pod_metadata(ns, name, annotations={ann.BIND_PHASE: ann.BIND_PHASE_FAILED})
    except ApiError as exc:
        log.error("pod %s: cannot set bind-phase=failed: %s", obj_key(pod), exc)
    try:
        await release_lock(kube, node, ns, name)
    except ApiError as exc:
        log.error("node %s: cannot release lock of %s: %s", node, obj_key(pod), exc)


async def release_stale_lock(kube: KubeClient, node: str) -> bool:
    """Delete ``node``'s lock when its owner no longer needs it (gone, ``Failed`` because
    kubelet's admission failed, bound elsewhere...: :func:`~hami.api.nodelock.stale_owner`); an
    owner still ``allocating`` on this node is marked ``failed`` first. Returns whether the lock
    was removed. A lock whose owner may still be between Bind and Allocate is left alone."""
    raw = annotations_of(await kube.get_node(node)).get(ann.NODE_LOCK)
    if not raw:
        return False
    try:
        lock = parse_lock(raw)
    except DecodeError:
        return False  # the scheduler replaces an unreadable lock on its next Bind
    if lock.namespace is None or lock.name is None:
        return False
    try:
        owner: JsonObj | None = await kube.get_pod(lock.namespace, lock.name)
    except NotFound:
        owner = None
    why = "is gone" if owner is None else stale_owner(owner, node)
    if why is None:
        return False
    if (
        owner is not None
        and annotations_of(owner).get(ann.BIND_PHASE) == ann.BIND_PHASE_ALLOCATING
        and (owner.get("spec") or {}).get("nodeName") == node
    ):
        await kube.patch_pod_metadata(
            lock.namespace, lock.name, annotations={ann.BIND_PHASE: ann.BIND_PHASE_FAILED}
        )
    log.info("node %s: lock owner %s/%s %s; releasing its lock", node, lock.namespace,
             lock.name, why)  # fmt: skip
    await release_lock(kube, node, lock.namespace, lock.name)
    return True


async def sweep_locks(kube: KubeClient, node: str, interval_s: float) -> None:
    """Run :func:`release_stale_lock` now (a restarted plugin cleans up after the pods whose
    admission failed while it was down) and every ``interval_s`` until cancelled."""
    while True:
        try:
            await release_stale_lock(kube, node)
        except ApiError as exc:
            log.warning("node %s: checking the node lock failed: %s", node, exc)
        await asyncio.sleep(interval_s)
