"""The small keep-alive HTTP client against the apiserver stand-in: TLS, bearer token, pooled
connections that the server dropped, chunked answers and error statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lightkube.config.kubeconfig import KubeConfig

from hami.k8s import errors
from hami.k8s.lightkube import LightkubeClient
from hami.k8s.rawhttp import Endpoint, RawHttp, from_lightkube_config
from tests.component.scheduler.objects import make_node, make_pod
from tests.support.apiserver import ApiServerThread

_PATCH = "application/merge-patch+json"


@pytest.fixture(params=["plain", "tls+token"])
def server(request: pytest.FixtureRequest) -> Iterator[ApiServerThread]:
    options = {"tls": True, "token": "s3cret"} if request.param == "tls+token" else {}
    with ApiServerThread(**options) as api:
        api.store.create(make_node("n1"))
        api.store.create(make_pod("p1"))
        yield api


@pytest.fixture
async def raw(server: ApiServerThread) -> AsyncIterator[RawHttp]:
    client = from_lightkube_config(KubeConfig.from_file(str(server.kubeconfig_path)).get(),
                                   timeout_s=5)  # fmt: skip
    assert client is not None
    try:
        yield client
    finally:
        await client.close()


async def test_patch_post_get_over_one_connection(raw: RawHttp, server: ApiServerThread) -> None:
    patched = await raw.request(
        "PATCH", "/api/v1/nodes/n1", {"metadata": {"annotations": {"a": "1"}}},
        content_type=_PATCH,
    )  # fmt: skip
    assert patched["metadata"]["annotations"]["a"] == "1"
    got = await raw.request("GET", "/api/v1/namespaces/default/pods/p1")
    assert got["metadata"]["name"] == "p1"
    event = {"metadata": {"name": "e1", "namespace": "default"}, "reason": "R", "message": "m",
             "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default"}}  # fmt: skip
    created = await raw.request("POST", "/api/v1/namespaces/default/events", event)
    assert created["reason"] == "R"
    assert len(raw._idle) == 1  # every request reused the one keep-alive connection


@pytest.mark.parametrize(
    ("status", "exc"),
    [(404, errors.NotFound), (409, errors.Conflict), (500, errors.ServerError),
     (422, errors.Invalid), (429, errors.TooManyRequests)],
    ids=["404", "409", "500", "422", "429"],
)  # fmt: skip
async def test_error_status_maps_to_typed_errors(
    raw: RawHttp, server: ApiServerThread, status: int, exc: type[errors.ApiError]
) -> None:
    server.fail_next("PATCH", "/nodes/n1", status)
    with pytest.raises(exc) as info:
        await raw.request("PATCH", "/api/v1/nodes/n1", {}, content_type=_PATCH, what="patch n1")
    assert info.value.status == status and "patch n1" in str(info.value)
    # the connection survives an error answer
    assert (await raw.request("GET", "/api/v1/nodes/n1"))["metadata"]["name"] == "n1"


async def test_not_found_and_conflict_bodies(raw: RawHttp) -> None:
    with pytest.raises(errors.NotFound):
        await raw.request("GET", "/api/v1/namespaces/default/pods/ghost")
    with pytest.raises(errors.AlreadyExists):
        await raw.request("POST", "/api/v1/namespaces/default/pods", make_pod("p1"))


async def test_reconnects_after_the_server_dropped_pooled_connections(
    raw: RawHttp, server: ApiServerThread
) -> None:
    await raw.request("GET", "/api/v1/nodes/n1")
    assert len(raw._idle) == 1
    await asyncio.to_thread(server.restart)  # closes every connection, same port
    assert (await raw.request("GET", "/api/v1/nodes/n1"))["metadata"]["name"] == "n1"


async def test_refused_and_wrong_token_are_typed(server: ApiServerThread, raw: RawHttp) -> None:
    ep = raw._ep
    if ep.token:
        wrong = RawHttp(Endpoint(ep.host, ep.port, ep.ssl_context, token="nope"), timeout_s=5)
        with pytest.raises(errors.Unauthorized):
            await wrong.request("GET", "/api/v1/nodes/n1")
        await wrong.close()
    await asyncio.to_thread(server.stop)
    with pytest.raises(errors.TransportError):
        await raw.request("GET", "/api/v1/nodes/n1")


async def _one_shot_server(answers: list[bytes]) -> tuple[asyncio.Server, int]:
    """Answers each connection's requests with the next canned answers, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            answer = answers.pop(0)
            if answer == b"HANG":
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    break
            writer.write(answer)
            await writer.drain()
            if answer.endswith(b"#close"):
                break
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


async def test_chunked_answer_and_timeout() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n")  # fmt: skip
    srv, port = await _one_shot_server([chunked, b"HANG"])
    client = RawHttp(Endpoint("127.0.0.1", port), timeout_s=0.3)
    try:
        assert await client.request("GET", "/x") == {"a": 1}
        with pytest.raises(errors.TransportError, match="timed out"):
            await client.request("GET", "/x")
        assert client._idle == []  # the timed-out connection is not reused
    finally:
        await client.close()
        srv.close()


async def test_one_timer_watches_every_request_in_flight() -> None:
    """Requests in flight share one deadline timer: a hung one times out (a fresh connection
    serves the next), the others answer, and the timer stops once nothing is in flight."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    srv, port = await _one_shot_server([b"HANG", ok, ok, ok])
    client = RawHttp(Endpoint("127.0.0.1", port), timeout_s=0.3)
    try:
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(
            *(client.request("GET", f"/{i}") for i in range(3)), return_exceptions=True
        )
        hung = [a for a in answers if isinstance(a, errors.TransportError)]
        assert len(hung) == 1 and "timed out" in str(hung[0])
        assert asyncio.get_running_loop().time() - started < 0.3 + 0.2
        assert [a for a in answers if a not in hung] == [{}, {}]
        assert await client.request("GET", "/c") == {}
        await asyncio.sleep(0.2)
        assert client._deadlines == {} and client._ticker is None
    finally:
        await client.close()
        srv.close()


def test_fallback_for_exec_auth(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1,"
        " command: /bin/true}}}]\n"
    )
    assert from_lightkube_config(KubeConfig.from_file(str(kubeconfig)).get()) is None
    assert LightkubeClient.from_kubeconfig(kubeconfig)._fast is None


async def test_adapter_uses_the_small_client(server: ApiServerThread) -> None:
    client = LightkubeClient.from_kubeconfig(server.kubeconfig_path, timeout_s=5)
    try:
        assert client._fast is not None
        await client.patch_node_metadata("n1", annotations={"x": "y"})
        assert server.store.get("nodes", "n1", "")["metadata"]["annotations"]["x"] == "y"
        with pytest.raises(errors.NotFound):
            await client.patch_pod_metadata("default", "ghost", annotations={"x": "y"})
    finally:
        await client.close()
