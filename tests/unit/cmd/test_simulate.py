"""``hami simulate`` through click's CliRunner: bundled example, JSON shape, policies, bad input.

Bad-input cases each write one broken file and expect exit code 2 with a single ``Error:`` line
on stderr that names the file and the offending object.
"""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hami.cli import main

NODE = """apiVersion: v1
kind: Node
metadata:
  name: n1
  annotations:
    hami.io/node-nvidia-register: 'GPU-1,10,16000,100,NVIDIA-Tesla T4,0,true,0,hami-core:'
"""
POD = """apiVersion: v1
kind: Pod
metadata: {name: p1}
spec:
  containers:
  - name: c
    resources: {limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: 3000}}
"""


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["simulate", *args])


def test_bundled_example_table() -> None:
    res = run()
    assert res.exit_code == 0, res.output
    assert "TOTAL: 9/11 pods scheduled" in res.output
    assert "Pending: 0/4 nodes fit" in res.output
    assert "denied by admission webhook" in res.output


def test_bundled_example_json_shape() -> None:
    res = run("--output", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) == {"totals", "warnings", "pods", "gpus"}
    for p in doc["pods"]:
        assert set(p) == {"namespace", "name", "status", "node", "reason", "annotations",
                          "containers"}  # fmt: skip
        assert (p["node"] is None) == (p["reason"] is not None)
        assert (p["status"] == "scheduled") == (p["node"] is not None)
        for c in p["containers"]:
            for d in c:
                assert set(d) == {"uuid", "type", "usedmem", "usedcores"}
    for g in doc["gpus"]:
        assert set(g) == {
            "node",
            "uuid",
            "type",
            "count",
            "used",
            "totalmem",
            "usedmem",
            "totalcores",
            "usedcores",
        }
        assert g["usedmem"] <= g["totalmem"] and g["used"] <= g["count"]
    by_name = {p["name"]: p for p in doc["pods"]}
    assert "privileged" in by_name["privileged-gpu"]["reason"]
    assert by_name["whole-gpu"]["annotations"]["hami.io/vgpu-devices-allocated"].endswith(
        ",NVIDIA,40960,100:;"
    )
    assert [len(c) for c in by_name["init-and-sidecar"]["containers"]] == [1, 1, 1, 0]
    assert by_name["t4-only"]["node"] == "gpu-t4-1"


def test_node_policy_spread_uses_another_node() -> None:
    doc = json.loads(run("--output", "json", "--node-policy", "spread").output)
    nodes = {p["name"]: p["node"] for p in doc["pods"]}
    assert nodes["whole-gpu"] == "gpu-a100-1"
    assert nodes["mib-8000"] != "gpu-a100-1"


def test_gpu_policy_binpack_packs_the_busy_gpu(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        NODE.replace("'GPU-1,", "'GPU-0,10,16000,100,NVIDIA-Tesla T4,0,true,0,hami-core:GPU-1,")
    )
    pods = tmp_path / "pods.yaml"
    pods.write_text(POD + "---\n" + POD.replace("p1", "p2"))
    spread = json.loads(run("--nodes", str(nodes), "--pods", str(pods), "--output", "json").output)
    binpack = json.loads(
        run(
            "--nodes",
            str(nodes),
            "--pods",
            str(pods),
            "--gpu-policy",
            "binpack",
            "--output",
            "json",
        ).output
    )
    # HAMi walks its sorted list from the end: the GPU registered last wins a tie
    assert [p["containers"][0][0]["uuid"] for p in spread["pods"]] == ["GPU-1", "GPU-0"]
    assert [p["containers"][0][0]["uuid"] for p in binpack["pods"]] == ["GPU-1", "GPU-1"]


def test_custom_files_and_config(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(NODE)
    pods = tmp_path / "pods.yaml"
    pods.write_text(POD.replace("nvidia.com/gpumem: 3000", "nvidia.com/gpumem: 3"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("version: v1\nnvidia:\n  memoryFactor: 1000\n")
    doc = json.loads(
        run(
            "--nodes", str(nodes), "--pods", str(pods), "--config", str(cfg), "--output", "json"
        ).output
    )
    assert doc["pods"][0]["containers"] == [
        [{"uuid": "GPU-1", "type": "NVIDIA", "usedmem": 3000, "usedcores": 0}]
    ]


BAD = [
    ("missing-file", "nodes", None, "nodes.yaml: cannot read"),
    ("invalid-yaml", "nodes", "kind: [unclosed\n", "nodes.yaml: invalid YAML"),
    ("not-a-mapping", "pods", "- just\n- a list\n", "pods.yaml: document 1: expected a mapping"),
    ("wrong-kind", "pods", NODE, "pods.yaml: Node n1: expected kind Pod"),
    ("no-name", "pods", "kind: Pod\nmetadata: {}\nspec: {}\n", "pods.yaml: object 1: metadata.name is missing"),
    ("bad-register", "nodes", NODE.replace("GPU-1,10,", "GPU-1,ten,"), "nodes.yaml: Node n1: hami.io/node-nvidia-register"),
    ("no-spec", "pods", "kind: Pod\nmetadata: {name: x}\n", "pods.yaml: Pod default/x: spec is missing"),
    # HAMi ignores unknown keys (a warning now); a value of the wrong type it refuses
    ("bad-config", "config", "version: v1\nnvidia:\n  deviceSplitCount: many\n", "cfg.yaml: nvidia.deviceSplitCount"),
    ("list-items-not-list", "nodes", "kind: List\nitems: 3\n", "nodes.yaml: document 1: 'items' is not a list"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("which", "content", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_is_one_error_line_and_exit_2(
    tmp_path: Path, which: str, content: str | None, message: str
) -> None:
    paths = {
        "nodes": tmp_path / "nodes.yaml",
        "pods": tmp_path / "pods.yaml",
        "config": tmp_path / "cfg.yaml",
    }
    paths["nodes"].write_text(NODE)
    paths["pods"].write_text(POD)
    paths["config"].write_text("version: v1\n")
    if content is None:
        paths[which].unlink()
    else:
        paths[which].write_text(content)
    res = run(
        "--nodes",
        str(paths["nodes"]),
        "--pods",
        str(paths["pods"]),
        "--config",
        str(paths["config"]),
    )
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert message in lines[0]


def test_node_without_register_annotation_is_unregistered(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("kind: NodeList\nitems:\n- kind: Node\n  metadata: {name: cpu-1}\n")
    pods = tmp_path / "pods.yaml"
    pods.write_text(POD)
    doc = json.loads(run("--nodes", str(nodes), "--pods", str(pods), "--output", "json").output)
    assert doc["pods"][0]["reason"] == "0/1 nodes fit: cpu-1: node unregistered"
    assert doc["gpus"] == []


def test_vendor_flags_are_accepted_and_change_nothing_for_an_nvidia_cluster() -> None:
    plain = run("--output", "json")
    flagged = run("--enable-ascend", "--enable-iluvatar", "--output", "json")
    assert flagged.exit_code == 0, flagged.output
    assert flagged.output == plain.output
