"""Every port call of the adapter over the small HTTP client (never lightkube's), LIST paging and
path escaping, against the apiserver stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hami.k8s import errors
from hami.k8s.lightkube import LightkubeClient
from hami.k8s.port import Kind
from hami.k8s.rawclient import RawCalls, pod_path, quote
from tests.component.scheduler.objects import make_node, make_pod
from tests.support.apiserver import ApiServerThread


class _NoLightkube:
    """Stands in for lightkube's client: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"lightkube's client was used ({name})")

    async def close(self) -> None:
        return None


@pytest.fixture
def api() -> AsyncIterator[ApiServerThread]:
    with ApiServerThread() as server:
        for i in range(5):
            server.store.create(make_node(f"n{i}", labels={"pool": "a" if i < 3 else "b"}))
        yield server


@pytest.fixture
async def client(api: ApiServerThread) -> AsyncIterator[LightkubeClient]:
    c = LightkubeClient.from_kubeconfig(api.kubeconfig_path, timeout_s=5)
    assert c._fast is not None
    await c._client.close()
    c._client = _NoLightkube()
    try:
        yield c
    finally:
        await c.close()


async def test_every_call_goes_over_the_small_client(
    client: LightkubeClient, api: ApiServerThread
) -> None:
    pod = await client.create_pod(make_pod("p1"))
    assert pod["metadata"]["uid"]
    assert (await client.get_pod("default", "p1"))["kind"] == "Pod"
    await client.patch_pod_metadata("default", "p1", annotations={"a": "1"})
    await client.bind_pod("default", "p1", "n1", uid=pod["metadata"]["uid"])
    assert (await client.get_node("n1"))["metadata"]["name"] == "n1"
    await client.patch_node_metadata("n1", labels={"x": "y"})
    listed = await client.list_pods(field_selector="spec.nodeName=n1")
    assert [p["metadata"]["name"] for p in listed] == ["p1"]
    assert listed[0]["kind"] == "Pod" and listed[0]["apiVersion"] == "v1"
    await client.create_event({"metadata": {"name": "e1", "namespace": "default"},
                               "involvedObject": {"kind": "Pod", "name": "p1"},
                               "reason": "R", "message": "m"})  # fmt: skip
    assert [e["reason"] for e in api.store.list("events")] == ["R"]
    with pytest.raises(errors.NotFound):
        await client.get_lease("default", "l")
    lease = await client.create_lease({
        "metadata": {"name": "l", "namespace": "default"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})  # fmt: skip
    lease["spec"]["holderIdentity"] = "b"
    assert (await client.replace_lease(lease))["spec"]["holderIdentity"] == "b"
    with pytest.raises(errors.Conflict):
        await client.replace_lease(lease)


@pytest.mark.parametrize(
    ("page", "selector", "names"),
    [(2, None, ["n0", "n1", "n2", "n3", "n4"]), (500, None, ["n0", "n1", "n2", "n3", "n4"]),
     (1, "pool=b", ["n3", "n4"]), (2, "pool=none", [])],
    ids=["three-pages", "one-page", "selected-pages", "empty"],
)  # fmt: skip
async def test_list_pages(
    client: LightkubeClient, api: ApiServerThread, page: int, selector: str | None,
    names: list[str],
) -> None:  # fmt: skip
    assert client._fast is not None
    calls = RawCalls(client._fast.http, watch_stall_s=5, list_page=page)
    result = await calls.list_objects(
        Kind.NODES, namespace=None, label_selector=selector, field_selector=None
    )
    assert sorted(n["metadata"]["name"] for n in result.items) == names
    assert {n["kind"] for n in result.items} <= {"Node"}
    assert int(result.resource_version) == api.store.resource_version


@pytest.mark.parametrize(
    ("part", "expected"),
    [("gpu-node-01.zone", "gpu-node-01.zone"), ("a/b", "a%2Fb"), ("x y", "x%20y"),
     ("", "")],
    ids=["plain", "slash", "space", "empty"],
)  # fmt: skip
def test_quote(part: str, expected: str) -> None:
    assert quote(part) == expected


def test_pod_path() -> None:
    assert pod_path("ns", "p", "binding") == "/api/v1/namespaces/ns/pods/p/binding"
