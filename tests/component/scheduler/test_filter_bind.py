"""Filter and Bind through the HTTP app, against the in-memory fake cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hami.api.nodelock import parse_lock
from hami.k8s import errors
from hami.k8s.fake import FakeKube
from tests.component.scheduler.conftest import Harness, serve
from tests.component.scheduler.objects import (
    bind_args,
    container,
    filter_args,
    make_node,
    make_pod,
    usage_by_gpu,
)

NODES = ["node-0", "node-1", "node-2"]


def _events(kube: FakeKube, reason: str) -> list[dict[str, Any]]:
    return [e for e in kube.objects("events") if e["reason"] == reason]


async def _create(h: Harness, pod: dict[str, Any]) -> dict[str, Any]:
    created = h.kube.add("pods", pod)
    await h.settle()
    return created


async def test_filter_writes_decision_and_bind_binds(harness: Harness) -> None:
    pod = await _create(harness, make_pod("p1", containers=[container(gpumem=3000, gpucores=20)]))
    resp = await harness.http.post("/filter", json=filter_args(pod, NODES))
    assert resp.status_code == 200
    body = resp.json()
    assert body["Error"] == ""
    assert len(body["NodeNames"]) == 1
    node = body["NodeNames"][0]
    stored = harness.kube.get("pods", "default", "p1")
    anns = stored["metadata"]["annotations"]
    assert anns["hami.io/vgpu-node"] == node
    assert stored["metadata"]["labels"]["hami.io/vgpu-node"] == node
    assert anns["hami.io/vgpu-devices-to-allocate"] == anns["hami.io/vgpu-devices-allocated"]
    assert anns["hami.io/vgpu-devices-allocated"].endswith(",NVIDIA,3000,20:;")
    assert int(anns["hami.io/vgpu-time"]) > 0

    resp = await harness.http.post("/bind", json=bind_args(stored, node))
    assert resp.json() == {"Error": ""}
    bound = harness.kube.get("pods", "default", "p1")
    assert bound["spec"]["nodeName"] == node
    assert bound["metadata"]["annotations"]["hami.io/bind-phase"] == "allocating"
    assert int(bound["metadata"]["annotations"]["hami.io/bind-time"]) > 0
    lock = parse_lock(
        harness.kube.get("nodes", "", node)["metadata"]["annotations"]["hami.io/mutex.lock"]
    )
    assert (lock.namespace, lock.name) == ("default", "p1")
    await harness.service.recorder.flush()
    # Success Events cost two API writes per pod: off unless --success-events.
    assert _events(harness.kube, "FilteringSucceed") == []
    assert _events(harness.kube, "BindingSucceed") == []


async def test_success_events_when_asked(kube: FakeKube) -> None:
    async with serve(kube, success_events=True) as h:
        pod = await _create(h, make_pod("ev", containers=[container(gpumem=1000)]))
        node = (await h.http.post("/filter", json=filter_args(pod, NODES))).json()["NodeNames"][0]
        stored = h.kube.get("pods", "default", "ev")
        assert (await h.http.post("/bind", json=bind_args(stored, node))).json() == {"Error": ""}
        await h.service.recorder.flush()
        assert len(_events(h.kube, "FilteringSucceed")) == 1
        assert len(_events(h.kube, "BindingSucceed")) == 1


async def test_unmanaged_pod_gets_all_candidates(harness: Harness) -> None:
    pod = await _create(harness, make_pod("plain", containers=[container(gpu=None)]))
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert body == {"Nodes": None, "NodeNames": NODES, "FailedNodes": {},
                    "FailedAndUnresolvableNodes": None, "Error": ""}  # fmt: skip


async def test_unschedulable_pod_reports_every_node(harness: Harness) -> None:
    pod = await _create(harness, make_pod("big", containers=[container(gpumem=999_999)]))
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert body["NodeNames"] == []
    assert sorted(body["FailedNodes"]) == NODES
    assert all(body["FailedNodes"].values())
    await harness.service.recorder.flush()
    failed = _events(harness.kube, "FilteringFailed")
    assert len(failed) == 1 and failed[0]["type"] == "Warning"
    assert "hami.io/vgpu-node" not in (
        harness.kube.get("pods", "default", "big")["metadata"].get("annotations") or {}
    )


async def test_retried_failures_count_on_one_event(harness: Harness) -> None:
    pod = await _create(harness, make_pod("pending", containers=[container(gpumem=999_999)]))
    for _ in range(4):  # kube-scheduler retries; each event is sent before the next try
        body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
        assert body["NodeNames"] == []
        await harness.service.recorder.flush()
    failed = _events(harness.kube, "FilteringFailed")
    assert [e["count"] for e in failed] == [4]
    assert failed[0]["involvedObject"]["name"] == "pending"


async def test_retried_filter_does_not_double_count(harness: Harness) -> None:
    pod = await _create(harness, make_pod("retry", containers=[container(gpumem=4000)]))
    for _ in range(3):
        body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
        assert len(body["NodeNames"]) == 1
        await harness.settle()
    used = sum(g.usedmem for n in harness.service.state.nodes() for g in n.gpus)
    assert used == 4000


async def test_concurrent_filters_never_overcommit() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("only", gpus=1, mem=10000, split=100))
    async with serve(kube) as h:
        pods = [h.kube.add("pods", make_pod(f"c{i}", containers=[container(gpumem=1000)]))
                for i in range(15)]  # fmt: skip
        await h.settle()
        bodies = await asyncio.gather(
            *(h.http.post("/filter", json=filter_args(p, ["only"])) for p in pods)
        )
        ok = [b.json() for b in bodies if b.json()["NodeNames"]]
        assert len(ok) == 10
        await h.settle()
        usage = usage_by_gpu(h.kube.objects("pods"))
        assert usage == {"GPU-only-00": (10, 10000, 0)}


async def test_failed_annotation_write_releases_reservation(harness: Harness) -> None:
    pod = await _create(harness, make_pod("w", containers=[container(gpumem=2000)]))
    harness.kube.fail_next("patch_pod_metadata", errors.ServerError("boom", status=500))
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert "boom" in body["Error"]
    assert sum(g.usedmem for n in harness.service.state.nodes() for g in n.gpus) == 0
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert len(body["NodeNames"]) == 1


@pytest.mark.parametrize(
    ("err", "message"),
    [
        (errors.Conflict("pod is already assigned", status=409), "already"),
        (errors.ServerError("boom", status=500), "boom"),
    ],
    ids=["binding-conflict", "binding-500"],
)
async def test_bind_failure_releases_lock(
    harness: Harness, err: errors.ApiError, message: str
) -> None:
    pod = await _create(harness, make_pod("bf", containers=[container(gpumem=1000)]))
    node = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()["NodeNames"][0]
    await harness.settle()
    # the binding (which carries the bind-phase stamp) is retried by nobody: fail it once
    harness.kube.fail_next("bind_pod", err)
    resp = (await harness.http.post("/bind", json=bind_args(pod, node))).json()
    assert message in resp["Error"]
    anns = harness.kube.get("nodes", "", node)["metadata"].get("annotations") or {}
    assert "hami.io/mutex.lock" not in anns
    stamped = harness.kube.get("pods", "default", "bf")["metadata"].get("annotations") or {}
    assert "hami.io/bind-phase" not in stamped
    await harness.service.recorder.flush()
    assert len(_events(harness.kube, "BindingFailed")) == 1


async def test_restart_rebuilds_same_usage(kube: FakeKube) -> None:
    async with serve(kube) as h:
        for i in range(6):
            pod = h.kube.add("pods", make_pod(f"r{i}", containers=[container(gpumem=1500 + i)]))
            await h.settle()
            body = (await h.http.post("/filter", json=filter_args(pod, NODES))).json()
            assert len(body["NodeNames"]) == 1
        await h.settle()
        before = sorted(h.service.state.nodes(), key=lambda n: n.name)
    async with serve(kube) as h2:
        after = sorted(h2.service.state.nodes(), key=lambda n: n.name)
    assert after == before
    assert sum(g.usedmem for n in after for g in n.gpus) == sum(1500 + i for i in range(6))


async def test_deleted_and_finished_pods_free_usage(harness: Harness) -> None:
    for name in ("d1", "d2"):
        pod = await _create(harness, make_pod(name, containers=[container(gpumem=1000)]))
        assert (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()[
            "NodeNames"
        ]
    await harness.settle()
    harness.kube.delete("pods", "default", "d1")
    done = harness.kube.get("pods", "default", "d2")
    done["status"]["phase"] = "Succeeded"
    harness.kube.update("pods", done)
    await harness.settle()
    assert sum(g.usedmem for n in harness.service.state.nodes() for g in n.gpus) == 0


async def test_pod_events_that_change_no_holding_keep_the_reservation(harness: Harness) -> None:
    """A pod event that leaves the decision as it was (a label, the binding) keeps the
    reservation as it is; one that changes the allocation re-reads it."""
    pod = await _create(harness, make_pod("h", containers=[container(gpumem=1000)]))
    assert (await harness.http.post("/filter", json=filter_args(pod, ["node-0"]))).json()[
        "NodeNames"
    ] == ["node-0"]
    uid = pod["metadata"]["uid"]
    await harness.settle()
    kept = harness.service.pods[uid]
    decided = harness.kube.get("pods", "default", "h")
    harness.service.on_pod_event("MODIFIED", pod, decided)  # the decision as the watch brings it
    assert harness.service.pods[uid] is kept
    await harness.kube.patch_pod_metadata("default", "h", labels={"team": "a"})
    await harness.settle()
    assert harness.service.pods[uid] is kept
    allocated = harness.kube.get("pods", "default", "h")["metadata"]["annotations"][
        "hami.io/vgpu-devices-allocated"
    ]
    bigger = allocated.replace(",1000,", ",5000,")
    await harness.kube.patch_pod_metadata(
        "default", "h", annotations={"hami.io/vgpu-devices-allocated": bigger}
    )
    await harness.settle()
    assert harness.service.pods[uid].mem == 5000
    assert sum(g.usedmem for n in harness.service.state.nodes() for g in n.gpus) == 5000


@pytest.mark.parametrize("in_group", [True, False], ids=["pod-group", "plain"])
async def test_lock_contention_waits_its_turn(harness: Harness, in_group: bool) -> None:
    """Every bind (not only PodGroup members) waits for the lock instead of failing."""
    first = await _create(harness, make_pod("holder", containers=[container(gpumem=1000)]))
    node = (await harness.http.post("/filter", json=filter_args(first, ["node-0"]))).json()[
        "NodeNames"
    ][0]
    await harness.settle()
    assert (await harness.http.post("/bind", json=bind_args(first, node))).json() == {"Error": ""}
    pod = make_pod("member", containers=[container(gpumem=1000)])
    if in_group:
        pod["metadata"]["labels"] = {"scheduling.x-k8s.io/pod-group": "g1"}
    second = await _create(harness, pod)
    assert (await harness.http.post("/filter", json=filter_args(second, [node]))).json()[
        "NodeNames"
    ] == [node]
    await harness.settle()

    async def allocate_first() -> None:  # the device plugin finishes "holder" a bit later
        await asyncio.sleep(0.3)
        await harness.kube.patch_node_metadata(node, annotations={"hami.io/mutex.lock": None})

    releaser = asyncio.get_running_loop().create_task(allocate_first())
    resp = (await harness.http.post("/bind", json=bind_args(second, node))).json()
    await releaser
    assert resp["Error"] == "", resp
    assert harness.service.locker.stats.waited == 1


async def test_full_node_objects_dry_run_has_no_side_effects(harness: Harness) -> None:
    pod = await _create(harness, make_pod("dry", containers=[container(gpumem=2000)]))
    template = make_node("template-node", gpus=1, mem=8000)
    args = {"Pod": pod, "Nodes": {"items": [template]}, "NodeNames": None}
    body = (await harness.http.post("/filter", json=args)).json()
    assert body["Error"] == ""
    assert [n["metadata"]["name"] for n in body["Nodes"]["items"]] == ["template-node"]
    assert "annotations" not in harness.kube.get("pods", "default", "dry")["metadata"]
    assert sum(g.usedmem for n in harness.service.state.nodes() for g in n.gpus) == 0
    too_big = make_pod("dry2", containers=[container(gpumem=9000)])
    args = {"Pod": too_big, "Nodes": {"items": [template]}, "NodeNames": None}
    body = (await harness.http.post("/filter", json=args)).json()
    assert body["Nodes"]["items"] == []
    assert "template-node" in body["FailedNodes"]


async def test_filter_passes_over_a_node_whose_lock_is_held(harness: Harness) -> None:
    """binpack prefers the used node, but another pod's bind holds its lock: the next node wins,
    so the bind does not fail on contention; once the lock is gone the used node wins again."""
    first = await _create(harness, make_pod("holder", containers=[container(gpumem=1000)]))
    used = (await harness.http.post("/filter", json=filter_args(first, NODES))).json()["NodeNames"][
        0
    ]
    await harness.settle()
    assert (await harness.http.post("/bind", json=bind_args(first, used))).json() == {"Error": ""}
    await harness.settle()
    second = await _create(harness, make_pod("next", containers=[container(gpumem=1000)]))
    body = (await harness.http.post("/filter", json=filter_args(second, NODES))).json()
    assert body["NodeNames"] and body["NodeNames"][0] != used
    other = body["NodeNames"][0]
    assert (await harness.http.post("/bind", json=bind_args(second, other))).json() == {"Error": ""}
    for node in NODES:  # the device plugin finished both pods
        await harness.kube.patch_node_metadata(node, annotations={"hami.io/mutex.lock": None})
    await harness.settle()
    third = await _create(harness, make_pod("third", containers=[container(gpumem=1000)]))
    body = (await harness.http.post("/filter", json=filter_args(third, NODES))).json()
    assert body["NodeNames"] == [min(used, other)]  # equal usage: name order, no node busy
