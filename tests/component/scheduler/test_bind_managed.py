"""Bind when the filter ran elsewhere (another replica) or decided from a stale view (issue 11,
point 4): every bind is managed, and under the node lock the decision is re-checked against the
node's allocations as the API has them."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from hami.api.nodelock import parse_lock
from tests.component.scheduler.conftest import Harness
from tests.component.scheduler.objects import bind_args, container, filter_args, make_pod

LOCK = "hami.io/mutex.lock"
DECISION = ("hami.io/vgpu-node", "hami.io/vgpu-devices-to-allocate",
            "hami.io/vgpu-devices-allocated")  # fmt: skip


async def _filtered_elsewhere(h: Harness, name: str, mem: int, nodes: list[str]) -> dict[str, Any]:
    """A pod whose decision another replica wrote: on the API, but not in this replica's
    reservations, and this replica's pod cache still shows the pod without it."""
    pod = h.kube.add("pods", make_pod(name, containers=[container(gpumem=mem)]))
    await h.settle()
    body = (await h.http.post("/filter", json=filter_args(pod, nodes))).json()
    assert body["NodeNames"], body
    h.service._forget(pod["metadata"]["uid"])
    return pod  # as created: no decision


async def test_bind_reads_the_pod_when_this_cache_lacks_the_decision(harness: Harness) -> None:
    pod = await _filtered_elsewhere(harness, "crossed", 1000, ["node-0"])
    harness.service.binder._cached_pod = lambda ref: pod  # the watch has not delivered it yet
    assert (await harness.http.post("/bind", json=bind_args(pod, "node-0"))).json() == {"Error": ""}
    stored = harness.kube.get("pods", "default", "crossed")
    assert stored["spec"]["nodeName"] == "node-0"
    assert stored["metadata"]["annotations"]["hami.io/bind-phase"] == "allocating"
    lock = harness.kube.get("nodes", "", "node-0")["metadata"]["annotations"][LOCK]
    assert parse_lock(lock).name == "crossed"


async def test_bind_without_any_decision_is_refused(harness: Harness) -> None:
    pod = harness.kube.add("pods", make_pod("undecided", containers=[container(gpumem=1000)]))
    await harness.settle()
    body = (await harness.http.post("/bind", json=bind_args(pod, "node-0"))).json()
    assert body["Error"] == (
        "bind pod default/undecided to node node-0: it has no hami.io/vgpu-node decision; "
        "the next filter decides again"
    )
    assert not harness.kube.get("pods", "default", "undecided")["spec"].get("nodeName")
    assert LOCK not in harness.kube.get("nodes", "", "node-0")["metadata"]["annotations"]


