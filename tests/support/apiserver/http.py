"""Minimal asyncio HTTP/1.1 server (httptools) with keep-alive and chunked streaming responses.

Written for the stand-in rather than using uvicorn because tests need what a framework hides:
closing every connection at once (restart, dropped watches), aborting a stream mid-body, noticing
a watch client that hung up, and re-binding the same port.

Cheap per request because benchmarks drive thousands of requests through it: one
``asyncio.Protocol`` per connection fed by the C parser of ``httptools``, handlers called
synchronously when they can answer at once (a task only for delayed answers and watch streams),
and one ``write`` (one send(2), one wakeup of the client) per response or per batch of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import inspect
import logging
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

import httptools

log = logging.getLogger(__name__)


@dataclass
class Request:
    """A fully read request (headers lower-cased, query values last-wins)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    """A complete response with a body."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(eq=False)
class Stream:
    """A chunked streaming response; ``transport`` is set once streaming starts.

    Each chunk the iterator yields goes out in one write (one HTTP chunk). Once the head is
    out, ``send`` adds data outside the iterator: what is sent while a request is handled goes
    out in one chunk right after that request's answer (otherwise on the loop's next turn)."""

    status: int
    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    transport: asyncio.Transport | None = field(default=None, repr=False)
    _pending: list[bytes] = field(default_factory=list, repr=False)
    _on_pending: Callable[[Stream], None] | None = field(default=None, repr=False)

    def attach(self, transport: asyncio.Transport, on_pending: Callable[[Stream], None]) -> None:
        """The head is out on ``transport``; ``on_pending`` is told when ``send`` queues data."""
        self.transport = transport
        self._on_pending = on_pending

    def detach(self) -> None:
        """The body has ended: ``send`` refuses from now on."""
        self._on_pending = None
        self._pending.clear()

    def send(self, data: bytes) -> bool:
        """Queue ``data`` for the next flush; False if the stream has not started or is closed."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._on_pending is None:
            return False
        if data:
            if not self._pending:
                self._on_pending(self)
            self._pending.append(data)
        return True

    def flush(self) -> None:
        """Write what ``send`` queued, as one chunk."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))


Result = Response | Stream
Handler = Callable[[Request], Result | Awaitable[Result]]

_INTERNAL_ERROR = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"stand-in internal error","reason":"InternalError","code":500}\n'
)
_END_CHUNKS = b"0\r\n\r\n"


@functools.lru_cache(maxsize=2)
def _http_date(second: int) -> str:
    """The ``Date`` header value, formatted once per second."""
    return email.utils.formatdate(second, usegmt=True)


@functools.lru_cache(maxsize=64)
def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


def _head(status: int, content_type: str, framing: str, close: bool) -> bytes:
    """Status line and headers; ``framing`` is the content-length or transfer-encoding line."""
    return b"".join(
        (
            _status_line(status),
            b"audit-id: stand-in\r\ncache-control: no-cache, private\r\ncontent-type: ",
            content_type.encode("latin-1"),
            b"\r\ndate: ",
            _http_date(int(time.time())).encode("latin-1"),
            b"\r\n",
            framing.encode("latin-1"),
            b"\r\nconnection: close\r\n\r\n" if close else b"\r\n\r\n",
        )
    )


@functools.lru_cache(maxsize=1024)
def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, v[-1]) for k, v in parse_qs(query, keep_blank_values=True).items())


def _split_target(target: str) -> tuple[str, dict[str, str]]:
    path, _, query = target.partition("?")
    path = path.partition("#")[0]
    if not query:
        return unquote(path), {}
    return unquote(path), dict(_parse_query(query.partition("#")[0]))


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, answers them in order, streams watches."""

    def __init__(self, server: HttpServer, generation: int = 0) -> None:
        self._server = server
        self.generation = generation
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self._pending: deque[tuple[Request, bool]] = deque()
        self._busy = False  # an answer is being produced by a task (delayed or streaming)
        self._streaming = False
        self._eof = False
        self._closed = False
        self._can_write: asyncio.Future[None] | None = None
        # parts of the request being parsed
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._server.stopping or self.generation != self._server.generation:
            transport.abort()  # accepted by a listener that has been stopped since: refuse it
            return
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._streaming:  # a watch client that hung up: end its stream
            if self.task is not None:
                self.task.cancel()
            return False
        return self._busy or None  # keep the transport open until the answer is out

    def pause_writing(self) -> None:
        if self._can_write is None or self._can_write.done():
            self._can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            log.debug("stand-in: bad request bytes, closing: %s", exc)
            self._pending.clear()
            self._abort()
            return
        server = self._server
        server.handling = True
        try:
            self._pump()
        finally:
            server.handling = False
            server.flush_streams()  # watch events of these requests, after their answers

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key in self._headers:  # repeated header: comma-joined, as HTTP allows
            text = f"{self._headers[key]}, {text}"
        self._headers[key] = text

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method().decode("latin-1")
        path, query = _split_target(self._url.decode("latin-1"))
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(method, path, query, self._headers, body)
        self._pending.append((request, bool(self._parser.should_keep_alive())))

    # ------------------------------------------------------------------ answering

    def _abort(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    def _pump(self) -> None:
        """Answer pending requests in order until one needs a task (or none is left)."""
        while self._pending and not self._busy and not self._closed:
            request, keep_alive = self._pending.popleft()
            result = self._server.call(request)
            if isinstance(result, Response):
                self._respond(request, result, keep_alive)
            else:
                self._busy = True
                self.task = asyncio.get_running_loop().create_task(
                    self._answer_later(request, result, keep_alive)
                )
        if self._eof and not self._busy and not self._closed and self.transport is not None:
            self._closed = True
            self.transport.close()

    def _respond(self, request: Request, resp: Response, keep_alive: bool) -> None:
        assert self.transport is not None
        body = b"" if request.method == "HEAD" else resp.body
        head = _head(resp.status, resp.content_type, f"content-length: {len(resp.body)}",
                     not keep_alive)  # fmt: skip
        self.transport.write(head + body)  # one write: one send(2), one wakeup of the client
        if not keep_alive:
            self._closed = True
            self.transport.close()

    async def _answer_later(
        self, request: Request, pending: Stream | Awaitable[Result], keep_alive: bool
    ) -> None:
        try:
            result: Result
            if isinstance(pending, Stream):
                result = pending
            else:
                try:
                    result = await pending
                except asyncio.CancelledError:
                    raise
                except Exception:
                    result = self._server.crashed(request)
            if isinstance(result, Stream):
                await self._stream(result, keep_alive)
            else:
                self._respond(request, result, keep_alive)
        except (asyncio.CancelledError, ConnectionError, OSError):
            self._abort()
            return
        except Exception:
            log.exception("stand-in stream crashed on %s %s", request.method, request.path)
            self._abort()
            return
        finally:
            self._busy = False
            self._streaming = False
            self.task = None
        self._pump()

    async def _stream(self, stream: Stream, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None
        chunks = stream.chunks
        self._streaming = True
        try:
            if self._eof:
                raise ConnectionResetError("watch client went away")
            transport.write(_head(stream.status, stream.content_type,
                                  "transfer-encoding: chunked", not keep_alive))  # fmt: skip
            stream.attach(transport, self._server.pending)
            async for chunk in chunks:
                if self._closed:
                    raise ConnectionResetError("watch client went away")
                stream.flush()  # what was sent before this chunk goes out first
                if chunk:
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                if self._can_write is not None and not self._can_write.done():
                    await self._can_write
            if self._closed:
                raise ConnectionResetError("watch client went away")
            stream.flush()
            stream.detach()
            transport.write(_END_CHUNKS)
            if not keep_alive:
                self._closed = True
                transport.close()
        finally:
            stream.detach()
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


class HttpServer:
    """Serves ``handler`` on host:port; ``stop`` closes the listener and every connection.

    ``handler`` returns a :class:`Response`, a :class:`Stream` or an awaitable of either; a plain
    result is written at once, without a task."""

    def __init__(
        self, handler: Handler, host: str, port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._handler = handler
        self._host = host
        self.port = port
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self.connections: set[_Connection] = set()
        self.stopping = False
        self.generation = 0  # bumped by start() and stop(): connections of an old listener die
        self.handling = False  # answering requests: streams are flushed when that is done
        self._flush_soon = False
        self._unflushed: list[Stream] = []

    def pending(self, stream: Stream) -> None:
        """``stream`` has data queued: flush it after the current requests or on the next turn."""
        self._unflushed.append(stream)
        if not self.handling and not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self.flush_streams)

    def flush_streams(self) -> None:
        self._flush_soon = False
        streams, self._unflushed = self._unflushed, []
        for stream in streams:
            stream.flush()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.generation += 1
        self.stopping = False
        generation = self.generation
        self._server = await loop.create_server(
            lambda: _Connection(self, generation),
            self._host,
            self.port,
            ssl=self._ssl,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and abort all connections (clients see EOF/reset).

        Connections the loop accepted just before the listener closed are refused as they
        arrive (``stopping``), so none is left open and unanswered across a restart."""
        self.stopping = True  # until the next start(): late accepts are refused
        self.generation += 1
        if self._server is not None:
            # Stop accepting first and let connections accepted a moment ago attach (they are
            # refused in connection_made): CPython 3.11 leaks the socket of a connection whose
            # transport is created after Server.close() (its _attach() assertion fails).
            loop = asyncio.get_running_loop()
            for sock in self._server.sockets:
                loop.remove_reader(sock.fileno())
            for _ in range(3):
                await asyncio.sleep(0)
            self._server.close()
        quiet = 0
        for _ in range(100):
            await asyncio.sleep(0)  # let pending accepts reach connection_made
            if self.connections:
                quiet = 0
            else:
                quiet += 1
                if quiet >= 3:
                    break
            if self.connections:
                tasks = []
                for conn in list(self.connections):
                    self.connections.discard(conn)
                    if conn.transport is not None:
                        conn.transport.abort()
                    if conn.task is not None:
                        conn.task.cancel()
                        tasks.append(conn.task)
                if tasks:
                    await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        self.connections.clear()
        self._server = None

    def call(self, request: Request) -> Result | Awaitable[Result]:
        """The handler's answer; a crash becomes a 500 Status."""
        try:
            result = self._handler(request)
        except Exception:
            return self.crashed(request)
        if isinstance(result, Response | Stream) or inspect.isawaitable(result):
            return result
        log.error("stand-in handler returned %r for %s %s", result, request.method, request.path)
        return Response(500, _INTERNAL_ERROR)

    @staticmethod
    def crashed(request: Request) -> Response:
        log.exception("stand-in handler crashed on %s %s", request.method, request.path)
        return Response(500, _INTERNAL_ERROR)
