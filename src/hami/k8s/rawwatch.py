"""Watch streams over :class:`~hami.k8s.rawhttp.RawHttp`: chunked JSON lines straight to dicts.

Through lightkube every watch event went through httpx's line iterator, a model object and
``to_dict`` again: a fifth of the scheduler's CPU under load. Here a watch is one GET on a
connection of its own; the chunked body is de-framed by hand from whatever one socket read
returned, split into lines and decoded by msgspec.

A watch must never hang silently: a half-open connection (the peer vanished without a FIN or
RST, e.g. across an apiserver restart) would otherwise leave the cache stale forever. A watchdog
timer aborts the connection when no byte arrived for ``stall_s`` seconds (bookmarks keep a
healthy stream talking) or when the stream outlives ``timeoutSeconds`` plus a margin; the
iterator then raises :class:`~hami.k8s.errors.TransportError` and the informer reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.parse
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from hami.k8s import errors
from hami.k8s.port import EventType, Kind, WatchEvent
from hami.k8s.rawhttp import Connection, RawHttp

log = logging.getLogger(__name__)

_EVENT_TYPES: frozenset[str] = frozenset(("ADDED", "MODIFIED", "DELETED", "BOOKMARK"))
_MAX_SIZE_LINE = 1024
_READ_SIZE = 256 * 1024
#: Seconds a watch may outlive its ``timeoutSeconds`` before the client gives up on it.
DEADLINE_MARGIN_S = 15.0


class OpenTimeout:
    """How long to wait for a watch's answer head: short, doubling after each miss.

    A healthy apiserver answers a watch at once. A connection that was accepted but is never
    served (a server going down, a proxy black-holing it) would otherwise hold the informer for
    the whole request timeout; a slow but working server still gets through as the wait grows.
    """

    __slots__ = ("current", "initial", "maximum")

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.current = initial

    def missed(self) -> None:
        self.current = min(self.maximum, self.current * 2)

    def answered(self) -> None:
        self.current = self.initial


class _Event(msgspec.Struct):
    type: str
    object: dict[str, Any]


_DECODER = msgspec.json.Decoder(_Event)


class Dechunker:
    """Incremental decoder of an HTTP/1.1 chunked body: feed raw bytes, get the payload."""

    __slots__ = ("_buf", "_left", "_skip", "done")

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0  # payload bytes of the current chunk still to come
        self._skip = 0  # bytes of the CRLF after a chunk's payload still to come
        self.done = False  # the last (zero-size) chunk was seen

    def feed(self, data: bytes) -> bytes:
        """The payload carried by ``data`` (and what was buffered); ValueError if malformed."""
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end and not self.done:
            if self._left:
                take = min(self._left, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._skip = 2
            elif self._skip:
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if end - pos > _MAX_SIZE_LINE:
                        raise ValueError("chunk size line too long")
                    break
                size = int(buf[pos:eol].split(b";", 1)[0].strip() or b"x", 16)
                pos = eol + 2
                if size == 0:
                    self.done = True  # trailers, if any, are not read
                else:
                    self._left = size
        self._buf = buf[pos:] if pos < end and not self.done else b""
        return out[0] if len(out) == 1 else b"".join(out)


class _Watchdog:
    """Aborts a connection that made no progress for ``stall_s`` or ran past ``deadline``.

    One timer per ``stall_s`` period (not one per read): each check compares a progress counter
    with its value at the previous check.
    """

    def __init__(self, conn: Connection, stall_s: float, deadline_s: float | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._conn = conn
        self._stall = stall_s
        self._end = self._loop.time() + deadline_s if deadline_s is not None else None
        self.progress = 0
        self._seen = 0
        self.why = ""
        self.quiet = False
        self._handle = self._loop.call_later(self._next_delay(), self._check)

    def _next_delay(self) -> float:
        if self._end is None:
            return self._stall
        return max(0.0, min(self._stall, self._end - self._loop.time()))

    def _check(self) -> None:
        if self._end is not None and self._loop.time() >= self._end:
            self.why = "outlived its timeoutSeconds"
        elif self.progress == self._seen:
            self.why = f"no data for {self._stall:g}s"
            self.quiet = True
        else:
            self._seen = self.progress
            self._handle = self._loop.call_later(self._next_delay(), self._check)
            return
        self._conn.writer.transport.abort()  # the pending read sees EOF

    def cancel(self) -> None:
        self._handle.cancel()


def collection_path(kind: Kind, namespace: str | None) -> str:
    """``/api/v1/[namespaces/<ns>/]<resource>`` (all namespaces when ``namespace`` is None)."""
    if kind.namespaced and namespace is not None:
        return f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/{kind.value}"
    return f"/api/v1/{kind.value}"


def selector_query(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    """The ``labelSelector`` / ``fieldSelector`` query parameters that are set."""
    query: dict[str, str] = {}
    if label_selector:
        query["labelSelector"] = label_selector
    if field_selector:
        query["fieldSelector"] = field_selector
    return query


def watch_path(
    kind: Kind,
    *,
    resource_version: str,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
    timeout_s: int | None,
) -> str:
    """The URL path and query of a core/v1 watch with bookmarks."""
    query: dict[str, str] = {"watch": "1", "allowWatchBookmarks": "true"}
    if resource_version:
        query["resourceVersion"] = resource_version
    if timeout_s:
        query["timeoutSeconds"] = str(int(timeout_s))
    query.update(selector_query(label_selector, field_selector))
    return f"{collection_path(kind, namespace)}?{urllib.parse.urlencode(query)}"


async def watch_events(
    http: RawHttp,
    path: str,
    *,
    what: str,
    stall_s: float,
    deadline_s: float | None,
    open_timeout: OpenTimeout | None = None,
) -> AsyncGenerator[WatchEvent, None]:
    """Stream the watch at ``path``: its events until the server ends the stream.

    ``ERROR`` events raise their Status as an :class:`~hami.k8s.errors.ApiError` (410: Gone);
    a broken, stalled or overdue connection raises :class:`~hami.k8s.errors.TransportError`.
    With ``open_timeout`` the answer head must come within its current wait.
    """
    if open_timeout is None:
        conn, headers = await http.open_stream(path, what=what)
    else:
        try:
            conn, headers = await http.open_stream(path, what=what, timeout_s=open_timeout.current)
        except errors.TransportError as exc:
            if exc.reason == "Timeout":
                open_timeout.missed()
            raise
        open_timeout.answered()
    dog = _Watchdog(conn, stall_s, deadline_s)
    body = _LineReader(conn, headers, dog, what)
    try:
        while (batch := await body.next_batch()) is not None:
            for line in batch:
                try:
                    event = _DECODER.decode(line)
                except msgspec.DecodeError as exc:
                    raise errors.TransportError(f"{what}: bad watch event: {exc}") from exc
                if event.type == "ERROR":
                    code = event.object.get("code")
                    status = code if isinstance(code, int) and code >= 400 else 500
                    raise errors.from_status(status, event.object, what=what)
                if event.type in _EVENT_TYPES:
                    kind: EventType = event.type  # type: ignore[assignment]
                    yield WatchEvent(kind, event.object)
            dog.progress += 1
    finally:
        dog.cancel()
        conn.close()


class _LineReader:
    """The non-empty lines of a streamed body, one batch per socket read."""

    __slots__ = ("_conn", "_dechunker", "_dog", "_ended", "_left", "_pending", "_what")

    def __init__(
        self, conn: Connection, headers: dict[str, str], dog: _Watchdog, what: str
    ) -> None:
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._conn = conn
        self._dechunker = Dechunker() if chunked else None
        length = headers.get("content-length", "")
        self._left = int(length) if length.isdigit() and not chunked else -1
        self._dog = dog
        self._what = what
        self._pending = b""
        self._ended = False

    async def next_batch(self) -> list[bytes] | None:
        """The complete lines of the next read (maybe none); ``None`` once the body ended."""
        if self._ended:
            return None
        try:
            data = await self._conn.reader.read(_READ_SIZE)
        except (OSError, ssl.SSLError) as exc:
            if self._dog.why:  # our watchdog aborted the connection (TLS may not see an EOF)
                raise self._aborted() from exc
            raise errors.TransportError(f"{self._what}: {type(exc).__name__}: {exc}") from exc
        if not data:
            return self._eof()
        self._dog.progress += 1
        if self._dechunker is not None:
            try:
                data = self._dechunker.feed(data)
            except ValueError as exc:
                raise errors.TransportError(f"{self._what}: bad chunked body: {exc}") from exc
        elif self._left >= 0:
            data = data[: self._left]
            self._left -= len(data)
        if self._pending:
            data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        batch = [line for line in lines if line and not line.isspace()]
        if (self._dechunker is not None and self._dechunker.done) or self._left == 0:
            if self._pending.strip():
                batch.append(self._pending)
            self._ended = True
        return batch

    def _aborted(self) -> errors.TransportError:
        """What our watchdog's abort means: a quiet watch, or one past its deadline."""
        error = errors.WatchQuiet if self._dog.quiet else errors.TransportError
        return error(f"{self._what}: {self._dog.why}")

    def _eof(self) -> list[bytes] | None:
        if self._dog.why:
            raise self._aborted()
        if self._dechunker is None and self._left < 0:  # close-delimited body: EOF ends it
            self._ended = True
            return [self._pending] if self._pending.strip() else None
        raise errors.TransportError(f"{self._what}: connection closed mid-stream")
