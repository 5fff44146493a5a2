"""Benchmark the scheduler's Filter decision (``ClusterState.filter`` + ``add_pod``).

Builds a synthetic cluster (default 1000 nodes x 8 GPUs, about half full), then streams mixed
pods (whole GPU, MiB, percentage, cores, multi-GPU, type-pinned) through the same entry point the
extender calls, releasing old pods so the cluster stays near half full. Prints p50/p99 per-pod
decision latency (wall clock, plus process CPU time, which leaves out time lost to other
processes on a shared machine) and decisions per second; ``--json`` prints one JSON object.
``--candidates set`` hands the engine a set of node names, as the extender does since it keeps
one per distinct ``NodeNames`` list; ``list`` (default) a list, as kube-scheduler sends them.
``--mixed``: nodes of NVIDIA only, NVIDIA + Hygon DCU, Ascend 910B3 and Cambricon MLU in turn
(the real backends, Ascend and Iluvatar enabled), pods of each vendor and NVIDIA + DCU pods.

    python bench/filter.py [--nodes N] [--gpus-per-node G] [--pods P] [--seed S] [--json]
    python bench/filter.py --mixed     # NVIDIA, Hygon DCU, Ascend 910B3 and Cambricon nodes
    python bench/filter.py --scaling [--runs 3] [--sizes 500,1000,5000,10000,20000]

``--scaling`` runs the benchmark at each cluster size (``--runs`` times, each in a fresh process,
same seed) and prints a markdown table of min/median/max p50 and p99 decision latency, mean CPU
per decision and resident memory per node (RSS growth while building the cluster / nodes).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from hami.api.types import ContainerDevice, DeviceInfo
from hami.config.devices import DeviceConfig
from hami.device.registry import DeviceRegistry
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


# --mixed: (cw, device type, MiB, cores) of the other vendors' devices
OTHERS = (
    ("DCU", "DCU-Z100", 32768, 100),
    ("Ascend910B3", "Ascend910B3", 65536, 20),
    ("MLU", "MLU370-X8", 24576, 100),
)


def build_mixed_cluster(state: ClusterState, nodes: int, gpus: int, rng: random.Random) -> None:
    """Like :func:`build_cluster`, vendors by node: NVIDIA only, NVIDIA + Hygon DCU (half each),
    Ascend 910B3, Cambricon MLU, in turn; about half of the devices partly held."""
    for n in range(nodes):
        name = f"node-{n:05d}"
        kind = n % 4
        devices: dict[str, list[DeviceInfo]] = {}
        if kind in (0, 1):
            model, mem = MODELS[n % len(MODELS)]
            k = gpus if kind == 0 else gpus // 2
            devices["NVIDIA"] = [DeviceInfo(f"GPU-{n:05d}-{g}", 10, mem, 100, model, index=g,
                                            numa=g * 2 // gpus) for g in range(k)]  # fmt: skip
        if kind > 0:
            cw, dtype, mem, cores = OTHERS[kind - 1]
            k = gpus // 2 if kind == 1 else gpus
            ascend = cw.startswith("Ascend")
            devices[cw] = [DeviceInfo(f"{cw}-{n:05d}-{g}", 4, mem, cores, dtype, index=g,
                                      custominfo=(("NetworkID", float(g // 4)),) if ascend else ())
                           for g in range(k)]  # fmt: skip
        state.upsert_node(name, devices)
        for cw, devs in devices.items():
            for dev in devs:
                if rng.random() < 0.5:
                    continue
                used = rng.randrange(dev.devmem // 4, dev.devmem // 2)
                held = ContainerDevice(dev.id, cw, used, dev.devcore // 4)
                uid = f"fill-{dev.id}"
                state.add_pod(uid, "fill", uid, name, {cw: ((held,),)})


def make_mixed_pod(i: int, rng: random.Random) -> dict[str, Any]:
    """NVIDIA pods (60 %), one-device pods of each other vendor, NVIDIA + DCU in one container."""
    kind = rng.choice(("nvidia",) * 6 + ("dcu", "ascend", "mlu", "two"))
    if kind == "nvidia":
        return make_pod(i, rng)
    pod = make_pod(i, rng)
    limits: dict[str, str] = {}
    if kind in ("dcu", "two"):
        limits |= {"hygon.com/dcunum": "1", "hygon.com/dcumem": str(rng.choice((2048, 8192)))}
    if kind == "ascend":
        limits |= {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "16384"}
    if kind == "mlu":
        limits |= {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "4"}
    container = pod["spec"]["containers"][0]
    if kind == "two":
        container["resources"]["limits"] = {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "2048",
                                            **limits}  # fmt: skip
    else:
        container["resources"]["limits"] = limits
        pod["metadata"]["annotations"] = {}
    return pod


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


def _rss_kb() -> int:
    """Resident set size of this process now, in KiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(
    nodes: int, gpus: int, pods: int, seed: int, candidates: str = "list", mixed: bool = False
) -> dict[str, Any]:
    rng = random.Random(seed)
    gc.collect()
    rss0 = _rss_kb()
    if mixed:
        registry = DeviceRegistry.from_config(DeviceConfig(), enable_ascend=True,
                                              enable_iluvatar=True)  # fmt: skip
        state = ClusterState(registry)
        build_mixed_cluster(state, nodes, gpus, rng)
    else:
        state = ClusterState(DeviceConfig())
        build_cluster(state, nodes, gpus, rng)
    new_pod = make_mixed_pod if mixed else make_pod
    # A long-lived extender freezes its startup heap so cyclic-GC passes do not rescan it
    # (gen-2 collections over ~100k objects otherwise add 10-30 ms pauses to the tail).
    gc.collect()
    gc.freeze()
    rss_per_node = (_rss_kb() - rss0) * 1024 / nodes
    listed = state.node_names()
    # ``filter`` only tests membership; the extender hands it a set (typed as a sequence until
    # the engine takes any collection).
    names: Collection[str] = frozenset(listed) if candidates == "set" else listed
    live: deque[str] = deque()
    now = datetime.now(UTC)
    lat: list[float] = []
    cpu: list[float] = []
    placed = 0
    start = time.perf_counter()
    for i in range(pods):
        pod = new_pod(i, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        out = state.filter(pod, cast(Sequence[str], names), now=now)
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
        "candidates": candidates,
        "mixed": mixed,
        "placed": placed,
        "p50_ms": round(statistics.median(lat), 3),
        "p99_ms": round(_p99(lat), 3),
        "decisions_per_s": round(pods / total, 1),
        "cpu_p50_ms": round(statistics.median(cpu), 3),
        "cpu_p99_ms": round(_p99(cpu), 3),
        "cpu_mean_ms": round(statistics.fmean(cpu), 3),
        "rss_bytes_per_node": round(rss_per_node),
    }


