"""The extender HTTP client half of kube-scheduler (`HTTPExtender`).

Sends `ExtenderArgs` / `ExtenderBindingArgs` JSON exactly as kube-scheduler marshals them: the Go
structs carry no JSON tags, so every key is the capitalised field name (`Pod`, `Nodes`,
`NodeNames`, `PodName`, ...), in field order, with `null` for nil pointers. Answers are decoded as
Go's `encoding/json` decodes them: keys match field names case-insensitively (exact match
preferred). Each exchange is recorded for tests. Transport errors and non-200 answers become
`ExtenderError` with kube-scheduler's wording.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .config import ExtenderConfig


class ExtenderError(Exception):
    """The extender call failed (transport, status, body) or returned an `error`."""


@dataclass(slots=True)
class ExtenderCall:
    """One HTTP exchange with the extender."""

    verb: str
    url: str
    request: dict[str, Any]
    status: int | None = None
    response: Any = None
    error: str | None = None
    duration_s: float = 0.0


@dataclass(slots=True)
class FilterResult:
    """Decoded `ExtenderFilterResult`."""

    node_names: list[str] | None
    nodes: list[dict[str, Any]] | None
    failed: dict[str, str] = field(default_factory=dict)
    failed_unresolvable: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def passed(self, cache_capable: bool) -> list[str]:
        """Nodes that passed, the way kube-scheduler picks them from the result."""
        if cache_capable and self.node_names is not None:
            return list(self.node_names)
        if self.nodes is not None:
            return [str((n.get("metadata") or {}).get("name")) for n in self.nodes]
        return []


def filter_args(
    pod: dict[str, Any], nodes: list[dict[str, Any]], cache_capable: bool
) -> dict[str, Any]:
    """`ExtenderArgs`: names only when nodeCacheCapable, else a NodeList of full objects."""
    if cache_capable:
        names = [str(n["metadata"]["name"]) for n in nodes]
        return {"Pod": pod, "Nodes": None, "NodeNames": names}
    return {"Pod": pod, "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None}


def binding_args(pod: dict[str, Any], node: str) -> dict[str, Any]:
    """`ExtenderBindingArgs` (Go struct without json tags: capitalised keys)."""
    meta = pod.get("metadata") or {}
    return {
        "PodName": meta.get("name", ""),
        "PodNamespace": meta.get("namespace", ""),
        "PodUID": meta.get("uid", ""),
        "Node": node,
    }


def _str_map(v: object, name: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ExtenderError(f"extender result: {name} must be a map of strings, got {v!r}")
    return {str(k): x for k, x in v.items()}


def go_decode(body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Go `encoding/json` key matching (ASCII field names): exact name, else case-insensitive;
    later keys overwrite earlier ones; unknown keys are dropped."""
    by_upper = {f.upper(): f for f in fields}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = key if key in fields else by_upper.get(key.upper())
        if name is not None:
            out[name] = value
    return out


_RESULT_FIELDS = ("Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error")


def parse_filter_result(body: object) -> FilterResult:
    if not isinstance(body, dict):
        raise ExtenderError(f"extender result: expected an object, got {body!r}")
    body = go_decode(body, _RESULT_FIELDS)
    names = body.get("NodeNames")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise ExtenderError(f"extender result: NodeNames must be a list of strings, got {names!r}")
    nodes = body.get("Nodes")
    items: list[dict[str, Any]] | None = None
    if nodes is not None:
        if not isinstance(nodes, dict) or not isinstance(nodes.get("items") or [], list):
            raise ExtenderError(f"extender result: Nodes must be a NodeList, got {nodes!r}")
        items = list(nodes.get("items") or [])
    error = body.get("Error") or ""
    if not isinstance(error, str):
        raise ExtenderError(f"extender result: Error must be a string, got {error!r}")
    return FilterResult(
        node_names=names,
        nodes=items,
        failed=_str_map(body.get("FailedNodes"), "FailedNodes"),
        failed_unresolvable=_str_map(
            body.get("FailedAndUnresolvableNodes"), "FailedAndUnresolvableNodes"
        ),
        error=error,
    )


class ExtenderClient:
    """Calls one configured extender; keeps `calls` for assertions."""

    def __init__(self, cfg: ExtenderConfig) -> None:
        self.cfg = cfg
        verify: Any = True
        if cfg.enable_https:
            verify = cfg.tls.ssl_context() if cfg.tls is not None else True
        self._http = httpx.AsyncClient(timeout=cfg.http_timeout_s, verify=verify)
        self.calls: list[ExtenderCall] = []

    async def aclose(self) -> None:
        await self._http.aclose()

    def calls_of(self, verb: str) -> list[ExtenderCall]:
        return [c for c in self.calls if c.verb == verb]

    async def _send(self, verb: str, args: dict[str, Any]) -> Any:
        url = self.cfg.url(verb)
        call = ExtenderCall(verb, url, args)
        self.calls.append(call)
        t0 = time.perf_counter()
        try:
            resp = await self._http.post(
                url,
                content=json.dumps(args, separators=(",", ":")),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as err:
            call.error = f'Post "{url}": context deadline exceeded ({type(err).__name__})'
            raise ExtenderError(call.error) from err
        except httpx.HTTPError as err:
            call.error = f'Post "{url}": {err}'
            raise ExtenderError(call.error) from err
        finally:
            call.duration_s = time.perf_counter() - t0
        call.status = resp.status_code
        if resp.status_code != 200:
            call.error = f"failed {verb} with extender at URL {url}, code {resp.status_code}"
            raise ExtenderError(call.error)
        try:
            call.response = resp.json()
        except ValueError as err:
            call.error = f"extender {url}: invalid JSON: {err}"
            raise ExtenderError(call.error) from err
        return call.response

    async def filter(self, pod: dict[str, Any], nodes: list[dict[str, Any]]) -> FilterResult:
        args = filter_args(pod, nodes, self.cfg.node_cache_capable)
        return parse_filter_result(await self._send(self.cfg.filter_verb, args))

    async def bind(self, pod: dict[str, Any], node: str) -> None:
        """Raises ExtenderError with the extender's `Error` text when it refuses."""
        body = await self._send(self.cfg.bind_verb, binding_args(pod, node))
        if not isinstance(body, dict):
            raise ExtenderError(f"extender bind result: expected an object, got {body!r}")
        err = go_decode(body, ("Error",)).get("Error") or ""
        if err:
            raise ExtenderError(str(err))
