"""Pods of every kind scheduled end to end through kube-scheduler -> our extender -> apiserver."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.component.scheduler.objects import container, make_node, make_pod
from tests.integration.conftest import add_nodes
from tests.integration.stack import (
    assert_no_overcommit,
    bound,
    control_plane,
    events,
    state_usage,
    wait_for,
)
from tests.support.apiserver import ApiServerThread

KINDS: list[tuple[str, dict[str, Any], str]] = [
    ("whole", {"containers": [container(gpu=1, gpucores=100)],
               "annotations": {"nvidia.com/use-gputype": "T4"}}, ",NVIDIA,16384,100:;"),
    ("mib", {"containers": [container(gpumem=3000)]}, ",NVIDIA,3000,0:;"),
    ("percent", {"containers": [container(percentage=25)],
                 "annotations": {"nvidia.com/nouse-gputype": "A100"}}, ",NVIDIA,4096,0:;"),
    ("cores", {"containers": [container(gpumem=1000, gpucores=30)]}, ",NVIDIA,1000,30:;"),
    ("multi-gpu", {"containers": [container(gpu=2, gpumem=2000)]}, ",NVIDIA,2000,0:;"),
    ("multi-container", {"containers": [container("a", gpumem=1000),
                                        container("b", gpumem=2000)]}, ",NVIDIA,2000,0:;"),
    ("init-container", {"init_containers": [container("init", gpumem=500)],
                        "containers": [container("app", gpumem=700)]}, ",NVIDIA,700,0:;"),
    ("no-gpu-sidecar", {"containers": [container("side", gpu=None),
                                       container("main", gpumem=900)]}, ",NVIDIA,900,0:;"),
    ("type-pinned", {"containers": [container(gpumem=1000)],
                     "annotations": {"nvidia.com/use-gputype": "a100"}}, ",NVIDIA,1000,0:;"),
    ("uuid-pinned", {"containers": [container(gpumem=1000)],
                     "annotations": {"nvidia.com/use-gpuuuid": "GPU-gpu-node-01-01"}},
     "GPU-gpu-node-01-01,NVIDIA,1000,0:;"),
]  # fmt: skip


def test_every_kind_is_scheduled_end_to_end(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 2)
    apiserver.store.create(
        make_node("a100-node", gpus=1, mem=40960, gpu_type="NVIDIA A100-SXM4-40GB")
    )
    with control_plane(apiserver, success_events=True) as (sched, _ks):
        for name, kwargs, _ in KINDS:
            apiserver.store.create(make_pod(name, **kwargs))
        assert wait_for(lambda: len(bound(apiserver)) == len(KINDS), 30), [
            p["metadata"]["name"] for p in bound(apiserver)
        ]
        assert wait_for(lambda: len(events(apiserver, "BindingSucceed")) == len(KINDS), 10)
        assert wait_for(lambda: all(
            p["metadata"]["annotations"].get("hami.io/bind-phase") == "success"
            for p in bound(apiserver)), 10)  # fmt: skip
        for name, _, suffix in KINDS:
            pod = apiserver.store.get("pods", name)
            anns = pod["metadata"]["annotations"]
            assert anns["hami.io/vgpu-node"] == pod["spec"]["nodeName"], name
            assert pod["metadata"]["labels"]["hami.io/vgpu-node"] == pod["spec"]["nodeName"]
            assert anns["hami.io/vgpu-devices-allocated"].endswith(suffix), (name, anns)
            assert anns["hami.io/bind-phase"] == "success", name
            assert int(anns["hami.io/bind-time"]) >= int(anns["hami.io/vgpu-time"])
        assert apiserver.store.get("pods", "type-pinned")["spec"]["nodeName"] == "a100-node"
        assert apiserver.store.get("pods", "uuid-pinned")["spec"]["nodeName"] == "gpu-node-01"
        assert len(events(apiserver, "FilteringSucceed")) >= len(KINDS)
        assert_no_overcommit(apiserver, split=10, mem=40960)
        multi = apiserver.store.get("pods", "multi-gpu")["metadata"]["annotations"]
        assert multi["hami.io/vgpu-devices-allocated"].count("NVIDIA") == 2
        init = apiserver.store.get("pods", "init-container")["metadata"]["annotations"]
        assert init["hami.io/vgpu-devices-allocated"].count(";") == 2
        assert sum(m for _, m, _ in state_usage(sched).values()) > 0


def test_unschedulable_pod_stays_pending(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 2)
    with control_plane(apiserver) as (_sched, ks):
        apiserver.store.create(make_pod("huge", containers=[container(gpumem=100_000)]))
        apiserver.store.create(make_pod("fine", containers=[container(gpumem=1000)]))
        # kube-scheduler retries: the repeats are counted on one Event (patched), not piled up
        assert wait_for(
            lambda: sum(e.get("count", 1) for e in events(apiserver, "FilteringFailed")) >= 2, 20
        )
        assert wait_for(lambda: bool(apiserver.store.get("pods", "fine")["spec"].get("nodeName")))
        huge = apiserver.store.get("pods", "huge")
        assert not huge["spec"].get("nodeName")
        assert huge["status"]["phase"] == "Pending"
        assert "hami.io/vgpu-node" not in (huge["metadata"].get("annotations") or {})
        failed = [e for e in events(apiserver, "FilteringFailed")
                  if e["involvedObject"]["name"] == "huge"]  # fmt: skip
        assert len(failed) == 1 and failed[0]["count"] >= 2
        assert "CardInsufficientMemory" in failed[0]["message"], failed[0]["message"]
        assert any(f.pod == "default/huge" for f in ks.failures)


@pytest.mark.parametrize(
    "body",
    [b"{garbage", b'{"Pod": 7, "NodeNames": []}', b"x" * (2 * 1024 * 1024)],
    ids=["malformed", "wrong-type", "huge"],
)
def test_bad_requests_leave_the_service_up(apiserver: ApiServerThread, body: bytes) -> None:
    add_nodes(apiserver, 1)
    with control_plane(apiserver) as (sched, _ks):
        resp = httpx.post(f"{sched.url}/filter", content=body, timeout=10)
        assert resp.status_code in (200, 413)
        assert resp.json()["Error"]
        apiserver.store.create(make_pod("after", containers=[container(gpumem=1000)]))
        assert wait_for(lambda: len(bound(apiserver)) == 1, 20)
        assert httpx.get(f"{sched.url}/healthz").status_code == 200
