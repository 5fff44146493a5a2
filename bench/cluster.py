"""Scheduling throughput on a REAL control plane: GPU pods through ``hami-scheduler`` against
CPU-only pods through the default profile of the same kube-scheduler (same QPS).

Starts the test cluster of ``tests/cluster`` (etcd, kube-apiserver with an audit log,
controller-manager, kube-scheduler with both profiles, ``hami scheduler``), creates ``--nodes``
Node objects with ``--gpus`` GPUs each (no kubelet: an allocator plays the device plugin's part,
``bind-phase=success`` and the node lock released), then

1. creates ``--pods`` CPU-only pods and times them until all are bound;
2. creates ``--pods`` GPU pods (1 GPU, ``--gpumem`` MiB) and times them until all are bound;

and reports pods/s for both, their ratio, the API writes per pod counted from the apiserver's
audit log (by user, verb and resource), and checks that no GPU is over-committed.

    python bench/cluster.py [--nodes 50 --gpus 8 --pods 500 --gpumem 1024] [--json]

Needs the binaries of ``tests/cluster/build.sh`` and Debian's etcd.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.controlplane import Api, ControlPlane
from tests.cluster.objects import Allocator, cpu_pod, create_nodes, gpu_pod, wait_for
from tests.component.scheduler.objects import usage_by_gpu

GPU_MEM = 16384
SPLIT = 10


def _create_all(cp: ControlPlane, ns: str, bodies: list[dict[str, Any]]) -> float:
    """Create the pods from 8 client threads; returns the time of the first create."""
    local = threading.local()

    def client() -> Api:
        if not hasattr(local, "api"):
            local.api = Api(cp.url, cp.tokens["admin"], cp.pki.ca)
        return local.api  # type: ignore[no-any-return]

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: client().create(f"/api/v1/namespaces/{ns}/pods", b), bodies))
    return start


def _bound(cp: ControlPlane, ns: str) -> tuple[int, int]:
    items = cp.api.get(f"/api/v1/namespaces/{ns}/pods")["items"]
    return sum(1 for p in items if p["spec"].get("nodeName")), len(items)


def _run_phase(cp: ControlPlane, ns: str, bodies: list[dict[str, Any]], timeout: float) -> float:
    start = _create_all(cp, ns, bodies)
    deadline = start + timeout
    while time.monotonic() < deadline:
        bound, _ = _bound(cp, ns)
        if bound == len(bodies):
            return time.monotonic() - start
        time.sleep(0.25)
    bound, _ = _bound(cp, ns)
    raise SystemExit(f"{ns}: only {bound}/{len(bodies)} pods bound after {timeout:.0f} s")


def _audit_writes(path: Path, since: float, until: float) -> collections.Counter[str]:
    """Writes (create/update/patch/delete) completed in [since, until] (epoch s), by
    ``user verb resource[/subresource]``."""
    counts: collections.Counter[str] = collections.Counter()
    with path.open() as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("stage") != "ResponseComplete":
                continue
            if ev.get("verb") not in ("create", "update", "patch", "delete"):
                continue
            ts = ev.get("stageTimestamp", "")
            t = time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            t += float("0." + ts[20:-1]) if "." in ts else 0.0
            if not since <= t <= until:
                continue
            ref = ev.get("objectRef", {})
            res = ref.get("resource", "?") + (
                f"/{ref['subresource']}" if ref.get("subresource") else ""
            )
            counts[f"{ev['user']['username']} {ev['verb']} {res}"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--pods", type=int, default=500)
    parser.add_argument("--gpumem", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cp = ControlPlane(audit=True)
    try:
        cp.start()
        nodes = create_nodes(cp.api, "bench", args.nodes, gpus=args.gpus, mem=GPU_MEM, split=SPLIT)
        wait_for("hami to handshake every node", lambda: all(
            "hami.io/node-handshake" in (n["metadata"].get("annotations") or {})
            for n in cp.api.get("/api/v1/nodes")["items"]), 120)  # fmt: skip
        for ns in ("bench-cpu", "bench-gpu"):
            cp.api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
            sa = f"/api/v1/namespaces/{ns}/serviceaccounts/default"
            wait_for(f"{ns} ServiceAccount", lambda sa=sa: cp.api.request("GET", sa).is_success)
        with Allocator(cp, set(nodes)) as alloc:
            t0 = time.time()
            cpu_s = _run_phase(cp, "bench-cpu", [cpu_pod(f"c-{i}") for i in range(args.pods)],
                               args.timeout)  # fmt: skip
            t1 = time.time()
            gpu_bodies = [gpu_pod(f"g-{i}", mem=args.gpumem) for i in range(args.pods)]
            gpu_s = _run_phase(cp, "bench-gpu", gpu_bodies, args.timeout)
            wait_for("allocator to finish", lambda: len(alloc.allocated) >= args.pods, 60)
            time.sleep(1.0)  # let the last writes reach the audit log
            t2 = time.time()
        pods = cp.api.get("/api/v1/namespaces/bench-gpu/pods")["items"]
        over = {u: v for u, v in usage_by_gpu(pods).items() if v[0] > SPLIT or v[1] > GPU_MEM}
        cpu_writes = _audit_writes(cp.audit_log, t0, t1)
        gpu_writes = _audit_writes(cp.audit_log, t1, t2)
        result = {
            "nodes": args.nodes, "gpus_per_node": args.gpus, "pods": args.pods,
            "cpu_pods_per_s": round(args.pods / cpu_s, 2),
            "gpu_pods_per_s": round(args.pods / gpu_s, 2),
            "ratio": round(cpu_s / gpu_s, 3),
            "cpu_writes_per_pod": round(sum(cpu_writes.values()) / args.pods, 2),
            "gpu_writes_per_pod": round(sum(gpu_writes.values()) / args.pods, 2),
            "cpu_writes": dict(cpu_writes.most_common()),
            "gpu_writes": dict(gpu_writes.most_common()),
            "overcommitted_gpus": over,
        }  # fmt: skip
    finally:
        cp.stop()
        cp.cleanup()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.nodes} nodes x {args.gpus} GPUs, {args.pods} pods per phase")
        print(f"CPU pods (default profile): {result['cpu_pods_per_s']} pods/s, "
              f"{result['cpu_writes_per_pod']} API writes/pod")  # fmt: skip
        print(f"GPU pods (hami-scheduler):  {result['gpu_pods_per_s']} pods/s, "
              f"{result['gpu_writes_per_pod']} API writes/pod")  # fmt: skip
        print(f"ratio GPU/CPU: {result['ratio']} (goal >= 0.8)")
        for label in ("cpu_writes", "gpu_writes"):
            print(f"{label} (user verb resource: count):")
            for key, n in result[label].items():
                print(f"  {key}: {n}")
        print("over-committed GPUs:", over or "none")
    if over:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
