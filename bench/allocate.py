"""Benchmark the device plugin's Allocate, timed from the kubelet stand-in's call to its response.

Runs the real plugin (grpc.aio on a unix socket) with a kubelet stand-in, and for each pod does
what the scheduler's Bind leaves behind (bound pod with annotations + node lock), then lets the
kubelet stand-in admit it. The cluster is either the apiserver stand-in reached through the
lightkube adapter over HTTP (``--backend apiserver``, the realistic case: one GET node, one GET
pod, one pod PATCH, one GET + PATCH node per Allocate) or the in-memory fake (``--backend fake``,
gRPC + plugin logic only). Prints p50/p99/max in milliseconds; ``--json`` prints one object.

    python bench/allocate.py [--pods N] [--backend apiserver|fake|both] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hami.deviceplugin.settings import PluginSettings
from tests.component.deviceplugin.conftest import make_rig
from tests.component.deviceplugin.pods import (
    NODE,
    UUID_A,
    UUID_B,
    bound_pod,
    container,
    lock_value,
)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(backend: str, pods: int, warmup: int) -> dict[str, Any]:
    sock = Path(tempfile.mkdtemp(prefix="dpb", dir="/tmp"))
    work = Path(tempfile.mkdtemp(prefix="dpbw"))
    settings = PluginSettings(
        node_name=NODE,
        plugin_dir=sock,
        hook_path=work / "hook",
        lock_dir=work / "lock",
        split_count=100,
        pod_lookup_retries=0,
        list_resend_s=None,
    )
    try:
        async with make_rig(settings, sock, backend) as rig:
            ok = await asyncio.to_thread(rig.kubelet.wait_devices, "nvidia.com/gpu", 200, 30.0)
            assert ok, "kubelet stand-in never saw the devices"
            for i in range(warmup + pods):
                uuid = (UUID_A, UUID_B)[i % 2]
                name = f"bench-{i}"
                pod = bound_pod(name, f"{uuid},NVIDIA,1000,10:;", containers=[container("c", 1)])
                rig.cluster.add_pod(pod)
                rig.cluster.set_node_annotation("hami.io/mutex.lock", lock_value(name))
                stored = rig.cluster.pod(name)
                await asyncio.to_thread(rig.kubelet.admit, stored)
                rig.kubelet.release(stored)
            lat = rig.kubelet.allocate_latencies_s[warmup:]
    finally:
        shutil.rmtree(sock, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    ms = [x * 1000 for x in lat]
    return {
        "backend": backend,
        "pods": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(_pct(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--backend", choices=["apiserver", "fake", "both"], default="both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    backends = ["apiserver", "fake"] if args.backend == "both" else [args.backend]
    results = [asyncio.run(run(b, args.pods, args.warmup)) for b in backends]
    for r in results:
        if args.json:
            print(json.dumps(r))
        else:
            print(
                f"Allocate ({r['backend']:9}) pods={r['pods']} p50={r['p50_ms']:.2f} ms "
                f"p99={r['p99_ms']:.2f} ms max={r['max_ms']:.2f} ms"
            )


if __name__ == "__main__":
    main()
