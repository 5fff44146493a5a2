"""``hami simulate`` end to end on a generated cluster: wall time and peak memory.

Writes a seeded cluster (default 2000 nodes x 8 GPUs) and workload (default 20000 pods of mixed
requests: whole GPUs, MiB, percentages, capped cores, two-GPU pods) as YAML, then runs
``hami simulate --output json`` on them ``--runs`` times, each in a fresh process, and prints
min / median / max of the wall time and of the peak RSS, plus the time PyYAML's C loader (which
``hami simulate`` uses when libyaml is there) takes to parse the two files.

    python bench/simulate.py [--nodes 2000] [--gpus 8] [--pods 20000] [--runs 3] [--json]
    python bench/simulate.py --keep DIR     # also leave nodes.yaml and pods.yaml in DIR

The same seed writes byte-identical files, so runs on different days compare.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

MODELS = (
    ("NVIDIA A100-SXM4-40GB", 40960),
    ("NVIDIA-Tesla V100-PCIE-32GB", 32768),
    ("NVIDIA-Tesla T4", 15360),
)

NODE = """- apiVersion: v1
  kind: Node
  metadata:
    name: {name}
    labels: {{gpu: "on", kubernetes.io/hostname: {name}}}
    annotations:
      hami.io/node-nvidia-register: '{register}'
  status:
    allocatable: {{nvidia.com/gpu: "{count}", cpu: "64", memory: 256Gi}}
"""

POD = """---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  containers:
  - name: main
    image: nvidia/cuda
    resources: {{limits: {{{limits}}}}}
"""


def nodes_yaml(nodes: int, gpus: int) -> str:
    """``nodes`` Nodes of ``gpus`` GPUs each (split 10, models in turn), as a v1 List."""
    parts = ["apiVersion: v1\nkind: List\nitems:\n"]
    for n in range(nodes):
        model, mem = MODELS[n % len(MODELS)]
        devices = [
            {"id": f"GPU-{n:05d}-{g}", "index": g, "count": 10, "devmem": mem, "devcore": 100,
             "type": model, "numa": g * 2 // gpus, "mode": "hami-core", "health": True}
            for g in range(gpus)
        ]  # fmt: skip
        register = json.dumps(devices, separators=(",", ":"))
        parts.append(NODE.format(name=f"node-{n:05d}", register=register, count=gpus * 10))
    return "".join(parts)


def _limits(rng: random.Random) -> str:
    kind = rng.choice(("whole", "mib", "mib", "pct", "cores", "multi"))
    if kind == "whole":
        return "nvidia.com/gpu: 1"
    if kind == "mib":
        return f"nvidia.com/gpu: 1, nvidia.com/gpumem: {rng.choice((1024, 2048, 4096, 8000))}"
    if kind == "pct":
        return f"nvidia.com/gpu: 1, nvidia.com/gpumem-percentage: {rng.choice((10, 25, 50))}"
    if kind == "cores":
        cores = rng.choice((10, 20, 50))
        return f"nvidia.com/gpu: 1, nvidia.com/gpumem: 3000, nvidia.com/gpucores: {cores}"
    return "nvidia.com/gpu: 2, nvidia.com/gpumem: 4096"


def pods_yaml(pods: int, seed: int) -> str:
    """``pods`` Pods of mixed GPU requests, the same for the same seed."""
    rng = random.Random(seed)
    return "".join(
        POD.format(name=f"p{i:05d}", namespace=f"team-{i % 7}", limits=_limits(rng))
        for i in range(pods)
    )


def _mmm(values: list[float], digits: int = 2) -> str:
    """``min / median / max``."""
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values),
                                                  max(values)))  # fmt: skip


def _yaml_load_s(*paths: Path) -> float:
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    started = time.perf_counter()
    for path in paths:
        list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))
    return time.perf_counter() - started


def _run_once(nodes: Path, pods: Path, policy: str) -> tuple[float, float, dict[str, Any]]:
    """(wall seconds, peak RSS in MB, totals) of one ``hami simulate`` in a fresh process."""
    cmd = [sys.executable, "-c", "from hami.cli import main; main()", "simulate",
           "--nodes", str(nodes), "--pods", str(pods), "--node-policy", policy,
           "--output", "json"]  # fmt: skip
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"hami simulate exited {proc.returncode}")
        out.seek(0)
        totals = json.load(out)["totals"]
    return wall, usage.ru_maxrss / 1024, totals  # ru_maxrss: KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--pods", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--node-policy", default="binpack", choices=("binpack", "spread"))
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="write the YAML files into DIR and leave them there")  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        nodes, pods = where / "nodes.yaml", where / "pods.yaml"
        nodes.write_text(nodes_yaml(args.nodes, args.gpus), encoding="utf-8")
        pods.write_text(pods_yaml(args.pods, args.seed), encoding="utf-8")
        load_s = _yaml_load_s(nodes, pods)
        runs = [_run_once(nodes, pods, args.node_policy) for _ in range(args.runs)]
    walls, rss = [r[0] for r in runs], [r[1] for r in runs]
    result = {
        "nodes": args.nodes,
        "gpus_per_node": args.gpus,
        "pods": args.pods,
        "node_policy": args.node_policy,
        "runs": args.runs,
        "c_yaml_loader": bool(getattr(yaml, "__with_libyaml__", False)),
        "yaml_load_s": round(load_s, 2),
        "wall_s": [round(w, 2) for w in walls],
        "peak_rss_mb": [round(r, 1) for r in rss],
        "totals": {k: v for k, v in runs[0][2].items() if isinstance(v, int)},
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.nodes} nodes x {args.gpus} GPUs, {args.pods} pods (seed {args.seed}), "
          f"{args.node_policy}; {result['totals']}")  # fmt: skip
    print(f"YAML parse of both files ({'C' if result['c_yaml_loader'] else 'pure Python'} "
          f"loader): {load_s:.2f} s")  # fmt: skip
    print(f"hami simulate wall s (min / median / max of {args.runs}): {_mmm(walls)}")
    print(f"peak RSS MB (min / median / max): {_mmm(rss, 1)}")


if __name__ == "__main__":
    main()
