"""Watch streams over the small HTTP client: chunk framing, event decoding, typed errors, and the
watchdog that turns a silent (half-open) or overdue stream into an error instead of a hang."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hami.k8s import errors
from hami.k8s.informer import Backoff, Informer
from hami.k8s.lightkube import LightkubeClient
from hami.k8s.port import Kind, WatchEvent
from hami.k8s.rawclient import RawCalls
from hami.k8s.rawhttp import Endpoint, RawHttp
from hami.k8s.rawwatch import Dechunker, OpenTimeout, watch_events, watch_path
from tests.component.scheduler.objects import make_node
from tests.support.apiserver import ApiServerThread

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _event(kind: str, name: str, rv: int) -> bytes:
    obj = {"kind": "Node", "metadata": {"name": name, "resourceVersion": str(rv)}}
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


_END = b"0\r\n\r\n"
_TWO = _event("ADDED", "a", 1) + _event("MODIFIED", "a", 2)


@pytest.mark.parametrize(
    "body",
    [_chunk(_TWO) + _END,
     _chunk(_TWO[:7]) + _chunk(_TWO[7:50]) + _chunk(_TWO[50:]) + _END,
     _chunk(_event("ADDED", "a", 1)) + b"2b;ext=1\r\n" + _event("MODIFIED", "a", 2)[:43]
     + b"\r\n" + _chunk(_event("MODIFIED", "a", 2)[43:]) + b"0\r\nTrailer: x\r\n\r\n"],
    ids=["one-chunk", "lines-split-across-chunks", "extension-and-trailer"],
)  # fmt: skip
@pytest.mark.parametrize("step", [1, 3, 17, 10_000], ids=["1B", "3B", "17B", "whole"])
def test_dechunker_any_split(body: bytes, step: int) -> None:
    d = Dechunker()
    out = b"".join(d.feed(body[i : i + step]) for i in range(0, len(body), step))
    assert out == _TWO and d.done


@pytest.mark.parametrize("body", [b"zz\r\n", b"1" * 2000], ids=["bad-size", "size-line-too-long"])
def test_dechunker_rejects_garbage(body: bytes) -> None:
    with pytest.raises(ValueError):
        Dechunker().feed(body)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({"kind": Kind.PODS, "resource_version": "7", "namespace": None, "label_selector": None,
       "field_selector": "spec.nodeName=n1", "timeout_s": 300},
      "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=7&timeoutSeconds=300"
      "&fieldSelector=spec.nodeName%3Dn1"),
     ({"kind": Kind.NODES, "resource_version": "", "namespace": "ignored",
       "label_selector": "gpu=on,!x", "field_selector": None, "timeout_s": None},
      "/api/v1/nodes?watch=1&allowWatchBookmarks=true&labelSelector=gpu%3Don%2C%21x"),
     ({"kind": Kind.RESOURCE_QUOTAS, "resource_version": "3", "namespace": "team a",
       "label_selector": None, "field_selector": None, "timeout_s": 5},
      "/api/v1/namespaces/team%20a/resourcequotas?watch=1&allowWatchBookmarks=true"
      "&resourceVersion=3&timeoutSeconds=5")],
    ids=["pods-all-namespaces", "nodes-cluster-scoped", "quotas-one-namespace"],
)  # fmt: skip
def test_watch_path(kwargs: dict[str, Any], expected: str) -> None:
    assert watch_path(**kwargs) == expected


Script = Callable[[int, asyncio.StreamWriter], Any]


async def _server(script: Script) -> tuple[asyncio.Server, int, list[bytes]]:
    """Each connection's request head is recorded, then ``script(n, writer)`` answers it."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            await script(len(heads) - 1, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1], heads


