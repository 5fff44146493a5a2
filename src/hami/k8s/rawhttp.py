"""A small keep-alive HTTP/1.1 client for hami's JSON calls to the apiserver (and watch streams).

Each pod costs the scheduler a handful of apiserver writes (decision patch, node lock, binding,
events). Through httpx every request spent about 2 ms of CPU in the client machinery alone, more
than the engine's whole decision; these writes are plain JSON in, JSON out, so this module speaks
HTTP/1.1 itself over a pool of asyncio streams: one request per connection at a time,
``Content-Length`` or chunked answers, reconnect when a pooled connection turns out closed.
Long-lived streams (watches, :mod:`hami.k8s.rawwatch`) get a connection of their own from
:meth:`RawHttp.open_stream`.

It reuses lightkube's resolved config (server URL, the TLS context built from the kubeconfig's CA
and client certificate, a bearer token or token file). :func:`from_lightkube_config` answers
``None`` for auth it cannot do (exec plugins, auth providers, basic auth) or proxies; the caller
then keeps lightkube's own HTTP client. Non-2xx answers become :mod:`hami.k8s.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from hami.k8s import errors

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024


class _Closed(Exception):
    """The pooled connection was closed by the peer before any answer arrived."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach the apiserver."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    token: str | None = None
    token_file: str | None = None
    base_path: str = ""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        token: str | None = None,
        token_file: str | None = None,
    ) -> Endpoint:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"apiserver URL {url!r}: need http(s)://host[:port]")
        tls = parts.scheme == "https"
        if tls and ssl_context is None:
            ssl_context = ssl.create_default_context()
        return cls(
            host=parts.hostname,
            port=parts.port or (443 if tls else 80),
            ssl_context=ssl_context if tls else None,
            token=token,
            token_file=token_file,
            base_path=parts.path.rstrip("/"),
        )


