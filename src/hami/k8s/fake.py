"""An in-memory :class:`~hami.k8s.port.KubeClient` for unit and component tests.

It keeps objects as dicts with a cluster-wide increasing ``resourceVersion``, honours optimistic
concurrency on guarded patches, streams watch events (with a bounded history, so old versions raise
:class:`~hami.k8s.errors.Gone`) and lets a test inject failures with :meth:`FakeKube.fail_next`.
Single event loop only; it is not a thread-safe server (use the apiserver stand-in for that).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from hami.k8s import errors
from hami.k8s.port import (
    EventType,
    JsonObj,
    Kind,
    MetaChanges,
    ObjectList,
    PodListing,
    WatchEvent,
)

_Key = tuple[str, str, str]  # (resource, namespace, name)


def _clone(value: Any) -> Any:
    """Copy JSON-like data (dicts, lists, scalars): several times faster than deepcopy."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _copy(obj: Mapping[str, Any]) -> JsonObj:
    return {k: _clone(v) for k, v in obj.items()}


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _field(obj: Mapping[str, Any], dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def match_labels(labels: Mapping[str, str], selector: str | None) -> bool:
    """Equality/set-less label selector: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    if not selector:
        return True
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def match_fields(obj: Mapping[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    for term in (t.strip() for t in selector.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if _field(obj, k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if _field(obj, k.strip()) != v.strip():
                return False
    return True


class FakeKube(PodListing):
    """In-memory cluster implementing :class:`~hami.k8s.port.KubeClient`."""

    def __init__(self, *, history: int = 1000) -> None:
        self._objects: dict[_Key, JsonObj] = {}
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._history: deque[tuple[str, WatchEvent]] = deque(maxlen=history)
        self._watchers: list[tuple[str, asyncio.Queue[WatchEvent | None]]] = []
        self._faults: list[tuple[str, Callable[[], errors.ApiError], list[int]]] = []
        self.calls: list[str] = []

    # -- test helpers -------------------------------------------------------------------------
    def fail_next(
        self, method: str, error: Callable[[], errors.ApiError] | errors.ApiError, count: int = 1
    ) -> None:
        """Make the next ``count`` calls of ``method`` (e.g. ``"patch_node_metadata"``) raise."""
        factory = error if callable(error) else (lambda e=error: e)
        self._faults.append((method, factory, [count]))

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        for entry in self._faults:
            name, factory, left = entry
            if name == method and left[0] > 0:
                left[0] -= 1
                raise factory()

    def add(self, resource: str, obj: JsonObj) -> JsonObj:
        """Create any object directly (``resource`` is the plural: pods, nodes, ...)."""
        obj = _copy(obj)
        meta = obj.setdefault("metadata", {})
        key = (resource, meta.get("namespace", "") or "", meta["name"])
        if key in self._objects:
            raise errors.AlreadyExists(f"{resource} {meta['name']} exists", reason="AlreadyExists")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return self._store(resource, key, obj, "ADDED")

    def delete(self, resource: str, namespace: str, name: str) -> None:
        key = (resource, namespace, name)
        obj = self._objects.pop(key, None)
        if obj is None:
            raise errors.NotFound(f"{resource} {namespace}/{name} not found")
        _meta(obj)["resourceVersion"] = str(self._bump())
        self._notify(resource, "DELETED", obj)

    def get(self, resource: str, namespace: str, name: str) -> JsonObj:
        obj = self._objects.get((resource, namespace, name))
        if obj is None:
            raise errors.NotFound(f"{resource} {namespace}/{name} not found", reason="NotFound")
        return _copy(obj)

    def update(self, resource: str, obj: JsonObj) -> JsonObj:
        meta = _meta(obj)
        key = (resource, meta.get("namespace", "") or "", meta["name"])
        if key not in self._objects:
            raise errors.NotFound(f"{resource} {meta['name']} not found", reason="NotFound")
        return self._store(resource, key, _copy(obj), "MODIFIED")

    def objects(self, resource: str) -> list[JsonObj]:
        return [_copy(o) for (r, _, _), o in self._objects.items() if r == resource]

    def drop_watches(self) -> None:
        """End every open watch stream (as an apiserver restart would)."""
        for _, queue in self._watchers:
            queue.put_nowait(None)
        self._watchers.clear()

    # -- internals ------------------------------------------------------------------------------
    def _bump(self) -> int:
        self._last_rv = next(self._rv)
        return self._last_rv

    def _store(self, resource: str, key: _Key, obj: JsonObj, kind: EventType) -> JsonObj:
        _meta(obj)["resourceVersion"] = str(self._bump())
        self._objects[key] = obj
        self._notify(resource, kind, obj)
        return _copy(obj)

    def _notify(self, resource: str, kind: EventType, obj: JsonObj) -> None:
        event = WatchEvent(kind, _copy(obj))
        self._history.append((resource, event))
        for res, queue in self._watchers:
            if res == resource:
                queue.put_nowait(event)

    def _patch_meta(
        self,
        key: _Key,
        annotations: MetaChanges | None,
        labels: MetaChanges | None,
        resource_version: str | None,
    ) -> JsonObj:
        cur = self._objects.get(key)
        if cur is None:
            raise errors.NotFound(f"{key[0]} {key[1]}/{key[2]} not found", reason="NotFound")
        meta = _meta(cur)
        if resource_version is not None and resource_version != meta.get("resourceVersion"):
            raise errors.Conflict(
                f"{key[0]} {key[2]}: the object has been modified", reason="Conflict"
            )
        obj = _copy(cur)
        meta = _meta(obj)
        for field, changes in (("annotations", annotations), ("labels", labels)):
            if not changes:
                continue
            target = meta.setdefault(field, {})
            for k, v in changes.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
        return self._store(key[0], key, obj, "MODIFIED")

    # -- KubeClient -----------------------------------------------------------------------------
    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        self._enter("list_objects")
        items = [
            _copy(o)
            for (res, ns, _), o in self._objects.items()
            if res == kind.value
            and (namespace is None or ns == namespace)
            and match_labels(_meta(o).get("labels") or {}, label_selector)
            and match_fields(o, field_selector)
        ]
        return ObjectList(items, str(self._last_rv))

    async def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        self._enter("watch")
        since = int(resource_version or 0)
        oldest = int(self._history[0][1].resource_version) if self._history else self._last_rv + 1
        if since and since < oldest - 1 and since < self._last_rv:
            raise errors.Gone(f"too old resource version: {since}", reason="Expired")
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        for res, event in self._history:
            if res == kind.value and int(event.resource_version) > since:
                queue.put_nowait(event)
        entry = (kind.value, queue)
        self._watchers.append(entry)
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                item: WatchEvent | None
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    return
                if item is None:
                    return
                obj = item.object
                if namespace is not None and _meta(obj).get("namespace") != namespace:
                    continue
                if not match_labels(_meta(obj).get("labels") or {}, label_selector):
                    continue
                if not match_fields(obj, field_selector):
                    continue
                yield WatchEvent(item.type, _copy(obj))
        finally:
            if entry in self._watchers:
                self._watchers.remove(entry)

    async def get_pod(self, namespace: str, name: str) -> JsonObj:
        self._enter("get_pod")
        return self.get("pods", namespace, name)

    async def patch_pod_metadata(
        self,
        namespace: str,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        self._enter("patch_pod_metadata")
        return self._patch_meta(("pods", namespace, name), annotations, labels, resource_version)

    async def create_pod(self, pod: JsonObj) -> JsonObj:
        self._enter("create_pod")
        return self.add("pods", pod)

    async def bind_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        uid: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self._enter("bind_pod")
        cur = self.get("pods", namespace, name)
        if uid is not None and _meta(cur).get("uid") != uid:
            raise errors.Conflict(f"pod {namespace}/{name}: uid mismatch", reason="Conflict")
        spec = cur.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.Conflict(
                f"pod {namespace}/{name} is already assigned to node {spec['nodeName']}",
                reason="Conflict",
            )
        spec["nodeName"] = node
        if annotations:
            cur.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
        self.update("pods", cur)

    async def get_node(self, name: str) -> JsonObj:
        self._enter("get_node")
        return self.get("nodes", "", name)

    async def patch_node_metadata(
        self,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        self._enter("patch_node_metadata")
        return self._patch_meta(("nodes", "", name), annotations, labels, resource_version)

    async def create_event(self, event: JsonObj) -> None:
        self._enter("create_event")
        event = _copy(event)
        meta = event.setdefault("metadata", {})
        if "name" not in meta:
            meta["name"] = f"{meta.get('generateName', 'event.')}{uuid.uuid4().hex[:10]}"
        self.add("events", event)

    async def patch_event(self, namespace: str, name: str, changes: JsonObj) -> JsonObj:
        self._enter("patch_event")
        cur = self.get("events", namespace, name)
        cur.update(_copy(changes))  # top-level fields only: what the recorder patches
        return self.update("events", cur)

    async def get_lease(self, namespace: str, name: str) -> JsonObj:
        self._enter("get_lease")
        return self.get("leases", namespace, name)

    async def create_lease(self, lease: JsonObj) -> JsonObj:
        self._enter("create_lease")
        return self.add("leases", lease)

    async def replace_lease(self, lease: JsonObj) -> JsonObj:
        self._enter("replace_lease")
        meta = _meta(lease)
        cur = self.get("leases", meta.get("namespace", ""), meta["name"])
        if meta.get("resourceVersion") != _meta(cur).get("resourceVersion"):
            raise errors.Conflict(f"lease {meta['name']}: modified", reason="Conflict")
        return self.update("leases", lease)

    async def close(self) -> None:
        self.drop_watches()
