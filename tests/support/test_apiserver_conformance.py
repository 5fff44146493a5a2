"""Conformance of the kube-apiserver stand-in: objects, errors, PATCH kinds.

Every assertion states what the real kube-apiserver does; with HAMI_CONFORMANCE_KUBECONFIG set
the same tests run against a real cluster (see ``apiserver/target.py``). Watch, binding, status
and deletion are in ``test_apiserver_conformance_watch.py``, LIST and discovery in
``test_apiserver_conformance_list.py``.
"""

# lightkube model fields are all Optional:
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import re
from typing import Any

import httpx
import pytest
from lightkube import ApiError as LightkubeApiError
from lightkube import AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap

from tests.support.apiserver.target import UNSCHEDULED, Target

pytestmark = pytest.mark.conformance

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def cm_body(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": data,
    }


def pod_body(name: str, *containers: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "containers": [
                {"name": c, "image": "registry.k8s.io/pause:3.9"} for c in containers or ("main",)
            ],
            "automountServiceAccountToken": False,
            # No scheduler serves it: on a real cluster the pods stay unbound until a test binds.
            "schedulerName": UNSCHEDULED,
        },
    }


def mwc_body(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "vgpu.hami.io",
                "clientConfig": {"url": url},
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",  # never bother a real cluster's pods
                "namespaceSelector": {"matchLabels": {"hami-conf-never": "true"}},
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                    }
                ],
            }
        ],
    }