class Connection:
    """One HTTP/1.1 connection: its asyncio stream pair; ``timed_out`` once the client aborted
    it because a request on it ran out of time."""

    __slots__ = ("reader", "timed_out", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.timed_out = False

    def close(self) -> None:
        self.writer.close()


class RawHttp:
    """JSON requests over pooled keep-alive HTTP/1.1 connections to one apiserver."""

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 30.0, max_idle: int = 16) -> None:
        self._ep = endpoint
        self._timeout = timeout_s
        self._max_idle = max_idle
        self._idle: list[Connection] = []
        host = endpoint.host if ":" not in endpoint.host else f"[{endpoint.host}]"
        default = 443 if endpoint.ssl_context is not None else 80
        self._host_header = host if endpoint.port == default else f"{host}:{endpoint.port}"
        self._token_cache: str | None = None
        self._fixed_headers = (
            f"Host: {self._host_header}\r\nAccept: application/json\r\nUser-Agent: hami\r\n"
        )
        # Deadlines of the requests in flight, checked by one timer while any is: an
        # ``asyncio.timeout`` per request (a timer armed and cancelled three times per pod)
        # cost more than parsing the answers. A request runs out of time within a quarter of
        # the timeout (at most 1 s) after its deadline.
        self._deadlines: dict[Connection, float] = {}
        self._ticker: asyncio.TimerHandle | None = None
        self._ticker_loop: asyncio.AbstractEventLoop | None = None
        self._tick_s = max(0.01, min(1.0, timeout_s / 4))

    @property
    def timeout_s(self) -> float:
        """The limit on one request (connect, send, answer)."""
        return self._timeout

    def _auth(self) -> str | None:
        if self._ep.token:
            return self._ep.token
        if self._ep.token_file:
            if self._token_cache is None:
                self._token_cache = Path(self._ep.token_file).read_text().strip()
            return self._token_cache
        return None

    async def _connect(self) -> Connection:
        ctx = self._ep.ssl_context
        reader, writer = await asyncio.open_connection(
            self._ep.host, self._ep.port, ssl=ctx,
            server_hostname=self._ep.host if ctx is not None else None,
        )  # fmt: skip
        return Connection(reader, writer)

    async def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
        what: str = "",
    ) -> Any:  # fmt: skip
        """Send one request; the decoded JSON answer (``None`` when empty or not JSON).

        Raises :class:`~hami.k8s.errors.ApiError` subclasses for non-2xx answers and
        :class:`~hami.k8s.errors.TransportError` when no answer came (timeout, refused, reset).
        """
        what = what or f"{method} {path}"
        payload = msgspec.json.encode(body) if body is not None else b""
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            status, data = await self._exchange(method, path, payload, content_type, deadline)
            if status == 401 and self._ep.token_file:
                self._token_cache = None  # a rotated service-account token: reread once
                status, data = await self._exchange(method, path, payload, content_type, deadline)
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise errors.TransportError(f"{what}: timed out after {self._timeout}s") from exc
        except (OSError, EOFError, asyncio.IncompleteReadError, ssl.SSLError, _Closed,
                ValueError) as exc:  # fmt: skip
            raise errors.TransportError(f"{what}: {type(exc).__name__}: {exc}") from exc
        try:
            decoded: Any = msgspec.json.decode(data) if data else None
        except msgspec.DecodeError:
            decoded = None
        if status >= 400:
            raise errors.from_status(status, decoded, what=what)
        return decoded

    def _request_bytes(self, method: str, path: str, payload: bytes, content_type: str) -> bytes:
        token = self._auth()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        framing = ""
        if payload or method in ("POST", "PUT", "PATCH"):
            framing = f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
        line = f"{method} {self._ep.base_path}{path} HTTP/1.1\r\n"
        return f"{line}{self._fixed_headers}{auth}{framing}\r\n".encode("latin-1") + payload

    async def _exchange(
        self, method: str, path: str, payload: bytes, content_type: str, deadline: float
    ) -> tuple[int, bytes]:
        raw = self._request_bytes(method, path, payload, content_type)
        # A pooled connection may have been closed by the server while idle; one that fails
        # before any byte of an answer is retried once on a fresh connection.
        while self._idle:
            conn = self._idle.pop()
            try:
                return await self._roundtrip(conn, raw, deadline)
            except (_Closed, ConnectionError):
                conn.close()
        async with asyncio.timeout_at(deadline):
            conn = await self._connect()
        return await self._roundtrip(conn, raw, deadline)

    def _watch(self, conn: Connection, deadline: float) -> None:
        """Abort ``conn`` if its request is still running at ``deadline``."""
        self._deadlines[conn] = deadline
        loop = asyncio.get_running_loop()
        if self._ticker is None or self._ticker_loop is not loop:
            self._ticker_loop = loop
            self._ticker = loop.call_later(self._tick_s, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._ticker = None
        loop = self._ticker_loop
        if loop is None:
            return
        now = loop.time()
        for conn, deadline in list(self._deadlines.items()):
            if now >= deadline:
                del self._deadlines[conn]
                conn.timed_out = True
                conn.writer.transport.abort()  # the pending write or read fails now
        if self._deadlines:
            self._ticker = loop.call_later(self._tick_s, self._check_deadlines)

    async def open_stream(
        self, path: str, *, what: str, timeout_s: float | None = None
    ) -> tuple[Connection, dict[str, str]]:
        """GET ``path`` on a new connection of its own (never pooled: a long-lived stream such
        as a watch must not share a socket with writes) and read the answer's head.

        Answers the connection, positioned at the body, and the lowercased headers. A non-2xx
        answer raises its :mod:`hami.k8s.errors` exception; no answer within the client's
        timeout (or ``timeout_s``, when shorter) raises :class:`~hami.k8s.errors.TransportError`
        with reason ``Timeout``.
        """
        limit = min(self._timeout, timeout_s) if timeout_s else self._timeout
        for attempt in (0, 1):
            raw = self._request_bytes("GET", path, b"", "")
            conn: Connection | None = None
            try:
                async with asyncio.timeout(limit):
                    conn = await self._connect()
                    conn.writer.write(raw)
                    await conn.writer.drain()
                    status, headers = _parse_head(await conn.reader.readuntil(b"\r\n\r\n"))
                    if status < 300:
                        return conn, headers
                    data = await _read_body(conn.reader, headers)
            except TimeoutError as exc:  # before OSError: TimeoutError is one
                if conn is not None:
                    conn.close()
                raise errors.TransportError(
                    f"{what}: no answer within {limit:g}s", reason="Timeout"
                ) from exc
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ssl.SSLError, ValueError) as exc:  # fmt: skip
                if conn is not None:
                    conn.close()
                raise errors.TransportError(f"{what}: {type(exc).__name__}: {exc}") from exc
            except asyncio.CancelledError:
                if conn is not None:
                    conn.close()
                raise
            conn.close()
            if status == 401 and self._ep.token_file and attempt == 0:
                self._token_cache = None  # a rotated service-account token: reread once
                continue
            try:
                decoded: Any = msgspec.json.decode(data) if data else None
            except msgspec.DecodeError:
                decoded = None
            raise errors.from_status(status, decoded, what=what)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _roundtrip(self, conn: Connection, raw: bytes, deadline: float) -> tuple[int, bytes]:
        keep = False
        self._watch(conn, deadline)
        try:
            conn.writer.write(raw)
            await conn.writer.drain()
            try:
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Closed("connection closed before the answer") from exc
                raise
            except asyncio.LimitOverrunError as exc:
                raise ValueError("response head too large") from exc
            status, headers = _parse_head(head)
            body = await _read_body(conn.reader, headers)
            keep = headers.get("connection", "").lower() != "close"
            return status, body
        except Exception:
            if conn.timed_out:
                raise TimeoutError from None  # not a closed pooled connection: no retry
            raise
        finally:
            self._deadlines.pop(conn, None)
            if keep and not conn.timed_out and len(self._idle) < self._max_idle:
                self._idle.append(conn)
            else:
                conn.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await conn.writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return int(status_line[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # trailers (if any) end with an empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if headers.get("connection", "").lower() == "close":
        headers["connection"] = "close"
        return await reader.read()
    return b""


def from_lightkube_config(config: Any, *, timeout_s: float = 30.0) -> RawHttp | None:
    """A :class:`RawHttp` for lightkube's resolved ``SingleConfig``, or ``None`` when its auth
    (exec plugin, auth provider, basic auth) or a configured proxy needs lightkube's client."""
    from lightkube.config.client_adapter import verify_cluster

    user = getattr(config, "user", None)
    cluster = getattr(config, "cluster", None)
    if user is None or cluster is None:
        return None
    if user.exec or user.auth_provider or user.username or user.password:
        return None
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                       "ALL_PROXY", "all_proxy")):  # fmt: skip
        return None
    server = str(cluster.server)
    ctx = None
    if server.startswith("https"):
        ctx = verify_cluster(cluster, user, config.abs_file)
    token_file = str(user.token_file) if user.token_file else None
    try:
        endpoint = Endpoint.from_url(server, ssl_context=ctx, token=user.token,
                                     token_file=token_file)  # fmt: skip
    except ValueError as exc:
        log.info("small HTTP client not used: %s", exc)
        return None
    return RawHttp(endpoint, timeout_s=timeout_s)
