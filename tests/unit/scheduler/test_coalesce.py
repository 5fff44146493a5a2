"""CoalescingTransport: writes made in one loop turn leave in one write of the real transport."""

from __future__ import annotations

import asyncio
from typing import Any

from hami.scheduler.coalesce import FLUSH_AT, CoalescingTransport


class Recorder:
    """The inner transport: records every write and close."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_writes_of_one_turn_become_one_write() -> None:
    inner = Recorder()
    t = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    t.write(b"{}")
    t.write(b"")
    assert inner.writes == []  # nothing left yet: the loop has not turned
    assert t.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    t.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"next"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else is the inner's


async def test_close_flushes_abort_drops_and_big_writes_go_at_once() -> None:
    inner = Recorder()
    t = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"x" * FLUSH_AT)
    assert len(inner.writes) == 1  # over the threshold: no waiting
    t.write(b"tail")
    t.close()
    assert inner.writes[-1] == b"tail" and inner.closed
    other = Recorder()
    t2 = CoalescingTransport(other, asyncio.get_running_loop())  # type: ignore[arg-type]
    t2.write(b"lost")
    t2.abort()
    await asyncio.sleep(0)
    assert other.writes == [] and other.aborted
