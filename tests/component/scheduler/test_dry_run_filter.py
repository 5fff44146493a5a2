"""/filter with full Node objects (``nodes.items``): the dry run sees the cache's current usage.

The node objects only choose the candidates; a node the cache knows is judged with its cached
GPUs and every reservation on it, an unknown node (autoscaler template) by its own register
annotation, and an unknown node without one is reported in ``failedNodes``.
"""

from __future__ import annotations

from typing import Any

import pytest

from hami.k8s.fake import FakeKube
from tests.component.scheduler.conftest import Harness, serve
from tests.component.scheduler.objects import container, filter_args, make_node, make_pod


def _dry(pod: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Pod": pod, "Nodes": {"items": nodes}, "NodeNames": None}


def _stale(name: str) -> dict[str, Any]:
    """The node object as an old snapshot: 8 GB, no usage visible in it."""
    return make_node(name, gpus=1, mem=8000)


@pytest.fixture
def kube() -> FakeKube:
    fake = FakeKube()
    fake.add("nodes", make_node("busy", gpus=1, mem=8000))
    fake.add("nodes", make_node("idle", gpus=1, mem=8000))
    return fake


async def _fill(h: Harness, node: str, mem: int) -> None:
    pod = h.kube.add("pods", make_pod("filler", containers=[container(gpumem=mem)]))
    await h.settle()
    body = (await h.http.post("/filter", json=filter_args(pod, [node]))).json()
    assert body["NodeNames"] == [node], body
    await h.settle()


@pytest.mark.parametrize(
    ("request_mib", "candidates", "chosen", "reasons"),
    [
        pytest.param(3000, ["busy"], [], {"busy": "CardInsufficientMemory"}, id="usage-counts"),
        pytest.param(2000, ["busy"], ["busy"], {}, id="room-left"),
        pytest.param(3000, ["busy", "idle"], ["idle"], {}, id="picks-free-node"),
        pytest.param(
            1000,
            ["ghost"],
            [],
            {"ghost": "not in the scheduler's cache"},
            id="unknown-no-annotation",
        ),
    ],
)
async def test_dry_run_uses_cached_usage(
    kube: FakeKube,
    request_mib: int,
    candidates: list[str],
    chosen: list[str],
    reasons: dict[str, str],
) -> None:
    async with serve(kube) as h:
        await _fill(h, "busy", 6000)
        pod = make_pod("dry", containers=[container(gpumem=request_mib)], uid="dry-uid")
        objects = [_stale(n) for n in candidates]
        for obj in objects:
            if obj["metadata"]["name"] == "ghost":
                del obj["metadata"]["annotations"]["hami.io/node-nvidia-register"]
        before = h.kube.get("pods", "default", "filler")["metadata"]["resourceVersion"]
        body = (await h.http.post("/filter", json=_dry(pod, objects))).json()
        assert body["Error"] == ""
        assert [n["metadata"]["name"] for n in body["Nodes"]["items"]] == chosen
        for node, text in reasons.items():
            assert text in body["FailedNodes"][node], body
        assert not h.service.state.has_pod("dry-uid")
        assert h.kube.get("pods", "default", "filler")["metadata"]["resourceVersion"] == before


async def test_dry_run_sees_cached_gpus_not_the_supplied_annotation(kube: FakeKube) -> None:
    async with serve(kube) as h:
        bigger = make_node("idle", gpus=1, mem=80000)  # the object claims more than registered
        pod = make_pod("dry", containers=[container(gpumem=20000)])
        body = (await h.http.post("/filter", json=_dry(pod, [bigger]))).json()
        assert body["Nodes"]["items"] == []
        assert "CardInsufficientMemory" in body["FailedNodes"]["idle"]


async def test_dry_run_unhealthy_cached_node_reason(kube: FakeKube) -> None:
    kube.add("nodes", make_node("sick", gpus=1, mem=8000, allocatable=0))
    async with serve(kube) as h:
        pod = make_pod("dry", containers=[container(gpumem=1000)])
        body = (await h.http.post("/filter", json=_dry(pod, [_stale("sick")]))).json()
        assert body["Nodes"]["items"] == []
        assert "no usable GPUs in the scheduler's cache" in body["FailedNodes"]["sick"]
        assert "allocatable is 0" in body["FailedNodes"]["sick"]


async def test_dry_run_respects_namespace_quota(kube: FakeKube) -> None:
    kube.add("resourcequotas", {
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "default"},
        "spec": {"hard": {"limits.nvidia.com/gpumem": "7000"}},
    })  # fmt: skip
    async with serve(kube) as h:
        await _fill(h, "busy", 6000)
        pod = make_pod("dry", containers=[container(gpumem=2000)])
        body = (await h.http.post("/filter", json=_dry(pod, [_stale("idle")]))).json()
        assert body["Nodes"]["items"] == []
        assert "ResourceQuotaNotFit" in body["FailedNodes"]["idle"]
