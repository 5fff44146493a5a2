"""ClusterState.filter end to end over the spec's cases (§4.3-§4.6, §4.8, §1.3 step 4).

Each test registers a few nodes, optionally reserves pods, runs Filter and checks the chosen
node and devices, the exact annotation strings, or the per-node failure reasons.
"""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hami.api.types import ContainerDevice, DeviceInfo, MigPlacement, MigProfile
from hami.config.devices import DeviceConfig
from hami.engine.state import (
    ClusterState,
    FilterOutcome,
    pod_devices_from_annotations,
    pod_mig_from_annotations,
)
from tests.unit.engine.helpers import A100, T4, ctr, gpus, pod

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def state(**kw: str) -> ClusterState:
    return ClusterState(DeviceConfig(), **kw)


def reserve(cs: ClusterState, p: dict[str, Any], out: FilterOutcome) -> None:
    meta = p["metadata"]
    assert out.node is not None
    cs.add_pod(meta["uid"], meta["namespace"], meta["name"], out.node, out.devices,
               init_count=out.init_count, mig=out.mig)  # fmt: skip


def uuids(out: FilterOutcome) -> list[list[str]]:
    return [[d.uuid for d in c] for c in out.devices["NVIDIA"]]


def test_unmanaged_pod_is_passed_through() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    out = cs.filter(pod("p", ctr()), ["n1"], now=NOW)
    assert (out.managed, out.node, out.error) == (False, None, None)


def test_success_writes_exact_annotations() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 2))
    p = pod("p", ctr(gpu=2, mem=4000, cores=30), init=[ctr("init")])
    out = cs.filter(p, ["n1"], now=NOW)
    value = ";GPU-n1-1,NVIDIA,4000,30:GPU-n1-0,NVIDIA,4000,30:;"  # HAMi walks from the end
    assert out.annotations == {
        "hami.io/vgpu-node": "n1",
        "hami.io/vgpu-time": str(int(NOW.timestamp())),
        "hami.io/vgpu-devices-to-allocate": value,
        "hami.io/vgpu-devices-allocated": value,
    }
    assert out.init_count == 1


FAILS = [
    ("too-many-gpus", ctr(gpu=3, mem=1000), {}, "NodeInsufficientDevice"),
    ("memory", ctr(gpu=1, mem=50000), {}, "2/2 CardInsufficientMemory"),
    ("type", ctr(gpu=1, mem=1000), {"nvidia.com/use-gputype": "T4"}, "2/2 CardTypeMismatch"),
    ("uuid", ctr(gpu=1, mem=1000), {"nvidia.com/nouse-gpuuuid": "GPU-n1-0,GPU-n1-1"}, "2/2 CardUuidMismatch"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("c", "annos", "reason"), [f[1:] for f in FAILS], ids=[f[0] for f in FAILS]
)
def test_failure_reasons(c: dict[str, Any], annos: dict[str, str], reason: str) -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 2))
    out = cs.filter(pod("p", c, annotations=annos), ["n1", "ghost"], now=NOW)
    assert out.node is None and out.error is None
    assert out.failed_nodes == {"n1": reason, "ghost": "node unregistered"}


def test_insufficient_cores_and_clamped_request() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    cs.add_pod(
        "b", "default", "b", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 10, 80),),)}
    )
    assert cs.filter(pod("p", ctr(gpu=1, mem=10, cores=30)), now=NOW).failed_nodes == {
        "n1": "1/1 CardInsufficientCore"
    }
    cs.remove_pod("b")
    out = cs.filter(pod("p", ctr(gpu=1, mem=10, cores=250)), now=NOW)
    assert out.devices["NVIDIA"][0][0].usedcores == 100


def test_mixed_reasons_on_heterogeneous_node() -> None:
    cs = state()
    cs.upsert_node(
        "n1",
        gpus("n1", 2)
        + [DeviceInfo(f"GPU-t{i}", 10, 15360, 100, T4, index=2 + i) for i in range(2)],
    )
    cs.add_pod(
        "u",
        "default",
        "u",
        "n1",
        {
            "NVIDIA": (
                (
                    ContainerDevice("GPU-n1-0", "NVIDIA", 40000, 0),
                    ContainerDevice("GPU-n1-1", "NVIDIA", 40000, 0),
                ),
            )
        },
    )
    out = cs.filter(
        pod("p", ctr(gpu=1, mem=2000), annotations={"nvidia.com/use-gputype": "A100"}), now=NOW
    )
    assert out.failed_nodes == {"n1": "2/4 CardInsufficientMemory, 2/4 CardTypeMismatch"}


def _busy_cluster() -> ClusterState:
    cs = state()
    for n in ("n1", "n2", "n3"):
        cs.upsert_node(n, gpus(n, 2))
    cs.add_pod(
        "b1",
        "default",
        "b1",
        "n1",
        {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 20000, 50),),)},
    )
    cs.add_pod(
        "b2",
        "default",
        "b2",
        "n2",
        {"NVIDIA": ((ContainerDevice("GPU-n2-0", "NVIDIA", 5000, 10),),)},
    )
    return cs


NODE_POLICIES = [
    ("binpack-default", {}, {}, "n1"),
    ("spread-global", {"node_policy": "spread"}, {}, "n3"),
    ("spread-per-pod", {}, {"hami.io/node-scheduler-policy": "spread"}, "n3"),
    ("binpack-per-pod", {"node_policy": "spread"}, {"hami.io/node-scheduler-policy": "binpack"}, "n1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "annos", "node"), [c[1:] for c in NODE_POLICIES], ids=[c[0] for c in NODE_POLICIES]
)
def test_node_policy(kw: dict[str, str], annos: dict[str, str], node: str) -> None:
    cs = _busy_cluster()
    cs_kw = ClusterState(DeviceConfig(), **kw)
    for snap in cs.nodes():
        cs_kw.upsert_node(snap.name, gpus(snap.name, 2))
    cs_kw.add_pod(
        "b1",
        "default",
        "b1",
        "n1",
        {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 20000, 50),),)},
    )
    cs_kw.add_pod(
        "b2",
        "default",
        "b2",
        "n2",
        {"NVIDIA": ((ContainerDevice("GPU-n2-0", "NVIDIA", 5000, 10),),)},
    )
    assert cs_kw.filter(pod("p", annotations=annos), now=NOW).node == node


def test_binpack_skips_busiest_node_that_cannot_fit() -> None:
    cs = _busy_cluster()
    out = cs.filter(pod("p", ctr(gpu=2, mem=30000)), now=NOW)
    assert out.node == "n2"


AVOID = [
    # binpack order on the busy cluster: n1 (most used), n2, n3
    ("none-busy", set(), {}, "n1"),
    ("best-busy-next-wins", {"n1"}, {}, "n2"),
    ("two-busy", {"n1", "n2"}, {}, "n3"),
    ("all-busy-best-fit-still-chosen", {"n1", "n2", "n3"}, {}, "n1"),
    ("busy-node-that-cannot-fit-is-irrelevant", {"n3"}, {"mem": 30000, "gpu": 2}, "n2"),
    ("every-fit-busy-best-wins", {"n2", "n3"}, {"mem": 30000, "gpu": 2}, "n2"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("avoid", "req", "node"), [c[1:] for c in AVOID], ids=[c[0] for c in AVOID]
)
def test_busy_nodes_are_passed_over_while_another_fits(
    avoid: set[str], req: dict[str, int], node: str
) -> None:
    cs = _busy_cluster()
    out = cs.filter(pod("p", *([ctr(**req)] if req else [])), now=NOW, avoid=avoid)
    assert out.node == node
    assert out.annotations["hami.io/vgpu-node"] == node


def _binpack_row(busy: int) -> tuple[ClusterState, list[str]]:
    """``busy`` nodes, fullest first in binpack order, then one emptier node (the last name)."""
    cs = state()
    names = [f"n{i:02d}" for i in range(busy + 1)]
    for i, n in enumerate(names):
        cs.upsert_node(n, gpus(n, 1))
        used = ContainerDevice(f"GPU-{n}-0", "NVIDIA", 20000 - i * 100, 10)
        cs.add_pod(f"u-{n}", "fill", f"u-{n}", n, {"NVIDIA": ((used,),)})
    return cs, names


def test_free_node_wins_over_any_number_of_busy_nodes() -> None:
    cs, names = _binpack_row(40)
    out = cs.filter(pod("p"), now=NOW, avoid=set(names[:-1]))
    assert out.node == names[-1]  # the only free node, last in binpack order


def test_busy_node_chosen_only_when_no_free_node_fits() -> None:
    cs, names = _binpack_row(40)
    # every node busy: the best busy node that fits wins
    assert cs.filter(pod("p"), now=NOW, avoid=set(names)).node == names[0]
    # the free node cannot fit (a second pod fills it): still the best busy node, and a busy
    # node that cannot fit is passed over for the next busy one
    full = ContainerDevice(f"GPU-{names[-1]}-0", "NVIDIA", 20000, 10)
    cs.add_pod("full", "fill", "full", names[-1], {"NVIDIA": ((full,),)})
    full0 = ContainerDevice(f"GPU-{names[0]}-0", "NVIDIA", 20000, 10)
    cs.add_pod("full0", "fill", "full0", names[0], {"NVIDIA": ((full0,),)})
    out = cs.filter(pod("p", ctr(gpu=1, mem=10000)), now=NOW, avoid=set(names[:-1]))
    assert out.node == names[1]


def test_busy_nodes_are_not_fitted_while_a_free_node_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    import hami.engine.state as state_mod

    fitted: list[str] = []
    real = state_mod.fit_pod

    def counting(node: Any, *args: Any, **kw: Any) -> Any:
        fitted.append(node.name)
        return real(node, *args, **kw)

    monkeypatch.setattr(state_mod, "fit_pod", counting)
    cs, names = _binpack_row(40)
    assert cs.filter(pod("p"), now=NOW, avoid=set(names[:-1])).node == names[-1]
    assert fitted == [names[-1]]  # one detailed fit: busy nodes were only set aside


def test_no_fit_anywhere_names_busy_nodes_with_their_reason() -> None:
    cs, names = _binpack_row(3)
    out = cs.filter(pod("p", ctr(gpu=2)), now=NOW, avoid=set(names[:2]))
    assert out.node is None
    assert set(out.failed_nodes) == set(names)


GPU_POLICIES = [
    ("spread-default", {}, {}, "GPU-n1-1"),
    ("binpack-global", {"gpu_policy": "binpack"}, {}, "GPU-n1-0"),
    ("binpack-per-pod", {}, {"hami.io/gpu-scheduler-policy": "binpack"}, "GPU-n1-0"),
    ("spread-per-pod", {"gpu_policy": "binpack"}, {"hami.io/gpu-scheduler-policy": "spread"}, "GPU-n1-1"),
    ("mutex", {}, {"hami.io/gpu-scheduler-policy": "mutex"}, "GPU-n1-1"),
    ("chain-binpack-numa", {}, {"hami.io/gpu-scheduler-policy": "binpack,numa"}, "GPU-n1-0"),
    ("unknown-falls-back-to-spread", {}, {"hami.io/gpu-scheduler-policy": "bogus"}, "GPU-n1-1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "annos", "uuid"), [c[1:] for c in GPU_POLICIES], ids=[c[0] for c in GPU_POLICIES]
)
def test_gpu_policy(kw: dict[str, str], annos: dict[str, str], uuid: str) -> None:
    cs = ClusterState(DeviceConfig(), **kw)
    cs.upsert_node("n1", gpus("n1", 2))
    cs.add_pod(
        "b", "default", "b", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 1000, 10),),)}
    )
    out = cs.filter(pod("p", annotations=annos), now=NOW)
    assert uuids(out) == [[uuid]]


def test_mutex_refuses_shared_gpu() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    cs.add_pod(
        "b", "default", "b", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 1000, 10),),)}
    )
    out = cs.filter(pod("p", annotations={"hami.io/gpu-scheduler-policy": "mutex"}), now=NOW)
    assert out.failed_nodes == {"n1": "1/1 ExclusiveDeviceAllocateConflict"}


def test_exclusive_whole_gpu_conflicts_with_shared_use() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    cs.add_pod(
        "b", "default", "b", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 1000, 0),),)}
    )
    out = cs.filter(pod("p", ctr(gpu=1, mem=1000, cores=100)), now=NOW)
    assert out.failed_nodes == {"n1": "1/1 ExclusiveDeviceAllocateConflict"}


def test_multi_container_sees_earlier_containers() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 2))
    out = cs.filter(pod("p", ctr("a", gpu=1, mem=1000), ctr("b", gpu=1, mem=1000)), now=NOW)
    # spread, HAMi's walk from the end: first GPU 1, the second container the still idle GPU 0
    assert uuids(out) == [["GPU-n1-1"], ["GPU-n1-0"]]
    out = cs.filter(
        pod(
            "q", ctr("a", gpu=1, mem=30000), ctr("b", gpu=1, mem=30000), ctr("c", gpu=1, mem=30000)
        ),
        now=NOW,
    )
    assert out.node is None and out.failed_nodes["n1"] == "2/2 CardInsufficientMemory"


def test_init_containers_fit_against_fresh_node_and_account_as_max() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    p = pod(
        "p",
        ctr("app", gpu=1, mem=3000, cores=10),
        init=[ctr("i1", gpu=1, mem=30000), ctr("i2", gpu=1, mem=30000)],
    )
    out = cs.filter(p, now=NOW)
    assert uuids(out) == [["GPU-n1-0"], ["GPU-n1-0"], ["GPU-n1-0"]]
    reserve(cs, p, out)
    gpu0 = cs.nodes()[0].gpus[0]
    assert (gpu0.used, gpu0.usedmem, gpu0.usedcores) == (1, 30000, 10)


def test_filter_ignores_the_pods_own_reservation_and_keeps_it() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    p = pod("p", ctr(gpu=1, mem=40960))
    reserve(cs, p, cs.filter(p, now=NOW))
    again = cs.filter(p, now=NOW)
    assert again.node == "n1"
    assert cs.nodes()[0].gpus[0].usedmem == 40960
    assert cs.filter(pod("other", ctr(gpu=1, mem=1)), now=NOW).node is None


def test_add_pod_is_idempotent_and_remove_frees() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    devs = {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 1000, 10),),)}
    cs.add_pod("u", "default", "p", "n1", devs)
    cs.add_pod("u", "default", "p", "n1", devs)
    g = cs.nodes()[0].gpus[0]
    assert (g.used, g.usedmem, g.usedcores) == (1, 1000, 10)
    cs.remove_pod("u")
    cs.remove_pod("u")
    g = cs.nodes()[0].gpus[0]
    assert (g.used, g.usedmem, g.usedcores) == (0, 0, 0)


def test_pod_added_before_its_node_counts_once_node_registers() -> None:
    cs = state()
    cs.add_pod(
        "u", "default", "p", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 1000, 10),),)}
    )
    cs.upsert_node("n1", gpus("n1", 1))
    cs.upsert_node("n1", gpus("n1", 1, count=5))  # refresh keeps the reservation
    g = cs.nodes()[0].gpus[0]
    assert (g.count, g.used, g.usedmem) == (5, 1, 1000)
    cs.remove_node("n1")
    assert cs.nodes() == []


def test_device_cordon_annotation() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 2), {"hami.io/device-cordon": "GPU-n1-0, GPU-n1-1"})
    assert cs.filter(pod("p"), now=NOW).failed_nodes == {"n1": "2/2 CardCordoned"}
    cs.upsert_node("n1", gpus("n1", 2), {"hami.io/device-cordon": "GPU-n1-0"})
    assert uuids(cs.filter(pod("p"), now=NOW)) == [["GPU-n1-1"]]


def test_unhealthy_gpu_is_skipped() -> None:
    cs = state()
    cs.upsert_node("n1", [DeviceInfo("GPU-x", 10, 1000, 100, A100, health=False)])
    assert cs.filter(pod("p", ctr(gpu=1, mem=10)), now=NOW).failed_nodes == {
        "n1": "1/1 CardNotHealth"
    }


def test_numa_bind_keeps_a_container_on_one_numa_node() -> None:
    cs = state()
    cs.upsert_node(
        "n1",
        gpus("n1", 1, numa=0)
        + [DeviceInfo(f"GPU-m{i}", 10, 40960, 100, A100, index=1 + i, numa=1) for i in range(2)],
    )
    out = cs.filter(
        pod("p", ctr(gpu=2, mem=1000), annotations={"nvidia.com/numa-bind": "true"}), now=NOW
    )
    assert uuids(out) == [["GPU-m1", "GPU-m0"]]  # HAMi's walk order


def test_uuid_pinned_pod() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 3))
    out = cs.filter(pod("p", annotations={"nvidia.com/use-gpuuuid": "GPU-n1-2"}), now=NOW)
    assert uuids(out) == [["GPU-n1-2"]]


def test_percentage_resolved_per_device() -> None:
    cs = state()
    cs.upsert_node("n1", [DeviceInfo("GPU-t", 10, 15360, 100, T4)])
    out = cs.filter(pod("p", ctr(gpu=1, pct=50)), now=NOW)
    assert out.devices["NVIDIA"][0][0].usedmem == 7680


def test_bad_scoring_weights_make_pod_unschedulable() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    out = cs.filter(
        pod("p", annotations={"hami.io/device-scoring-weights": "slot=1,core=1"}), now=NOW
    )
    assert out.node is None and out.error is not None and "memory" in out.error


def test_scoring_weights_change_gpu_order() -> None:
    cs = state(gpu_policy="binpack")
    cs.upsert_node("n1", gpus("n1", 2))
    cs.add_pod(
        "a", "default", "a", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-0", "NVIDIA", 30000, 0),),)}
    )
    cs.add_pod(
        "b", "default", "b", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-1", "NVIDIA", 100, 0),),)}
    )
    cs.add_pod(
        "c", "default", "c", "n1", {"NVIDIA": ((ContainerDevice("GPU-n1-1", "NVIDIA", 100, 0),),)}
    )
    by_mem = cs.filter(
        pod("p", annotations={"hami.io/device-scoring-weights": "slot=0,core=0,memory=1"}), now=NOW
    )
    by_slot = cs.filter(
        pod("p", annotations={"hami.io/device-scoring-weights": "slot=1,core=0,memory=0"}), now=NOW
    )
    assert (uuids(by_mem), uuids(by_slot)) == ([["GPU-n1-0"]], [["GPU-n1-1"]])


def test_bad_quantity_is_an_error_not_a_crash() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 1))
    out = cs.filter(pod("p", ctr(gpu="lots")), now=NOW)
    assert out.node is None and out.error and "p" in out.error


def test_quota_blocks_namespace() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 2))
    cs.set_quota("team", 5000, None)
    p = pod("p", ctr(gpu=1, mem=4000), namespace="team")
    reserve(cs, p, cs.filter(p, now=NOW))
    out = cs.filter(pod("q", ctr(gpu=1, mem=2000), namespace="team"), now=NOW)
    assert out.failed_nodes == {"n1": "2/2 ResourceQuotaNotFit"}
    assert cs.filter(pod("q", ctr(gpu=1, mem=2000), namespace="other"), now=NOW).node == "n1"
    cs.set_quota("team", None, None)
    assert cs.filter(pod("q", ctr(gpu=1, mem=2000), namespace="team"), now=NOW).node == "n1"


def test_topology_aware_picks_best_linked_pair() -> None:
    cs = state()
    scores = '[{"uuid":"GPU-n1-0","score":{"GPU-n1-1":10,"GPU-n1-2":10,"GPU-n1-3":10}},' \
             '{"uuid":"GPU-n1-1","score":{"GPU-n1-0":10,"GPU-n1-2":200,"GPU-n1-3":10}},' \
             '{"uuid":"GPU-n1-2","score":{"GPU-n1-0":10,"GPU-n1-1":200,"GPU-n1-3":10}},' \
             '{"uuid":"GPU-n1-3","score":{"GPU-n1-0":10,"GPU-n1-1":10,"GPU-n1-2":10}}]'  # fmt: skip
    cs.upsert_node("n1", gpus("n1", 4), {"hami.io/node-nvidia-score": scores})
    annos = {"hami.io/gpu-scheduler-policy": "topology-aware"}
    assert uuids(cs.filter(pod("p", ctr(gpu=2, mem=10), annotations=annos), now=NOW)) == [
        ["GPU-n1-2", "GPU-n1-1"]  # HAMi's walk order (from the end)
    ]
    single = cs.filter(pod("q", ctr(gpu=1, mem=10), annotations=annos), now=NOW)
    assert uuids(single) == [["GPU-n1-3"]]  # tie 0/3: first in HAMi's walk (from the end)


def test_candidates_restrict_the_choice() -> None:
    cs = state()
    for n in ("n1", "n2"):
        cs.upsert_node(n, gpus(n, 1))
    assert cs.filter(pod("p"), ["n2"], now=NOW).node == "n2"
    assert cs.filter(pod("p"), [], now=NOW).node is None


def test_tie_breaks_by_node_name() -> None:
    cs = state()
    for n in ("b", "a", "c"):
        cs.upsert_node(n, gpus(n, 1))
    assert cs.filter(pod("p"), now=NOW).node == "a"


PROFILES = (
    MigProfile("1g.10gb", 9728, 14, 1, tuple(MigPlacement(i, 1) for i in range(7))),
    MigProfile("3g.40gb", 40192, 42, 4, (MigPlacement(0, 4), MigPlacement(4, 4))),
)


def test_mig_reservation_annotation_and_accounting() -> None:
    cs = state()
    cs.upsert_node(
        "n1",
        [
            DeviceInfo(
                "GPU-m", 7, 81920, 100, "NVIDIA H100 80GB HBM3", mode="mig", mig_profiles=PROFILES
            )
        ],
    )
    p = pod("p", ctr(gpu=1, mem=20000))
    out = cs.filter(p, now=NOW)
    assert out.annotations["hami.io/vgpu-mig-allocations"] == (
        '[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"GPU-m","profile":"3g.40gb","placement":{"start":0,"size":4}}]'
    )
    assert out.devices["NVIDIA"][0][0].usedmem == 40192
    reserve(cs, p, out)
    second = cs.filter(pod("q", ctr(gpu=1, mem=20000)), now=NOW)
    assert second.mig[0].start == 4
    assert pod_mig_from_annotations({"metadata": {"annotations": out.annotations}}) == out.mig


def test_pod_devices_from_annotations_round_trip() -> None:
    cs = state()
    cs.upsert_node("n1", gpus("n1", 2))
    out = cs.filter(pod("p", ctr("a", gpu=1, mem=5), ctr("b")), now=NOW)
    rebuilt = pod_devices_from_annotations(
        {"metadata": {"annotations": out.annotations}}, cs.registry
    )
    assert rebuilt == out.devices
    assert pod_devices_from_annotations({"metadata": {}}, cs.registry) is None


def test_mig_allocations_carry_the_device_plugins_runtime_identity() -> None:
    """The device plugin adds migUUID/gpuInstanceID/computeInstanceID once the instance exists;
    the scheduler's MIG metric needs them (issue 13, point 2)."""
    from hami.engine.state import decode_mig_allocations

    value = json.dumps([
        {"containerIndex": 0, "deviceIndex": 1, "gpuUUID": "GPU-m", "profile": "1g.10gb",
         "placement": {"start": 2, "size": 1}, "migUUID": "MIG-abc", "gpuInstanceID": 7,
         "computeInstanceID": 0},
        {"containerIndex": 0, "deviceIndex": 0, "gpuUUID": "GPU-m", "profile": "1g.10gb",
         "placement": {"start": 3, "size": 1}},
    ])  # fmt: skip
    ready, pending = decode_mig_allocations(value)
    assert (ready.mig_uuid, ready.gpu_instance_id, ready.compute_instance_id) == ("MIG-abc", 7, 0)
    assert (pending.mig_uuid, pending.gpu_instance_id, pending.compute_instance_id) == ("", -1, -1)
