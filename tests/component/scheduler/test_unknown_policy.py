"""A pod annotation naming no policy is ignored, as HAMi does (the filter schedules with the
default), and the pod gets a Warning Event that says which value was ignored."""

from __future__ import annotations

from typing import Any

import pytest

from hami.config.devices import DeviceConfig
from hami.engine.plan import GPU_POLICY_ANNOTATION, NODE_POLICY_ANNOTATION, plan_pod
from tests.component.scheduler.conftest import Harness
from tests.component.scheduler.objects import container, filter_args, make_pod

NODES = ["node-0", "node-1", "node-2"]


def _warnings(h: Harness) -> list[dict[str, Any]]:
    return [e for e in h.kube.objects("events") if e["reason"] == "UnknownSchedulerPolicy"]


@pytest.mark.parametrize(
    ("annotations", "needles"),
    [({GPU_POLICY_ANNOTATION: "bogus"},
      [f"ignored {GPU_POLICY_ANNOTATION} value 'bogus'", "known: binpack, mutex, numa, spread"]),
     ({NODE_POLICY_ANNOTATION: "bogus"},
      [f"ignored {NODE_POLICY_ANNOTATION} value 'bogus'", "known: binpack, spread"]),
     ({GPU_POLICY_ANNOTATION: "binpack,fastest", NODE_POLICY_ANNOTATION: "Spread"},
      [f"ignored {GPU_POLICY_ANNOTATION} value 'fastest'"])],
    ids=["gpu", "node", "gpu-chain-token"],
)  # fmt: skip
async def test_unknown_policy_gets_a_warning_event_and_still_schedules(
    harness: Harness, annotations: dict[str, str], needles: list[str]
) -> None:
    pod = harness.kube.add("pods", make_pod("p", containers=[container(gpumem=1000)],
                                            annotations=annotations))  # fmt: skip
    await harness.settle()
    body = (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()
    assert len(body["NodeNames"]) == 1  # scheduled with the default, as HAMi does
    await harness.service.recorder.flush()
    [event] = _warnings(harness)
    assert event["type"] == "Warning"
    assert event["involvedObject"]["name"] == "p"
    for needle in needles:
        assert needle in event["message"], event["message"]
    assert "Spread" not in event["message"]  # a known name in other case is not ignored


async def test_known_policies_get_no_warning(harness: Harness) -> None:
    pod = harness.kube.add("pods", make_pod("p", containers=[container(gpumem=1000)],
                                            annotations={GPU_POLICY_ANNOTATION: "binpack,numa",
                                                         NODE_POLICY_ANNOTATION: "spread"}))
    await harness.settle()
    assert (await harness.http.post("/filter", json=filter_args(pod, NODES))).json()["NodeNames"]
    await harness.service.recorder.flush()
    assert _warnings(harness) == []


def test_the_plan_carries_what_it_ignored() -> None:
    pod = make_pod("p", annotations={GPU_POLICY_ANNOTATION: "spread, nope ,",
                                     NODE_POLICY_ANNOTATION: "densest"})  # fmt: skip
    plan = plan_pod(pod, DeviceConfig(), node_policy="binpack", gpu_policy="spread")
    assert plan.ignored == ((GPU_POLICY_ANNOTATION, "nope"), (NODE_POLICY_ANNOTATION, "densest"))
    assert plan.chain == ("spread",) and plan.node_prefers_high  # binpack: the default
