"""Property test: the indexed Filter picks what a brute-force reference picks.

The reference fits every candidate node in detail with ``fit_pod``, orders the nodes by the
node policy (binpack: highest score first, spread: lowest; equal scores: name order), prefers
nodes that are not busy (``avoid``), and takes the first that fits, or, when a vendor the pod
asks for scores nodes, the best ``score + sum(score_node)`` (ties: the earlier one). On random
clusters (NVIDIA GPUs of several models, slot counts and core totals, MIG devices, unhealthy and
cordoned GPUs, a second vendor that may score nodes and check quota) and random pod streams
(whole GPUs, MiB, percentages, cores, two GPUs, init and several containers, both vendors,
type and UUID selections, both node policies and GPU policy chains, namespace quotas, random
candidate lists with unknown names, busy nodes) the indexed path must choose the same node and
the same devices for every pod, and agree on whether the pod fits at all.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hami.api import annotations as keys
from hami.api.types import ContainerDevice, DeviceInfo, MigPlacement, MigProfile
from hami.engine.fit import NodeFit, fit_pod
from hami.engine.plan import GPU_POLICY_ANNOTATION, NODE_POLICY_ANNOTATION, plan_pod
from hami.engine.state import ClusterState
from tests.unit.engine.fakevendor import FakeBackend, fake_ctr, registry
from tests.unit.engine.helpers import ctr

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MODELS = ("NVIDIA A100-SXM4-40GB", "NVIDIA-Tesla T4", "NVIDIA-Tesla V100-PCIE-32GB")
PROFILES = (
    MigProfile("1g.10gb", 9728, 14, 1, tuple(MigPlacement(i, 1) for i in range(7))),
    MigProfile("3g.40gb", 40192, 42, 4, (MigPlacement(0, 4), MigPlacement(4, 4))),
)
CHAINS = ("spread", "binpack", "binpack,numa", "spread,mutex", "numa", "topology-aware", "mutex")


def nvidia(node: str, i: int, seed: int) -> DeviceInfo:
    """GPU ``i`` of a node of shape ``seed`` (same seed, same GPUs)."""
    rnd = random.Random(seed * 10 + i)
    if rnd.randrange(10) == 0:
        return DeviceInfo(f"GPU-{node}-{i}", 7, 81920, 100, "NVIDIA H100 80GB HBM3", index=i,
                          mode="mig", mig_profiles=PROFILES)  # fmt: skip
    return DeviceInfo(
        id=f"GPU-{node}-{i}",
        count=rnd.randint(1, 4),
        devmem=rnd.choice((1000, 8000, 15360, 40960)),
        devcore=rnd.choice((100, 100, 200)),
        type=rnd.choice(MODELS),
        index=i,
        numa=rnd.randint(0, 1),
        health=rnd.randrange(8) > 0,
    )


def fake(node: str, i: int, seed: int) -> DeviceInfo:
    rnd = random.Random(seed * 10 + i + 5)
    return DeviceInfo(f"FAKE-{node}-{i}", rnd.randint(1, 3), rnd.choice((2000, 8192)), 100,
                      "FAKE-card", index=i)  # fmt: skip


def nvidia_ctr(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(("whole", "mib", "pct", "cores", "bare")))
    gpu = draw(st.sampled_from((1, 1, 1, 2)))
    if kind == "whole":
        return ctr(name, gpu=gpu, cores=100)
    if kind == "mib":
        return ctr(name, gpu=gpu, mem=draw(st.sampled_from((500, 1000, 3000, 4000, 9000, 20000))))
    if kind == "pct":
        return ctr(name, gpu=gpu, pct=draw(st.sampled_from((10, 25, 30, 50, 70, 100))))
    if kind == "cores":
        return ctr(name, gpu=gpu, mem=1000, cores=draw(st.sampled_from((10, 50, 100))))
    return ctr(name, gpu=gpu)


def container(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(("nvidia",) * 6 + ("fake", "both", "none")))
    if kind == "none":
        return ctr(name)
    if kind == "fake":
        return fake_ctr(name, n=draw(st.integers(1, 2)), mem=draw(st.sampled_from((500, 3000))),
                        cores=draw(st.sampled_from((0, 30))))  # fmt: skip
    out = nvidia_ctr(draw, name)
    if kind == "both":
        out["resources"]["limits"].update(fake_ctr(name, mem=1000)["resources"]["limits"])
    return out


@st.composite
def pod(draw: st.DrawFn, i: int, gpu_ids: list[str]) -> dict[str, Any]:
    containers = [container(draw, f"c{k}") for k in range(draw(st.sampled_from((1, 1, 1, 2, 3))))]
    init = [container(draw, "init")] if draw(st.integers(0, 3)) == 0 else []
    annotations: dict[str, str] = {}
    if draw(st.integers(0, 3)) == 0:
        annotations[keys.USE_GPUTYPE] = draw(st.sampled_from(("A100", "T4", "H100", "V100,T4")))
    if gpu_ids and draw(st.integers(0, 5)) == 0:
        ids = draw(st.lists(st.sampled_from(gpu_ids), min_size=1, max_size=3))
        which = draw(st.sampled_from((keys.USE_GPUUUID, keys.NOUSE_GPUUUID)))
        annotations[which] = ",".join(ids)
    if draw(st.integers(0, 3)) == 0:
        annotations[NODE_POLICY_ANNOTATION] = draw(st.sampled_from(("binpack", "spread")))
    if draw(st.integers(0, 3)) == 0:
        annotations[GPU_POLICY_ANNOTATION] = draw(st.sampled_from(CHAINS))
    spec: dict[str, Any] = {"containers": containers}
    if init:
        spec["initContainers"] = init
    namespace = draw(st.sampled_from(("default", "q")))
    meta = {"name": f"p{i}", "namespace": namespace, "uid": f"u{i}", "annotations": annotations}
    return {"metadata": meta, "spec": spec}


def reference(
    cs: ClusterState, p: dict[str, Any], candidates: set[str] | None, avoid: set[str]
) -> tuple[str, NodeFit] | None:
    """Brute force: fit every candidate in detail, then pick per node policy."""
    plan = plan_pod(p, cs.registry, node_policy=cs._node_policy, gpu_policy=cs._gpu_policy)
    quota = cs._quota_room(p["metadata"]["namespace"], plan)
    nodes = cs._nodes
    high = plan.node_prefers_high
    names = [n for n in nodes if candidates is None or n in candidates]
    names.sort(key=lambda n: (-nodes[n].score if high else nodes[n].score, n))
    fits = [(n, fit_pod(nodes[n], plan, cs._backends, quota)) for n in names]
    fitting = [(n, f) for n, f in fits if f.devices is not None]
    pool = [(n, f) for n, f in fitting if n not in avoid] or fitting
    if not pool:
        return None
    scoring = [cw for cw, _ in plan.selections if cs._backends[cw].scores_nodes]
    if not scoring:
        return pool[0]
    best: tuple[float, str, NodeFit] | None = None
    for n, f in pool:
        assert f.devices is not None
        total = nodes[n].score + sum(
            cs._backends[cw].score_node(nodes[n].vendors[cw], f.devices[cw]) for cw in scoring
        )
        if best is None or (total > best[0] if high else total < best[0]):
            best = (total, n, f)
    assert best is not None
    return best[1], best[2]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_indexed_filter_picks_what_brute_force_picks(data: st.DataObject) -> None:
    draw = data.draw
    scores = draw(st.booleans())
    bonus = {f"FAKE-n{n}-{i}": float(draw(st.integers(0, 3))) for n in range(6) for i in range(3)}
    backend = FakeBackend(scores_nodes=scores, fit_checks_quota=True, bonus=bonus)
    cs = ClusterState(registry(backend), node_policy=draw(st.sampled_from(("binpack", "spread"))),
                      gpu_policy=draw(st.sampled_from(CHAINS)))  # fmt: skip
    names = [f"n{k}" for k in draw(st.permutations(range(draw(st.integers(1, 6)))))]
    # nodes built from a few shapes, so that equal scores (name order) come up often
    shapes = [(draw(st.sampled_from((0, 1, 2, 3, 4, 4))), draw(st.sampled_from((0, 1, 2, 2))),
               draw(st.integers(0, 999)))
              for _ in range(draw(st.integers(1, 3)))]  # fmt: skip
    gpu_ids: list[str] = []
    for name in names:
        n_gpu, n_fake, seed = draw(st.sampled_from(shapes))
        devices = {
            "NVIDIA": [nvidia(name, i, seed) for i in range(n_gpu)],
            "FAKE": [fake(name, i, seed) for i in range(n_fake)],
        }
        if not devices["NVIDIA"] and not devices["FAKE"]:
            devices["NVIDIA"] = [nvidia(name, 0, seed)]
        ids = [d.id for d in devices["NVIDIA"]]
        gpu_ids += ids
        cordoned = draw(st.lists(st.sampled_from(ids), max_size=1)) if ids and draw(
            st.integers(0, 3)) == 0 else []  # fmt: skip
        cs.upsert_node(name, devices, {keys.DEVICE_CORDON: ",".join(cordoned)} if cordoned else {})
        for d in devices["NVIDIA"]:  # some GPUs partly used already
            if d.mode != "mig" and draw(st.integers(0, 3)) > 0:
                used = d.devmem * draw(st.integers(1, 19)) // 20
                cores = draw(st.sampled_from((0, 30, 100)))
                held = ContainerDevice(d.id, "NVIDIA", used, min(cores, d.devcore))
                cs.add_pod(f"fill-{d.id}", "fill", "fill", name, {"NVIDIA": ((held,),)})
    if draw(st.booleans()):
        cs.set_quota("q", draw(st.sampled_from((3000, 20000, None))), draw(st.sampled_from((
            60, None))))  # fmt: skip
        cs.set_quota("q", draw(st.sampled_from((2500, None))), None, vendor="FAKE")
    placed: list[str] = []
    for i in range(draw(st.integers(1, 16))):
        p = draw(pod(i, gpu_ids))
        candidates = None
        if draw(st.booleans()):
            candidates = set(draw(st.lists(st.sampled_from([*names, "ghost"]), min_size=1,
                                           max_size=7)))  # fmt: skip
        avoid = set(draw(st.lists(st.sampled_from(names), max_size=2)))
        if not plan_pod(p, cs.registry, node_policy="binpack", gpu_policy="spread").managed:
            assert not cs.filter(p, candidates, now=NOW).managed
            continue
        want = reference(cs, p, candidates, avoid)
        if draw(st.booleans()) and candidates is not None:
            given_candidates: Any = sorted(candidates)  # a list, as kube-scheduler sends it
        else:
            given_candidates = candidates
        out = cs.filter(p, given_candidates, now=NOW, avoid=avoid)
        if want is None:
            assert out.node is None, (out.node, out.failed_nodes)
            known = {n for n in names if candidates is None or n in candidates}
            assert known <= set(out.failed_nodes)
            continue
        assert out.node == want[0], (out.node, want[0], out.failed_nodes)
        assert out.devices == want[1].devices
        assert out.mig == want[1].mig
        ns = p["metadata"]["namespace"]
        cs.add_pod(f"u{i}", ns, f"p{i}", out.node, out.devices, init_count=out.init_count,
                   mig=out.mig)  # fmt: skip
        placed.append(f"u{i}")
        if placed and draw(st.integers(0, 3)) == 0:
            cs.remove_pod(placed.pop(draw(st.integers(0, len(placed) - 1))))
