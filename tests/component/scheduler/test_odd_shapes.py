# ruff: noqa: E501  (one table row per line reads best)
"""Issue 13 point 9: odd shapes people type never make /filter or /webhook answer 500.

The extender answers with its ``Error`` field, the webhook denies with the reason, both naming
the member; JSON nested thousands deep is a 400 with one log line, not a traceback.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.component.scheduler.conftest import Harness
from tests.component.scheduler.objects import container, filter_args, make_pod

NODES = ["node-0", "node-1", "node-2"]


def _annotations(value: Any) -> Callable[[dict[str, Any]], None]:
    def fn(pod: dict[str, Any]) -> None:
        pod["metadata"]["annotations"] = value

    return fn


def _containers(value: Any) -> Callable[[dict[str, Any]], None]:
    def fn(pod: dict[str, Any]) -> None:
        pod["spec"]["containers"] = value

    return fn


ODD = [
    (
        "numa-bind-bool",
        _annotations({"nvidia.com/numa-bind": True}),
        'metadata.annotations["nvidia.com/numa-bind"]: expected a string',
    ),
    (
        "use-gputype-number",
        _annotations({"nvidia.com/use-gputype": 3090}),
        'metadata.annotations["nvidia.com/use-gputype"]',
    ),
    (
        "gpu-policy-number",
        _annotations({"hami.io/gpu-scheduler-policy": 1}),
        'metadata.annotations["hami.io/gpu-scheduler-policy"]',
    ),
    (
        "node-policy-number",
        _annotations({"hami.io/node-scheduler-policy": 2.5}),
        'metadata.annotations["hami.io/node-scheduler-policy"]',
    ),
    ("annotations-list", _annotations(["x"]), "metadata.annotations: expected an object"),
    ("containers-string", _containers("abc"), "spec.containers: expected a list"),
    ("container-string", _containers(["abc"]), "spec.containers[0]: expected an object"),
]


def _odd_pod(name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    pod = copy.deepcopy(make_pod(name, uid=f"uid-{name}", containers=[container(gpumem=1000)]))
    mutate(pod)
    return pod


@pytest.mark.parametrize(("case", "mutate", "needle"), ODD, ids=[o[0] for o in ODD])
async def test_filter_answers_error_field(
    harness: Harness, case: str, mutate: Callable[[dict[str, Any]], None], needle: str
) -> None:
    resp = await harness.http.post("/filter", json=filter_args(_odd_pod(case, mutate), NODES))
    assert resp.status_code == 200
    body = resp.json()
    assert body["Error"].startswith(f"pod default/{case}: Pod.")
    assert needle in body["Error"]
    assert body["NodeNames"] is None
    after = make_pod(f"after-{case}", uid=f"uid-after-{case}", containers=[container(gpumem=500)])
    harness.kube.add("pods", after)
    await harness.settle()
    ok = (await harness.http.post("/filter", json=filter_args(after, NODES))).json()
    assert ok["Error"] == "" and len(ok["NodeNames"]) == 1


@pytest.mark.parametrize(("case", "mutate", "needle"), ODD, ids=[o[0] for o in ODD])
async def test_webhook_denies_with_reason(
    harness: Harness, case: str, mutate: Callable[[dict[str, Any]], None], needle: str
) -> None:
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "r", "operation": "CREATE", "object": _odd_pod(case, mutate)}}  # fmt: skip
    resp = await harness.http.post("/webhook", json=review)
    assert resp.status_code == 200
    out = resp.json()["response"]
    assert out["allowed"] is False
    assert out["status"]["code"] == 400
    assert out["status"]["message"].startswith(f"pod default/{case}: ")
    assert needle in out["status"]["message"]


@pytest.mark.parametrize("path", ["/filter", "/bind", "/webhook"])
async def test_deeply_nested_json_is_400_with_one_log_line(
    harness: Harness, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"Pod":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            resp = await harness.http.post(path, content=body)
            assert resp.status_code == 400
            text = resp.text
            assert "nested too deeply" in text
    records = [r for r in caplog.records if "nested too deeply" in r.getMessage()]
    assert len(records) == 3  # one line per request
    assert all(r.exc_info is None for r in caplog.records)
