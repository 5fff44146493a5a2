"""Every call of :class:`~hami.k8s.port.KubeClient` as plain JSON over :class:`RawHttp`.

lightkube resolves the kubeconfig (server, TLS, token) once; after that, each of hami's calls is
a small JSON request whose answer we want as a dict anyway. Going through lightkube's models and
httpx cost more CPU than the scheduler's decisions (reads of the node lock, events, the watch
streams), so :class:`~hami.k8s.lightkube.LightkubeClient` hands every call to this class whenever
:func:`~hami.k8s.rawhttp.from_lightkube_config` could build a :class:`RawHttp` (it keeps
lightkube's own path for auth it cannot do, such as exec plugins).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncGenerator
from typing import Any

from hami.k8s.port import JsonObj, Kind, ObjectList, WatchEvent
from hami.k8s.rawhttp import RawHttp
from hami.k8s.rawwatch import (
    DEADLINE_MARGIN_S,
    OpenTimeout,
    collection_path,
    selector_query,
    watch_events,
    watch_path,
)

_MERGE_PATCH = "application/merge-patch+json"
_WRITE_QUERY = "?fieldManager=hami"
_KIND_NAMES: dict[Kind, str] = {
    Kind.PODS: "Pod",
    Kind.NODES: "Node",
    Kind.RESOURCE_QUOTAS: "ResourceQuota",
    Kind.NAMESPACES: "Namespace",
}
#: First wait for a watch's answer head (it doubles after each miss, up to the request timeout).
WATCH_OPEN_S = 1.0
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+").fullmatch
_LEASES = "/apis/coordination.k8s.io/v1/namespaces"


def quote(part: str) -> str:
    """``part`` escaped for one URL path segment (object names rarely need it: fast path)."""
    return part if _PLAIN_NAME(part) else urllib.parse.quote(part, safe="")


def pod_path(namespace: str, name: str, sub: str = "") -> str:
    path = f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}"
    return f"{path}/{sub}" if sub else path


def event_path(namespace: str, name: str = "") -> str:
    path = f"/api/v1/namespaces/{quote(namespace)}/events"
    return f"{path}/{quote(name)}" if name else path


def _lease_path(namespace: str, name: str = "") -> str:
    path = f"{_LEASES}/{quote(namespace)}/leases"
    return f"{path}/{quote(name)}" if name else path


def _meta(obj: JsonObj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


class RawCalls:
    """hami's Kubernetes calls over one :class:`RawHttp`; answers are decoded JSON dicts."""

    def __init__(
        self,
        http: RawHttp,
        *,
        watch_stall_s: float,
        watch_open_s: float = WATCH_OPEN_S,
        list_page: int = 500,
    ) -> None:
        self.http = http
        self._watch_stall_s = watch_stall_s
        self._open_timeout = OpenTimeout(watch_open_s, http.timeout_s)
        self._list_page = list_page

    async def _json(
        self, method: str, path: str, body: Any, what: str, *, content_type: str = ""
    ) -> JsonObj:
        if method != "GET":
            path += _WRITE_QUERY
        answer = await self.http.request(
            method, path, body, content_type=content_type or "application/json", what=what
        )
        return answer if isinstance(answer, dict) else {}

    # -- generic read ---------------------------------------------------------------------------
    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> ObjectList:
        """LIST in pages of ``limit`` objects, following ``continue`` tokens."""
        base = collection_path(kind, namespace)
        query = {"limit": str(self._list_page), **selector_query(label_selector, field_selector)}
        items: list[JsonObj] = []
        rv = ""
        what = f"list {kind.value}"
        while True:
            page = await self._json("GET", f"{base}?{urllib.parse.urlencode(query)}", None, what)
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            items.extend(page.get("items") or [])
            token = meta.get("continue")
            if not token:
                break
            query["continue"] = str(token)
        kind_name = _KIND_NAMES[kind]
        for item in items:  # list items come without kind/apiVersion; watch events carry them
            item.setdefault("apiVersion", "v1")
            item.setdefault("kind", kind_name)
        return ObjectList(items, rv)

    def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        timeout_s: int | None,
    ) -> AsyncGenerator[WatchEvent, None]:
        path = watch_path(
            kind, resource_version=resource_version, namespace=namespace,
            label_selector=label_selector, field_selector=field_selector, timeout_s=timeout_s,
        )  # fmt: skip
        deadline = timeout_s + DEADLINE_MARGIN_S if timeout_s else None
        return watch_events(
            self.http, path, what=f"watch {kind.value}", stall_s=self._watch_stall_s,
            deadline_s=deadline, open_timeout=self._open_timeout,
        )  # fmt: skip

    # -- objects --------------------------------------------------------------------------------
    async def get_pod(self, namespace: str, name: str) -> JsonObj:
        return await self._json("GET", pod_path(namespace, name), None,
                                f"get pod {namespace}/{name}")  # fmt: skip

    async def create_pod(self, pod: JsonObj) -> JsonObj:
        ns, name = _meta(pod)
        body = {"apiVersion": "v1", "kind": "Pod", **pod}
        return await self._json("POST", f"/api/v1/namespaces/{quote(ns)}/pods", body,
                                f"create pod {ns}/{name}")  # fmt: skip

    async def patch_pod(self, namespace: str, name: str, body: JsonObj) -> JsonObj:
        what = f"patch pod {namespace}/{name}"
        return await self._json("PATCH", pod_path(namespace, name), body, what,
                                content_type=_MERGE_PATCH)  # fmt: skip

    async def bind_pod(self, namespace: str, name: str, node: str, binding: JsonObj) -> None:
        # The apiserver answers a Status (201), not a Binding: nothing to decode.
        await self._json("POST", pod_path(namespace, name, "binding"), binding,
                         f"bind pod {namespace}/{name} to {node}")  # fmt: skip

    async def get_node(self, name: str) -> JsonObj:
        return await self._json("GET", f"/api/v1/nodes/{quote(name)}", None, f"get node {name}")

    async def patch_node(self, name: str, body: JsonObj) -> JsonObj:
        return await self._json("PATCH", f"/api/v1/nodes/{quote(name)}", body,
                                f"patch node {name}", content_type=_MERGE_PATCH)  # fmt: skip

    async def create_event(self, event: JsonObj) -> None:
        ns = (event.get("metadata") or {}).get("namespace") or "default"
        body = {"apiVersion": "v1", "kind": "Event", **event}
        await self._json("POST", event_path(ns), body,
                         f"create event in {ns}")  # fmt: skip

    async def patch_event(self, namespace: str, name: str, changes: JsonObj) -> JsonObj:
        return await self._json("PATCH", event_path(namespace, name), changes,
                                f"patch event {namespace}/{name}",
                                content_type=_MERGE_PATCH)  # fmt: skip

    async def get_lease(self, namespace: str, name: str) -> JsonObj:
        return await self._json("GET", _lease_path(namespace, name), None,
                                f"get lease {namespace}/{name}")  # fmt: skip

    async def create_lease(self, lease: JsonObj) -> JsonObj:
        ns, name = _meta(lease)
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", **lease}
        return await self._json("POST", _lease_path(ns), body, f"create lease {ns}/{name}")

    async def replace_lease(self, lease: JsonObj) -> JsonObj:
        ns, name = _meta(lease)
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", **lease}
        return await self._json("PUT", _lease_path(ns, name), body, f"replace lease {ns}/{name}")

    async def close(self) -> None:
        await self.http.close()