def assert_status(resp: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert resp.status_code == code, resp.text
    body: dict[str, Any] = resp.json()
    assert (body["kind"], body["apiVersion"], body["status"]) == ("Status", "v1", "Failure")
    assert (body["code"], body["reason"]) == (code, reason)
    return body


async def create(kube_http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await kube_http.post(path, json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


# ---------------------------------------------------------------------------- metadata


async def test_create_stamps_uid_timestamp_and_string_resource_version(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    obj = await create(kube_http, f"/api/v1/namespaces/{kube.namespace}/configmaps", cm_body("a"))
    meta = obj["metadata"]
    assert (obj["kind"], obj["apiVersion"]) == ("ConfigMap", "v1")
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert RFC3339.match(meta["creationTimestamp"])
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"].isdigit()
    assert meta["namespace"] == kube.namespace


async def test_resource_version_increases_across_resources(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    ns = kube.namespace
    a = await create(kube_http, f"/api/v1/namespaces/{ns}/configmaps", cm_body("a"))
    lease = await create(
        kube_http,
        f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l"},
            "spec": {"holderIdentity": "x"},
        },
    )
    a["data"] = {"k": "v"}
    updated = (await kube_http.put(f"/api/v1/namespaces/{ns}/configmaps/a", json=a)).json()
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (a, lease, updated)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


async def test_no_op_update_keeps_resource_version(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    obj = await create(
        kube_http, f"/api/v1/namespaces/{kube.namespace}/configmaps", cm_body("a", x="1")
    )
    again = await kube_http.put(f"/api/v1/namespaces/{kube.namespace}/configmaps/a", json=obj)
    assert again.json()["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


async def test_generation_counts_spec_changes_only(kube_http: httpx.AsyncClient) -> None:
    name = f"hami-conf-{id(kube_http):x}.example.com"
    base = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    obj = await create(kube_http, base, mwc_body(name, "https://127.0.0.1:9443/a"))
    try:
        assert obj["metadata"]["generation"] == 1
        obj["webhooks"][0]["clientConfig"]["url"] = "https://127.0.0.1:9443/b"
        obj = (await kube_http.put(f"{base}/{name}", json=obj)).json()
        assert obj["metadata"]["generation"] == 2
        obj["metadata"]["labels"] = {"only": "metadata"}
        obj = (await kube_http.put(f"{base}/{name}", json=obj)).json()
        assert obj["metadata"]["generation"] == 2
    finally:
        await kube_http.delete(f"{base}/{name}")


async def test_lightkube_typed_roundtrip(kube_lk: AsyncClient, kube: Target) -> None:
    lease = await kube_lk.create(
        Lease(
            metadata=ObjectMeta(name="leader"),
            spec=LeaseSpec(holderIdentity="me", leaseDurationSeconds=15),
        )
    )
    assert lease.metadata.namespace == kube.namespace and lease.spec.holderIdentity == "me"
    lease.spec.holderIdentity = "you"
    replaced = await kube_lk.replace(lease)
    assert replaced.spec.holderIdentity == "you"
    assert int(str(replaced.metadata.resourceVersion)) > int(str(lease.metadata.resourceVersion))
    leases = [x.metadata.name async for x in kube_lk.list(Lease)]
    assert leases == ["leader"]


# ---------------------------------------------------------------------------- errors


async def test_stale_put_is_409_conflict(kube: Target, kube_http: httpx.AsyncClient) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    stale = await create(kube_http, path, cm_body("a"))
    fresh = dict(stale, data={"v": "1"})
    assert (await kube_http.put(f"{path}/a", json=fresh)).status_code == 200
    body = assert_status(
        await kube_http.put(f"{path}/a", json=dict(stale, data={"v": "2"})), 409, "Conflict"
    )
    assert body["details"] == {"name": "a", "kind": "configmaps"}
    assert body["message"].startswith('Operation cannot be fulfilled on configmaps "a": ')


async def test_stale_patch_is_409_conflict(kube: Target, kube_http: httpx.AsyncClient) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    old = await create(kube_http, path, cm_body("a"))
    await kube_http.patch(
        f"{path}/a",
        json={"data": {"x": "1"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    resp = await kube_http.patch(
        f"{path}/a",
        json={
            "metadata": {"resourceVersion": old["metadata"]["resourceVersion"]},
            "data": {"x": "2"},
        },
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert_status(resp, 409, "Conflict")


async def test_lightkube_sees_conflict_status(kube_lk: AsyncClient) -> None:
    cm = await kube_lk.create(ConfigMap(metadata=ObjectMeta(name="a"), data={"v": "0"}))
    await kube_lk.patch(ConfigMap, "a", {"data": {"v": "1"}})
    cm.data = {"v": "2"}
    with pytest.raises(LightkubeApiError) as err:
        await kube_lk.replace(cm)
    assert (err.value.status.code, err.value.status.reason) == (409, "Conflict")


async def test_create_existing_is_409_already_exists(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    await create(kube_http, path, cm_body("a"))
    body = assert_status(await kube_http.post(path, json=cm_body("a")), 409, "AlreadyExists")
    assert body["message"] == 'configmaps "a" already exists'


@pytest.mark.parametrize(
    ("path", "message", "details"),
    [
        (
            "/api/v1/namespaces/{ns}/configmaps/nope",
            'configmaps "nope" not found',
            {"name": "nope", "kind": "configmaps"},
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/nope",
            'leases.coordination.k8s.io "nope" not found',
            {"name": "nope", "group": "coordination.k8s.io", "kind": "leases"},
        ),
        (
            "/api/v1/nodes/hami-conf-missing-node",
            'nodes "hami-conf-missing-node" not found',
            {"name": "hami-conf-missing-node", "kind": "nodes"},
        ),
    ],
    ids=["core", "group", "cluster-scoped"],
)
async def test_missing_is_404_not_found(
    kube: Target, kube_http: httpx.AsyncClient, path: str, message: str, details: dict[str, str]
) -> None:
    body = assert_status(await kube_http.get(path.format(ns=kube.namespace)), 404, "NotFound")
    assert (body["message"], body["details"]) == (message, details)


async def test_create_in_missing_namespace_is_404(kube_http: httpx.AsyncClient) -> None:
    resp = await kube_http.post(
        "/api/v1/namespaces/hami-conf-no-such-ns/configmaps", json=cm_body("a")
    )
    body = assert_status(resp, 404, "NotFound")
    assert body["message"] == 'namespaces "hami-conf-no-such-ns" not found'


async def test_put_with_other_name_is_400(kube: Target, kube_http: httpx.AsyncClient) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    obj = await create(kube_http, path, cm_body("a"))
    assert_status(await kube_http.put(f"{path}/b", json=obj), 400, "BadRequest")


# ---------------------------------------------------------------------------- PATCH

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"

CM_PATCHES = [
    pytest.param(
        MERGE,
        {"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"k": "v2"}},
        200,
        {"b": "2", "c": "3"},
        {"k": "v2"},
        id="merge-null-deletes",
    ),
    pytest.param(
        JSON,
        [
            {"op": "add", "path": "/metadata/labels/c", "value": "3"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "replace", "path": "/data/k", "value": "v2"},
        ],
        200,
        {"b": "2", "c": "3"},
        {"k": "v2"},
        id="json-add-remove-replace",
    ),
    pytest.param(
        JSON,
        [
            {"op": "test", "path": "/data/k", "value": "v1"},
            {"op": "copy", "from": "/data/k", "path": "/data/k2"},
        ],
        200,
        {"a": "1", "b": "2"},
        {"k": "v1", "k2": "v1"},
        id="json-test-passes",
    ),
    pytest.param(
        JSON,
        [
            {"op": "test", "path": "/data/k", "value": "other"},
            {"op": "replace", "path": "/data/k", "value": "v2"},
        ],
        422,
        None,
        None,
        id="json-test-fails-422",
    ),
    pytest.param(
        JSON,
        [{"op": "remove", "path": "/data/missing"}],
        422,
        None,
        None,
        id="json-missing-path-422",
    ),
    pytest.param(
        SMP,
        {"metadata": {"labels": {"a": None}}, "data": {"k2": "x"}},
        200,
        {"b": "2"},
        {"k": "v1", "k2": "x"},
        id="strategic-maps",
    ),
    pytest.param("application/json", {"data": {"k": "v2"}}, 415, None, None, id="plain-json-415"),
    pytest.param("text/plain", {"data": {"k": "v2"}}, 415, None, None, id="text-415"),
]


@pytest.mark.parametrize(("ctype", "patch", "code", "labels", "data"), CM_PATCHES)
async def test_patch_kinds_on_configmap(
    kube: Target,
    kube_http: httpx.AsyncClient,
    ctype: str,
    patch: Any,
    code: int,
    labels: dict[str, str] | None,
    data: dict[str, str] | None,
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    before = await create(kube_http, path, cm_body("a", {"a": "1", "b": "2"}, k="v1"))
    resp = await kube_http.patch(f"{path}/a", json=patch, headers={"Content-Type": ctype})
    assert resp.status_code == code, resp.text
    after = (await kube_http.get(f"{path}/a")).json()
    if code != 200:
        assert resp.json()["kind"] == "Status"
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        return
    assert resp.json()["metadata"]["labels"] == labels and after["data"] == data


async def test_strategic_patch_merges_containers_by_name(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/pods"
    await create(kube_http, path, pod_body("p", "a", "b"))
    patch = {"spec": {"containers": [{"name": "b", "image": "registry.k8s.io/pause:3.10"}]}}
    resp = await kube_http.patch(f"{path}/p", json=patch, headers={"Content-Type": SMP})
    assert resp.status_code == 200, resp.text
    images = {c["name"]: c["image"] for c in resp.json()["spec"]["containers"]}
    assert images == {"a": "registry.k8s.io/pause:3.9", "b": "registry.k8s.io/pause:3.10"}
    merge = await kube_http.patch(f"{path}/p", json=patch, headers={"Content-Type": MERGE})
    assert merge.status_code == 422  # a merge patch replaces the list: removing a container


async def test_strategic_patch_merges_finalizers_and_node_conditions(
    kube_http: httpx.AsyncClient,
) -> None:
    name = f"hami-conf-node-{id(kube_http):x}"
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "finalizers": ["a.example.com/x"]},
        "spec": {"taints": [{"key": "k1", "effect": "NoSchedule"}]},
    }
    await create(kube_http, "/api/v1/nodes", node)
    try:
        resp = await kube_http.patch(
            f"/api/v1/nodes/{name}",
            headers={"Content-Type": SMP},
            json={
                "metadata": {"finalizers": ["b.example.com/y"]},
                "spec": {"taints": [{"key": "k2", "effect": "NoSchedule"}]},
            },
        )
        assert resp.status_code == 200, resp.text
        obj = resp.json()
        # Patched items first (apimachinery orders a merged list by the patch, then the rest).
        assert obj["metadata"]["finalizers"] == ["b.example.com/y", "a.example.com/x"]
        assert [t["key"] for t in obj["spec"]["taints"]] == ["k2"]  # no merge key: replaced
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cond = {
            "type": "HamiConfA",
            "status": "True",
            "reason": "R",
            "message": "m",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for patch in (
            {"status": {"conditions": [cond]}},
            {"status": {"conditions": [dict(cond, type="HamiConfB", status="False")]}},
        ):
            resp = await kube_http.patch(
                f"/api/v1/nodes/{name}/status", json=patch, headers={"Content-Type": SMP}
            )
            assert resp.status_code == 200, resp.text
        types = {c["type"]: c["status"] for c in resp.json()["status"]["conditions"]}
        assert types["HamiConfA"] == "True" and types["HamiConfB"] == "False"
    finally:
        await kube_http.patch(
            f"/api/v1/nodes/{name}",
            json={"metadata": {"finalizers": None}},
            headers={"Content-Type": MERGE},
        )
        await kube_http.delete(f"/api/v1/nodes/{name}")


async def test_pod_resources_are_canonicalized_and_requests_default_to_limits(
    kube: Target, kube_http: httpx.AsyncClient
) -> None:
    """What admission webhooks and schedulers see: quantities in canonical form (``3000`` is
    ``3k``) and each limit copied into requests unless given."""
    limits = {
        "cpu": "1000m", "memory": "1024Mi", "nvidia.com/gpu": "1", "nvidia.com/gpumem": "3000",
        "example.com/x": "1500", "example.com/y": "1200000", "example.com/z": "2048",
        "ephemeral-storage": "1.5Gi",
    }  # fmt: skip
    body = pod_body("q")
    body["spec"]["containers"][0]["resources"] = {"limits": limits, "requests": {"cpu": "0.5"}}
    obj = await create(kube_http, f"/api/v1/namespaces/{kube.namespace}/pods", body)
    res = obj["spec"]["containers"][0]["resources"]
    canonical = {
        "cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1", "nvidia.com/gpumem": "3k",
        "example.com/x": "1500", "example.com/y": "1200k", "example.com/z": "2048",
        "ephemeral-storage": "1536Mi",
    }  # fmt: skip
    assert res["limits"] == canonical
    assert res["requests"] == {**canonical, "cpu": "500m"}
