"""Minimal asyncio HTTP/1.1 server (h11) with keep-alive and chunked streaming responses.

Written for the stand-in rather than using uvicorn because tests need what a framework hides:
closing every connection at once (restart, dropped watches), aborting a stream mid-body, noticing
a watch client that hung up, and re-binding the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import h11

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
    """A chunked streaming response; ``transport`` is set once streaming starts."""

    status: int
    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    transport: asyncio.WriteTransport | None = field(default=None, repr=False)


Handler = Callable[[Request], Awaitable[Response | Stream]]


@functools.lru_cache(maxsize=2)
def _http_date(second: int) -> str:
    """The ``Date`` header value, formatted once per second."""
    return email.utils.formatdate(second, usegmt=True)


def _parse(event: h11.Request, body: bytes) -> Request:
    target = event.target.decode("latin-1")
    parts = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
    return Request(event.method.decode(), unquote(parts.path), query, headers, body)


class HttpServer:
    """Serves ``handler`` on host:port; ``stop`` closes the listener and every connection."""

    def __init__(
        self, handler: Handler, host: str, port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._handler = handler
        self._host = host
        self.port = port
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self.port, ssl=self._ssl, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and abort all connections (clients see EOF/reset)."""
        if self._server is not None:
            self._server.close()
        for writer, task in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        tasks = list(self._connections.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read(conn, reader)
                if request is None:
                    return
                result = await self._dispatch(request)
                if isinstance(result, Stream):
                    await self._stream(conn, reader, writer, result)
                else:
                    self._send(conn, writer, result)
                    await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.CancelledError, OSError):
            pass
        finally:
            self._connections.pop(writer, None)
            writer.close()

    async def _dispatch(self, request: Request) -> Response | Stream:
        try:
            return await self._handler(request)
        except Exception:
            log.exception("stand-in handler crashed on %s %s", request.method, request.path)
            body = (
                b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                b'"message":"stand-in internal error","reason":"InternalError","code":500}\n'
            )
            return Response(500, body)

    @staticmethod
    async def _read(conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
        head: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _parse(head, body)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    @staticmethod
    def _headers(content_type: str) -> list[tuple[str, str]]:
        return [
            ("audit-id", "stand-in"),
            ("cache-control", "no-cache, private"),
            ("content-type", content_type),
            ("date", _http_date(int(time.time()))),
        ]

    def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, resp: Response) -> None:
        headers = [*self._headers(resp.content_type), ("content-length", str(len(resp.body)))]
        head = conn.send(h11.Response(status_code=resp.status, headers=headers)) or b""
        body = conn.send(h11.Data(data=resp.body)) or b""
        end = conn.send(h11.EndOfMessage()) or b""
        writer.write(head + body + end)  # one write: one send(2), one wakeup of the client

    async def _stream(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stream: Stream,
    ) -> None:
        stream.transport = writer.transport
        headers = [*self._headers(stream.content_type), ("transfer-encoding", "chunked")]
        writer.write(conn.send(h11.Response(status_code=stream.status, headers=headers)) or b"")
        await writer.drain()
        loop = asyncio.get_running_loop()
        hangup: asyncio.Future[bytes] = asyncio.ensure_future(reader.read(65536))
        chunks = stream.chunks
        try:
            while True:
                nxt = asyncio.ensure_future(anext(chunks))
                await asyncio.wait({nxt, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if hangup.done() and not nxt.done():
                    data = hangup.result() if not hangup.cancelled() else b""
                    if not data:
                        nxt.cancel()
                        raise ConnectionResetError("watch client went away")
                    conn.receive_data(data)  # pipelined request: keep it for later
                    hangup = loop.create_future()
                try:
                    chunk = await nxt
                except StopAsyncIteration:
                    break
                writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await writer.drain()
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
        finally:
            hangup.cancel()
            await asyncio.wait([hangup])  # let the read really stop before the next request
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
