"""The lightkube adapter against the apiserver stand-in: every call of the port, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hami.k8s import errors
from hami.k8s.informer import Backoff, Informer
from hami.k8s.lightkube import LightkubeClient, parse_selector
from hami.k8s.port import Kind, WatchEvent
from tests.component.scheduler.objects import make_node, make_pod
from tests.support.apiserver import ApiServerThread


@pytest.fixture(params=[True, False], ids=["raw", "lightkube"])
async def client(
    apiserver: ApiServerThread, request: pytest.FixtureRequest
) -> AsyncIterator[LightkubeClient]:
    apiserver.store.create(make_node("n1", labels={"pool": "a"}))
    apiserver.store.create(make_node("n2", labels={"pool": "b"}))
    c = LightkubeClient.from_kubeconfig(
        apiserver.kubeconfig_path, timeout_s=10, raw_http=request.param
    )
    assert (c._fast is not None) is request.param
    try:
        yield c
    finally:
        await c.close()


async def test_list_with_selectors_and_resource_version(client: LightkubeClient) -> None:
    nodes = await client.list_objects(Kind.NODES, label_selector="pool=a")
    assert [n["metadata"]["name"] for n in nodes.items] == ["n1"]
    assert int(nodes.resource_version) > 0
    empty = await client.list_objects(Kind.PODS)
    assert empty.items == [] and int(empty.resource_version) > 0


async def test_pod_calls_and_errors(client: LightkubeClient) -> None:
    pod = await client.create_pod(make_pod("p1"))
    with pytest.raises(errors.AlreadyExists):
        await client.create_pod(make_pod("p1"))
    patched = await client.patch_pod_metadata(
        "default", "p1", annotations={"a": "1"}, labels={"l": "v"}
    )
    assert patched["metadata"]["annotations"] == {"a": "1"}
    await client.patch_pod_metadata("default", "p1", annotations={"a": None})
    assert "a" not in ((await client.get_pod("default", "p1"))["metadata"].get("annotations") or {})
    stamp = {"hami.io/bind-phase": "allocating"}
    await client.bind_pod("default", "p1", "n1", uid=pod["metadata"]["uid"], annotations=stamp)
    assert [
        p["metadata"]["name"] for p in await client.list_pods(field_selector="spec.nodeName=n1")
    ] == ["p1"]
    bound = await client.get_pod("default", "p1")
    assert bound["metadata"]["annotations"]["hami.io/bind-phase"] == "allocating"
    with pytest.raises(errors.Conflict):
        await client.bind_pod("default", "p1", "n2")
    with pytest.raises(errors.NotFound):
        await client.get_pod("default", "ghost")


async def test_node_patch_guarded_by_resource_version(client: LightkubeClient) -> None:
    rv = (await client.get_node("n1"))["metadata"]["resourceVersion"]
    await client.patch_node_metadata("n1", annotations={"k": "1"}, resource_version=rv)
    with pytest.raises(errors.Conflict):
        await client.patch_node_metadata("n1", annotations={"k": "2"}, resource_version=rv)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, errors.ServerError), (429, errors.TooManyRequests), (403, errors.Forbidden),
     (422, errors.Invalid)],
    ids=["500", "429", "403", "422"],
)  # fmt: skip
async def test_status_mapping(
    apiserver: ApiServerThread, client: LightkubeClient, status: int, kind: type[Exception]
) -> None:
    apiserver.fail_next("GET", r"/api/v1/nodes/n1$", status)
    with pytest.raises(kind):
        await client.get_node("n1")


async def test_events_and_leases(client: LightkubeClient, apiserver: ApiServerThread) -> None:
    await client.create_event({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "FilteringSucceed", "message": "m", "type": "Normal"})  # fmt: skip
    assert [e["reason"] for e in apiserver.store.list("events")] == ["FilteringSucceed"]
    patched = await client.patch_event(
        "default", "e1", {"count": 3, "lastTimestamp": "2026-01-02T03:04:05Z"}
    )
    assert (patched["count"], patched["lastTimestamp"]) == (3, "2026-01-02T03:04:05Z")
    [stored] = apiserver.store.list("events")
    assert (stored["count"], stored["message"]) == (3, "m")
    with pytest.raises(errors.NotFound):
        await client.patch_event("default", "gone", {"count": 2})
    with pytest.raises(errors.NotFound):
        await client.get_lease("default", "l")
    lease = await client.create_lease({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l", "namespace": "default"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})  # fmt: skip
    lease["spec"]["holderIdentity"] = "b"
    assert (await client.replace_lease(lease))["spec"]["holderIdentity"] == "b"
    with pytest.raises(errors.Conflict):
        await client.replace_lease(lease)


_BOTH_CLIENTS = pytest.mark.parametrize("raw_http", [True, False], ids=["raw", "lightkube"])


@_BOTH_CLIENTS
async def test_watch_streams_and_gone_is_typed(raw_http: bool) -> None:
    small = ApiServerThread(history=5).start()
    try:
        c = LightkubeClient.from_kubeconfig(small.kubeconfig_path, timeout_s=10,
                                            raw_http=raw_http)  # fmt: skip
        start = (await c.list_objects(Kind.NODES)).resource_version
        seen: list[WatchEvent] = []

        async def consume() -> None:
            async for ev in c.watch(Kind.NODES, resource_version=start, timeout_s=5):
                if ev.type != "BOOKMARK":
                    seen.append(ev)
                if len(seen) == 2:
                    return

        task = asyncio.get_running_loop().create_task(consume())
        await asyncio.sleep(0.2)
        small.store.create(make_node("w1"))
        small.store.patch("nodes", "w1", {"metadata": {"labels": {"x": "1"}}}, namespace="")
        await asyncio.wait_for(task, 10)
        assert [e.type for e in seen] == ["ADDED", "MODIFIED"]
        for i in range(10):
            small.store.create(make_node(f"later-{i}"))
        with pytest.raises(errors.Gone):
            async for _ in c.watch(Kind.NODES, resource_version=start, timeout_s=5):
                pass
        await c.close()
    finally:
        small.stop()


@_BOTH_CLIENTS
async def test_informer_survives_apiserver_restart(
    apiserver: ApiServerThread, raw_http: bool
) -> None:
    c = LightkubeClient.from_kubeconfig(apiserver.kubeconfig_path, timeout_s=10,
                                        raw_http=raw_http)  # fmt: skip
    inf = Informer(c, Kind.NODES, backoff=Backoff(0.05, 2, 0.5, 0))
    task = asyncio.get_running_loop().create_task(inf.run())
    try:
        assert await inf.wait_synced(10)
        await asyncio.to_thread(apiserver.restart, True)
        await asyncio.to_thread(apiserver.store.create, make_node("after-restart"))
        for _ in range(100):
            if inf.get("after-restart") is not None:
                break
            await asyncio.sleep(0.05)
        assert inf.get("after-restart") is not None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await c.close()


def test_selector_parsing() -> None:
    sel = parse_selector("a=b, c!=d, e, !f")
    assert sel is not None and sel["a"] == "b" and set(sel) == {"a", "c", "e", "f"}
    assert parse_selector("") is None
    with pytest.raises(errors.BadRequest):
        parse_selector("spec.nodeName", for_fields=True)
