"""uvicorn's httptools protocol with one ``send(2)`` per answer instead of two.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start`` and the body in a second write, so every extender answer costs two
system calls and wakes kube-scheduler twice. On a loopback or virtualised network each of those
writes costs far more CPU than building the answer. :class:`CoalescingHttpToolsProtocol` hands
uvicorn a transport whose ``write`` only buffers; the buffer goes out in one write on the next
turn of the event loop (before the loop waits for I/O again), or at once when the buffer grows
large, the connection closes, or the protocol asks for flow-control state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_AT = 256 * 1024


class CoalescingTransport:
    """Proxy for an :class:`asyncio.Transport` that batches writes made in one loop turn."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._inner.is_closing():
            self._inner.write(data)

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._inner.abort()

    def get_write_buffer_size(self) -> int:
        return self._size + self._inner.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)  # type: ignore[arg-type]
