"""The extender's HTTP surface: one ASGI app with /filter, /bind, /webhook, /healthz, /readyz.

kube-scheduler expects extender errors in the body of an HTTP 200 answer (``error`` / ``Error``),
so only transport-level problems (body over 1 MiB: 413, wrong method) get another status. The
webhook always answers an AdmissionReview (allowed, denied or errored), never a stack trace.

``POST /filter`` and ``POST /bind`` are kube-scheduler's hot path (one of each per pod): the
outermost ASGI callable answers them directly (msgspec JSON, no middleware or routing layers,
which cost more CPU than a whole Filter decision on a 500-node cluster); every other request,
including other methods on those paths, goes through the starlette app.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hami.api.extender import FILTER_ARGS_FIELDS, binding_result, filter_result, go_fields
from hami.api.podshape import pod_shape_problem
from hami.scheduler.service import SchedulerService

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


TOO_DEEP = "JSON body nested too deeply"


def _too_deep(path: str) -> str:
    """One log line (no traceback) for a body the JSON decoder refused to recurse into."""
    log.warning("%s: %s, answered 400", path, TOO_DEEP)
    return TOO_DEEP


async def _json_body(request: Request) -> tuple[Any, str | None, int]:
    """(payload, error, status): 413 for oversize, 400 for nesting beyond the decoder's
    recursion limit, 200 with error for other bad JSON."""
    raw, error = await _receive_body(request.scope, request.receive)
    if raw is None:
        return None, error, 413
    try:
        return json.loads(raw), None, 200
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"malformed JSON body: {exc}", 200
    except RecursionError:
        return None, _too_deep(request.url.path), 400


#: ``review(admission_review_dict) -> response_dict``; built by the caller around hami.webhook.
Reviewer = Callable[[Any], dict[str, Any]]


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode


class FilterArgsDecoder:
    """Decodes ``ExtenderArgs`` bodies, ``NodeNames`` once per distinct list.

    kube-scheduler sends every feasible node's name with every pod, nearly always the same list:
    at 5000 nodes decoding it and hashing its names into a set cost more than the decision. The
    body's members are split without decoding them (``msgspec.Raw``); a ``NodeNames`` equal byte
    for byte to the last one reuses the list and the set built from it. Keys are matched to
    fields as Go matches them (:func:`go_fields`); the payload holds the fields found, under
    their Go names. A body that is not a JSON object is decoded as it is, for the service to
    refuse."""

    def __init__(self) -> None:
        self._names_raw: msgspec.Raw | None = None
        self._names: Any = None
        self._set: frozenset[str] | None = None

    def decode(self, body: bytes) -> tuple[Any, frozenset[str] | None]:
        """(payload, the set of its ``NodeNames`` when that is a list of strings); raises
        ``msgspec.DecodeError`` / ``RecursionError`` as ``msgspec.json.decode`` does."""
        try:
            members = _decode_members(body)
        except msgspec.ValidationError:
            return _decode(body), None
        out: dict[str, Any] = {}
        names: frozenset[str] | None = None
        for name, raw in go_fields(members, FILTER_ARGS_FIELDS).items():
            if name == "NodeNames":
                out[name], names = self._node_names(raw)
            else:
                out[name] = _decode(raw)
        return out, names

    def _node_names(self, raw: msgspec.Raw) -> tuple[Any, frozenset[str] | None]:
        if self._names_raw is None or raw != self._names_raw:
            names = _decode(raw)
            ok = isinstance(names, list) and all(isinstance(n, str) for n in names)
            self._names, self._set = names, frozenset(names) if ok else None
            self._names_raw = raw
        return self._names, self._set


class ExtenderEndpoint:
    """ASGI handler of ``POST /filter`` (``is_filter``) or ``POST /bind``."""

    def __init__(self, service: SchedulerService, *, is_filter: bool) -> None:
        self.service = service
        self.is_filter = is_filter
        self._filter_args = FilterArgsDecoder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_filter = self.is_filter
        status = 200
        raw, error = await _receive_body(scope, receive)
        candidates: frozenset[str] | None = None
        if raw is None:
            status = 413
        elif error is None:
            try:
                if is_filter:
                    payload, candidates = self._filter_args.decode(raw)
                else:
                    payload = _decode(raw)
            except msgspec.DecodeError as exc:
                error = f"malformed JSON body: {exc}"
            except RecursionError:
                status, error = 400, _too_deep(scope.get("path", ""))
            else:
                error = _filter_pod_problem(payload) if is_filter else None
        if error is not None:
            answer: Any = filter_result(error=error) if is_filter else binding_result(error)
        else:
            answer = await self._answer(payload, candidates)
        body = _encode(answer)
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, payload: Any, candidates: frozenset[str] | None) -> Any:
        """The service's answer; an unexpected failure is logged once and answered in
        ``Error`` (HTTP 200), as kube-scheduler expects, never a 500."""
        try:
            if self.is_filter:
                return await self.service.filter(payload, candidates=candidates)
            return await self.service.bind(payload)
        except Exception as exc:
            verb = "filter" if self.is_filter else "bind"
            log.exception("%s failed", verb)
            message = f"internal error in {verb}: {exc}"
            return filter_result(error=message) if self.is_filter else binding_result(message)


def _filter_pod_problem(payload: Any) -> str | None:
    """A member of ``ExtenderArgs.Pod`` with the wrong JSON type, named in one line."""
    if not isinstance(payload, Mapping):
        return None  # the service says what is wrong with the envelope
    pod = go_fields(payload, FILTER_ARGS_FIELDS).get("Pod")
    return pod_shape_problem(pod, "Pod.") if isinstance(pod, Mapping) else None


class ExtenderApp:
    """ASGI entry point: ``POST`` to a hot route goes straight to its endpoint; everything
    else (other methods on those paths included: 405) goes through ``starlette``."""

    def __init__(self, hot: dict[str, ExtenderEndpoint], starlette: Starlette) -> None:
        self.hot = hot
        self.starlette = starlette

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.hot.get(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is not None and scope["method"] == "POST":
            await endpoint(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)


async def _receive_body(scope: Scope, receive: Receive) -> tuple[bytes | None, str | None]:
    """(body, None); (None, why) when over :data:`MAX_BODY` (answered 413)."""
    for key, value in scope.get("headers") or ():
        if key == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            return None, f"request body of {value.decode()} bytes exceeds {MAX_BODY}"
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None, f"request body exceeds {MAX_BODY} bytes"
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), None


def build_app(
    service: SchedulerService,
    *,
    reviewer: Reviewer | None = None,
    is_leader: Callable[[], bool] | None = None,
    extra_routes: list[Route] | None = None,
) -> ExtenderApp:
    """The ASGI app serving ``service``; ``reviewer`` handles /webhook (404 when None)."""

    hot = {
        "/filter": ExtenderEndpoint(service, is_filter=True),
        "/bind": ExtenderEndpoint(service, is_filter=False),
    }

    async def webhook_route(request: Request) -> Response:
        if reviewer is None:
            return PlainTextResponse("webhook disabled", 404)
        payload, error, status = await _json_body(request)
        if error is not None:
            return JSONResponse(_errored_review(payload, error, 400), status)
        try:
            return JSONResponse(reviewer(payload))
        except Exception as exc:  # the webhook must answer, whatever happens
            log.exception("webhook failed")
            return JSONResponse(_errored_review(payload, f"internal error: {exc}", 500))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        leader = is_leader() if is_leader is not None else True
        if not service.synced:
            return PlainTextResponse("cache not synced", 503)
        return PlainTextResponse("ok (leader)" if leader else "ok (follower)")

    return ExtenderApp(hot, Starlette(
        routes=[
            *(Route(path, endpoint, methods=["POST"]) for path, endpoint in hot.items()),
            Route("/webhook", webhook_route, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *(extra_routes or []),  # e.g. /debug/pprof/* with --profiling
        ]
    ))  # fmt: skip


def _errored_review(payload: Any, message: str, code: int) -> dict[str, Any]:
    uid = ""
    if isinstance(payload, dict) and isinstance(payload.get("request"), dict):
        uid = str(payload["request"].get("uid") or "")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": False, "status": {"code": code, "message": message}},
    }
