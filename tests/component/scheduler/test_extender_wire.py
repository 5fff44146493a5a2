"""The extender's wire format as a real kube-scheduler speaks it (issue 11, point 1).

kube-scheduler 1.36 marshals ``ExtenderArgs``/``ExtenderBindingArgs`` from Go structs without JSON
tags (capitalised keys). The golden bodies in tests/fixtures/extender are posted byte for byte;
the same bodies with lowercased keys must work too, since Go decoders match keys in any case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hami.api.extender import FILTER_RESULT_FIELDS
from hami.k8s.fake import FakeKube
from tests.component.scheduler.conftest import Harness
from tests.support.kubescheduler.config import parse_extender
from tests.support.kubescheduler.extender import ExtenderClient, ExtenderError, filter_args
from tests.support.kubescheduler.fakeextender import FakeExtender

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "extender"


def _golden(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _lower_keys(raw: bytes) -> bytes:
    """The same body with the extender-level keys spelt in lowercase."""
    body = json.loads(raw)
    return json.dumps({k.lower(): v for k, v in body.items()}).encode()


async def _add_golden_pod(h: Harness) -> dict[str, Any]:
    pod = json.loads(_golden("filter-nodenames.json"))["Pod"]
    created = h.kube.add("pods", {"apiVersion": "v1", "kind": "Pod", **pod})
    await h.settle()
    return created


@pytest.mark.parametrize("spelling", ["go", "lowercase"])
async def test_filter_and_bind_golden_nodenames(harness: Harness, spelling: str) -> None:
    pod = await _add_golden_pod(harness)
    raw = _golden("filter-nodenames.json")
    resp = await harness.http.post(
        "/filter", content=raw if spelling == "go" else _lower_keys(raw),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert resp.status_code == 200
    # The answer is what Go encodes for ExtenderFilterResult: every field, capitalised.
    body = resp.json()
    assert tuple(body) == FILTER_RESULT_FIELDS
    assert body["Error"] == "" and body["Nodes"] is None
    assert len(body["NodeNames"]) == 1
    node = body["NodeNames"][0]
    anns = harness.kube.get("pods", "default", "gpu-pod")["metadata"]["annotations"]
    assert anns["hami.io/vgpu-node"] == node
    assert anns["hami.io/vgpu-devices-to-allocate"].endswith(",NVIDIA,3000,30:;")

    bind = json.loads(_golden("bind.json"))
    assert bind["PodUID"] == pod["metadata"]["uid"]
    bind["Node"] = node
    if spelling == "lowercase":
        bind = {k.lower(): v for k, v in bind.items()}
    resp = await harness.http.post("/bind", json=bind)
    assert resp.json() == {"Error": ""}
    bound = harness.kube.get("pods", "default", "gpu-pod")
    assert bound["spec"]["nodeName"] == node
    assert bound["metadata"]["annotations"]["hami.io/bind-phase"] == "allocating"


@pytest.mark.parametrize("spelling", ["go", "lowercase"])
async def test_filter_golden_full_nodes(harness: Harness, spelling: str) -> None:
    """nodeCacheCapable false: full Node objects in ``Nodes``, answered in ``Nodes``."""
    await _add_golden_pod(harness)
    raw = _golden("filter-nodes.json")
    resp = await harness.http.post(
        "/filter", content=raw if spelling == "go" else _lower_keys(raw),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    body = resp.json()
    assert body["Error"] == "", body
    assert body["NodeNames"] is None
    assert len(body["Nodes"]["items"]) == 1
    assert body["Nodes"]["items"][0]["metadata"]["name"] in {"node-0", "node-1", "node-2"}
    # A dry run: nothing was written to the pod.
    anns = harness.kube.get("pods", "default", "gpu-pod")["metadata"].get("annotations") or {}
    assert "hami.io/vgpu-node" not in anns


def _lowercase_only_filter(args: dict[str, Any]) -> dict[str, Any]:
    """How hami parsed ExtenderArgs before issue 11: lowercase keys only."""
    pod, names = args.get("pod"), args.get("nodenames")
    if not isinstance(pod, dict):
        return {"error": "extender args: 'pod' must be an object with metadata"}
    return {"nodenames": names, "failedNodes": {}, "error": ""}


async def test_stand_in_sends_what_a_lowercase_only_extender_refuses() -> None:
    """The kube-scheduler stand-in sends the capitalised form, so an extender that reads only
    lowercase keys (hami's old parser) fails every filter against it, as it did against the
    real kube-scheduler."""
    pod = json.loads(_golden("filter-nodenames.json"))["Pod"]
    nodes = [{"metadata": {"name": n}} for n in ("node-0", "node-1", "node-2")]
    sent = filter_args(pod, nodes, True)
    assert json.dumps(sent, separators=(",", ":")).encode() + b"\n" == _golden(
        "filter-nodenames.json"
    )
    with FakeExtender(filter_handler=_lowercase_only_filter) as ext:
        client = ExtenderClient(
            parse_extender({"urlPrefix": ext.url, "filterVerb": "filter",
                            "nodeCacheCapable": True})
        )  # fmt: skip
        try:
            with pytest.raises(ExtenderError, match="'pod' must be an object"):
                result = await client.filter(pod, nodes)
                if result.error:
                    raise ExtenderError(result.error)
        finally:
            await client.aclose()


async def test_bad_bind_field_types_are_named(kube: FakeKube, harness: Harness) -> None:
    resp = await harness.http.post("/bind", json={"podname": 5, "PodNamespace": "default"})
    assert resp.json() == {"Error": "binding args: 'PodName' must be a string"}
