"""Typed Kubernetes API failures, mapped from HTTP status codes.

Every :class:`~hami.k8s.port.KubeClient` implementation raises only these, so callers can write
``except Conflict`` without knowing which client library is underneath.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed Kubernetes API call: HTTP ``status``, the Status ``reason`` and ``message``."""

    status: int = 0

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}" if self.reason else self.message


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    """409: stale resourceVersion, or the object already exists (see :class:`AlreadyExists`)."""

    status = 409


class AlreadyExists(Conflict):
    pass


class Gone(ApiError):
    """410: the requested resourceVersion is older than the server's history; relist."""

    status = 410


class UnsupportedMediaType(ApiError):
    status = 415


class Invalid(ApiError):
    status = 422


class TooManyRequests(ApiError):
    status = 429


class ServerError(ApiError):
    """5xx: the server failed; retryable."""

    status = 500


class TransportError(ApiError):
    """No HTTP answer at all (connection refused/reset, timeout); retryable."""

    status = 0


class WatchQuiet(TransportError):
    """A watch sent nothing (not even a bookmark) for its stall period and was closed by us.

    Usually a quiet collection, not a failure: the informer reconnects from the same
    resourceVersion at once and logs it at DEBUG only."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}


def from_status(status: int, body: Any = None, *, what: str = "") -> ApiError:
    """Build the right exception for an HTTP status and an optional ``Status`` body (a dict)."""
    reason = ""
    message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
        code = body.get("code")
        if isinstance(code, int) and code >= 400 and body.get("kind") == "Status":
            status = code
    if not message:
        message = f"HTTP {status}"
    if what:
        message = f"{what}: {message}"
    cls: type[ApiError]
    if status == 409 and reason == "AlreadyExists":
        cls = AlreadyExists
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, ApiError)
    return cls(message, status=status, reason=reason)


def is_retryable(exc: BaseException) -> bool:
    """Transient failures worth a retry with backoff (5xx, 429, transport, conflicts)."""
    return isinstance(exc, ServerError | TooManyRequests | TransportError | Conflict)
