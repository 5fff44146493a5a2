"""Benchmark ``hami monitor``: one /metrics scrape and one feedback+cleanup pass on a busy node.

Builds a hook tree of C containers (default 100) on a node of G GPUs (default 8); every
container's region lists all G devices with P live processes (default 2) using memory and SM on
each, so every container exports G series per family (100 x 8 = 800 per family). Pods are fed
to the monitor as the informer would. Measures, over 3 runs:

- scrape: wall and CPU time of rendering ``/metrics`` (the collector reads every region file);
- loop: CPU time of one feedback + cleanup pass, as a share of one core at the 5 s period.

Prints min/median/max of the 3 runs (each run is the median of ``--repeat`` scrapes/passes).
Targets: scrape < 50 ms, loop < 1 % of one core. ``--json`` prints one JSON object.

    python bench/monitor.py [--containers C] [--gpus G] [--procs P] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hami.api import sharedregion as sr
from hami.monitor.exposition import render
from hami.monitor.nvml import StaticHostGpus
from hami.monitor.samples import HostGpu
from hami.monitor.service import Monitor, MonitorSettings

MiB = 1 << 20
PERIOD_S = 5.0


def make_region(gpus: int, procs: int, seed: int) -> bytes:
    r = sr.SharedRegion()
    r.initialized_flag, r.major_version, r.minor_version = sr.MAGIC, 1, 2
    r.device_num = gpus
    for d in range(gpus):
        r.uuids[d].value = f"GPU-bench0000-0000-4000-8000-{d:012d}".encode()
        r.limit[d], r.sm_limit[d] = 4096 * MiB, 25
    for p in range(procs):
        slot = r.procs[p]
        slot.pid, slot.hostpid, slot.status = 100 + p, 10_000 + seed * 10 + p, 1
        for d in range(gpus):
            slot.used[d].total = slot.used[d].data_size = (seed + p + d + 1) * MiB
            slot.device_util[d].sm_util = (seed + d) % 30
    r.proc_num = procs
    r.utilization_switch, r.recent_kernel, r.priority = 1, 2, seed % 2
    r.last_kernel_time = int(time.time())
    return bytes(r) + b"\0"


def build(root: Path, containers: int, gpus: int, procs: int) -> Monitor:
    hosts = StaticHostGpus([
        HostGpu(d, f"GPU-bench0000-0000-4000-8000-{d:012d}", "NVIDIA A100-SXM4-80GB",
                10_000 * MiB, 50.0, 10.0)
        for d in range(gpus)
    ])  # fmt: skip
    settings = MonitorSettings(node_name="bench-node", hook_path=root, mig_lock_file=None)
    monitor = Monitor(settings, None, hosts)
    for c in range(containers):
        uid = f"00000000-0000-4000-8000-{c:012d}"
        d = root / "containers" / f"{uid}_main"
        d.mkdir(parents=True)
        (d / "region.cache").write_bytes(make_region(gpus, procs, c))
        pod = {"metadata": {"uid": uid, "namespace": "bench", "name": f"pod-{c}"},
               "spec": {"containers": [{"name": "main"}]}}  # fmt: skip
        monitor._on_pod("ADDED", None, pod)
    return monitor


def run_once(monitor: Monitor, repeat: int) -> dict[str, float]:
    body = render(monitor.samples())  # warm the page cache and imports
    walls, cpus, loops = [], [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        body = render(monitor.samples())  # what GET /metrics serves
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    for _ in range(repeat):
        c0 = time.process_time()
        monitor.feedback_once()
        monitor.cleanup_once()
        loops.append(time.process_time() - c0)
    return {
        "scrape_ms": statistics.median(walls) * 1e3,
        "scrape_cpu_ms": statistics.median(cpus) * 1e3,
        "loop_cpu_ms": statistics.median(loops) * 1e3,
        "loop_core_percent": statistics.median(loops) / PERIOD_S * 100,
        "bytes": float(len(body)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hami-bench-monitor-") as tmp:
        monitor = build(Path(tmp), args.containers, args.gpus, args.procs)
        runs = [run_once(monitor, args.repeat) for _ in range(args.runs)]
    keys = ("scrape_ms", "scrape_cpu_ms", "loop_cpu_ms", "loop_core_percent")
    summary: dict[str, Any] = {
        k: {"min": min(r[k] for r in runs), "median": statistics.median(r[k] for r in runs),
            "max": max(r[k] for r in runs)}
        for k in keys
    }  # fmt: skip
    summary["config"] = {"containers": args.containers, "gpus": args.gpus, "procs": args.procs,
                         "repeat": args.repeat, "runs": args.runs,
                         "series_per_family": args.containers * args.gpus,
                         "exposition_bytes": int(runs[0]["bytes"])}  # fmt: skip
    summary["targets"] = {"scrape_ms": 50, "loop_core_percent": 1.0}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    series, size = args.containers * args.gpus, int(runs[0]["bytes"])
    print(
        f"{args.containers} containers x {args.gpus} GPUs, {args.procs} processes each "
        f"({series} series per family, {size} bytes)"
    )
    for k in keys:
        s = summary[k]
        print(f"  {k:<18} min {s['min']:8.3f}  median {s['median']:8.3f}  max {s['max']:8.3f}")
    print("  targets: scrape_ms < 50, loop_core_percent < 1")


if __name__ == "__main__":
    main()
