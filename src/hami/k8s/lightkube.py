"""The real :class:`~hami.k8s.port.KubeClient`: lightkube's ``AsyncClient`` behind our Protocol.

lightkube gives us kubeconfig/in-cluster config, TLS and auth. Whenever that auth is a plain
token or client certificate, every call then goes over :class:`~hami.k8s.rawclient.RawCalls`
(our own small HTTP/1.1 client, JSON straight to dicts); otherwise (exec plugins, auth providers,
proxies) this adapter uses lightkube itself, turning its models into plain dicts, our string
selectors into lightkube selector dicts and its exceptions into :mod:`hami.k8s.errors`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import lightkube
import msgspec
import yaml
from lightkube import operators
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ApiError as LkApiError
from lightkube.core.exceptions import ConfigError as LkConfigError
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Namespace, Node, Pod, ResourceQuota

from hami.k8s import errors
from hami.k8s.port import (
    JsonObj,
    Kind,
    MetaChanges,
    ObjectList,
    PodListing,
    WatchEvent,
    metadata_patch,
)
from hami.k8s.rawclient import RawCalls, event_path, pod_path, quote
from hami.k8s.rawhttp import from_lightkube_config

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_ALL_NS = "*"
#: A watch that sent no byte (not even a bookmark) for this long is taken for dead and reopened
#: from its last resourceVersion. The apiserver sends bookmarks about once a minute; a false
#: alarm on a quiet watch costs one reconnect, no relist.
WATCH_STALL_S = 75.0
_RESOURCES: dict[Kind, Any] = {
    Kind.PODS: Pod,
    Kind.NODES: Node,
    Kind.RESOURCE_QUOTAS: ResourceQuota,
    Kind.NAMESPACES: Namespace,
}


def parse_selector(selector: str | None, *, for_fields: bool = False) -> dict[str, Any] | None:
    """Turn ``"a=b,c!=d,e,!f"`` into lightkube's selector dict (``None`` when empty)."""
    if not selector:
        return None
    result: dict[str, Any] = {}
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            result[key.strip()] = operators.not_equal(value.strip())
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            result[key.strip()] = value.strip()
        elif for_fields:
            raise errors.BadRequest(f"field selector term {term!r} needs an operator")
        elif term.startswith("!"):
            result[term[1:].strip()] = operators.not_exists()
        else:
            result[term] = operators.exists()
    return result or None


#: Where lightkube looks for in-cluster credentials, and its default kubeconfig.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = "~/.kube/config"


class KubeConfigError(Exception):
    """No usable cluster configuration: the message says which file (or environment) and why."""


