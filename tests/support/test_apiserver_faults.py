"""Stand-in-only behaviour: fault injection, restart, history window, TLS, auth, store helpers.

These need the stand-in's knobs, so they never run against a real cluster.
"""

# lightkube model fields are all Optional:
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from lightkube import ApiError as LightkubeApiError
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from tests.support.apiserver import ApiError, ApiServerThread
from tests.support.apiserver.target import WatchStream, real_kubeconfig
from tests.support.kubeconfig import httpx_client
from tests.support.test_apiserver_conformance import MERGE, assert_status, cm_body, create, pod_body

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(
        real_kubeconfig() is not None, reason="stand-in knobs (faults, history, restart) only"
    ),
]

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def client(apiserver: ApiServerThread) -> Any:
    async with httpx_client(apiserver.kubeconfig_path, timeout=httpx.Timeout(10.0)) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "status", "reason"),
    [
        ("POST", 503, "ServiceUnavailable"),
        ("*", 500, "InternalError"),
        ("POST", 429, "TooManyRequests"),
        ("POST", 409, "Conflict"),
    ],
    ids=["503", "500-any-method", "429", "409"],
)
async def test_fail_next_answers_status_count_times(
    apiserver: ApiServerThread, client: httpx.AsyncClient, method: str, status: int, reason: str
) -> None:
    apiserver.fail_next(method, r"/configmaps$", status, count=2)
    assert (await client.get("/api/v1/namespaces/default/pods")).status_code == 200
    for _ in range(2):
        assert_status(await client.post(CMS, json=cm_body("a")), status, reason)
    assert (await client.post(CMS, json=cm_body("a"))).status_code == 201
    assert apiserver.store.get("configmaps", "a")["metadata"]["name"] == "a"


async def test_fail_next_is_seen_by_lightkube(apiserver: ApiServerThread) -> None:
    apiserver.fail_next("GET", r"/configmaps/a$", 503)
    apiserver.store.create(cm_body("a"))
    client = AsyncClient(config=KubeConfig.from_file(apiserver.kubeconfig_path))
    try:
        with pytest.raises(LightkubeApiError) as err:
            await client.get(ConfigMap, "a")
        assert err.value.status.code == 503
        assert (await client.get(ConfigMap, "a")).metadata.name == "a"
    finally:
        await client.close()


async def test_delay_holds_matching_requests(
    apiserver: ApiServerThread, client: httpx.AsyncClient
) -> None:
    apiserver.delay(r"/configmaps", 2.0)
    with pytest.raises(httpx.ReadTimeout):
        await client.get(CMS, timeout=0.2)
    assert (await client.get("/api/v1/namespaces/default/pods", timeout=0.5)).status_code == 200
    apiserver.clear_faults()
    assert (await client.get(CMS, timeout=5)).status_code == 200


@pytest.mark.parametrize("abrupt", [True, False], ids=["abort", "clean-end"])
async def test_drop_watches(
    apiserver: ApiServerThread, client: httpx.AsyncClient, abrupt: bool
) -> None:
    async with WatchStream(client, CMS, resourceVersion="0") as w:
        apiserver.store.create(cm_body("a"))
        assert (await w.next())["type"] == "ADDED"  # type: ignore[index]
        assert apiserver.drop_watches(abrupt=abrupt) == 1
        assert await w.rest() == []
    assert (w.error is not None) == abrupt


async def test_lightkube_watch_resumes_after_clean_drop(apiserver: ApiServerThread) -> None:
    client = AsyncClient(config=KubeConfig.from_file(apiserver.kubeconfig_path))
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def consume() -> None:
        async for _, obj in client.watch(ConfigMap, namespace="default"):
            await seen.put(str(obj.metadata.name))

    task = asyncio.create_task(consume())
    try:
        apiserver.store.create(cm_body("a"))
        assert await asyncio.wait_for(seen.get(), 10) == "a"
        apiserver.drop_watches(abrupt=False)
        apiserver.store.create(cm_body("b"))
        assert await asyncio.wait_for(seen.get(), 10) == "b"
        watches = [p for m, p in apiserver.requests if p == CMS and m == "GET"]
        assert len(watches) >= 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


async def test_restart_keeping_store(apiserver: ApiServerThread, client: httpx.AsyncClient) -> None:
    before = await create(client, CMS, cm_body("a"))
    port = apiserver.port
    async with WatchStream(client, CMS, resourceVersion=before["metadata"]["resourceVersion"]) as w:
        apiserver.restart(keep_store=True)
        assert await w.rest() == []
    assert apiserver.port == port
    assert (await client.get(f"{CMS}/a")).json()["metadata"]["uid"] == before["metadata"]["uid"]
    after = await create(client, CMS, cm_body("b"))
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    async with WatchStream(client, CMS, resourceVersion=before["metadata"]["resourceVersion"]) as w:
        assert (await w.next())["type"] == "ADDED"  # type: ignore[index]


