"""One INFO line per filter result, and a whole-GPU pod that stays Pending says why."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hami.k8s.fake import FakeKube
from tests.component.scheduler.conftest import Harness, serve
from tests.component.scheduler.objects import container, filter_args, make_node, make_pod

NODES = ["node-0", "node-1", "node-2"]
HINT = "needs a whole free GPU (no nvidia.com/gpumem or nvidia.com/gpumem-percentage given"


async def _create(h: Harness, pod: dict[str, Any]) -> dict[str, Any]:
    created = h.kube.add("pods", pod)
    await h.settle()
    return created


def _filter_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hami.scheduler.service"
            and r.getMessage().startswith("filter ")]  # fmt: skip


async def test_placed_pod_logs_node_and_gpus(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    pod = await _create(harness, make_pod("p1", containers=[container(gpumem=3000, gpucores=20)]))
    with caplog.at_level(logging.INFO, logger="hami.scheduler.service"):
        body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    node = body["NodeNames"][0]
    [line] = _filter_lines(caplog)
    gpu = line.gpus[0]  # type: ignore[attr-defined]
    assert line.levelname == "INFO"
    assert line.getMessage() == (
        f"filter default/p1: placed on {node}: {gpu['uuid']} (3000 MiB, 20% cores)"
    )
    assert (line.pod, line.result, line.node) == ("default/p1", "placed", node)  # type: ignore[attr-defined]
    assert gpu == {"container": 0, "uuid": gpu["uuid"], "mem": 3000, "cores": 20}
    assert gpu["uuid"].startswith(f"GPU-{node}")


async def test_unschedulable_pod_logs_a_failure_summary(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    pod = await _create(harness, make_pod("big", containers=[container(gpumem=999_999)]))
    with caplog.at_level(logging.INFO, logger="hami.scheduler.service"):
        await harness.http.post("/filter", json=filter_args(pod, [*NODES, "ghost"]))
    [line] = _filter_lines(caplog)
    assert line.getMessage() == (
        "filter default/big: unschedulable: 4 nodes do not fit: "
        "3x '2/2 CardInsufficientMemory' (node-0, node-1, node-2); "
        "1x 'node unregistered' (ghost)"
    )
    assert line.reasons == {"2/2 CardInsufficientMemory": 3, "node unregistered": 1}  # type: ignore[attr-defined]
    assert HINT not in line.getMessage()


async def test_bad_request_logs_one_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hami.scheduler.service"):
        await harness.http.post("/filter", json={"Pod": 3, "NodeNames": NODES})
    lines = [r for r in caplog.records if r.name == "hami.scheduler.service"]
    assert [(r.levelname, r.getMessage()) for r in lines] == [
        ("WARNING", "filter: bad request: extender args: 'Pod' must be an object with metadata")
    ]


@pytest.mark.parametrize(
    ("limits", "hinted"),
    [({}, True), ({"gpumem": 16000}, False), ({"percentage": 100}, False)],
    ids=["gpu-only-is-a-whole-gpu", "gpumem-given", "percentage-given"],
)
async def test_whole_gpu_pod_says_it_needs_an_entirely_free_gpu(
    limits: dict[str, int], hinted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("node-0", gpus=1, mem=16384))
    # something already uses the only GPU a little
    kube.add("pods", make_pod("user", containers=[container(gpumem=1000)]))
    async with serve(kube) as h:
        user = h.kube.get("pods", "default", "user")
        assert (await h.http.post("/filter", json=filter_args(user, ["node-0"]))).json()[
            "NodeNames"] == ["node-0"]  # fmt: skip
        await h.settle()
        # each asks more than is free; only the one without gpumem/percentage is hinted
        pod = await _create(h, make_pod("whole", containers=[container(**limits)]))
        with caplog.at_level(logging.INFO, logger="hami.scheduler.service"):
            body = (await h.http.post("/filter", json=filter_args(pod, ["node-0"]))).json()
        await h.service.recorder.flush()
        # FailedNodes keep HAMi's reason codes (dashboards and tests read them)
        assert body["NodeNames"] == [] and "1/1 " in body["FailedNodes"]["node-0"]
        [event] = [e for e in h.kube.objects("events") if e["reason"] == "FilteringFailed"]
        [line] = _filter_lines(caplog)
        assert (HINT in event["message"]) is hinted
        assert (HINT in line.getMessage()) is hinted
        if hinted:
            assert event["message"].startswith(f"pod default/whole: no available node, {HINT}")
