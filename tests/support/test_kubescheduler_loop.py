"""The kube-scheduler stand-in end to end against the apiserver stand-in and a scripted extender:
who gets filtered, what the extender receives, who binds, and how failures surface (event,
PodScheduled condition, backoff retries)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.apiserver import ApiServerThread
from tests.support.kubescheduler import (
    KubeSchedulerStandIn,
    KubeSchedulerThread,
    parse_scheduler_config,
)
from tests.support.kubescheduler.fakeextender import FakeExtender

SCHED = "hami-scheduler"
GPU = "nvidia.com/gpu"


@pytest.fixture
def api(apiserver: ApiServerThread) -> ApiServerThread:
    """The shared apiserver stand-in with two 4-CPU nodes."""
    for name in ("n1", "n2"):
        apiserver.store.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"}},
            }
        )
    return apiserver


@pytest.fixture
def ext(api: ApiServerThread) -> Iterator[FakeExtender]:
    def bind_via_api(args: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {
                "name": args["PodName"],
                "namespace": args["PodNamespace"],
                "uid": args["PodUID"],
            },
            "target": {"apiVersion": "v1", "kind": "Node", "name": args["Node"]},
        }
        r = httpx.post(
            f"{api.url}/api/v1/namespaces/{args['PodNamespace']}/pods/{args['PodName']}/binding",
            json=body,
        )
        return {"Error": "" if r.status_code == 201 else r.text}

    with FakeExtender(bind_handler=bind_via_api) as e:
        yield e


def config(url: str, **extra: Any) -> dict[str, Any]:
    entry = {
        "urlPrefix": url,
        "filterVerb": "filter",
        "bindVerb": "bind",
        "weight": 1,
        "nodeCacheCapable": True,
        "httpTimeout": "2s",
        "managedResources": [{"name": GPU, "ignoredByScheduler": True}],
    }
    entry.update(extra)
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [{"schedulerName": SCHED}],
        "extenders": [entry],
    }


@pytest.fixture
async def sched(api: ApiServerThread, ext: FakeExtender) -> AsyncIterator[KubeSchedulerStandIn]:
    async with KubeSchedulerStandIn(
        api.url, parse_scheduler_config(config(ext.url)), initial_backoff_s=0.05, max_backoff_s=0.2
    ) as s:
        yield s


def make_pod(
    api: ApiServerThread, name: str, limits: dict[str, str], scheduler: str = SCHED
) -> dict[str, Any]:
    return api.store.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "schedulerName": scheduler,
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox:1",
                        "resources": {"limits": limits, "requests": limits},
                    }
                ],
            },
        }
    )


def node_of(api: ApiServerThread, name: str) -> str | None:
    node = api.store.get("pods", name).get("spec", {}).get("nodeName")
    return None if node is None else str(node)


async def test_managed_pod_goes_through_filter_and_extender_bind(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    pod = make_pod(api, "p1", {GPU: "1"})
    assert await sched.wait_until(lambda s: "default/p1" in s.bound)
    (fargs,) = ext.bodies("filter")
    assert fargs["Nodes"] is None
    assert fargs["NodeNames"] == ["n1", "n2"]
    assert fargs["Pod"]["metadata"]["uid"] == pod["metadata"]["uid"]
    (bargs,) = ext.bodies("bind")
    assert bargs == {
        "PodName": "p1",
        "PodNamespace": "default",
        "PodUID": pod["metadata"]["uid"],
        "Node": "n1",
    }
    assert sched.self_binds == []
    assert node_of(api, "p1") == "n1"
    assert [m for m, p in api.requests if p.endswith("/binding")] == ["POST"]


async def test_unmanaged_pod_is_bound_by_scheduler_itself(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    make_pod(api, "plain", {"cpu": "1"})
    assert await sched.wait_until(lambda s: "default/plain" in s.bound)
    assert ext.requests == []
    assert sched.self_binds == [("default/plain", "n1")]
    assert node_of(api, "plain") == "n1"


async def test_other_scheduler_name_ignored(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    make_pod(api, "other", {GPU: "1"}, scheduler="default-scheduler")
    make_pod(api, "mine", {GPU: "1"})
    assert await sched.wait_until(lambda s: "default/mine" in s.bound)
    assert "default/other" not in sched.attempts
    assert node_of(api, "other") is None


async def test_own_fit_runs_before_extender(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    api.store.patch("nodes", "n1", {"status": {"allocatable": {"cpu": "1"}}}, subresource="status")
    make_pod(api, "big", {GPU: "1", "cpu": "2"})
    assert await sched.wait_until(lambda s: "default/big" in s.bound)
    assert ext.bodies("filter")[0]["NodeNames"] == ["n2"]
    assert node_of(api, "big") == "n2"


async def test_all_nodes_failed_stays_pending_with_event_then_retries(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    ext.filter_handler = lambda args: {
        "NodeNames": [],
        "Error": "",
        "FailedNodes": {n: "no GPU with enough memory" for n in args["NodeNames"]},
    }
    make_pod(api, "stuck", {GPU: "1"})
    assert await sched.wait_until(lambda s: s.attempts["default/stuck"] >= 3)
    assert node_of(api, "stuck") is None
    msg = "0/2 nodes are available: 2 no GPU with enough memory."
    assert sched.failures[0].message == msg
    events = api.store.list("events.events.k8s.io", "default")
    failed = [e for e in events if e["reason"] == "FailedScheduling"]
    assert failed and failed[0]["note"] == msg
    assert failed[0]["type"] == "Warning"
    assert failed[0]["regarding"]["name"] == "stuck"
    assert failed[0]["reportingController"] == SCHED
    cond = {c["type"]: c for c in api.store.get("pods", "stuck")["status"]["conditions"]}
    assert cond["PodScheduled"]["status"] == "False"
    assert cond["PodScheduled"]["reason"] == "Unschedulable"
    assert cond["PodScheduled"]["message"] == msg
    assert ext.bodies("bind") == []
    # The extender changes its mind: the next retry binds.
    ext.filter_handler = lambda args: {"NodeNames": args["NodeNames"][1:], "Error": ""}
    assert await sched.wait_until(lambda s: "default/stuck" in s.bound)
    assert node_of(api, "stuck") == "n2"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"filter_error": "scheduler cache not synced"}, "scheduler cache not synced"),
        ({"status": 500}, "failed filter with extender at URL"),
        ({"delay": 1.0}, "context deadline exceeded"),
    ],
    ids=["error-field", "http-500", "timeout"],
)
async def test_filter_errors_are_scheduler_errors(
    api: ApiServerThread, ext: FakeExtender, setup: dict[str, Any], message: str
) -> None:
    if "filter_error" in setup:
        ext.filter_handler = lambda args: {"Error": setup["filter_error"]}
    if "status" in setup:
        ext.status["filter"] = setup["status"]
    if "delay" in setup:
        ext.delay_s["filter"] = setup["delay"]
    cfg = parse_scheduler_config(config(ext.url, httpTimeout="300ms"))
    async with KubeSchedulerStandIn(
        api.url, cfg, initial_backoff_s=0.05, max_backoff_s=0.1
    ) as sched:
        make_pod(api, "p", {GPU: "1"})
        assert await sched.wait_until(lambda s: len(s.failures) >= 1)
        failure = sched.failures[0]
        assert failure.reason == "SchedulerError"
        assert message in failure.message
        assert ext.bodies("bind") == []
        assert node_of(api, "p") is None
        cond = {c["type"]: c for c in api.store.get("pods", "p")["status"]["conditions"]}
        assert cond["PodScheduled"]["reason"] == "SchedulerError"


async def test_bind_error_retries_and_never_self_binds(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    real = ext.bind_handler
    ext.bind_handler = lambda args: {"Error": "node lock contention"}
    make_pod(api, "p", {GPU: "1"})
    assert await sched.wait_until(lambda s: s.attempts["default/p"] >= 2)
    assert sched.failures[0].message == "binding rejected: node lock contention"
    assert node_of(api, "p") is None
    ext.bind_handler = real
    assert await sched.wait_until(lambda s: "default/p" in s.bound)
    assert sched.self_binds == []
    assert node_of(api, "p") == "n1"


async def test_full_nodes_when_not_cache_capable(api: ApiServerThread, ext: FakeExtender) -> None:
    cfg = parse_scheduler_config(config(ext.url, nodeCacheCapable=False))
    async with KubeSchedulerStandIn(api.url, cfg) as sched:
        make_pod(api, "p", {GPU: "1"})
        assert await sched.wait_until(lambda s: "default/p" in s.bound)
    (args,) = ext.bodies("filter")
    assert args["NodeNames"] is None
    assert [n["metadata"]["name"] for n in args["Nodes"]["items"]] == ["n1", "n2"]


async def test_backoff_doubles_and_is_bounded(api: ApiServerThread, ext: FakeExtender) -> None:
    ext.filter_handler = lambda args: {"Error": "nope"}
    cfg = parse_scheduler_config(config(ext.url))
    async with KubeSchedulerStandIn(
        api.url, cfg, initial_backoff_s=0.01, max_backoff_s=0.05
    ) as sched:
        make_pod(api, "p", {GPU: "1"})
        assert await sched.wait_until(lambda s: len(s.retry_delays.get("default/p", [])) >= 6)
    assert sched.retry_delays["default/p"][:6] == pytest.approx(
        [0.01, 0.02, 0.04, 0.05, 0.05, 0.05]
    )


async def test_survives_dropped_watch(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    make_pod(api, "a", {GPU: "1"})
    assert await sched.wait_until(lambda s: "default/a" in s.bound)
    await asyncio.to_thread(api.drop_watches)
    make_pod(api, "b", {GPU: "1"})
    assert await sched.wait_until(lambda s: "default/b" in s.bound)
    assert node_of(api, "b") is not None


def test_thread_runner_for_sync_tests(api: ApiServerThread, ext: FakeExtender) -> None:
    runner = KubeSchedulerThread(api.url, parse_scheduler_config(config(ext.url)))
    with runner as sched:
        make_pod(api, "p", {GPU: "1"})
        assert runner.wait_until(lambda s: "default/p" in s.bound)
        assert sched.bound == {"default/p": "n1"}
    assert node_of(api, "p") == "n1"


async def test_bound_pods_count_against_node_resources(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    for i in range(3):
        make_pod(api, f"p{i}", {GPU: "1", "cpu": "3"})
    assert await sched.wait_until(lambda s: len(s.bound) == 2)
    assert await sched.wait_until(lambda s: s.attempts["default/p2"] >= 1 and s.failures)
    assert sorted(sched.bound.values()) == ["n1", "n2"]
    assert sched.failures[0].message == "0/2 nodes are available: 2 Insufficient cpu."


async def test_recovers_after_apiserver_restart(
    api: ApiServerThread, ext: FakeExtender, sched: KubeSchedulerStandIn
) -> None:
    before = sched.relists + sched.watches
    await asyncio.to_thread(api.restart)
    make_pod(api, "after", {GPU: "1"})
    assert await sched.wait_until(lambda s: "default/after" in s.bound)
    # the restart ended the watch: the reflector relisted, or resumed from its resourceVersion
    assert sched.relists + sched.watches > before
    assert node_of(api, "after") == "n1"