async def test_bind_refuses_a_decision_that_no_longer_fits(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Two replicas filtered at the same moment and picked the same GPU: 10000 + 10000 MiB on a
    # 16384 MiB GPU. The first bind wins; the second finds the GPU taken under the lock.
    first = await _filtered_elsewhere(harness, "first", 10000, ["node-0"])
    anns = harness.kube.get("pods", "default", "first")["metadata"]["annotations"]
    second = harness.kube.add("pods", make_pod("second", containers=[container(gpumem=10000)]))
    await harness.kube.patch_pod_metadata(
        "default", "second", annotations={k: anns[k] for k in DECISION}
    )
    await harness.settle()
    assert (await harness.http.post("/bind", json=bind_args(first, "node-0"))).json() == {
        "Error": ""
    }
    await harness.kube.patch_node_metadata("node-0", annotations={LOCK: None})  # Allocate done
    await harness.settle()
    gpu = anns["hami.io/vgpu-devices-allocated"].split(",")[0]
    with caplog.at_level(logging.INFO, logger="hami.scheduler.bind"):
        body = (await harness.http.post("/bind", json=bind_args(second, "node-0"))).json()
    assert body["Error"].startswith("bind pod default/second to node node-0: ")
    assert f"GPU {gpu} has 6384 MiB free, the pod needs 10000" in body["Error"]
    stored = harness.kube.get("pods", "default", "second")
    assert not stored["spec"].get("nodeName")
    assert not any(k in stored["metadata"]["annotations"] for k in DECISION)  # decide again
    assert LOCK not in harness.kube.get("nodes", "", "node-0")["metadata"]["annotations"]
    assert harness.service.binder.stats.stale == 1
    line = [r for r in caplog.records if r.name == "hami.scheduler.bind"][-1]
    assert line.levelno == logging.INFO
    assert (line.pod, line.node, line.outcome) == ("default/second", "node-0", "failed")  # type: ignore[attr-defined]
    assert line.getMessage().startswith("bind pod=default/second node=node-0 outcome=failed")
    # the next filter decides again, on the other GPU, and that bind goes through
    await harness.settle()
    fresh = harness.kube.get("pods", "default", "second")
    assert (await harness.http.post("/filter", json=filter_args(fresh, ["node-0"]))).json()[
        "NodeNames"
    ] == ["node-0"]
    await harness.settle()
    assert (await harness.http.post("/bind", json=bind_args(fresh, "node-0"))).json() == {
        "Error": ""
    }
    again = harness.kube.get("pods", "default", "second")["metadata"]["annotations"]
    assert again["hami.io/vgpu-devices-allocated"].split(",")[0] != gpu


async def test_each_bind_logs_one_info_line(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    pod = harness.kube.add("pods", make_pod("logged", containers=[container(gpumem=1000)]))
    await harness.settle()
    await harness.http.post("/filter", json=filter_args(pod, ["node-1"]))
    await harness.settle()
    with caplog.at_level(logging.INFO, logger="hami.scheduler.bind"):
        assert (await harness.http.post("/bind", json=bind_args(pod, "node-1"))).json() == {
            "Error": ""
        }
    lines = [r for r in caplog.records if r.name == "hami.scheduler.bind"]
    assert len(lines) == 1
    rec: Any = lines[0]
    assert (rec.levelno, rec.pod, rec.node, rec.outcome) == (
        logging.INFO, "default/logged", "node-1", "bound",
    )  # fmt: skip
    assert rec.lock_wait_s >= 0 and rec.duration_s >= rec.lock_wait_s
    assert rec.getMessage().startswith("bind pod=default/logged node=node-1 outcome=bound ")


async def _two_on_one_gpu(h: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two pods decided onto the same GPU of node-0 (10000 + 10000 MiB on 16384), the first
    bound and its lock released: the second no longer fits."""
    first = await _filtered_elsewhere(h, "first", 10000, ["node-0"])
    anns = h.kube.get("pods", "default", "first")["metadata"]["annotations"]
    second = h.kube.add("pods", make_pod("second", containers=[container(gpumem=10000)]))
    await h.kube.patch_pod_metadata("default", "second",
                                    annotations={k: anns[k] for k in DECISION})  # fmt: skip
    await h.settle()
    assert (await h.http.post("/bind", json=bind_args(first, "node-0"))).json() == {"Error": ""}
    await h.kube.patch_node_metadata("node-0", annotations={LOCK: None})  # Allocate done
    await h.settle()
    return first, second


async def test_recheck_from_the_cache_once_it_has_seen_the_lock(harness: Harness) -> None:
    """Under the lock the bind re-checks from the pod cache when the cache has passed the lock
    write (no GET, no LIST), and refuses the over-commit all the same."""
    _, second = await _two_on_one_gpu(harness)
    binder = harness.service.binder
    assert [p["metadata"]["name"] for p in harness.service.cached_pods_on("node-0")] == ["first"]
    binder.cache_wait_s = 5.0
    binder._waiting = True  # as after a bind that found the cache ahead of its lock write
    before = (binder.stats.cached_checks, binder.stats.listed_checks)

    async def later_pod_event() -> None:  # moves the pod watch past the lock write
        await asyncio.sleep(0.05)
        harness.kube.add("pods", make_pod("unrelated"))

    noise = asyncio.get_running_loop().create_task(later_pod_event())
    body = (await harness.http.post("/bind", json=bind_args(second, "node-0"))).json()
    await noise
    assert "has 6384 MiB free, the pod needs 10000" in body["Error"]
    assert (binder.stats.cached_checks, binder.stats.listed_checks) == (before[0] + 1, before[1])
    harness.kube.delete("pods", "default", "first")
    await harness.settle()
    assert harness.service.cached_pods_on("node-0") == []


async def test_recheck_reads_the_api_while_the_cache_lags(harness: Harness) -> None:
    """A pod cache that has not reached the lock write is not trusted: even one that misses the
    bound pod leads to the same refusal, from a fresh GET and LIST."""
    _, second = await _two_on_one_gpu(harness)
    binder = harness.service.binder
    binder.cache_wait_s = 0.0  # no pod event since the lock write: the cache is behind it
    binder._cached_on_node = lambda node: []  # and it would say the GPU is free
    before = (binder.stats.cached_checks, binder.stats.listed_checks)
    body = (await harness.http.post("/bind", json=bind_args(second, "node-0"))).json()
    assert "has 6384 MiB free, the pod needs 10000" in body["Error"]
    assert (binder.stats.cached_checks, binder.stats.listed_checks) == (before[0], before[1] + 1)


async def test_a_quiet_cluster_does_not_wait_for_the_watch_each_time(harness: Harness) -> None:
    """No pod event follows a lock write in a quiet cluster: the first bind waits out
    ``cache_wait_s`` and reads the API, later ones read the API at once."""
    binder = harness.service.binder
    binder.cache_wait_s = 1.0
    took = []
    for name in ("q1", "q2"):
        pod = await _filtered_elsewhere(harness, name, 1000, ["node-1"])
        await harness.settle()
        started = time.monotonic()
        body = (await harness.http.post("/bind", json=bind_args(pod, "node-1"))).json()
        took.append(time.monotonic() - started)
        assert body == {"Error": ""}
        await harness.kube.patch_node_metadata("node-1", annotations={LOCK: None})
        await harness.settle()
    assert took[0] >= 1.0 > took[1]
    assert binder.stats.cached_checks == 0 and not binder._waiting
