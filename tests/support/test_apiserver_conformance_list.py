"""Conformance of the kube-apiserver stand-in: LIST (selectors, paging, 410) and discovery.

Same rules as ``test_apiserver_conformance.py``: each assertion is the real server's behaviour,
and the module runs against a real cluster when HAMI_CONFORMANCE_KUBECONFIG is set.
"""

from __future__ import annotations

import httpx
import pytest
from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap

from tests.support.apiserver.target import SYSTEM_OBJECTS, Target, names
from tests.support.test_apiserver_conformance import (
    MERGE,
    assert_status,
    cm_body,
    create,
    pod_body,
)

# lightkube model fields are all Optional:
# mypy: disable-error-code="union-attr"

pytestmark = pytest.mark.conformance


# ---------------------------------------------------------------------------- LIST

LABELS = {"a": {"app": "web", "tier": "fe"}, "b": {"app": "web"}, "c": {"app": "db"}, "d": {}}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", "ab"),
        ("app==web", "ab"),
        ("app!=web", "cd"),
        ("app in (web,db)", "abc"),
        ("app notin (web)", "cd"),
        ("tier", "a"),
        ("!tier", "bcd"),
        ("app=web,!tier", "b"),
        ("app", "abc"),
        ("", "abcd"),
    ],
    ids=lambda v: v if isinstance(v, str) and v else "x",
)
async def test_list_label_selector(
    kube: Target, kube_http: httpx.AsyncClient, selector: str, expected: str
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    for name, labels in LABELS.items():
        await create(kube_http, path, cm_body(name, labels))
    resp = await kube_http.get(path, params={"labelSelector": selector})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["kind"], body["apiVersion"]) == ("ConfigMapList", "v1")
    assert body["metadata"]["resourceVersion"].isdigit()
    assert "".join(names(body["items"])) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=a", "a"),
        ("metadata.name!=a", "bcd"),
        ("metadata.name==b", "b"),
        ("spec.nodeName=", "cd"),
        ("spec.nodeName=hami-conf-n1", "a"),
        ("spec.nodeName!=hami-conf-n1", "bcd"),
        ("status.phase=Running", "d"),
        ("status.phase!=Running,spec.nodeName=", "c"),
    ],
    ids=lambda v: v if isinstance(v, str) and v else "x",
)
async def test_list_pod_field_selector(
    kube: Target, kube_http: httpx.AsyncClient, selector: str, expected: str
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    for name in "abcd":
        await create(kube_http, path, pod_body(name))
    for name, node in (("a", "hami-conf-n1"), ("b", "hami-conf-n2")):
        resp = await kube_http.post(
            f"{path}/{name}/binding",
            json={
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            },
        )
        assert resp.status_code == 201, resp.text
    await kube_http.patch(
        f"{path}/d/status", json={"status": {"phase": "Running"}}, headers={"Content-Type": MERGE}
    )
    resp = await kube_http.get(path, params={"fieldSelector": selector})
    assert resp.status_code == 200, resp.text
    assert "".join(i["metadata"]["name"] for i in resp.json()["items"]) == expected
    for name in "abcd":
        await kube_http.delete(f"{path}/{name}", params={"gracePeriodSeconds": "0"})


async def test_field_selector_across_namespaces_and_unsupported_field(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    await create(kube_http, f"/api/v1/namespaces/{kube.namespace}/configmaps", cm_body("a"))
    resp = await kube_http.get(
        "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={kube.namespace}"}
    )
    assert names(resp.json()["items"]) == ["a"]
    bad = await kube_http.get("/api/v1/configmaps", params={"fieldSelector": "spec.nodeName=x"})
    assert_status(bad, 400, "BadRequest")


async def test_list_all_namespaces(kube: Target, kube_http: httpx.AsyncClient) -> None:
    await create(
        kube_http,
        f"/api/v1/namespaces/{kube.namespace}/configmaps",
        cm_body("a", {"hami-conf": kube.namespace}),
    )
    resp = await kube_http.get(
        "/api/v1/configmaps", params={"labelSelector": f"hami-conf={kube.namespace}"}
    )
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in resp.json()["items"]] == [
        (kube.namespace, "a")
    ]


async def test_list_limit_and_continue(
    kube: Target, kube_http: httpx.AsyncClient, kube_lk: AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    for name in "edcba":
        await create(kube_http, path, cm_body(name))
    everything = (await kube_http.get(path)).json()["items"]
    system = len(everything) - len(names(everything))  # kube-root-ca.crt on a real cluster
    first = (await kube_http.get(path, params={"limit": "2"})).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b"]
    assert first["metadata"]["remainingItemCount"] == 3 + system
    seen, page, rvs = [], first, set()
    while True:
        seen += names(page["items"])
        rvs.add(page["metadata"]["resourceVersion"])
        if not page["metadata"].get("continue"):
            break
        page = (
            await kube_http.get(
                path, params={"limit": "2", "continue": page["metadata"]["continue"]}
            )
        ).json()
    assert seen == list("abcde") and len(rvs) == 1
    chunked = [c.metadata.name async for c in kube_lk.list(ConfigMap, chunk_size=2)]
    assert [n for n in chunked if n not in SYSTEM_OBJECTS] == list("abcde")
    bad = await kube_http.get(path, params={"limit": "2", "continue": "not-a-token"})
    assert_status(bad, 400, "BadRequest")


async def test_exact_list_older_than_history_is_410(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    resp = await kube_http.get(
        f"/api/v1/namespaces/{kube.namespace}/configmaps",
        params={"resourceVersion": "1", "resourceVersionMatch": "Exact"},
    )
    assert_status(resp, 410, "Expired")


async def test_discovery(kube_http: httpx.AsyncClient) -> None:
    assert "v1" in (await kube_http.get("/api")).json()["versions"]
    groups = {g["name"] for g in (await kube_http.get("/apis")).json()["groups"]}
    assert {"coordination.k8s.io", "events.k8s.io", "admissionregistration.k8s.io"} <= groups
    core = {r["name"]: r for r in (await kube_http.get("/api/v1")).json()["resources"]}
    assert core["pods"]["namespaced"] and not core["nodes"]["namespaced"]
    assert {"pods/binding", "pods/status", "nodes/status"} <= set(core)
    assert core["pods"]["kind"] == "Pod" and "watch" in core["pods"]["verbs"]
    version = (await kube_http.get("/version")).json()
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