def _read_kubeconfig(path: Path, shown: str) -> KubeConfig:
    full = path.expanduser()
    if full.is_dir():
        raise KubeConfigError(f"kubeconfig {shown} is a directory, not a file")
    if not full.exists():
        raise KubeConfigError(f"kubeconfig {shown} not found")
    try:
        data = yaml.safe_load(full.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc)
        raise KubeConfigError(f"cannot read kubeconfig {shown}: {detail}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "parse error"
        raise KubeConfigError(f"kubeconfig {shown}: invalid YAML{line}: {problem}") from None
    if not isinstance(data, dict):
        raise KubeConfigError(
            f"kubeconfig {shown}: not a kubeconfig (expected a mapping with clusters, contexts "
            f"and users, got {type(data).__name__})"
        )
    try:
        config = KubeConfig.from_dict(data, fname=full)
        config.get()  # the current context must resolve to a cluster
    except KeyError as exc:
        raise KubeConfigError(f"kubeconfig {shown}: missing {exc}") from None
    except (LkConfigError, TypeError, ValueError, AttributeError) as exc:
        raise KubeConfigError(f"kubeconfig {shown}: {exc}") from None
    return config


def load_kubeconfig(path: Path | None = None) -> KubeConfig:
    """The cluster configuration: ``path``, else in-cluster (service account), else
    ``$KUBECONFIG``, else ``~/.kube/config`` (lightkube's order). Raises
    :class:`KubeConfigError` with a one-line reason instead of lightkube's errors."""
    if path is not None:
        return _read_kubeconfig(path, str(path))
    in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ
    token = SERVICE_ACCOUNT / "token"
    if in_cluster and token.is_file():
        try:
            return KubeConfig.from_service_account(service_account=SERVICE_ACCOUNT)
        except (LkConfigError, OSError, KeyError) as exc:
            raise KubeConfigError(f"in-cluster configuration unusable: {exc}") from None
    env = os.environ.get("KUBECONFIG")
    shown = env or DEFAULT_KUBECONFIG
    candidate = Path(shown)
    if not env and not candidate.expanduser().exists():
        where = (
            f"KUBERNETES_SERVICE_HOST is set but {token} is missing"
            if in_cluster
            else "not in a cluster (KUBERNETES_SERVICE_HOST unset)"
        )
        raise KubeConfigError(
            f"no cluster configuration: {where} and {DEFAULT_KUBECONFIG} not found; "
            "pass --kubeconfig FILE or set KUBECONFIG"
        )
    return _read_kubeconfig(candidate, f"{shown} (from KUBECONFIG)" if env else shown)


def _translate(exc: Exception, what: str) -> errors.ApiError:
    if isinstance(exc, LkApiError):
        status = exc.status
        code = getattr(status, "code", None)
        if not isinstance(code, int) or code == 0:
            response = getattr(exc, "response", None)
            code = response.status_code if response is not None else 0
        body = {
            "kind": "Status",
            "code": code,
            "reason": getattr(status, "reason", "") or "",
            "message": getattr(status, "message", "") or "",
        }
        return errors.from_status(code, body, what=what)
    if isinstance(exc, httpx2.HTTPStatusError):
        return errors.from_status(exc.response.status_code, None, what=what)
    return errors.TransportError(f"{what}: {type(exc).__name__}: {exc}")


async def _call(awaitable: Awaitable[_T], what: str) -> _T:
    try:
        return await awaitable
    except (LkApiError, httpx2.HTTPError) as exc:
        raise _translate(exc, what) from exc


def _dict(obj: Any) -> JsonObj:
    result: JsonObj = obj.to_dict()
    return result


class LightkubeClient(PodListing):
    """:class:`~hami.k8s.port.KubeClient` over ``lightkube.AsyncClient``."""

    def __init__(
        self,
        client: lightkube.AsyncClient,
        *,
        raw_http: bool = True,
        watch_stall_s: float = WATCH_STALL_S,
    ) -> None:
        # Any: lightkube's overloads are keyed on model classes we pick at run time.
        self._client: Any = client
        self._fast: RawCalls | None = None
        if raw_http:
            config = getattr(getattr(client, "_client", None), "config", None)
            timeout = getattr(getattr(client, "_client", None), "_watch_timeout", None)
            connect = getattr(timeout, "connect", None)
            http = from_lightkube_config(config, timeout_s=float(connect) if connect else 30.0)
            if http is not None:
                self._fast = RawCalls(http, watch_stall_s=watch_stall_s)

    async def _raw(
        self, method: str, path: str, body: JsonObj, what: str, *, patch: bool = False
    ) -> JsonObj:
        """Without :class:`RawCalls` (auth only lightkube can do): one JSON request on
        lightkube's own HTTP client (its config, TLS and auth) but not its model layer. The hot
        writes of filter and bind (spec §1.3) are plain merge patches and creates whose answers
        we read as dicts; the model round trip (encode, decode, ``to_dict``) was most of their
        cost."""
        http = self._client._client._client  # lightkube's configured httpx2.AsyncClient
        content_type = "application/merge-patch+json" if patch else "application/json"
        try:
            resp = await http.request(
                method, path, content=msgspec.json.encode(body),
                headers={"Content-Type": content_type}, params={"fieldManager": "hami"},
            )  # fmt: skip
        except httpx2.HTTPError as exc:
            raise _translate(exc, what) from exc
        try:
            decoded: Any = msgspec.json.decode(resp.content) if resp.content else None
        except msgspec.DecodeError:
            decoded = None
        if resp.status_code >= 400:
            raise errors.from_status(resp.status_code, decoded, what=what)
        return decoded if isinstance(decoded, dict) else {}

    @classmethod
    def from_kubeconfig(
        cls, path: Path | None = None, *, timeout_s: float = 30.0, raw_http: bool = True
    ) -> LightkubeClient:
        """Build from a kubeconfig file, or from the environment (in-cluster / $KUBECONFIG);
        ``raw_http=False`` keeps every call on lightkube's own client. Raises
        :class:`KubeConfigError` when there is no usable configuration."""
        config = load_kubeconfig(path)
        try:
            client = lightkube.AsyncClient(
                config=config, timeout=httpx2.Timeout(timeout_s), field_manager="hami"
            )
            return cls(client, raw_http=raw_http)
        except (LkConfigError, OSError, ValueError, KeyError, TypeError) as exc:
            where = path if path is not None else "the cluster configuration"
            raise KubeConfigError(f"cannot use {where}: {type(exc).__name__}: {exc}") from None

    # -- generic read -------------------------------------------------------------------------
    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        if self._fast is not None:
            return await self._fast.list_objects(
                kind, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector,
            )  # fmt: skip
        res = _RESOURCES[kind]
        kwargs: dict[str, Any] = {
            "labels": parse_selector(label_selector),
            "fields": parse_selector(field_selector, for_fields=True),
        }
        if kind.namespaced:
            kwargs["namespace"] = namespace if namespace is not None else _ALL_NS
        what = f"list {kind.value}"
        try:
            iterable = self._client.list(res, **kwargs)
            items = [_dict(o) async for o in iterable]
            rv = iterable.resourceVersion if items else await self._empty_list_rv(kind, kwargs)
        except (LkApiError, httpx2.HTTPError) as exc:
            raise _translate(exc, what) from exc
        return ObjectList(items, str(rv or ""))

    async def _empty_list_rv(self, kind: Kind, kwargs: dict[str, Any]) -> str:
        # lightkube only learns the list's resourceVersion from a non-empty chunk; an empty
        # list still has one, which a watch must start from. Ask once more with limit=1.
        iterable = self._client.list(_RESOURCES[kind], chunk_size=1, **kwargs)
        async for _ in iterable:
            break
        try:
            return str(iterable.resourceVersion)
        except Exception:  # NotReadyError: lightkube saw no chunk metadata
            return ""

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
        if self._fast is not None:
            return self._fast.watch(
                kind, resource_version=resource_version, namespace=namespace,
                label_selector=label_selector, field_selector=field_selector, timeout_s=timeout_s,
            )  # fmt: skip
        kwargs: dict[str, Any] = {
            "labels": parse_selector(label_selector),
            "fields": parse_selector(field_selector, for_fields=True),
            "server_timeout": timeout_s,
            "resource_version": resource_version or None,
        }
        if kind.namespaced:
            kwargs["namespace"] = namespace if namespace is not None else _ALL_NS
        return self._lightkube_watch(kind, kwargs)

    async def _lightkube_watch(
        self, kind: Kind, kwargs: dict[str, Any]
    ) -> AsyncIterator[WatchEvent]:
        stream = self._client.watch(_RESOURCES[kind], **kwargs)
        try:
            async for event_type, obj in stream:
                if event_type in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                    yield WatchEvent(event_type, _dict(obj))
        except (LkApiError, httpx2.HTTPError) as exc:
            raise _translate(exc, f"watch {kind.value}") from exc
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    # -- pods -----------------------------------------------------------------------------------
    async def get_pod(self, namespace: str, name: str) -> JsonObj:
        if self._fast is not None:
            return await self._fast.get_pod(namespace, name)
        obj = await _call(
            self._client.get(Pod, name, namespace=namespace), f"get pod {namespace}/{name}"
        )
        return _dict(obj)

    async def patch_pod_metadata(
        self,
        namespace: str,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        body = metadata_patch(annotations, labels, resource_version)
        if self._fast is not None:
            return await self._fast.patch_pod(namespace, name, body)
        return await self._raw(
            "PATCH", pod_path(namespace, name), body, f"patch pod {namespace}/{name}", patch=True
        )

    async def create_pod(self, pod: JsonObj) -> JsonObj:
        if self._fast is not None:
            return await self._fast.create_pod(pod)
        meta = pod.get("metadata", {})
        what = f"create pod {meta.get('namespace')}/{meta.get('name')}"
        obj = await _call(self._client.create(Pod.from_dict(pod)), what)
        return _dict(obj)

    async def bind_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        uid: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        meta: JsonObj = {"name": name, "namespace": namespace}
        if uid:
            meta["uid"] = uid
        if annotations:
            meta["annotations"] = dict(annotations)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        if self._fast is not None:
            return await self._fast.bind_pod(namespace, name, node, binding)
        await self._raw(
            "POST", pod_path(namespace, name, "binding"), binding,
            f"bind pod {namespace}/{name} to {node}",
        )  # fmt: skip

    # -- nodes ----------------------------------------------------------------------------------
    async def get_node(self, name: str) -> JsonObj:
        if self._fast is not None:
            return await self._fast.get_node(name)
        return _dict(await _call(self._client.get(Node, name), f"get node {name}"))

    async def patch_node_metadata(
        self,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        body = metadata_patch(annotations, labels, resource_version)
        if self._fast is not None:
            return await self._fast.patch_node(name, body)
        return await self._raw(
            "PATCH", f"/api/v1/nodes/{quote(name)}", body, f"patch node {name}", patch=True
        )

    # -- events, leases -------------------------------------------------------------------------
    async def create_event(self, event: JsonObj) -> None:
        if self._fast is not None:
            return await self._fast.create_event(event)
        ns = event.get("metadata", {}).get("namespace") or "default"
        body = {"apiVersion": "v1", "kind": "Event", **event}
        await self._raw("POST", event_path(ns), body, f"create event in {ns}")

    async def patch_event(self, namespace: str, name: str, changes: JsonObj) -> JsonObj:
        if self._fast is not None:
            return await self._fast.patch_event(namespace, name, changes)
        return await self._raw(
            "PATCH", event_path(namespace, name), changes, f"patch event {namespace}/{name}",
            patch=True,
        )  # fmt: skip

    async def get_lease(self, namespace: str, name: str) -> JsonObj:
        if self._fast is not None:
            return await self._fast.get_lease(namespace, name)
        obj = await _call(
            self._client.get(Lease, name, namespace=namespace), f"get lease {namespace}/{name}"
        )
        return _dict(obj)

    async def create_lease(self, lease: JsonObj) -> JsonObj:
        if self._fast is not None:
            return await self._fast.create_lease(lease)
        meta = lease.get("metadata", {})
        obj = await _call(
            self._client.create(Lease.from_dict(lease), namespace=meta.get("namespace")),
            f"create lease {meta.get('namespace')}/{meta.get('name')}",
        )
        return _dict(obj)

    async def replace_lease(self, lease: JsonObj) -> JsonObj:
        if self._fast is not None:
            return await self._fast.replace_lease(lease)
        meta = lease.get("metadata", {})
        obj = await _call(
            self._client.replace(Lease.from_dict(lease), namespace=meta.get("namespace")),
            f"replace lease {meta.get('namespace')}/{meta.get('name')}",
        )
        return _dict(obj)

    async def close(self) -> None:
        if self._fast is not None:
            await self._fast.close()
        await self._client.close()
