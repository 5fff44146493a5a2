"""Request routing and handlers of the kube-apiserver stand-in (REST verbs, watch streams).

Turns HTTP requests into :class:`~.store.Store` calls and renders results and failures as the
real server does: typed objects, ``<Kind>List`` lists without per-item kind, ``Status`` errors,
and watch streams of newline-delimited JSON events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from . import discovery, errors, resources
from .errors import ApiError
from .faults import Faults
from .http import Request, Response, Stream
from .resources import ResourceType
from .selectors import parse
from .store import Store
from .watch import Watcher, bookmark, with_type

log = logging.getLogger(__name__)


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _ok(obj: Any, status: int = 200) -> Response:
    return Response(status, encode(obj))


def _fail(exc: ApiError) -> Response:
    return Response(exc.code, encode(exc.status()))


@dataclass(frozen=True)
class Route:
    """A resource path: resource, namespace (None = all / cluster), name, subresource."""

    rt: ResourceType
    namespace: str | None
    name: str
    sub: str


def route(path: str) -> Route | None:
    """Parse ``/api/v1/...`` or ``/apis/<g>/<v>/...`` into a Route."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    rt = resources.find(group, version, rest[0])
    if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in rt.subresources:
        return None
    if rt.namespaced and name and namespace is None:
        return None
    return Route(rt, namespace, name, sub)


def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


