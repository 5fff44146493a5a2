"""200 pods at once on 20 nodes: never over-commit, survive restarts and apiserver faults."""

from __future__ import annotations

import random
import time

import pytest

from tests.component.scheduler.objects import container, make_pod, usage_by_gpu
from tests.integration.conftest import add_nodes
from tests.integration.stack import (
    assert_no_overcommit,
    bound,
    control_plane,
    kube_scheduler_config,
    pods,
    start_scheduler,
    state_usage,
    wait_for,
)
from tests.support.apiserver import ApiServerThread
from tests.support.kubescheduler import KubeSchedulerThread

SPLIT, MEM = 10, 16384


def _storm(api: ApiServerThread, count: int, seed: int = 7) -> int:
    """Create ``count`` mixed pods; returns the MiB they ask for in total."""
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        mem = rng.choice([1000, 2000, 3000, 5000])
        gpus = rng.choice([1, 1, 1, 2])
        cores = rng.choice([0, 0, 10, 25])
        api.store.create(
            make_pod(f"storm-{i:03d}", containers=[container(gpu=gpus, gpumem=mem, gpucores=cores)])
        )
        total += mem * gpus
    return total


def _settled(api: ApiServerThread, quiet_s: float = 1.5, timeout: float = 90.0) -> None:
    """Wait until the number of bound pods stops changing."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(bound(api))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.1)


def _check_accounting(api: ApiServerThread, sched: object) -> None:
    assert_no_overcommit(api, split=SPLIT, mem=MEM)
    scheduled = [
        p for p in pods(api) if "hami.io/vgpu-node" in (p["metadata"].get("annotations") or {})
    ]
    assert wait_for(lambda: state_usage(sched) == usage_by_gpu(scheduled), 10)  # type: ignore[arg-type]


@pytest.mark.slow
def test_200_pods_on_20_nodes_never_overcommit(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 20)
    with control_plane(apiserver) as (sched, _ks):
        _storm(apiserver, 200)
        _settled(apiserver)
        assert len(bound(apiserver)) >= 150
        _check_accounting(apiserver, sched)
        for pod in pods(apiserver):
            if not pod["spec"].get("nodeName"):
                assert "hami.io/vgpu-node" not in (pod["metadata"].get("annotations") or {}) or \
                    pod["metadata"]["annotations"]["hami.io/vgpu-node"]  # fmt: skip


@pytest.mark.slow
def test_restart_mid_storm_keeps_accounting(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 20)
    sched = start_scheduler(apiserver, identity="first")
    from tests.integration.stack import DevicePluginStandIn

    with DevicePluginStandIn(apiserver):
        with KubeSchedulerThread(apiserver.url, kube_scheduler_config(sched.url),
                                 max_backoff_s=0.5):  # fmt: skip
            _storm(apiserver, 200, seed=11)
            assert wait_for(lambda: len(bound(apiserver)) >= 40, 60)
        before = state_usage(sched)
        sched.stop()
        assert before
        second = start_scheduler(apiserver, identity="second")
        try:
            scheduled = [
                p
                for p in pods(apiserver)
                if "hami.io/vgpu-node" in (p["metadata"].get("annotations") or {})
            ]
            assert state_usage(second) == usage_by_gpu(scheduled)
            with KubeSchedulerThread(apiserver.url, kube_scheduler_config(second.url),
                                     max_backoff_s=0.5):  # fmt: skip
                _settled(apiserver)
                assert len(bound(apiserver)) >= 150
                _check_accounting(apiserver, second)
        finally:
            second.stop()


@pytest.mark.slow
def test_apiserver_faults_are_survived(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 5)
    with control_plane(apiserver) as (sched, _ks):
        apiserver.fail_next("PATCH", r"/api/v1/nodes/", 409, count=5)
        apiserver.fail_next("PATCH", r"/api/v1/namespaces/default/pods/", 500, count=3)
        apiserver.fail_next("POST", r"/binding$", 500, count=2)
        _storm(apiserver, 30, seed=3)
        assert wait_for(lambda: len(bound(apiserver)) >= 10, 30)
        apiserver.drop_watches()
        _storm_more(apiserver, "after-drop", 10)
        apiserver.restart(keep_store=True)
        _storm_more(apiserver, "after-restart", 10)
        _settled(apiserver, quiet_s=2.0)
        names = {p["metadata"]["name"] for p in bound(apiserver)}
        assert {f"after-restart-{i}" for i in range(10)} <= names
        assert {f"after-drop-{i}" for i in range(10)} <= names
        _check_accounting(apiserver, sched)


def _storm_more(api: ApiServerThread, prefix: str, count: int) -> None:
    for i in range(count):
        api.store.create(make_pod(f"{prefix}-{i}", containers=[container(gpumem=500)]))


@pytest.mark.slow
def test_watch_history_expiry_relists() -> None:
    """Watches resumed from a version older than the history window get 410 Gone: relist."""
    with ApiServerThread(history=100) as apiserver:
        _expiry_scenario(apiserver)


def _expiry_scenario(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 3)
    with control_plane(apiserver) as (sched, _ks):
        _storm_more(apiserver, "early", 5)
        assert wait_for(lambda: len(bound(apiserver)) == 5, 30)

        def relists() -> tuple[int, int]:
            return sched.call(
                lambda r: (r.service.pod_informer.relists, r.service.node_informer.relists)
            )

        pods_before, nodes_before = relists()
        # keep the informers from re-watching while the history window moves past them
        apiserver.delay(r"^/api/v1/(pods|nodes)$", 3.0, method="GET")
        apiserver.drop_watches()
        apiserver.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}})
        for i in range(150):
            apiserver.store.patch("configmaps", "f", {"data": {"tick": str(i)}})
        apiserver.clear_faults()
        _storm_more(apiserver, "late", 5)
        assert wait_for(lambda: len(bound(apiserver)) == 10, 30)
        pods_after, nodes_after = relists()
        assert pods_after > pods_before
        assert nodes_after > nodes_before
        _check_accounting(apiserver, sched)
