"""Wire behaviour of the stand-in's HTTP/1.1 layer, driven over raw sockets.

Keep-alive, pipelining, chunked request bodies, ``Connection: close``, malformed bytes, watch
streams (one chunk per batch of queued events, a clean end, a client that hangs up) and the
copies the store hands out. Raw sockets, so the bytes on the wire are what is asserted.
"""

from __future__ import annotations

import copy
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.apiserver import ApiServerThread
from tests.support.apiserver.jsondata import clone
from tests.support.apiserver.patch import MERGE, apply_patch

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def api() -> Iterator[ApiServerThread]:
    with ApiServerThread(bookmark_interval=60.0) as server:
        yield server


def _connect(api: ApiServerThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    return sock


def _request(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class _Reader:
    """Reads whole HTTP/1.1 responses (content-length or chunked) off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise EOFError(f"closed while waiting for {marker!r}: {self.buf!r}")
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _exactly(self, size: int) -> bytes:
        while len(self.buf) < size:
            if not self._fill():
                raise EOFError("closed mid-body")
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def head(self) -> tuple[str, dict[str, str]]:
        status, *lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines)}
        return status, headers

    def chunk(self) -> bytes:
        size = int(self._until(b"\r\n"), 16)
        data = self._exactly(size)
        assert self._exactly(2) == b"\r\n"
        return data

    def response(self) -> tuple[str, dict[str, str], bytes]:
        status, headers = self.head()
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while part := self.chunk():
                parts.append(part)
            assert self._exactly(2) == b"\r\n"
            return status, headers, b"".join(parts)
        return status, headers, self._exactly(int(headers["content-length"]))

    def closed(self) -> bool:
        return not self.buf and not self._fill()


def _cm(name: str, namespace: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "data": {"k": name}}


def _wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("count", "one_write"),
    [(1, True), (3, True), (3, False)],
    ids=["single", "pipelined-3", "sequential-3"],
)
def test_keep_alive_answers_every_request_in_order(
    api: ApiServerThread, count: int, one_write: bool
) -> None:
    for i in range(count):
        api.store.create({"apiVersion": "v1", "kind": "ConfigMap", **_cm(f"c{i}")})
    with _connect(api) as sock:
        reader = _Reader(sock)
        requests = [_request("GET", f"{CMS}/c{i}") for i in range(count)]
        if one_write:
            sock.sendall(b"".join(requests))
        names = []
        for req in requests:
            if not one_write:
                sock.sendall(req)
            status, _, body = reader.response()
            assert status == "HTTP/1.1 200 OK"
            names.append(json.loads(body)["metadata"]["name"])
        assert names == [f"c{i}" for i in range(count)]


def test_answer_headers_golden(api: ApiServerThread) -> None:
    with _connect(api) as sock:
        reader = _Reader(sock)
        sock.sendall(_request("GET", f"{CMS}/missing"))
        status, headers, body = reader.response()
    assert status == "HTTP/1.1 404 Not Found"
    assert headers["content-type"] == "application/json"
    assert headers["audit-id"] == "stand-in"
    assert headers["cache-control"] == "no-cache, private"
    assert headers["content-length"] == str(len(body))
    assert body.endswith(b"\n")
    assert json.loads(body)["reason"] == "NotFound"


def test_chunked_request_body_is_read(api: ApiServerThread) -> None:
    body = json.dumps(_cm("chunky")).encode()
    framed = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in (body[:10], body[10:])) + b"0\r\n\r\n"
    head = (
        f"POST {CMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    with _connect(api) as sock:
        sock.sendall(head.encode() + framed)
        status, _, answer = _Reader(sock).response()
    assert status == "HTTP/1.1 201 Created"
    assert json.loads(answer)["data"] == {"k": "chunky"}


@pytest.mark.parametrize(
    ("extra", "version"),
    [("Connection: close\r\n", "HTTP/1.1"), ("", "HTTP/1.0")],
    ids=["connection-close", "http-1.0"],
)
def test_connection_closes_after_answer_when_asked(
    api: ApiServerThread, extra: str, version: str
) -> None:
    with _connect(api) as sock:
        reader = _Reader(sock)
        sock.sendall(f"GET /version {version}\r\nHost: x\r\n{extra}\r\n".encode())
        status, headers, _ = reader.response()
        assert status == "HTTP/1.1 200 OK"
        assert headers["connection"] == "close"
        assert reader.closed()


def test_malformed_request_closes_connection(api: ApiServerThread) -> None:
    with _connect(api) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert _Reader(sock).closed()
    with _connect(api) as sock:  # the server still serves others
        reader = _Reader(sock)
        sock.sendall(_request("GET", "/version"))
        assert reader.response()[0] == "HTTP/1.1 200 OK"


def _open_watch(api: ApiServerThread, path: str) -> tuple[socket.socket, _Reader]:
    sock = _connect(api)
    reader = _Reader(sock)
    sock.sendall(_request("GET", f"{path}?watch=true&resourceVersion={api.store.resource_version}"))
    status, headers = reader.head()
    assert status == "HTTP/1.1 200 OK"
    assert headers["transfer-encoding"] == "chunked"
    _wait_for(lambda: api.open_watches() == 1)
    return sock, reader


def test_watch_batch_of_events_goes_out_as_one_chunk(api: ApiServerThread) -> None:
    api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    for i in range(3):
        api.store.create({"apiVersion": "v1", "kind": "ConfigMap", **_cm(f"c{i}", "gone")})
    sock, reader = _open_watch(api, "/api/v1/configmaps")
    with sock, _connect(api) as other:
        other.sendall(_request("DELETE", "/api/v1/namespaces/gone"))
        assert _Reader(other).response()[0] == "HTTP/1.1 200 OK"
        lines = reader.chunk().splitlines()  # one namespace delete: three events, one write
    events = [json.loads(line) for line in lines]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("DELETED", "c0"),
        ("DELETED", "c1"),
        ("DELETED", "c2"),
    ]
    assert all(e["object"]["kind"] == "ConfigMap" for e in events)


def test_watch_event_bytes_golden(api: ApiServerThread) -> None:
    sock, reader = _open_watch(api, CMS)
    with sock:
        created = api.store.create({"apiVersion": "v1", "kind": "ConfigMap", **_cm("g")})
        line = reader.chunk()
    meta = created["metadata"]
    assert line == (
        b'{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":'
        b'{"name":"g","namespace":"default","uid":"%b","creationTimestamp":"%b",'
        b'"resourceVersion":"%b"},"data":{"k":"g"}}}\n'
        % (meta["uid"].encode(), meta["creationTimestamp"].encode(),
           meta["resourceVersion"].encode())
    )  # fmt: skip


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean-end", "abort"])
def test_dropped_watch_ends_the_stream(api: ApiServerThread, abrupt: bool) -> None:
    sock, reader = _open_watch(api, CMS)
    with sock:
        assert api.drop_watches(abrupt=abrupt) == 1
        if abrupt:
            with pytest.raises((EOFError, ConnectionError)):
                reader.chunk()
        else:
            assert reader.chunk() == b""  # the terminating zero-size chunk
        _wait_for(lambda: api.open_watches() == 0)


def test_watch_client_hang_up_closes_the_watch(api: ApiServerThread) -> None:
    sock, _ = _open_watch(api, CMS)
    sock.close()
    _wait_for(lambda: api.open_watches() == 0)
    api.store.create({"apiVersion": "v1", "kind": "ConfigMap", **_cm("after")})  # no crash


# ---------------------------------------------------------------------------- copies


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, {"b": None, "c": [True, 1.5, "s"]}], "d": {}},
        [[], [{}], "x"],
        {"t": (1, [2])},
        "plain",
    ],
    ids=["nested", "lists", "tuple-fallback", "scalar"],
)
def test_clone_equals_deepcopy_and_shares_nothing(value: Any) -> None:
    copied = clone(value)
    assert copied == copy.deepcopy(value)
    if isinstance(value, dict):
        copied["a" if "a" in value else "new"] = "changed"
        assert value != copied


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"metadata": {"labels": {"x": "1"}}}, {"name": "o", "labels": {"a": "b", "x": "1"}}),
        ({"metadata": {"labels": None}}, {"name": "o"}),
        ({"spec": {"n": 2}}, {"name": "o", "labels": {"a": "b"}}),
    ],
    ids=["add-label", "drop-labels", "other-field"],
)
def test_shared_merge_patch_leaves_the_original_alone(
    patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    doc = {"metadata": {"name": "o", "labels": {"a": "b"}}, "spec": {"n": 1, "list": [1]}}
    before = copy.deepcopy(doc)
    result = apply_patch(doc, MERGE, json.dumps(patch).encode(), share=True)
    assert doc == before
    assert result["metadata"] == expected
    assert result == apply_patch(doc, MERGE, json.dumps(patch).encode())


def test_store_hands_out_private_copies(api: ApiServerThread) -> None:
    created = api.store.create({"apiVersion": "v1", "kind": "ConfigMap", **_cm("p")})
    created["data"]["k"] = "mutated"
    got = api.store.get("configmaps", "p")
    assert got["data"] == {"k": "p"}
    got["data"]["k"] = "mutated again"
    patched = api.store.patch("configmaps", "p", {"data": {"z": "1"}})
    assert patched["data"] == {"k": "p", "z": "1"}
    assert api.store.get("configmaps", "p")["data"] == {"k": "p", "z": "1"}
