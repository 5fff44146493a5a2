"""The small Kubernetes client Protocol every hami service codes against.

Services never talk to lightkube directly: they take a :class:`KubeClient` (the real adapter in
:mod:`hami.k8s.lightkube`, or the in-memory :mod:`hami.k8s.fake` in tests). The Protocol holds only
the calls hami makes. Objects travel as plain JSON dicts shaped exactly like the Kubernetes API
(``metadata``, ``spec``, ``status``), because the pure engine and the codecs already work on dicts.

Failures are raised as the typed tree of :mod:`hami.k8s.errors` (``NotFound``, ``Conflict``, ...).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

#: A Kubernetes object as decoded JSON.
JsonObj = dict[str, Any]

#: Annotation or label changes for a merge patch: a ``None`` value deletes the key.
MetaChanges = Mapping[str, str | None]


class Kind(enum.Enum):
    """Resources the cache lists and watches."""

    PODS = "pods"
    NODES = "nodes"
    RESOURCE_QUOTAS = "resourcequotas"
    NAMESPACES = "namespaces"

    @property
    def namespaced(self) -> bool:
        return self not in (Kind.NODES, Kind.NAMESPACES)


@dataclass(frozen=True, slots=True)
class ObjectList:
    """Items of one LIST call and the collection's ``metadata.resourceVersion``."""

    items: list[JsonObj]
    resource_version: str


EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event of a watch stream (``ERROR`` events are raised as :class:`~hami.k8s.errors.Gone`
    or another :class:`~hami.k8s.errors.ApiError` instead)."""

    type: EventType
    object: JsonObj

    @property
    def resource_version(self) -> str:
        return str(self.object.get("metadata", {}).get("resourceVersion", ""))


@runtime_checkable
class KubeClient(Protocol):
    """What hami needs from the Kubernetes API; all calls are async.

    Selectors use the API's string syntax (``"a=b,c!=d"``); ``namespace=None`` on a namespaced
    list/watch means all namespaces.
    """

    # -- generic read -------------------------------------------------------------------------
    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        """LIST all objects of ``kind`` (following ``continue`` tokens)."""
        ...

    def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """WATCH from ``resource_version`` until the server ends the stream (returns) or fails
        (raises; 410 Gone raises :class:`~hami.k8s.errors.Gone`). Bookmarks are requested and
        yielded as ``BOOKMARK`` events. No internal retry: the informer owns that policy."""
        ...

    # -- pods -----------------------------------------------------------------------------------
    async def get_pod(self, namespace: str, name: str) -> JsonObj: ...

    async def list_pods(
        self,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonObj]:
        """:meth:`list_objects` for pods, e.g. ``field_selector="spec.nodeName=n1"``."""
        ...

    async def patch_pod_metadata(
        self,
        namespace: str,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        """JSON merge patch of the pod's annotations/labels; returns the updated pod.
        With ``resource_version`` the write fails with Conflict if the pod changed meanwhile."""
        ...

    async def create_pod(self, pod: JsonObj) -> JsonObj: ...

    async def bind_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        uid: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """POST the ``pods/binding`` subresource (sets ``spec.nodeName``); the apiserver adds
        the Binding's ``annotations`` to the pod in the same write."""
        ...

    # -- nodes ----------------------------------------------------------------------------------
    async def get_node(self, name: str) -> JsonObj: ...

    async def patch_node_metadata(
        self,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        """JSON merge patch of the node's annotations/labels, optionally guarded by
        ``metadata.resourceVersion`` (optimistic lock: Conflict when stale)."""
        ...

    # -- events, leases -------------------------------------------------------------------------
    async def create_event(self, event: JsonObj) -> None:
        """Create a core/v1 Event (namespace taken from ``event.metadata.namespace``)."""
        ...

    async def patch_event(self, namespace: str, name: str, changes: JsonObj) -> JsonObj:
        """JSON merge patch of an existing core/v1 Event (e.g. ``count``, ``lastTimestamp``:
        a repeat of an event already sent); returns the updated Event, NotFound once expired."""
        ...

    async def get_lease(self, namespace: str, name: str) -> JsonObj: ...

    async def create_lease(self, lease: JsonObj) -> JsonObj: ...

    async def replace_lease(self, lease: JsonObj) -> JsonObj:
        """PUT the lease; ``metadata.resourceVersion`` guards the write (Conflict when stale)."""
        ...

    async def close(self) -> None: ...


def metadata_patch(
    annotations: MetaChanges | None, labels: MetaChanges | None, resource_version: str | None
) -> JsonObj:
    """Build the JSON merge patch body for :meth:`KubeClient.patch_node_metadata` and friends."""
    meta: JsonObj = {}
    if annotations:
        meta["annotations"] = dict(annotations)
    if labels:
        meta["labels"] = dict(labels)
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return {"metadata": meta}


def obj_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), for logs and caches."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{ns}/{name}" if ns else str(name)


class PodListing:
    """``list_pods`` written once for every adapter, on top of the adapter's ``list_objects``."""

    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        raise NotImplementedError

    async def list_pods(
        self,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonObj]:
        """:meth:`list_objects` for pods, e.g. ``field_selector="spec.nodeName=n1"``."""
        result = await self.list_objects(
            Kind.PODS,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        return result.items