async def test_restart_losing_store_forces_relist(
    apiserver: ApiServerThread, client: httpx.AsyncClient
) -> None:
    before = await create(client, CMS, cm_body("a"))
    apiserver.restart(keep_store=False)
    assert_status(await client.get(f"{CMS}/a"), 404, "NotFound")
    assert (await client.get("/api/v1/namespaces/default")).status_code == 200
    async with WatchStream(client, CMS, resourceVersion=before["metadata"]["resourceVersion"]) as w:
        events = await w.rest()
    assert [e["type"] for e in events] == ["ERROR"]
    listed = (await client.get(CMS)).json()
    assert int(listed["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


@pytest.mark.parametrize(("back", "expired"), [(0, False), (1, True)], ids=["edge", "older"])
async def test_history_window(back: int, expired: bool) -> None:
    with ApiServerThread(history=3) as api:
        api.store.create(cm_body("w0"))
        rvs = [
            int(api.store.create(cm_body(f"w{i}"))["metadata"]["resourceVersion"])
            for i in range(1, 5)
        ]
        async with httpx_client(api.kubeconfig_path) as client:
            start = rvs[0] - back  # history holds the last 3 writes: rvs[1:]
            async with WatchStream(
                client, CMS, resourceVersion=str(start), timeoutSeconds="1"
            ) as w:
                events = await w.rest()
    if expired:
        assert [e["type"] for e in events] == ["ERROR"]
        assert events[0]["object"]["code"] == 410  # type: ignore[index]
    else:
        assert [e["object"]["metadata"]["name"] for e in events] == ["w2", "w3", "w4"]  # type: ignore[index]


async def test_continue_token_older_than_history_is_410() -> None:
    with ApiServerThread(history=2) as api:
        for i in range(3):
            api.store.create(cm_body(f"c{i}"))
        async with httpx_client(api.kubeconfig_path) as client:
            page = (await client.get(CMS, params={"limit": "1"})).json()
            for i in range(3):
                api.store.patch("configmaps", f"c{i}", {"data": {"x": "1"}})
            resp = await client.get(
                CMS, params={"limit": "1", "continue": page["metadata"]["continue"]}
            )
    assert_status(resp, 410, "Expired")


async def test_tls_and_token() -> None:
    with ApiServerThread(tls=True, token="s3cret") as api:
        assert api.url.startswith("https://127.0.0.1:")
        client = AsyncClient(config=KubeConfig.from_file(api.kubeconfig_path))
        try:
            cm = await client.create(ConfigMap(metadata=ObjectMeta(name="tls")))
            assert cm.metadata.uid
        finally:
            await client.close()
        ca = api.ca_pem
        assert ca is not None
        import ssl

        ctx = ssl.create_default_context(cadata=ca.decode())
        async with httpx.AsyncClient(base_url=api.url, verify=ctx) as anonymous:
            assert_status(await anonymous.get(CMS), 401, "Unauthorized")


def test_store_helpers_from_a_sync_test(apiserver: ApiServerThread) -> None:
    pod = apiserver.store.create(pod_body("p", labels={"app": "x"}))
    assert pod["kind"] == "Pod" and pod["status"]["phase"] == "Pending"
    apiserver.store.bind("p", "node-1")
    bound = apiserver.store.get("pods", "p")
    assert bound["spec"]["nodeName"] == "node-1"
    assert [
        p["metadata"]["name"]
        for p in apiserver.store.list(
            "pods", field_selector="spec.nodeName=node-1", label_selector="app=x"
        )
    ] == ["p"]
    patched = apiserver.store.patch("Pod", "p", {"metadata": {"annotations": {"a": "b"}}})
    assert patched["metadata"]["annotations"] == {"a": "b"}
    with pytest.raises(ApiError) as err:
        apiserver.store.get("pods", "missing")
    assert err.value.code == 404
    node = apiserver.store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}})
    node["status"] = {"capacity": {"nvidia.com/gpu": "4"}}
    updated = apiserver.store.update(node, subresource="status")
    assert updated["status"]["capacity"] == {"nvidia.com/gpu": "4"}
    with httpx.Client(base_url=apiserver.url) as sync_client:
        got = sync_client.get("/api/v1/nodes/n").json()
    assert got["status"]["capacity"] == {"nvidia.com/gpu": "4"}
    apiserver.store.delete("pods", "p")
    assert apiserver.store.list("pods") == []


async def test_store_helper_writes_reach_open_watches(
    apiserver: ApiServerThread, client: httpx.AsyncClient
) -> None:
    rv = str(apiserver.store.resource_version)
    async with WatchStream(client, CMS, resourceVersion=rv) as w:
        apiserver.store.create(cm_body("a"))
        apiserver.store.patch("configmaps", "a", {"data": {"k": "v"}}, content_type=MERGE)
        types = [(await w.next())["type"] for _ in range(2)]  # type: ignore[index]
    assert types == ["ADDED", "MODIFIED"]


async def test_send_initial_events_ends_with_annotated_bookmark(
    apiserver: ApiServerThread, client: httpx.AsyncClient
) -> None:
    apiserver.store.create(cm_body("a"))
    params = {
        "sendInitialEvents": "true",
        "allowWatchBookmarks": "true",
        "resourceVersionMatch": "NotOlderThan",
        "timeoutSeconds": "0",
    }
    async with WatchStream(client, CMS, **params) as w:
        first, second = await w.next(), await w.next()
    assert first is not None and second is not None
    assert first["type"] == "ADDED" and second["type"] == "BOOKMARK"
    mark: dict[str, Any] = second["object"]  # type: ignore[assignment]
    assert mark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_dry_run_is_refused_loudly(
    apiserver: ApiServerThread, client: httpx.AsyncClient, method: str
) -> None:
    apiserver.store.create(cm_body("a"))
    path = CMS if method == "POST" else f"{CMS}/a"
    resp = await client.request(
        method, path, params={"dryRun": "All"}, json=cm_body("b") if method == "POST" else None
    )
    assert_status(resp, 400, "BadRequest")
    assert [c["metadata"]["name"] for c in apiserver.store.list("configmaps")] == ["a"]
