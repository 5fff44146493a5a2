"""In-memory object store of the stand-in with kube-apiserver write semantics.

Thread-safe (one re-entrant lock): the HTTP server's loop and test threads both call it. Each
write bumps one cluster-wide resourceVersion, stamps the object and appends an :class:`Event` to
a bounded history (``history`` events, all resources together); a watch or exact list older than
the history window gets 410 Expired. Objects are plain dicts without ``kind``/``apiVersion``.

A LIST of pods with ``fieldSelector=spec.nodeName=<node>`` (what a binder asks on every bind, and
what kubelet watches) is answered from an index of pods by node instead of a scan of every pod;
the index only narrows the candidates, every candidate still goes through the same selector
match, ordering and paging, so the answer is the one a scan gives.
"""

from __future__ import annotations

import builtins
import functools
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .continuation import decode_continue, encode_continue
from .convert import from_storage, to_storage
from .defaults import bound_pod, check_update, prepare_create
from .errors import ApiError
from .jsondata import clone
from .patch import apply_patch
from .resources import NAMESPACES, PODS, RESOURCES, ResourceType
from .selectors import Selector, field_value
from .watch import Event, Watcher, with_type

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"
SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "name",
    "namespace",
    "generateName",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


@functools.lru_cache(maxsize=2)
def _stamp(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def _now() -> str:
    """The current time as object timestamps carry it (whole seconds), formatted once a second."""
    return _stamp(int(time.time()))


#: Field selectors answered from an index: storage key -> fields (each ``field=value``).
_INDEXED_FIELDS: dict[str, tuple[str, ...]] = {PODS.storage_key: ("spec.nodeName",)}


def _own_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a committed object sharing all but ``metadata`` (the part commits write to)."""
    return {**obj, "metadata": dict(obj["metadata"])}


@dataclass(frozen=True)
class ListResult:
    """One LIST page: items (typed-less dicts), list resourceVersion, continue token, remaining."""

    items: list[dict[str, Any]]
    resource_version: int
    continue_token: str | None
    remaining: int | None


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    return meta


class Store:
    """Objects keyed by (resource, namespace, name) plus the watch history and open watchers."""

    def __init__(
        self, history: int = 1000, start_rv: int = 1000, clock: Callable[[], str] = _now
    ) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
            rt.storage_key: {} for rt in RESOURCES
        }
        self._rv = start_rv
        self._history: deque[Event] = deque()
        self._history_size = max(1, history)
        self._compacted = start_rv
        self._watchers: set[Watcher] = set()
        self._clock = clock
        # (storage key, field) -> field value (as a selector reads it) -> keys of the objects
        self._index: dict[tuple[str, str], dict[str, set[tuple[str, str]]]] = {
            (key, f): {} for key, fields in _INDEXED_FIELDS.items() for f in fields
        }
        for ns in SEED_NAMESPACES:
            self.create(NAMESPACES, "", {"metadata": {"name": ns}})

    # ------------------------------------------------------------------ bookkeeping

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    @property
    def compacted(self) -> int:
        """Highest resourceVersion no longer covered by the history (watch from below it: 410)."""
        with self.lock:
            return self._compacted

    def forget_history(self) -> None:
        """Drop all history (as after an etcd compaction): any older watch gets 410."""
        with self.lock:
            self._history.clear()
            self._compacted = self._rv

    def _commit(
        self, rt: ResourceType, kind: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        ns, name = meta.get("namespace", ""), meta["name"]
        table = self._objects[rt.storage_key]
        key = (ns, name)
        indexed = _INDEXED_FIELDS.get(rt.storage_key, ())
        if indexed:
            self._unindex(rt.storage_key, indexed, key, table.get(key))
        if kind == "DELETED":
            table.pop(key, None)
        else:
            table[key] = obj
            for f in indexed:
                self._index[(rt.storage_key, f)].setdefault(field_value(obj, f), set()).add(key)
        # Committed objects are never mutated in place (every write builds a new dict), so the
        # history shares them with the table instead of copying.
        event = Event(self._rv, kind, rt, ns, obj, old)
        self._history.append(event)
        while len(self._history) > self._history_size:
            self._compacted = self._history.popleft().rv
        for watcher in list(self._watchers):
            watcher.push(event)
            if watcher.closed:
                self._watchers.discard(watcher)
        return obj

    def _unindex(
        self,
        storage_key: str,
        fields: tuple[str, ...],
        key: tuple[str, str],
        obj: dict[str, Any] | None,
    ) -> None:
        if obj is None:
            return
        for f in fields:
            by_value = self._index[(storage_key, f)]
            value = field_value(obj, f)
            keys = by_value.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del by_value[value]

    def _candidates(self, rt: ResourceType, selector: Selector) -> set[tuple[str, str]] | None:
        """The keys an indexed ``field=value`` requirement of ``selector`` allows (the smallest
        such set), or None when no requirement is indexed: every object is a candidate."""
        best: set[tuple[str, str]] | None = None
        for req in selector.fields:
            by_value = self._index.get((rt.storage_key, req.field)) if req.equal else None
            if by_value is not None:
                keys = by_value.get(req.value, set())
                if best is None or len(keys) < len(best):
                    best = keys
        return best

    @staticmethod
    def _out(rt: ResourceType, obj: dict[str, Any], shared: bool) -> dict[str, Any]:
        """What a read or write returns: a private copy as ``rt`` serves it, or (``shared``) the
        stored object itself, in storage form, to be serialized and never mutated."""
        return obj if shared else from_storage(rt, clone(obj))

    def _lookup(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self._objects[rt.storage_key].get((ns if rt.namespaced else "", name))
        if obj is None:
            raise errors.not_found(rt, name)
        return obj

    # ------------------------------------------------------------------ reads

    def get(self, rt: ResourceType, ns: str, name: str, *, shared: bool = False) -> dict[str, Any]:
        with self.lock:
            return self._out(rt, self._lookup(rt, ns, name), shared)

    def list(
        self,
        rt: ResourceType,
        ns: str | None,
        selector: Selector | None = None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        match: str = "",
        shared: bool = False,
    ) -> ListResult:
        """One page of matching objects (``shared``: the stored objects themselves, read-only)."""
        selector = selector or Selector()
        with self.lock:
            list_rv, start = self._rv, ""
            if continue_token:
                list_rv, start = decode_continue(continue_token, self._compacted)
            elif match == "Exact" and resource_version:
                wanted = _parse_rv(resource_version)
                if wanted < self._compacted:
                    raise errors.expired(
                        f"too old resource version: {wanted} ({self._compacted + 1})"
                    )
            candidates = self._candidates(rt, selector)
            pool = self._objects[rt.storage_key].keys() if candidates is None else candidates
            keys = sorted(k for k in pool if ns is None or k[0] == ns)
            keys = [k for k in keys if "\x00".join(k) > start] if start else keys
            matched = [k for k in keys if selector.matches(self._objects[rt.storage_key][k])]
            token, remaining = None, None
            if limit > 0 and len(matched) > limit:
                last = matched[limit - 1]
                token = encode_continue(list_rv, "\x00".join(last))
                if selector.empty:
                    remaining = len(matched) - limit
                matched = matched[:limit]
            table = self._objects[rt.storage_key]
            items = [self._out(rt, table[k], shared) for k in matched]
        return ListResult(items, list_rv, token, remaining)

    # ------------------------------------------------------------------ writes

    def create(
        self, rt: ResourceType, ns: str, body: Any, *, shared: bool = False
    ) -> dict[str, Any]:
        """Create; ``shared``: the caller hands ``body`` over and gets the committed object."""
        obj = to_storage(rt, _check_body(rt, body, copy_body=not shared))
        meta = _meta(obj)
        with self.lock:
            if rt.namespaced:
                if meta.get("namespace") not in (None, "", ns):
                    raise errors.bad_request(
                        "the namespace of the provided object does not match "
                        "the namespace sent on the request"
                    )
                meta["namespace"] = ns
                if ("", ns) not in self._objects[NAMESPACES.key]:
                    raise errors.not_found(NAMESPACES, ns)
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise errors.invalid(
                        rt, "", "metadata.name: Required value: name or generateName is required"
                    )
                meta["name"] = meta["generateName"] + "".join(
                    random.choice(_GEN_CHARS) for _ in range(5)
                )
            name = str(meta["name"])
            if not _NAME.match(name):
                raise errors.invalid(
                    rt,
                    name,
                    f'metadata.name: Invalid value: "{name}": a '
                    "lowercase RFC 1123 subdomain must consist of lower case "
                    "alphanumeric characters, '-' or '.'",
                )
            if meta.get("resourceVersion"):
                raise ApiError(
                    500,
                    "InternalError",
                    "Internal error occurred: resourceVersion "
                    "should not be set on objects to be created",
                    {},
                )
            if (ns if rt.namespaced else "", name) in self._objects[rt.storage_key]:
                raise errors.already_exists(rt, name)
            for key in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.UUID(int=random.getrandbits(128), version=4))
            meta["creationTimestamp"] = self._clock()
            if rt.generation_fields:
                meta["generation"] = 1
            prepare_create(rt, obj)
            return self._out(rt, self._commit(rt, "ADDED", obj, None), shared)

    def update(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        body: Any,
        subresource: str = "",
        *,
        shared: bool = False,
    ) -> dict[str, Any]:
        new = to_storage(rt, _check_body(rt, body, copy_body=not shared))
        return self._update(rt, ns, name, new, subresource, shared)

    def _update(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        new: dict[str, Any],
        subresource: str,
        shared: bool = False,
    ) -> dict[str, Any]:
        """``update`` of a body this store owns (already checked and copied)."""
        meta = _meta(new)
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not "
                f"match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") not in (None, "", ns):
            raise errors.bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        with self.lock:
            old = self._lookup(rt, ns, name)
            wanted = meta.get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.stale(rt, name)
            if subresource == "status":
                merged = _own_meta(old)
                if "status" in new:
                    merged["status"] = new["status"]
                else:
                    merged.pop("status", None)
                new = merged
            else:
                for key in _SYSTEM_META:
                    if key in old["metadata"]:
                        meta[key] = old["metadata"][key]
                    else:
                        meta.pop(key, None)
                if "status" in rt.subresources:
                    if "status" in old:
                        new["status"] = old["status"]  # committed objects are immutable
                    else:
                        new.pop("status", None)
                check_update(rt, old, new)
                if any(new.get(f) != old.get(f) for f in rt.generation_fields):
                    meta["generation"] = int(old["metadata"].get("generation", 0)) + 1
            return self._out(rt, self._write_update(rt, old, new), shared)

    def _write_update(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old  # no-op writes keep the resourceVersion, like etcd
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._commit(rt, "DELETED", new, old)
        return self._commit(rt, "MODIFIED", new, old)

    def patch(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        content_type: str,
        body: bytes,
        subresource: str = "",
        *,
        shared: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            old = self._lookup(rt, ns, name)
            doc = {"kind": rt.kind, "apiVersion": rt.api_version}
            doc.update(from_storage(rt, old))  # apply_patch(share=True) copies what it changes
            patched = apply_patch(doc, content_type, body, share=True)
            owned = to_storage(rt, _check_body(rt, patched, copy_body=False))
            if isinstance(owned.get("metadata"), dict):  # the one part an update writes to
                owned["metadata"] = dict(owned["metadata"])
            return self._update(rt, ns, name, owned, subresource, shared)

    def delete(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        shared: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Delete; returns (object, deleted_now). Finalizers defer deletion (deletionTimestamp)."""
        options = options or {}
        with self.lock:
            old = self._lookup(rt, ns, name)
            pre = options.get("preconditions") or {}
            meta = old["metadata"]
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise errors.conflict(
                    rt,
                    name,
                    f"Precondition failed: UID in precondition: "
                    f"{pre['uid']}, UID in object meta: {meta['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise errors.conflict(
                    rt,
                    name,
                    "Precondition failed: ResourceVersion in "
                    f"precondition: {pre['resourceVersion']}, ResourceVersion "
                    f"in object meta: {meta['resourceVersion']}",
                )
            if rt is NAMESPACES:
                return self._out(rt, self._delete_namespace(old), shared), True
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return self._out(rt, old, shared), False
                new = _own_meta(old)
                new["metadata"]["deletionTimestamp"] = self._clock()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._out(rt, self._commit(rt, "MODIFIED", new, old), shared), False
            return self._out(rt, self._commit(rt, "DELETED", _own_meta(old), old), shared), True

    def _delete_namespace(self, old: dict[str, Any]) -> dict[str, Any]:
        ns = old["metadata"]["name"]
        for rt in RESOURCES:
            if rt.namespaced:
                for key in sorted(k for k in self._objects[rt.storage_key] if k[0] == ns):
                    gone = self._objects[rt.storage_key][key]
                    self._commit(rt, "DELETED", _own_meta(gone), gone)
        final = _own_meta(old)
        final["metadata"]["deletionTimestamp"] = self._clock()
        final["status"] = {"phase": "Terminating"}
        return self._commit(NAMESPACES, "DELETED", final, old)

    def bind(self, ns: str, name: str, binding: Any) -> None:
        """POST pods/binding: set spec.nodeName once and mark the pod scheduled."""
        from .resources import PODS

        if not isinstance(binding, dict):
            raise errors.bad_request("binding must be a JSON object")
        target = binding.get("target") or {}
        node = target.get("name") if isinstance(target, dict) else None
        if not node:
            raise errors.invalid(PODS, name, "target.name: Required value")
        with self.lock:
            old = self._lookup(PODS, ns, name)
            pods_binding = ResourceType("", "v1", "pods/binding", "Binding", True)
            spec = old.get("spec") or {}
            if old["metadata"].get("deletionTimestamp"):
                raise errors.conflict(
                    pods_binding, name, f"pod {name} is being deleted, cannot be assigned to a host"
                )
            if spec.get("nodeName"):
                raise errors.conflict(
                    pods_binding,
                    name,
                    f'pod {name} is already assigned to node "{spec["nodeName"]}"',
                )
            annotations = (binding.get("metadata") or {}).get("annotations") or {}
            new = bound_pod(old, node, annotations, self._clock())
            self._commit(PODS, "MODIFIED", new, old)

    # ------------------------------------------------------------------ watches

    def open_watch(
        self, watcher: Watcher, resource_version: str
    ) -> tuple[builtins.list[tuple[str, dict[str, Any]]], int]:
        """Register ``watcher``; return the events to send first and the rv they cover."""
        with self.lock:
            if resource_version in ("", "0"):
                initial = []
                for (ns, _), obj in sorted(self._objects[watcher.rt.storage_key].items()):
                    if watcher.namespace in (None, ns) and watcher.selector.matches(obj):
                        initial.append(("ADDED", watcher_obj(watcher, obj)))
            else:
                wanted = _parse_rv(resource_version)
                if wanted < self._compacted:
                    raise errors.expired(
                        f"too old resource version: {wanted} ({self._compacted + 1})"
                    )
                initial = [
                    t
                    for e in self._history
                    if e.rv > wanted and (t := watcher.translate(e)) is not None
                ]
            self._watchers.add(watcher)
            return initial, self._rv

    def close_watch(self, watcher: Watcher) -> None:
        with self.lock:
            watcher.closed = True
            self._watchers.discard(watcher)

    def end_all_watches(self) -> None:
        """Tell every open watch to finish (None sentinel)."""
        with self.lock:
            for watcher in list(self._watchers):
                watcher.push(None)


def watcher_obj(watcher: Watcher, obj: dict[str, Any]) -> dict[str, Any]:
    return with_type(watcher.rt, from_storage(watcher.rt, obj))


def _parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise errors.bad_request(
            f'resourceVersion: Invalid value: "{text}": must be an integer'
        ) from exc


def _check_body(rt: ResourceType, body: Any, *, copy_body: bool = True) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request(
            f"the body of the request for {rt.group_resource} must be a JSON object"
        )
    obj = clone(body) if copy_body else body
    kind, api_version = obj.pop("kind", None), obj.pop("apiVersion", None)
    if kind not in (None, "", rt.kind) or api_version not in (None, "", rt.api_version):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match "
            f"the expected API version ({rt.api_version})"
            if api_version != rt.api_version
            else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    return obj
