"""Request routing and handlers of the kube-apiserver stand-in (REST verbs, watch streams).

Turns HTTP requests into :class:`~.store.Store` calls and renders results and failures as the
real server does: typed objects, ``<Kind>List`` lists without per-item kind, ``Status`` errors,
and watch streams of newline-delimited JSON events.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import discovery, errors, resources
from .convert import from_storage
from .errors import ApiError
from .faults import Faults
from .http import Request, Response, Stream
from .jsondata import EncodedObjects, dumps
from .resources import ResourceType
from .selectors import parse
from .store import Store
from .watch import Event, Watcher, bookmark

log = logging.getLogger(__name__)


def encode(obj: Any) -> bytes:
    return dumps(obj) + b"\n"


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


@functools.lru_cache(maxsize=4096)
def route(path: str) -> Route | None:
    """Parse ``/api/v1/...`` or ``/apis/<g>/<v>/...`` into a Route (cached: paths repeat)."""
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
        self._auth = f"Bearer {token}"
        self._encoded = EncodedObjects()
        self.streams: set[Stream] = set()
        self._watchers: dict[Stream, Watcher] = {}
        self.requests: list[tuple[str, str]] = []

    def __call__(self, req: Request) -> Response | Stream | Awaitable[Response | Stream]:
        """The answer to ``req``: at once, or (when a delay fault matches) an awaitable."""
        self.requests.append((req.method, req.path))
        if self._token is not None and req.headers.get("authorization") != self._auth:
            return _fail(ApiError(401, "Unauthorized", "Unauthorized", None))
        wait, failure = self.faults.check(req.method, req.path)
        if wait > 0:
            return self._later(wait, failure, req)
        return self._answer(failure, req)

    async def _later(
        self, wait: float, failure: ApiError | None, req: Request
    ) -> Response | Stream:
        await asyncio.sleep(wait)
        return self._answer(failure, req)

    def _answer(self, failure: ApiError | None, req: Request) -> Response | Stream:
        if failure is not None:
            return _fail(failure)
        try:
            if req.query.get("dryRun"):
                raise errors.bad_request("the stand-in does not implement dryRun")
            return self._discovery(req) or self._resource(req)
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

    def _resource(self, req: Request) -> Response | Stream:
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
                obj = store.create(r.rt, ns or "", self._json(req), shared=True)
                return self._object(r.rt, obj, 201)
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
            return self._object(r.rt, store.get(r.rt, ns, r.name, shared=True))
        if method == "PUT":
            obj = store.update(r.rt, ns, r.name, self._json(req), r.sub, shared=True)
            return self._object(r.rt, obj)
        if method == "PATCH":
            content_type = req.headers.get("content-type", "")
            obj = store.patch(r.rt, ns, r.name, content_type, req.body, r.sub, shared=True)
            return self._object(r.rt, obj)
        if method == "DELETE" and not r.sub:
            options = self._json(req) if req.body.strip() else {}
            options = options if isinstance(options, dict) else {}
            obj, gone = store.delete(r.rt, ns, r.name, options, shared=True)
            if not gone or r.rt.returns_deleted_object or r.rt is resources.NAMESPACES:
                return self._object(r.rt, obj)
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

    def _object(self, rt: ResourceType, stored: dict[str, Any], status: int = 200) -> Response:
        """A stored object as ``rt`` serves it (encoded once per committed object)."""
        return Response(status, self._encoded.get(rt, stored) + b"\n")

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
            shared=True,
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
                "items": [from_storage(r.rt, obj) for obj in result.items],
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
        ends = bookmarks and q.get("sendInitialEvents") == "true"  # initial-events-end mark
        watcher = Watcher(asyncio.get_running_loop(), r.rt, r.namespace, selector)
        try:
            from_rv = "" if q.get("sendInitialEvents") == "true" else q.get("resourceVersion", "")
            initial, start_rv = store.open_watch(watcher, from_rv)
        except ApiError as exc:
            if exc.code != 410:
                raise
            return Stream(200, _once(encode({"type": "ERROR", "object": exc.status()})))
        own: list[Stream] = []  # the generator's own stream, known once built
        events = self._events(store, own, watcher, initial, start_rv, timeout, bookmarks, ends)
        stream = Stream(200, events)
        own.append(stream)
        self.streams.add(stream)
        self._watchers[stream] = watcher
        return stream

    async def _events(
        self,
        store: Store,
        own: list[Stream],
        watcher: Watcher,
        initial: list[tuple[str, Any]],
        start_rv: int,
        timeout: float | None,
        bookmarks: bool,
        initial_end: bool,
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        watcher.last_rv = watcher.sent_rv = start_rv
        deadline = loop.time() + timeout if timeout is not None else None
        next_mark = loop.time() + self.bookmark_interval
        try:
            for kind, obj in initial:
                yield encode({"type": kind, "object": obj})
            if initial_end:  # sendInitialEvents: mark the end of the initial state
                mark = bookmark(watcher.rt, watcher.last_rv)
                mark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                yield encode({"type": "BOOKMARK", "object": mark})
            if own and own[0].transport is not None:  # live events go out as committed
                watcher.direct = functools.partial(self._send_live, watcher, own[0])
            while True:
                now = loop.time()
                if deadline is not None and now >= deadline:
                    if bookmarks and watcher.last_rv > watcher.sent_rv:
                        yield self._bookmark(watcher)
                    return
                if bookmarks and now >= next_mark:
                    next_mark = now + self.bookmark_interval
                    if watcher.last_rv > watcher.sent_rv:
                        yield self._bookmark(watcher)
                    continue
                if not watcher.events:
                    marks = (deadline, next_mark if bookmarks else None)
                    waits = [t - now for t in marks if t is not None]
                    await watcher.wait(min(waits) if waits else None)
                    continue
                # Everything queued goes out as one chunk: one write, one wakeup of the client.
                lines: list[bytes] = []
                ended = False
                while watcher.events:
                    event = watcher.events.popleft()
                    if event is None:
                        ended = True
                        break
                    watcher.last_rv = event.rv
                    line = self._event_line(watcher, event)
                    if line is not None:
                        lines.append(line)
                        watcher.sent_rv = event.rv
                if lines:
                    yield b"".join(lines)
                if ended:
                    return
        finally:
            watcher.direct = None
            store.close_watch(watcher)
            for stream, w in list(self._watchers.items()):
                if w is watcher:
                    self._watchers.pop(stream, None)
                    self.streams.discard(stream)

    @staticmethod
    def _bookmark(watcher: Watcher) -> bytes:
        watcher.sent_rv = watcher.last_rv
        return encode({"type": "BOOKMARK", "object": bookmark(watcher.rt, watcher.last_rv)})

    def _event_line(self, watcher: Watcher, event: Event) -> bytes | None:
        """The watch line ``watcher`` reports for ``event`` (None: not its business)."""
        verdict = watcher.verdict(event)
        if verdict is None:
            return None
        text = self._encoded.get(watcher.rt, event.obj)
        return b'{"type":"%s","object":%s}\n' % (verdict.encode(), text)

    def _send_live(self, watcher: Watcher, stream: Stream, event: Event) -> None:
        line = self._event_line(watcher, event)
        if line is not None:
            watcher.sent_rv = event.rv
            stream.send(line)

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
