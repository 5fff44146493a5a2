"""Bad input never crashes the service: clear errors, and other pods keep scheduling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hami.k8s.fake import FakeKube
from tests.component.scheduler.conftest import Harness, serve
from tests.component.scheduler.objects import container, filter_args, make_node, make_pod

NODES = ["node-0", "node-1", "node-2"]
GOOD_POD = make_pod("good", uid="uid-good", containers=[container(gpumem=1000)])


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 200, "malformed JSON"),
        (b"[1,2,3]", 200, "must be a JSON object"),
        (b'{"NodeNames": ["node-0"]}', 200, "'Pod' must be an object"),
        (json.dumps({"Pod": {"metadata": {"name": 5}}, "NodeNames": []}).encode(), 200,
         "metadata.name"),
        (json.dumps({"Pod": GOOD_POD, "NodeNames": "node-0"}).encode(), 200,
         "'NodeNames' must be a list"),
        (json.dumps({"Pod": GOOD_POD, "NodeNames": None, "Nodes": None}).encode(), 200,
         "neither"),
        (json.dumps({"Pod": {**GOOD_POD, "spec": []}, "NodeNames": []}).encode(), 200,
         "Pod.spec"),
        (b"x" * (1024 * 1024 + 1), 413, "exceeds"),
    ],
    ids=["malformed", "array", "no-pod", "name-type", "nodenames-type", "no-nodes",
         "spec-type", "huge"],
)  # fmt: skip
async def test_filter_bad_bodies(harness: Harness, body: bytes, status: int, needle: str) -> None:
    resp = await harness.http.post("/filter", content=body)
    assert resp.status_code == status
    assert needle in resp.json()["Error"]
    await _still_schedules(harness)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{oops", "malformed JSON"),
        (json.dumps({"PodName": 1}).encode(), "'PodNamespace' is required"),
        (json.dumps({"PodName": "x", "PodNamespace": "default", "Node": ["n"]}).encode(),
         "'Node' must be a string"),
        (json.dumps({"PodName": "ghost", "PodNamespace": "default", "PodUID": "",
                     "Node": "node-0"}).encode(), "not found"),
    ],
    ids=["malformed", "missing-fields", "node-type", "unknown-pod"],
)  # fmt: skip
async def test_bind_bad_bodies(harness: Harness, body: bytes, needle: str) -> None:
    resp = await harness.http.post("/bind", content=body)
    assert resp.status_code == 200
    assert needle in resp.json()["Error"]
    await _still_schedules(harness)


async def test_unknown_nodes_are_reported_not_fatal(harness: Harness) -> None:
    pod = harness.kube.add("pods", make_pod("u", containers=[container(gpumem=1000)]))
    await harness.settle()
    body = (await harness.http.post("/filter", json=filter_args(pod, ["ghost", "node-1"]))).json()
    assert body["NodeNames"] == ["node-1"]
    body = (await harness.http.post("/filter", json=filter_args(pod, ["ghost"]))).json()
    assert body["NodeNames"] == []
    assert body["FailedNodes"] == {"ghost": "node unregistered"}


async def test_garbage_pod_annotations_give_clear_error(harness: Harness) -> None:
    pod = make_pod("w", containers=[container(gpumem=1000)],
                   annotations={"hami.io/device-scoring-weights": "slot=banana"})  # fmt: skip
    pod = harness.kube.add("pods", pod)
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert "default/w" in body["Error"]
    await _still_schedules(harness)


@pytest.mark.parametrize(
    "register",
    ["not-a-device-list", '[{"id": 3}]', "GPU-x,ten,1,1,NVIDIA,0,true:"],
    ids=["words", "json-wrong-type", "legacy-bad-int"],
)
async def test_garbage_node_annotations_skip_only_that_node(register: str) -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("bad", register=register))
    kube.add("nodes", make_node("ok"))
    pod = kube.add("pods", make_pod("p", containers=[container(gpumem=1000)]))
    async with serve(kube) as h:
        assert [n.name for n in h.service.state.nodes()] == ["ok"]
        assert "bad" in h.runner.registrar.bad_nodes
        body = (await h.http.post("/filter", json=filter_args(pod, ["bad", "ok"]))).json()
        assert body["NodeNames"] == ["ok"]


async def test_garbage_allocated_annotation_is_ignored() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("n"))
    kube.add(
        "pods",
        make_pod(
            "junk",
            annotations={
                "hami.io/vgpu-node": "n",
                "hami.io/vgpu-devices-allocated": "GPU-1,NVIDIA,x,y",
            },
        ),
    )
    async with serve(kube) as h:
        assert sum(g.usedmem for n in h.service.state.nodes() for g in n.gpus) == 0
        await _still_schedules(h, nodes=["n"])


async def test_webhook_answers_errored_review_for_garbage(harness: Harness) -> None:
    resp = await harness.http.post("/webhook", content=b"{nope")
    assert resp.status_code == 200
    review = resp.json()
    assert review["kind"] == "AdmissionReview"
    assert review["response"]["allowed"] is False
    assert review["response"]["status"]["code"] == 400
    assert "malformed JSON" in review["response"]["status"]["message"]


async def test_webhook_mutates_gpu_pod(harness: Harness) -> None:
    pod = make_pod("wh", containers=[container(gpumem=1000)], scheduler_name="default-scheduler")
    review: dict[str, Any] = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "req-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": "default", "operation": "CREATE", "object": pod},
    }  # fmt: skip
    resp = await harness.http.post("/webhook", json=review)
    assert resp.status_code == 200
    out = resp.json()["response"]
    assert out["uid"] == "req-1"
    assert out["allowed"] is True
    assert out.get("patchType") == "JSONPatch"


@pytest.mark.parametrize(
    ("ns_labels", "mutated"),
    [({"hami.io/webhook": "ignore"}, False), ({"team": "a"}, True), (None, True)],
    ids=["namespace-ignored", "namespace-other-label", "namespace-unknown"],
)
async def test_webhook_honours_namespace_ignore_label(
    harness: Harness, ns_labels: dict[str, str] | None, mutated: bool
) -> None:
    """Without a namespaceSelector in the webhook configuration the namespace's own label,
    seen through the namespace informer, still keeps its pods out of our hands."""
    if ns_labels is not None:
        namespace = {"metadata": {"name": "team-a", "labels": ns_labels}}
        harness.kube.add("namespaces", {"apiVersion": "v1", "kind": "Namespace", **namespace})
        await harness.settle()
    pod = make_pod("wh2", namespace="team-a", containers=[container(gpumem=1000)],
                   scheduler_name="default-scheduler")  # fmt: skip
    review: dict[str, Any] = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "req-2", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": "team-a", "operation": "CREATE", "object": pod},
    }  # fmt: skip
    out = (await harness.http.post("/webhook", json=review)).json()["response"]
    assert out["allowed"] is True
    assert ("patch" in out) is mutated


async def _still_schedules(h: Harness, nodes: list[str] = NODES) -> None:
    name = f"after-{len(h.kube.objects('pods'))}"
    pod = h.kube.add("pods", make_pod(name, containers=[container(gpumem=500)]))
    await h.settle()
    body = (await h.http.post("/filter", json=filter_args(pod, nodes))).json()
    assert body["Error"] == "" and len(body["NodeNames"]) == 1, body


async def test_bind_to_unknown_node_is_a_clear_error(harness: Harness) -> None:
    pod = harness.kube.add("pods", make_pod("lost", containers=[container(gpumem=1000)]))
    await harness.settle()
    assert (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()["NodeNames"]
    args = {"PodName": "lost", "PodNamespace": "default", "PodUID": "", "Node": "ghost"}
    body = (await harness.http.post("/bind", json=args)).json()
    # the pod's decision names another node: refused before any lock is taken
    assert body["Error"].startswith("bind pod default/lost to node ghost: ")
    assert "placed it on node node-" in body["Error"]
    assert not harness.kube.get("pods", "default", "lost")["spec"].get("nodeName")
    await _still_schedules(harness)


async def test_pod_without_uid_is_refused(harness: Harness) -> None:
    pod = make_pod("nouid", containers=[container(gpumem=1000)])
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert "metadata.uid is empty" in body["Error"]
    assert sum(g.usedmem for n in harness.service.state.nodes() for g in n.gpus) == 0


@pytest.mark.parametrize("path", ["/filter", "/bind", "/webhook"])
async def test_wrong_method_on_extender_paths_is_405(harness: Harness, path: str) -> None:
    assert (await harness.http.get(path)).status_code == 405
    await _still_schedules(harness)