async def _collect(port: int, *, stall_s: float = 5, deadline_s: float | None = None) -> Any:
    http = RawHttp(Endpoint("127.0.0.1", port), timeout_s=2)
    events: list[WatchEvent] = []
    try:
        async for ev in watch_events(http, "/api/v1/nodes?watch=1", what="watch nodes",
                                     stall_s=stall_s, deadline_s=deadline_s):  # fmt: skip
            events.append(ev)
    except errors.ApiError as exc:
        return events, exc
    finally:
        assert http._idle == []  # a watch never lands in the keep-alive pool
        await http.close()
    return events, None


def _send(*parts: bytes, hang: float = 0.0) -> Script:
    async def script(_n: int, writer: asyncio.StreamWriter) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
        if hang:
            await asyncio.sleep(hang)

    return script


_STATUS_410 = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
_ERROR_410 = json.dumps({"type": "ERROR", "object": _STATUS_410}).encode() + b"\n"
_ERROR_NOCODE = b'{"type":"ERROR","object":{"kind":"Status","message":"boom"}}\n'
_BOOKMARK = b'{"type":"BOOKMARK","object":{"kind":"Node","metadata":{"resourceVersion":"9"}}}\n'
_GONE = b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n%b" % (
    len(json.dumps(_STATUS_410)), json.dumps(_STATUS_410).encode())  # fmt: skip
_STATUS_403 = b'{"kind":"Status","code":403,"reason":"Forbidden","message":"no"}'
_FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%b" % (
    len(_STATUS_403), _STATUS_403)  # fmt: skip


@pytest.mark.parametrize(
    ("script", "types", "error", "match"),
    [(_send(_HEAD, _chunk(_TWO), _chunk(_BOOKMARK), _END), ["ADDED", "MODIFIED", "BOOKMARK"],
      None, ""),
     (_send(_HEAD, _chunk(b'{"type":"FUTURE","object":{}}\n' + _TWO), _END),
      ["ADDED", "MODIFIED"], None, ""),
     (_send(_HEAD, _chunk(_event("ADDED", "a", 1)), _chunk(_ERROR_410)), ["ADDED"],
      errors.Gone, "too old"),
     (_send(_HEAD, _chunk(_ERROR_NOCODE)), [], errors.ServerError, "boom"),
     (_send(_FORBIDDEN), [], errors.Forbidden, "watch nodes"),
     (_send(_GONE), [], errors.Gone, "too old"),
     (_send(_HEAD, _chunk(_event("ADDED", "a", 1))), ["ADDED"], errors.TransportError,
      "closed mid-stream"),
     (_send(_HEAD, _chunk(b"{not json\n")), [], errors.TransportError, "bad watch event"),
     (_send(_HEAD, b"zz\r\n"), [], errors.TransportError, "bad chunked body"),
     (_send(b"HTTP/1.1 200 OK\r\n\r\n" + _TWO), ["ADDED", "MODIFIED"], None, ""),
     (_send(_HEAD, _chunk(_event("ADDED", "a", 1)), hang=10), ["ADDED"],
      errors.WatchQuiet, "no data for 0.3s")],
    ids=["events-and-bookmark", "unknown-type-skipped", "410-is-gone", "error-without-code",
         "403-on-open", "410-on-open", "dropped-mid-stream", "bad-json", "bad-framing",
         "close-delimited", "silent-stream-stalls"],
)  # fmt: skip
async def test_watch_stream_outcomes(
    script: Script, types: list[str], error: type[Exception] | None, match: str
) -> None:
    srv, port, _ = await _server(script)
    try:
        events, exc = await asyncio.wait_for(_collect(port, stall_s=0.3), 10)
    finally:
        srv.close()
    assert [e.type for e in events] == types
    if error is None:
        assert exc is None
    else:
        assert isinstance(exc, error) and match in str(exc)