class App:
    """The stand-in's request handler; ``store`` is looked up per request (restart may swap it)."""

    def __init__(
        self,
        store: Callable[[], Store],
        faults: Faults,
        bookmark_interval: float,
        token: str | None = None,
    ) -> None:
        self._store = store
        self.faults = faults
        self.bookmark_interval = bookmark_interval
        self._token = token
        self.streams: set[Stream] = set()
        self._watchers: dict[Stream, Watcher] = {}
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, req: Request) -> Response | Stream:
        self.requests.append((req.method, req.path))
        if self._token is not None and req.headers.get("authorization") != f"Bearer {self._token}":
            return _fail(ApiError(401, "Unauthorized", "Unauthorized", None))
        wait, failure = self.faults.check(req.method, req.path)
        if wait > 0:
            await asyncio.sleep(wait)
        if failure is not None:
            return _fail(failure)
        try:
            if req.query.get("dryRun"):
                raise errors.bad_request("the stand-in does not implement dryRun")
            return self._discovery(req) or await self._resource(req)
        except ApiError as exc:
            return _fail(exc)

    # ------------------------------------------------------------------ discovery

    def _discovery(self, req: Request) -> Response | None:
        if req.method != "GET":
            return None
        path = req.path.rstrip("/")
        if path in ("/healthz", "/readyz", "/livez"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        doc: dict[str, Any] | None = None
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            doc = discovery.VERSION
        elif path == "/api":
            doc = discovery.api_versions()
        elif path == "/apis":
            doc = discovery.api_group_list()
        elif len(parts) == 2 and parts[0] == "api":
            doc = discovery.resource_list("", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.resource_list(parts[1], parts[2])
        else:
            return None
        if doc is None:
            raise _not_found_path()
        return _ok(doc)

    # ------------------------------------------------------------------ resources

    async def _resource(self, req: Request) -> Response | Stream:
        r = route(req.path)
        if r is None:
            raise _not_found_path()
        store = self._store()
        ns = r.namespace if r.rt.namespaced else ""
        method = req.method
        if not r.name:
            if method == "GET":
                if req.query.get("watch") in ("true", "1"):
                    return self._watch(store, r, req)
                return self._list(store, r, req)
            if method == "POST" and (r.namespace is not None or not r.rt.namespaced):
                return _ok(with_type(r.rt, store.create(r.rt, ns or "", self._json(req))), 201)
            if method == "DELETE":
                return self._delete_collection(store, r, req)
            raise self._not_allowed(method)
        assert ns is not None
        if r.sub == "binding":
            if method != "POST":
                raise self._not_allowed(method)
            store.bind(ns, r.name, self._json(req))
            return _ok(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
                201,
            )
        if method == "GET":
            return _ok(with_type(r.rt, store.get(r.rt, ns, r.name)))
        if method == "PUT":
            return _ok(with_type(r.rt, store.update(r.rt, ns, r.name, self._json(req), r.sub)))
        if method == "PATCH":
            content_type = req.headers.get("content-type", "")
            obj = store.patch(r.rt, ns, r.name, content_type, req.body, r.sub)
            return _ok(with_type(r.rt, obj))
        if method == "DELETE" and not r.sub:
            options = self._json(req) if req.body.strip() else {}
            obj, gone = store.delete(r.rt, ns, r.name, options if isinstance(options, dict) else {})
            if not gone or r.rt.returns_deleted_object or r.rt is resources.NAMESPACES:
                return _ok(with_type(r.rt, obj))
            details: dict[str, Any] = {"name": r.name}
            if r.rt.group:
                details["group"] = r.rt.group
            details |= {"kind": r.rt.plural, "uid": obj["metadata"]["uid"]}
            return _ok(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        raise self._not_allowed(method)

    @staticmethod
    def _not_allowed(method: str) -> ApiError:
        return ApiError(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource ({method})",
            {},
        )

    @staticmethod
    def _json(req: Request) -> Any:
        media = req.headers.get("content-type", "application/json").split(";")[0].strip()
        if media not in ("application/json", ""):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an "
                f"unknown format - accepted media types include: application/json "
                f'(stand-in does not decode "{media}")',
                {},
            )
        try:
            return json.loads(req.body)
        except ValueError as exc:
            raise errors.bad_request(f"error decoding request body: {exc}") from exc

    def _list(self, store: Store, r: Route, req: Request) -> Response:
        q = req.query
        selector = parse(q.get("labelSelector", ""), q.get("fieldSelector", ""), r.rt)
        try:
            limit = int(q.get("limit") or 0)
        except ValueError as exc:
            raise errors.bad_request(f"limit: invalid value {q.get('limit')!r}") from exc
        result = store.list(
            r.rt,
            r.namespace,
            selector,
            limit=limit,
            continue_token=q.get("continue", ""),
            resource_version=q.get("resourceVersion", ""),
            match=q.get("resourceVersionMatch", ""),
        )
        meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        return _ok(
            {
                "kind": r.rt.list_kind,
                "apiVersion": r.rt.api_version,
                "metadata": meta,
                "items": result.items,
            }
        )

    def _delete_collection(self, store: Store, r: Route, req: Request) -> Response:
        q = req.query
        selector = parse(q.get("labelSelector", ""), q.get("fieldSelector", ""), r.rt)
        result = store.list(r.rt, r.namespace, selector)
        items = []
        for obj in result.items:
            meta = obj["metadata"]
            try:
                deleted, _ = store.delete(r.rt, meta.get("namespace", ""), meta["name"])
            except ApiError:
                continue
            items.append(deleted)
        return _ok(
            {
                "kind": r.rt.list_kind,
                "apiVersion": r.rt.api_version,
                "metadata": {"resourceVersion": str(store.resource_version)},
                "items": items,
            }
        )

    # ------------------------------------------------------------------ watch

    def _watch(self, store: Store, r: Route, req: Request) -> Stream:
        q = req.query
        selector = parse(q.get("labelSelector", ""), q.get("fieldSelector", ""), r.rt)
        try:  # 0 or absent: no client timeout (the real server then picks 30-60 min)
            timeout = float(q.get("timeoutSeconds") or 0) or None
        except ValueError as exc:
            raise errors.bad_request(
                f"timeoutSeconds: invalid value {q['timeoutSeconds']!r}"
            ) from exc
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        initial_end = bookmarks and q.get("sendInitialEvents") == "true"
        watcher = Watcher(asyncio.get_running_loop(), r.rt, r.namespace, selector)
        try:
            from_rv = "" if q.get("sendInitialEvents") == "true" else q.get("resourceVersion", "")
            initial, start_rv = store.open_watch(watcher, from_rv)
        except ApiError as exc:
            if exc.code != 410:
                raise
            return Stream(200, _once(encode({"type": "ERROR", "object": exc.status()})))
        events = self._events(store, watcher, initial, start_rv, timeout, bookmarks, initial_end)
        stream = Stream(200, events)
        self.streams.add(stream)
        self._watchers[stream] = watcher
        return stream

    async def _events(
        self,
        store: Store,
        watcher: Watcher,
        initial: list[tuple[str, Any]],
        start_rv: int,
        timeout: float | None,
        bookmarks: bool,
        initial_end: bool = False,
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        last_rv = start_rv
        deadline = loop.time() + timeout if timeout is not None else None
        next_mark = loop.time() + self.bookmark_interval
        try:
            for kind, obj in initial:
                yield encode({"type": kind, "object": obj})
            if initial_end:  # sendInitialEvents: mark the end of the initial state
                mark = bookmark(watcher.rt, last_rv)
                mark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                yield encode({"type": "BOOKMARK", "object": mark})
            while True:
                now = loop.time()
                if deadline is not None and now >= deadline:
                    if bookmarks:
                        yield encode({"type": "BOOKMARK", "object": bookmark(watcher.rt, last_rv)})
                    return
                if bookmarks and now >= next_mark:
                    next_mark = now + self.bookmark_interval
                    yield encode({"type": "BOOKMARK", "object": bookmark(watcher.rt, last_rv)})
                    continue
                marks = (deadline, next_mark if bookmarks else None)
                waits = [t - now for t in marks if t is not None]
                try:  # the queue is often non-empty under load: skip the timer then
                    event = watcher.queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:  # asyncio.timeout, unlike wait_for, creates no task per event
                        async with asyncio.timeout(min(waits) if waits else None):
                            event = await watcher.queue.get()
                    except TimeoutError:
                        continue
                if event is None:
                    return
                last_rv = event.rv
                translated = watcher.translate(event)
                if translated is not None:
                    yield encode({"type": translated[0], "object": translated[1]})
        finally:
            store.close_watch(watcher)
            for stream, w in list(self._watchers.items()):
                if w is watcher:
                    self._watchers.pop(stream, None)
                    self.streams.discard(stream)

    def drop_watches(self, abrupt: bool) -> int:
        """End every open watch: abort its connection, or finish the stream cleanly."""
        count = 0
        for stream, watcher in list(self._watchers.items()):
            count += 1
            if abrupt and stream.transport is not None:
                stream.transport.abort()
            watcher.push(None)
        return count


async def _once(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk
