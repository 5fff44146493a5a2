"""Property tests: the engine never over-commits a GPU, and node pruning is conservative.

Random heterogeneous clusters receive random pod streams (whole-GPU, MiB, percentage, cores,
multi-GPU, multi-container with init containers, pinned types, mixed policies) through
``ClusterState.filter`` + ``add_pod`` with random releases in between; after every step every
GPU satisfies ``used <= count``, ``usedmem <= totalmem`` and ``usedcores <= totalcore``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hami.api.types import DeviceInfo
from hami.config.devices import DeviceConfig
from hami.device.nvidia.fit import DeviceUsage
from hami.engine.fit import fit_pod
from hami.engine.plan import plan_pod
from hami.engine.policy import order_devices
from hami.engine.score import device_score
from hami.engine.state import ClusterState
from hami.engine.usage import NodeUsage
from tests.unit.engine.helpers import ctr

NOW = datetime(2026, 1, 1, tzinfo=UTC)
UUIDS = tuple(f"GPU-{n}-{i}" for n in range(4) for i in range(4))
MODELS = ("NVIDIA A100-SXM4-40GB", "NVIDIA-Tesla T4", "NVIDIA-Tesla V100-PCIE-32GB")


@st.composite
def device(draw: st.DrawFn, node: int, i: int) -> DeviceInfo:
    return DeviceInfo(
        id=f"GPU-{node}-{i}",
        count=draw(st.integers(1, 4)),
        devmem=draw(st.sampled_from((1000, 8000, 15360, 40960))),
        devcore=draw(st.sampled_from((100, 100, 200))),
        type=draw(st.sampled_from(MODELS)),
        index=i,
        numa=draw(st.integers(0, 1)),
        health=draw(st.integers(0, 5)) > 0,
    )


@st.composite
def cluster(draw: st.DrawFn) -> list[list[DeviceInfo]]:
    n = draw(st.integers(1, 4))
    return [[draw(device(node, i)) for i in range(draw(st.integers(1, 4)))] for node in range(n)]


def container(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(("none", "whole", "mib", "pct", "cores")))
    if kind == "none":
        return ctr(name)
    gpu = draw(st.integers(1, 3))
    if kind == "whole":
        return ctr(name, gpu=gpu, cores=100)
    if kind == "mib":
        return ctr(name, gpu=gpu, mem=draw(st.integers(1, 20000)))
    if kind == "pct":
        return ctr(name, gpu=gpu, pct=draw(st.integers(1, 100)))
    return ctr(name, gpu=gpu, mem=draw(st.integers(1, 5000)), cores=draw(st.integers(0, 100)))


@st.composite
def pod(draw: st.DrawFn, i: int) -> dict[str, Any]:
    annos: dict[str, str] = {}
    if draw(st.booleans()):
        annos["hami.io/gpu-scheduler-policy"] = draw(
            st.sampled_from(
                ("binpack", "spread", "mutex", "numa", "binpack,numa", "topology-aware")
            )
        )
    if draw(st.booleans()):
        annos["hami.io/node-scheduler-policy"] = draw(st.sampled_from(("binpack", "spread")))
    if draw(st.integers(0, 4)) == 0:
        annos["nvidia.com/use-gputype"] = draw(st.sampled_from(("A100", "T4")))
    if draw(st.integers(0, 4)) == 0:
        annos["nvidia.com/numa-bind"] = "true"
    if draw(st.integers(0, 4)) == 0:
        key = draw(st.sampled_from(("nvidia.com/use-gpuuuid", "nvidia.com/nouse-gpuuuid")))
        annos[key] = ",".join(draw(st.lists(st.sampled_from(UUIDS), max_size=3)))
    spec: dict[str, Any] = {
        "containers": [container(draw, f"c{j}") for j in range(draw(st.integers(1, 3)))]
    }
    if draw(st.integers(0, 3)) == 0:
        spec["initContainers"] = [container(draw, "init")]
    meta = {"name": f"p{i}", "namespace": "ns", "uid": f"u{i}", "annotations": annos}
    return {"metadata": meta, "spec": spec}


def check_no_overcommit(cs: ClusterState) -> None:
    for node in cs.nodes():
        for g in node.gpus:
            assert 0 <= g.used <= g.count, g
            assert 0 <= g.usedmem <= g.totalmem, g
            assert 0 <= g.usedcores <= g.totalcore, g


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=cluster(), data=st.data())
def test_stream_never_overcommits(nodes: list[list[DeviceInfo]], data: st.DataObject) -> None:
    cs = ClusterState(DeviceConfig(), node_policy=data.draw(st.sampled_from(("binpack", "spread"))))
    for i, devs in enumerate(nodes):
        cs.upsert_node(f"n{i}", devs)
    live: list[str] = []
    for i in range(data.draw(st.integers(1, 25))):
        p = data.draw(pod(i))
        out = cs.filter(p, now=NOW)
        if out.node is not None:
            cs.add_pod(f"u{i}", "ns", f"p{i}", out.node, out.devices, init_count=out.init_count)
            live.append(f"u{i}")
        if live and data.draw(st.integers(0, 3)) == 0:
            cs.remove_pod(live.pop(data.draw(st.integers(0, len(live) - 1))))
        check_no_overcommit(cs)
    for uid in live:
        cs.remove_pod(uid)
    for node in cs.nodes():
        assert all((g.used, g.usedmem, g.usedcores) == (0, 0, 0) for g in node.gpus)


@settings(max_examples=100, deadline=None)
@given(nodes=cluster(), data=st.data())
def test_pruning_never_drops_a_node_that_fits(
    nodes: list[list[DeviceInfo]], data: st.DataObject
) -> None:
    cs = ClusterState(DeviceConfig())
    cs.upsert_node("n", nodes[0])
    for i in range(data.draw(st.integers(0, 6))):
        out = cs.filter(data.draw(pod(i)), now=NOW)
        if out.node is not None:
            cs.add_pod(f"u{i}", "ns", f"p{i}", out.node, out.devices, init_count=out.init_count)
    snap = cs.nodes()[0]
    usage = NodeUsage("n", {"NVIDIA": nodes[0]}, summarizers=cs.registry.summarizers)
    for d, g in zip(usage.devices, snap.gpus, strict=True):
        d.used, d.usedmem, d.usedcores = g.used, g.usedmem, g.usedcores
    usage.refresh()
    probe = data.draw(pod(99))
    plan = plan_pod(probe, cs.registry, node_policy="binpack", gpu_policy="spread")
    reqs = [r for ask in plan.requests for r in ask]
    if not all(usage.may_fit(r, plan.selection(r.type), plan.mutex) for r in reqs):
        assert fit_pod(usage, plan, cs.registry.backends, None).devices is None


@settings(max_examples=100, deadline=None)
@given(
    usage=st.lists(
        st.tuples(st.integers(0, 10), st.integers(0, 40960), st.integers(0, 100)),
        min_size=1,
        max_size=8,
    )
)
def test_binpack_and_spread_order_consistently(usage: list[tuple[int, int, int]]) -> None:
    devs = []
    for i, (used, mem, cores) in enumerate(usage):
        dev = DeviceUsage(f"g{i}", i, "NVIDIA A100", 0, "hami-core", True, 10, 40960, 100)
        dev.used, dev.usedmem, dev.usedcores = used, mem, cores
        devs.append(dev)
    spread = [device_score(d) for d in order_devices(devs, ("spread",))]
    binpack = [device_score(d) for d in order_devices(devs, ("binpack",))]
    assert spread == sorted(spread)
    assert binpack == sorted(binpack, reverse=True)
