"""Benchmark the scheduler's Filter decision (``ClusterState.filter`` + ``add_pod``).

Builds a synthetic cluster (default 1000 nodes x 8 GPUs, about half full), then streams mixed
pods (whole GPU, MiB, percentage, cores, multi-GPU, type-pinned) through the same entry point the
extender calls, releasing old pods so the cluster stays near half full. Prints p50/p99 per-pod
decision latency (wall clock, plus process CPU time, which leaves out time lost to other
processes on a shared machine) and decisions per second; ``--json`` prints one JSON object.

    python bench/filter.py [--nodes N] [--gpus-per-node G] [--pods P] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from hami.api.types import ContainerDevice, DeviceInfo
from hami.config.devices import DeviceConfig
from hami.engine.state import ClusterState

MODELS = (
    ("NVIDIA A100-SXM4-40GB", 40960),
    ("NVIDIA-Tesla V100-PCIE-32GB", 32768),
    ("NVIDIA-Tesla T4", 15360),
)


def build_cluster(state: ClusterState, nodes: int, gpus: int, rng: random.Random) -> None:
    """Register ``nodes`` nodes and fill about half of every node's memory and slots."""
    for n in range(nodes):
        model, mem = MODELS[n % len(MODELS)]
        devs = [
            DeviceInfo(f"GPU-{n:05d}-{g}", 10, mem, 100, model, index=g, numa=g * 2 // gpus)
            for g in range(gpus)
        ]
        state.upsert_node(f"node-{n:05d}", devs)
        for g, dev in enumerate(devs):
            if rng.random() < 0.5:
                continue
            held = ContainerDevice(dev.id, "NVIDIA", rng.randrange(mem // 4, mem), 30)
            state.add_pod(
                f"fill-{n}-{g}", "fill", f"fill-{n}-{g}", f"node-{n:05d}", {"NVIDIA": ((held,),)}
            )


def make_pod(i: int, rng: random.Random) -> dict[str, Any]:
    """One pod of a random kind."""
    kind = rng.choice(("whole", "mib", "pct", "cores", "multi", "typed"))
    limits: dict[str, str] = {"nvidia.com/gpu": "1"}
    annotations: dict[str, str] = {}
    if kind == "whole":
        limits["nvidia.com/gpucores"] = "100"
    elif kind == "mib":
        limits["nvidia.com/gpumem"] = str(rng.choice((1024, 2048, 4096, 8000)))
    elif kind == "pct":
        limits["nvidia.com/gpumem-percentage"] = str(rng.choice((10, 25, 50)))
    elif kind == "cores":
        limits["nvidia.com/gpumem"] = "3000"
        limits["nvidia.com/gpucores"] = str(rng.choice((10, 20, 50)))
    elif kind == "multi":
        limits["nvidia.com/gpu"] = "2"
        limits["nvidia.com/gpumem"] = "4096"
    else:
        limits["nvidia.com/gpumem"] = "2048"
        annotations["nvidia.com/use-gputype"] = rng.choice(("A100", "V100", "T4"))
    return {
        "metadata": {
            "name": f"p{i}",
            "namespace": "bench",
            "uid": f"uid-{i}",
            "annotations": annotations,
        },
        "spec": {"containers": [{"name": "main", "resources": {"limits": limits}}]},
    }


def _p99(sorted_values: list[float]) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * 0.99))]


def run(nodes: int, gpus: int, pods: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    state = ClusterState(DeviceConfig())
    build_cluster(state, nodes, gpus, rng)
    # A long-lived extender freezes its startup heap so cyclic-GC passes do not rescan it
    # (gen-2 collections over ~100k objects otherwise add 10-30 ms pauses to the tail).
    gc.collect()
    gc.freeze()
    names = state.node_names()
    live: deque[str] = deque()
    now = datetime.now(UTC)
    lat: list[float] = []
    cpu: list[float] = []
    placed = 0
    start = time.perf_counter()
    for i in range(pods):
        pod = make_pod(i, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        out = state.filter(pod, names, now=now)
        if out.node is not None:
            state.add_pod(f"uid-{i}", "bench", f"p{i}", out.node, out.devices)
        lat.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        if out.node is not None:
            placed += 1
            live.append(f"uid-{i}")
        if len(live) > 200:
            state.remove_pod(live.popleft())
    total = time.perf_counter() - start
    lat.sort()
    cpu.sort()
    return {
        "nodes": nodes,
        "gpus_per_node": gpus,
        "pods": pods,
        "placed": placed,
        "p50_ms": round(statistics.median(lat), 3),
        "p99_ms": round(_p99(lat), 3),
        "decisions_per_s": round(pods / total, 1),
        "cpu_p50_ms": round(statistics.median(cpu), 3),
        "cpu_p99_ms": round(_p99(cpu), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--pods", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    res = run(args.nodes, args.gpus_per_node, args.pods, args.seed)
    if args.json:
        print(json.dumps(res))
        return
    print(f"cluster: {res['nodes']} nodes x {res['gpus_per_node']} GPUs, about half full")
    print(f"pods: {res['pods']} ({res['placed']} placed)")
    print(f"p50: {res['p50_ms']:.3f} ms   p99: {res['p99_ms']:.3f} ms")
    print(f"decisions/s: {res['decisions_per_s']:.1f}")
    print(
        f"CPU time per decision (excludes time preempted by other processes): "
        f"p50 {res['cpu_p50_ms']:.3f} ms, p99 {res['cpu_p99_ms']:.3f} ms"
    )


if __name__ == "__main__":
    main()