async def test_chatty_stream_past_its_deadline_is_cut() -> None:
    async def bookmarks(_n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(_HEAD)
        while True:
            writer.write(_chunk(_BOOKMARK))
            await writer.drain()
            await asyncio.sleep(0.05)

    srv, port, _ = await _server(bookmarks)
    try:
        events, exc = await asyncio.wait_for(_collect(port, stall_s=5, deadline_s=0.4), 10)
    finally:
        srv.close()
    assert events and {e.type for e in events} == {"BOOKMARK"}
    assert isinstance(exc, errors.TransportError) and "timeoutSeconds" in str(exc)
    assert not isinstance(exc, errors.WatchQuiet)  # overdue, not quiet: a real failure


@pytest.mark.parametrize("head", [True, False], ids=["silent-after-head", "never-answered"])
async def test_informer_reconnects_from_a_half_open_watch(head: bool) -> None:
    """The first watch connection goes silent (as across a restart that lost the FIN), before
    or after the answer's head; the informer must give up on it and resume from its
    resourceVersion on a new connection."""
    node = {"metadata": {"name": "a", "resourceVersion": "4"}}
    listed = json.dumps({"kind": "NodeList", "metadata": {"resourceVersion": "5"}, "items": [node]})

    async def script(n: int, writer: asyncio.StreamWriter) -> None:
        if n == 0:  # the list
            body = listed.encode()
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%b"
                         % (len(body), body))  # fmt: skip
        elif n == 1:  # first watch: (head,) then silence forever
            if head:
                writer.write(_HEAD)
                await writer.drain()
            await asyncio.sleep(30)
        else:
            writer.write(_HEAD + _chunk(_event("ADDED", "b", 6)))
            await writer.drain()
            await asyncio.sleep(30)

    srv, port, heads = await _server(script)
    calls = RawCalls(RawHttp(Endpoint("127.0.0.1", port), timeout_s=20), watch_stall_s=0.3,
                     watch_open_s=0.3)  # fmt: skip
    client: Any = _RawOnly(calls)
    inf = Informer(client, Kind.NODES, backoff=Backoff(0.01, 2, 0.1, 0))
    task = asyncio.get_running_loop().create_task(inf.run())
    try:
        for _ in range(200):
            if inf.get("b") is not None:
                break
            await asyncio.sleep(0.02)
        assert inf.get("b") is not None
        # a silent watch is a quiet one (not counted as an error); no answer at all is a failure
        assert inf.errors == 0 if head else inf.errors >= 1
        assert b"resourceVersion=5" in heads[2]  # resumed, not relisted
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await calls.close()
        srv.close()


class _RawOnly:
    """Just the two calls an informer makes, straight on :class:`RawCalls`."""

    def __init__(self, calls: RawCalls) -> None:
        self._calls = calls

    async def list_objects(self, kind: Kind, **kw: Any) -> Any:
        return await self._calls.list_objects(
            kind, namespace=None, label_selector=kw.get("label_selector"),
            field_selector=kw.get("field_selector"),
        )  # fmt: skip

    def watch(self, kind: Kind, **kw: Any) -> AsyncIterator[WatchEvent]:
        return self._calls.watch(kind, namespace=None, **kw)


async def test_restart_ends_a_watch_with_a_typed_error() -> None:
    with ApiServerThread() as api:
        api.store.create(make_node("n1"))
        client = LightkubeClient.from_kubeconfig(api.kubeconfig_path, timeout_s=5)
        try:
            rv = (await client.list_objects(Kind.NODES)).resource_version
            stream = client.watch(Kind.NODES, resource_version=rv, timeout_s=30)

            async def consume() -> str:
                try:
                    async for _ in stream:
                        pass
                except errors.TransportError:
                    return "error"
                return "ended"  # a clean end of the stream is fine too

            task = asyncio.get_running_loop().create_task(consume())
            await asyncio.sleep(0.2)
            await asyncio.to_thread(api.restart, True)
            assert await asyncio.wait_for(task, 5) in ("error", "ended")
        finally:
            await client.close()


def test_open_timeout_doubles_on_misses_and_resets() -> None:
    wait = OpenTimeout(1.0, 5.0)
    seen = []
    for _ in range(4):
        wait.missed()
        seen.append(wait.current)
    wait.answered()
    assert seen == [2.0, 4.0, 5.0, 5.0] and wait.current == 1.0
