"""``hami simulate`` refuses what a cluster would refuse and warns about what HAMi would ignore
(issue 13, points 9, 12 and 13): one ``Error:`` line naming file, pod and field, exit 2;
``Warning:`` lines on stderr; deterministic JSON with totals and a status per pod."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hami.cli import main
from hami.cmd import simulate as simulate_cmd

NODE = """kind: Node
metadata:
  name: {name}
  annotations:
    hami.io/node-nvidia-register: '{uuid},10,16000,100,{type},0,true,0,hami-core:'
"""
POD = """kind: Pod
metadata:
  name: {name}
{meta}spec:
  containers:
  - name: c
    resources: {{limits: {{{limits}}}}}
"""


def node(name: str = "n1", uuid: str = "GPU-1", type_: str = "NVIDIA-Tesla T4") -> str:
    return NODE.format(name=name, uuid=uuid, type=type_)


def pod(name: str = "p1", limits: str = "nvidia.com/gpu: 1, nvidia.com/gpumem: 3000", meta: str = "") -> str:
    return POD.format(name=name, limits=limits, meta=meta)


def run(tmp_path: Path, nodes: str, pods: str, *extra: str) -> Any:
    (tmp_path / "nodes.yaml").write_text(nodes)
    (tmp_path / "pods.yaml").write_text(pods)
    return CliRunner().invoke(
        main, ["simulate", "--nodes", str(tmp_path / "nodes.yaml"), "--pods", str(tmp_path / "pods.yaml"), *extra]
    )


BAD_PODS = [
    ("bool-annotation", pod(meta="  annotations: {nvidia.com/numa-bind: true}\n"), "Pod default/p1: metadata.annotations['nvidia.com/numa-bind'] must be a string, not a boolean (quote it: \"true\")"),
    ("number-annotation", pod(meta="  annotations: {nvidia.com/use-gputype: 4090}\n"), "metadata.annotations['nvidia.com/use-gputype'] must be a string, not a number"),
    ("annotations-list", pod(meta="  annotations: [x]\n"), "Pod default/p1: metadata.annotations must be a mapping, not a list"),
    ("labels-number", pod(meta="  labels: {team: 7}\n"), "metadata.labels['team'] must be a string"),
    ("containers-string", "kind: Pod\nmetadata: {name: p1}\nspec: {containers: abc}\n", "Pod default/p1: spec.containers must be a non-empty list of containers"),
    ("container-string", "kind: Pod\nmetadata: {name: p1}\nspec: {containers: [abc]}\n", "spec.containers[0] must be a mapping, not a string"),
    ("fractional-gpu", pod(limits="nvidia.com/gpu: 1.5"), "spec.containers[0].resources.limits[nvidia.com/gpu]: Invalid value: 1.5: must be an integer"),
    ("milli-gpu", pod(limits="nvidia.com/gpu: 500m"), "limits[nvidia.com/gpu]: Invalid value: '500m': must be an integer"),
    ("not-a-quantity", pod(limits="nvidia.com/gpumem: lots"), "limits[nvidia.com/gpumem]"),
    ("limits-list", pod(limits="x").replace("{limits: {x}}", "{limits: [1]}"), "resources.limits must be a mapping, not a list"),
]  # fmt: skip

BAD_NODES = [
    ("negative-count", node().replace("GPU-1,10,", "GPU-1,-1,"), "Node n1: GPU GPU-1: negative count (-1)"),
    ("negative-memory", node().replace(",16000,", ",-5,"), "Node n1: GPU GPU-1: negative memory (-5)"),
    ("duplicate-uuid", node() + "---\n" + node(name="n2"), "Node n2: GPU GPU-1: this UUID is also on node n1"),
    ("duplicate-node", node() + "---\n" + node(uuid="GPU-2"), "Node n1: a second node with this name"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "pods", "message"), BAD_PODS, ids=[c[0] for c in BAD_PODS])
def test_bad_pods_are_one_error_line(tmp_path: Path, case: str, pods: str, message: str) -> None:
    res = run(tmp_path, node(), pods)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert message in lines[0]


@pytest.mark.parametrize(("case", "nodes", "message"), BAD_NODES, ids=[c[0] for c in BAD_NODES])
def test_impossible_inventories_are_errors(tmp_path: Path, case: str, nodes: str, message: str) -> None:
    res = run(tmp_path, nodes, pod())
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [f"Error: {tmp_path / 'nodes.yaml'}: {message}"]


def test_misspellings_get_warnings_and_the_pod_runs_as_written(tmp_path: Path) -> None:
    pods = pod(limits="nvidia.com/gpu: 1, nvidia.com/gpu-mem: 3000",
               meta="  annotations: {nvidia.com/use-gpu-type: A100}\n")  # fmt: skip
    res = run(tmp_path, node(), pods, "--output", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["warnings"] == [
        f"{tmp_path / 'pods.yaml'}: Pod default/p1: annotation 'nvidia.com/use-gpu-type' is not HAMi's; did you mean 'nvidia.com/use-gputype'?",
        f"{tmp_path / 'pods.yaml'}: Pod default/p1: container 'c': 'nvidia.com/gpu-mem' is no resource HAMi manages, so it is ignored; did you mean 'nvidia.com/gpumem'?",
    ]
    assert [f"Warning: {w}" for w in doc["warnings"]] == res.stderr.strip().splitlines()
    assert doc["pods"][0]["status"] == "scheduled"  # whole card: the misspelt gpumem was ignored


def test_gpu_type_without_nvidia_says_why_it_never_matches(tmp_path: Path) -> None:
    res = run(tmp_path, node(type_="Tesla-T4"), pod(), "--output", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["warnings"] == [
        f"{tmp_path / 'nodes.yaml'}: Node n1: GPU GPU-1 type 'Tesla-T4' has no 'NVIDIA' in it, so no NVIDIA request ever matches it (CardTypeMismatch)"
    ]
    p = doc["pods"][0]
    assert p["status"] == "pending"
    assert "CardTypeMismatch (GPU type 'Tesla-T4' has no 'NVIDIA' in it, so it never matches)" in p["reason"]


def test_json_is_deterministic_with_totals_and_status(tmp_path: Path) -> None:
    pods = "---\n".join([pod("a"), pod("b", limits="nvidia.com/gpu: 1, nvidia.com/gpumem: 99999"),
                         pod("c", limits="cpu: 1"),
                         pod("d", meta="  annotations: {x: y}\n").replace("containers:", "hostNetwork: true\n  nodeName: n1\n  containers:")])  # fmt: skip
    first = run(tmp_path, node(), pods, "--output", "json")
    second = run(tmp_path, node(), pods, "--output", "json")
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert [p["status"] for p in doc["pods"]] == ["scheduled", "pending", "unmanaged", "denied"]
    assert doc["totals"] == {
        "pods": 4, "scheduled": 1, "pending": 1, "denied": 1, "unmanaged": 1, "gpus": 1,
        "memory": {"used": 3000, "total": 16000}, "cores": {"used": 0, "total": 100},
        "slots": {"used": 1, "total": 10},
    }  # fmt: skip
    assert doc["pods"][0]["annotations"]["hami.io/vgpu-time"] == "1767225600"


@pytest.mark.parametrize("policy", ["bogus", "binpack,bogus", ","])
def test_unknown_gpu_policy_is_an_error(tmp_path: Path, policy: str) -> None:
    res = run(tmp_path, node(), pod(), "--gpu-policy", policy)
    assert res.exit_code == 2
    assert "unknown GPU policy" in res.output


def test_policy_chain_is_accepted(tmp_path: Path) -> None:
    assert run(tmp_path, node(), pod(), "--gpu-policy", "binpack, numa").exit_code == 0


def test_yaml_is_parsed_with_the_c_loader_when_available() -> None:
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert simulate_cmd._Loader is expected