def _mmm(values: list[float], digits: int = 3) -> str:
    """``min / median / max``."""
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values),
                                                  max(values)))  # fmt: skip


def scaling(args: argparse.Namespace) -> str:
    """The markdown table of ``--scaling`` (each run a fresh process: clean RSS, no warm GC)."""
    rows = [
        f"{args.gpus_per_node} GPUs per node, {args.pods} pods, seed {args.seed}, "
        f"candidates as a {args.candidates}{', mixed vendors' if args.mixed else ''}; "
        f"min / median / max of {args.runs} runs",
        "",
        "| nodes | p50 ms | p99 ms | CPU ms per pod | RSS KB per node |",
        "|---:|---|---|---|---|",
    ]
    for size in (int(n) for n in args.sizes.split(",")):
        results = []
        for _ in range(args.runs):
            cmd = [sys.executable, os.path.abspath(__file__), "--nodes", str(size),
                   "--gpus-per-node", str(args.gpus_per_node), "--pods", str(args.pods),
                   "--seed", str(args.seed), "--candidates", args.candidates, "--json",
                   *(["--mixed"] if args.mixed else [])]  # fmt: skip
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout))
        rss = [r["rss_bytes_per_node"] / 1000 for r in results]
        rows.append(
            f"| {size} | {_mmm([r['p50_ms'] for r in results])} "
            f"| {_mmm([r['p99_ms'] for r in results])} "
            f"| {_mmm([r['cpu_mean_ms'] for r in results])} | {_mmm(rss, 1)} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--pods", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--candidates", choices=("list", "set"), default="list",
                    help="hand the engine the node names as a list or as a set")  # fmt: skip
    ap.add_argument("--mixed", action="store_true",
                    help="NVIDIA, Hygon DCU, Ascend 910B3, Cambricon nodes and pods")  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--scaling", action="store_true",
                    help="markdown table over --sizes, --runs runs each")  # fmt: skip
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="500,1000,5000,10000,20000")
    args = ap.parse_args()
    if args.scaling:
        print(scaling(args))
        return
    res = run(args.nodes, args.gpus_per_node, args.pods, args.seed, args.candidates, args.mixed)
    if args.json:
        print(json.dumps(res))
        return
    print(f"cluster: {res['nodes']} nodes x {res['gpus_per_node']} devices, about half full"
          f"{' (mixed vendors)' if res['mixed'] else ''}")  # fmt: skip
    print(f"pods: {res['pods']} ({res['placed']} placed)")
    print(f"p50: {res['p50_ms']:.3f} ms   p99: {res['p99_ms']:.3f} ms")
    print(f"decisions/s: {res['decisions_per_s']:.1f}")
    print(
        f"CPU time per decision (excludes time preempted by other processes): "
        f"p50 {res['cpu_p50_ms']:.3f} ms, p99 {res['cpu_p99_ms']:.3f} ms"
    )
    print(f"memory: {res['rss_bytes_per_node'] / 1000:.1f} KB per node (RSS growth)")


if __name__ == "__main__":
    main()
