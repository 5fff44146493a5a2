"""Conformance of the kube-apiserver stand-in: WATCH, pods/binding, pods/status, deletion.

Same rules as ``test_apiserver_conformance.py``: each assertion is the real server's behaviour,
and the module runs against a real cluster when HAMI_CONFORMANCE_KUBECONFIG is set.
"""

# lightkube model fields are all Optional:
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from lightkube import ApiError as LightkubeApiError
from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap

from tests.support.apiserver.target import Target, WatchStream
from tests.support.test_apiserver_conformance import (
    MERGE,
    SMP,
    assert_status,
    cm_body,
    create,
    pod_body,
)

pytestmark = pytest.mark.conformance


def summary(event: dict[str, Any] | None) -> tuple[str, str]:
    assert event is not None, "watch ended early"
    obj: dict[str, Any] = event["object"]
    return str(event["type"]), str(obj["metadata"].get("name"))


async def test_watch_from_resource_version_replays_then_streams_live(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    a = await create(kube_http, path, cm_body("a"))
    await kube_http.patch(f"{path}/a", json={"data": {"x": "1"}}, headers={"Content-Type": MERGE})
    async with WatchStream(kube_http, path, resourceVersion=a["metadata"]["resourceVersion"]) as w:
        assert w.status_code == 200
        first = await w.next()
        assert summary(first) == ("MODIFIED", "a")
        assert first is not None and first["object"]["kind"] == "ConfigMap"  # type: ignore[index]
        await create(kube_http, path, cm_body("b"))
        await kube_http.delete(f"{path}/a")
        assert [summary(await w.next()) for _ in range(2)] == [("ADDED", "b"), ("DELETED", "a")]


@pytest.mark.parametrize("rv", [None, "0"], ids=["absent", "zero"])
async def test_watch_without_version_starts_with_synthetic_added(
    kube: Target, kube_http: httpx.AsyncClient, rv: str | None
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    for name in ("a", "b"):
        await create(kube_http, path, cm_body(name))
    params = {"resourceVersion": rv} if rv is not None else {}
    async with WatchStream(kube_http, path, **params) as w:
        initial = sorted([summary(await w.next()), summary(await w.next())])
        assert initial == [("ADDED", "a"), ("ADDED", "b")]
        await kube_http.patch(
            f"{path}/b", json={"data": {"y": "2"}}, headers={"Content-Type": MERGE}
        )
        assert summary(await w.next()) == ("MODIFIED", "b")


async def test_watch_selector_leaving_and_entering(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    listed = (await kube_http.get(path)).json()["metadata"]["resourceVersion"]
    async with WatchStream(kube_http, path, resourceVersion=listed, labelSelector="app=web") as w:
        await create(kube_http, path, cm_body("other", {"app": "db"}))
        await create(kube_http, path, cm_body("a", {"app": "web"}))
        assert summary(await w.next()) == ("ADDED", "a")
        await kube_http.patch(
            f"{path}/a",
            json={"metadata": {"labels": {"app": "db"}}},
            headers={"Content-Type": MERGE},
        )
        assert summary(await w.next()) == ("DELETED", "a")
        await kube_http.patch(
            f"{path}/other",
            json={"metadata": {"labels": {"app": "web"}}},
            headers={"Content-Type": MERGE},
        )
        assert summary(await w.next()) == ("ADDED", "other")


async def test_watch_field_selector_on_pods(kube: Target, kube_http: httpx.AsyncClient) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    listed = (await kube_http.get(path)).json()["metadata"]["resourceVersion"]
    async with WatchStream(
        kube_http, path, resourceVersion=listed, fieldSelector="spec.nodeName=hami-conf-n1"
    ) as w:
        await create(kube_http, path, pod_body("p"))
        resp = await kube_http.post(
            f"{path}/p/binding",
            json={
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "p"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "hami-conf-n1"},
            },
        )
        assert resp.status_code == 201
        event = await w.next()
        assert summary(event) == ("ADDED", "p")
    await kube_http.delete(f"{path}/p", params={"gracePeriodSeconds": "0"})


async def test_watch_timeout_with_bookmark(kube: Target, kube_http: httpx.AsyncClient) -> None:
    """The watch cache sends a BOOKMARK before ``timeoutSeconds`` ends (2 s before it, or at
    the end), and only when the resource moved past what the watcher has seen: a quiet watch
    gets none. Here a ConfigMap outside the selector moves it."""
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    listed = (await kube_http.get(path)).json()["metadata"]["resourceVersion"]
    async with WatchStream(
        kube_http, path, resourceVersion=listed, allowWatchBookmarks="true", timeoutSeconds="4",
        labelSelector="hami-conf-bookmark=yes",
    ) as w:  # fmt: skip
        other = await create(kube_http, path, cm_body("a"))
        events = await w.rest(timeout=15)
    assert w.error is None
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and len(bookmarks) == len(events), events
    obj: dict[str, Any] = bookmarks[-1]["object"]  # type: ignore[assignment]
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert int(obj["metadata"]["resourceVersion"]) >= int(other["metadata"]["resourceVersion"])


async def test_quiet_watch_gets_no_bookmark(kube: Target, kube_http: httpx.AsyncClient) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    listed = (await kube_http.get(path)).json()["metadata"]["resourceVersion"]
    async with WatchStream(
        kube_http, path, resourceVersion=listed, allowWatchBookmarks="true", timeoutSeconds="3",
        labelSelector="hami-conf-bookmark=yes",
    ) as w:  # fmt: skip
        events = await w.rest(timeout=15)
    assert w.error is None
    if kube.standin is not None:
        assert events == []
    # On a busy real cluster other namespaces' ConfigMaps may move the shared watch cache:
    # then bookmarks, but never an event for this selector.
    assert all(e["type"] == "BOOKMARK" for e in events), events


async def test_watch_timeout_ends_stream_cleanly(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    listed = (await kube_http.get(path)).json()["metadata"]["resourceVersion"]
    async with WatchStream(kube_http, path, resourceVersion=listed, timeoutSeconds="1") as w:
        assert await w.rest(timeout=15) == []
    assert w.error is None


async def test_watch_too_old_version_is_410_expired_event(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    async with WatchStream(kube_http, path, resourceVersion="1") as w:
        events = await w.rest()
    assert w.status_code == 200 and len(events) == 1 and events[0]["type"] == "ERROR"
    status: dict[str, Any] = events[0]["object"]  # type: ignore[assignment]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith("too old resource version: 1 (")


async def test_lightkube_watch_raises_410(kube_lk: AsyncClient) -> None:
    # A server that still holds RV 1 (a fresh real cluster's watch cache) streams instead of
    # refusing; fail in seconds then rather than at the suite's timeout.
    with pytest.raises(LightkubeApiError) as err:
        async with asyncio.timeout(20):
            async for _ in kube_lk.watch(ConfigMap, resource_version="1"):
                pass
    assert err.value.status.code == 410


async def test_lightkube_watch_sees_changes(
    kube_lk: AsyncClient, kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    listed = (await kube_http.get(path)).json()["metadata"]["resourceVersion"]
    await create(kube_http, path, cm_body("a"))
    seen = []
    async for kind, obj in kube_lk.watch(ConfigMap, resource_version=listed):
        seen.append((kind, obj.metadata.name))
        break
    assert seen == [("ADDED", "a")]


# ---------------------------------------------------------------------------- binding / status


async def test_binding_sets_node_once(kube: Target, kube_http: httpx.AsyncClient) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    await create(kube_http, path, pod_body("p"))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "p"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "hami-conf-n1"},
    }
    resp = await kube_http.post(f"{path}/p/binding", json=binding)
    assert resp.status_code == 201
    assert resp.json()["kind"] == "Status" and resp.json()["status"] == "Success"
    pod = (await kube_http.get(f"{path}/p")).json()
    assert pod["spec"]["nodeName"] == "hami-conf-n1"
    scheduled = [c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"]
    assert scheduled and scheduled[0]["status"] == "True"
    again = await kube_http.post(
        f"{path}/p/binding", json=dict(binding, target={"kind": "Node", "name": "hami-conf-n2"})
    )
    body = assert_status(again, 409, "Conflict")
    assert "already assigned to node" in body["message"]
    missing = await kube_http.post(
        f"{path}/nope/binding", json=dict(binding, metadata={"name": "nope"})
    )
    assert_status(missing, 404, "NotFound")
    await kube_http.delete(f"{path}/p", params={"gracePeriodSeconds": "0"})


async def test_new_pod_is_pending_and_status_endpoint_changes_status_only(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    body = pod_body("p")
    body["status"] = {"phase": "Running"}
    pod = await create(kube_http, path, body)
    assert pod["status"]["phase"] == "Pending"
    resp = await kube_http.patch(
        f"{path}/p/status",
        headers={"Content-Type": MERGE},
        json={"spec": {"activeDeadlineSeconds": 5}, "status": {"phase": "Running"}},
    )
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert after["status"]["phase"] == "Running" and "activeDeadlineSeconds" not in after["spec"]
    main = await kube_http.patch(
        f"{path}/p", headers={"Content-Type": MERGE}, json={"status": {"phase": "Failed"}}
    )
    assert main.status_code == 200 and main.json()["status"]["phase"] == "Running"


async def test_pod_status_conditions_merge_by_type(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    await create(kube_http, path, pod_body("p"))
    for cond in ({"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}):
        resp = await kube_http.patch(
            f"{path}/p/status",
            headers={"Content-Type": SMP},
            json={"status": {"conditions": [cond]}},
        )
        assert resp.status_code == 200, resp.text
    types = {c["type"]: c["status"] for c in resp.json()["status"]["conditions"]}
    assert types == {"Ready": "False", "Initialized": "True"}


async def test_pod_spec_is_immutable_except_images(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    await create(kube_http, path, pod_body("p"))
    resp = await kube_http.patch(
        f"{path}/p", headers={"Content-Type": MERGE}, json={"spec": {"nodeName": "hami-conf-n1"}}
    )
    assert_status(resp, 422, "Invalid")


# ---------------------------------------------------------------------------- deletion


async def test_delete_configmap_is_immediate_with_success_status(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    await create(kube_http, path, cm_body("a"))
    resp = await kube_http.delete(f"{path}/a")
    assert resp.status_code == 200
    assert resp.json()["kind"] == "Status" and resp.json()["status"] == "Success"
    assert_status(await kube_http.get(f"{path}/a"), 404, "NotFound")
    assert_status(await kube_http.delete(f"{path}/a"), 404, "NotFound")


async def test_delete_unbound_pod_returns_the_pod(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    await create(kube_http, path, pod_body("p"))
    resp = await kube_http.delete(f"{path}/p")
    assert resp.status_code == 200 and resp.json()["kind"] == "Pod"
    assert_status(await kube_http.get(f"{path}/p"), 404, "NotFound")


async def test_delete_with_finalizer_waits_for_its_removal(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    body = cm_body("a")
    body["metadata"]["finalizers"] = ["hami.io/hold"]
    await create(kube_http, path, body)
    async with WatchStream(kube_http, path, resourceVersion="0") as w:
        assert summary(await w.next()) == ("ADDED", "a")
        resp = await kube_http.delete(f"{path}/a")
        assert resp.status_code == 200
        held = (await kube_http.get(f"{path}/a")).json()
        assert held["metadata"]["deletionTimestamp"]
        assert summary(await w.next()) == ("MODIFIED", "a")
        await kube_http.patch(
            f"{path}/a", json={"metadata": {"finalizers": None}}, headers={"Content-Type": MERGE}
        )
        assert summary(await w.next()) == ("DELETED", "a")
    assert_status(await kube_http.get(f"{path}/a"), 404, "NotFound")


@pytest.mark.parametrize(
    ("path", "kind", "body"),
    [
        (
            "/api/v1/namespaces/{ns}/events",
            "Event",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "e1"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "{ns}"},
                "reason": "FilteringFailed",
                "message": "no node fits",
                "type": "Warning",
            },
        ),
        (
            "/apis/events.k8s.io/v1/namespaces/{ns}/events",
            "Event",
            {
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": {"name": "e2"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reportingController": "hami.io/scheduler",
                "reportingInstance": "hami-scheduler-0",
                "action": "Binding",
                "reason": "BindingFailed",
                "regarding": {"kind": "Pod", "name": "p", "namespace": "{ns}"},
                "type": "Warning",
                "note": "bind failed",
            },
        ),
        (
            "/api/v1/namespaces/{ns}/resourcequotas",
            "ResourceQuota",
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "q"},
                "spec": {"hard": {"requests.nvidia.com/gpu": "2"}},
            },
        ),
    ],
    ids=["core-event", "events-k8s-io", "resourcequota"],
)
async def test_other_resources_roundtrip(
    kube: Target, kube_http: httpx.AsyncClient, path: str, kind: str, body: dict[str, Any]
) -> None:
    import json

    text = json.dumps(body).replace("{ns}", kube.namespace)
    url = path.format(ns=kube.namespace)
    created = await create(kube_http, url, json.loads(text))
    listed = (await kube_http.get(url)).json()
    assert listed["kind"] == f"{kind}List"
    assert [i["metadata"]["name"] for i in listed["items"]] == [created["metadata"]["name"]]


async def test_events_are_shared_between_both_event_apis(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    ns = kube.namespace
    new_api = f"/apis/events.k8s.io/v1/namespaces/{ns}/events"
    core_api = f"/api/v1/namespaces/{ns}/events"
    await create(kube_http, new_api, {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "new"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "hami.io/scheduler",
        "reportingInstance": "hami-scheduler-0", "action": "Binding", "reason": "BindingFailed",
        "regarding": {"kind": "Pod", "name": "p", "namespace": ns}, "type": "Warning",
        "note": "bind failed"})  # fmt: skip
    await create(kube_http, core_api, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "old"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
        "reason": "FilteringFailed", "message": "no node fits", "type": "Warning"})  # fmt: skip
    core = {e["metadata"]["name"]: e for e in (await kube_http.get(core_api)).json()["items"]}
    new = {e["metadata"]["name"]: e for e in (await kube_http.get(new_api)).json()["items"]}
    assert set(core) == set(new) == {"new", "old"}
    assert (core["new"]["message"], core["new"]["involvedObject"]["name"]) == ("bind failed", "p")
    assert (new["old"]["note"], new["old"]["regarding"]["name"]) == ("no node fits", "p")
