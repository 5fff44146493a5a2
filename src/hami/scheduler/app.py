"""The extender's HTTP surface: one starlette app with /filter, /bind, /webhook, /healthz, /readyz.

kube-scheduler expects extender errors in the body of an HTTP 200 answer (``error`` / ``Error``),
so only transport-level problems (body over 1 MiB: 413, wrong method) get another status. The
webhook always answers an AdmissionReview (allowed, denied or errored), never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hami.scheduler.service import SchedulerService

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {declared} bytes exceeds {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_body(request: Request) -> tuple[Any, str | None, int]:
    """(payload, error, status): status 413 for oversize, 200 with error for bad JSON."""
    try:
        raw = await _read_body(request)
    except BodyTooLarge as exc:
        return None, str(exc), 413
    try:
        return json.loads(raw), None, 200
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"malformed JSON body: {exc}", 200


#: ``review(admission_review_dict) -> response_dict``; built by the caller around hami.webhook.
Reviewer = Callable[[Any], dict[str, Any]]


def build_app(
    service: SchedulerService,
    *,
    reviewer: Reviewer | None = None,
    is_leader: Callable[[], bool] | None = None,
) -> Starlette:
    """The ASGI app serving ``service``; ``reviewer`` handles /webhook (404 when None)."""

    async def filter_route(request: Request) -> Response:
        payload, error, status = await _json_body(request)
        if error is not None:
            return JSONResponse({"nodenames": None, "failedNodes": {}, "error": error}, status)
        return JSONResponse(await service.filter(payload))

    async def bind_route(request: Request) -> Response:
        payload, error, status = await _json_body(request)
        if error is not None:
            return JSONResponse({"Error": error}, status)
        return JSONResponse(await service.bind(payload))

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

    return Starlette(
        routes=[
            Route("/filter", filter_route, methods=["POST"]),
            Route("/bind", bind_route, methods=["POST"]),
            Route("/webhook", webhook_route, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def _errored_review(payload: Any, message: str, code: int) -> dict[str, Any]:
    uid = ""
    if isinstance(payload, dict) and isinstance(payload.get("request"), dict):
        uid = str(payload["request"].get("uid") or "")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": False, "status": {"code": code, "message": message}},
    }
