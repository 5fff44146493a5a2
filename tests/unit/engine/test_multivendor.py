"""The engine over two vendors: NVIDIA plus a fake second backend defined in the tests.

Covers what the engine decides for every vendor alike: one request per vendor and container,
the fixed (sorted cw) vendor order, per-vendor device lists and NodeInsufficientDevice, the
``scores_nodes`` node choice, annotations only for the vendors a pod got devices of, usage
rebuilt from several allocated annotations, per-vendor quota, node objects read through every
inventory, the bind re-check and ``hami simulate`` on a mixed cluster.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hami.api.types import ContainerDevice, ContainerRequest
from hami.config.devices import DeviceConfig
from hami.device.registry import DeviceRegistry, RegistryError
from hami.engine.bindcheck import misfit
from hami.engine.simulation import load_nodes, simulate
from hami.engine.state import ClusterState, held_devices, pod_devices_from_annotations
from hami.engine.usage import NodeUsage
from tests.unit.engine.fakevendor import (
    FakeBackend,
    fake_ctr,
    fake_devices,
    node_object,
    registry,
)
from tests.unit.engine.helpers import ctr, gpus, pod

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TIME = str(int(NOW.timestamp()))


def both(name: str = "main", gpu: int = 1, n: int = 1) -> dict[str, Any]:
    """A container asking one NVIDIA GPU (1000 MiB) and ``n`` fake devices (500 MiB each)."""
    c = fake_ctr(name, n=n, mem=500)
    c["resources"]["limits"].update({"nvidia.com/gpu": str(gpu), "nvidia.com/gpumem": "1000"})
    return c


def mixed_state(fake: FakeBackend | None = None, **kw: str) -> ClusterState:
    cs = ClusterState(registry(fake or FakeBackend()), **kw)
    cs.upsert_node("n1", {"NVIDIA": gpus("n1", 2), "FAKE": fake_devices("n1", 2)})
    return cs


# --- registry ------------------------------------------------------------------------------------


def test_registry_is_sorted_by_cw_whatever_the_order_given() -> None:
    reg = registry(FakeBackend("ZED"), FakeBackend("BETA"), FakeBackend("ALPHA"))
    assert list(reg.backends) == ["ALPHA", "BETA", "NVIDIA", "ZED"]
    assert list(reg.parsers) == list(reg.mutators) == list(reg.inventories) == list(reg.backends)
    assert reg.managed_resources[:3] == ("alpha.io/dev", "alpha.io/mem", "alpha.io/cores")
    assert "nvidia.com/gpu" in reg.managed_resources
    assert list(reg.summarizers) == ["NVIDIA"]  # the fake has no pruning summary
    assert reg.allocated_annotations["BETA"] == "hami.io/beta-devices-allocated"


def test_registry_refuses_two_backends_for_one_cw() -> None:
    with pytest.raises(RegistryError, match="'FAKE'"):
        registry(FakeBackend(), FakeBackend())


def test_default_registry_and_the_vendor_flags() -> None:
    assert list(DeviceRegistry.from_config(DeviceConfig()).backends) == ["DCU", "MLU", "NVIDIA"]
    reg = DeviceRegistry.from_config(DeviceConfig(), enable_ascend=True)
    assert "Ascend910B3" in reg.backends
    assert "MR-V100" not in reg.backends
    reg = DeviceRegistry.from_config(DeviceConfig(), enable_ascend=True, enable_iluvatar=True)
    assert list(reg.backends) == sorted(reg.backends)
    assert {"Ascend910C", "Ascend310P", "MR-V100", "BI-V150", "DCU", "MLU"} <= set(reg.backends)
    backend = reg.backends["NVIDIA"]
    assert (backend.fit_checks_quota, backend.scores_nodes) == (True, False)
    assert (backend.health_kind, backend.handshake_annotation) == (
        "capacity", "hami.io/node-handshake")  # fmt: skip
    assert (backend.memory_resource, backend.core_resource) == (
        "nvidia.com/gpumem", "nvidia.com/gpucores")  # fmt: skip


def test_pending_hint_comes_from_the_backends() -> None:
    reg = registry(FakeBackend())
    whole = pod("p", ctr(gpu=1))
    assert "whole free GPU" in (reg.pending_hint(whole) or "")
    assert reg.pending_hint(pod("p", fake_ctr())) is None


# --- fit -----------------------------------------------------------------------------------------


def test_a_container_asking_two_vendors_gets_devices_of_both() -> None:
    cs = mixed_state()
    out = cs.filter(pod("p", both(n=2)), ["n1"], now=NOW)
    assert out.node == "n1"
    assert {cw: [[d.uuid for d in c] for c in v] for cw, v in out.devices.items()} == {
        "FAKE": [["FAKE-n1-1", "FAKE-n1-0"]],  # try order: registered last first (spread)
        "NVIDIA": [["GPU-n1-1"]],
    }
    assert out.devices["FAKE"][0][0] == ContainerDevice("FAKE-n1-1", "FAKE", 500, 0)


def test_vendors_are_fitted_in_sorted_cw_order_and_see_only_their_devices() -> None:
    log: list[tuple[str, list[str]]] = []
    reg = registry(FakeBackend("BETA", log=log), FakeBackend("ALPHA", log=log))
    cs = ClusterState(reg)
    cs.upsert_node("n1", {"BETA": fake_devices("n1", 2, cw="BETA"),
                          "ALPHA": fake_devices("n1", 1, cw="ALPHA"),
                          "NVIDIA": gpus("n1", 1)})  # fmt: skip
    c1 = fake_ctr("a", cw="BETA")
    c1["resources"]["limits"].update(fake_ctr(cw="ALPHA")["resources"]["limits"])
    out = cs.filter(pod("p", c1, fake_ctr("b", cw="BETA")), ["n1"], now=NOW)
    assert out.node == "n1"
    assert log == [
        ("ALPHA", ["ALPHA-n1-0"]),
        ("BETA", ["BETA-n1-1", "BETA-n1-0"]),
        ("BETA", ["BETA-n1-0", "BETA-n1-1"]),  # second container: the first's pick is busier
    ]
    assert list(out.devices) == ["ALPHA", "BETA"]
    assert [len(c) for c in out.devices["ALPHA"]] == [1, 0]
    assert list(out.annotations)[2:] == [
        "hami.io/alpha-devices-allocated", "hami.io/alpha-devices-to-allocate",
        "hami.io/beta-devices-allocated", "hami.io/beta-devices-to-allocate",
    ]  # fmt: skip


def test_reasons_count_over_the_vendors_own_devices() -> None:
    cs = ClusterState(registry(FakeBackend()))
    cs.upsert_node("n1", {"NVIDIA": gpus("n1", 3), "FAKE": fake_devices("n1", 2)})
    out = cs.filter(pod("p", fake_ctr(mem=9000)), ["n1"], now=NOW)
    assert out.failed_nodes == {"n1": "2/2 CardInsufficientMemory"}


@pytest.mark.parametrize(
    ("devices", "container"),
    [
        ({"NVIDIA": 4, "FAKE": 1}, fake_ctr(n=2)),
        ({"NVIDIA": 4}, fake_ctr()),
        ({"NVIDIA": 1, "FAKE": 3}, ctr(gpu=2, mem=10)),
    ],
    ids=["fake-too-few", "fake-absent", "nvidia-too-few-beside-many-fake"],
)
def test_node_insufficient_device_is_per_vendor(devices: dict[str, int], container: Any) -> None:
    cs = ClusterState(registry(FakeBackend()))
    cs.upsert_node("n1", {
        cw: gpus("n1", n) if cw == "NVIDIA" else fake_devices("n1", n) for cw, n in devices.items()
    })  # fmt: skip
    out = cs.filter(pod("p", container), ["n1"], now=NOW)
    assert out.failed_nodes == {"n1": "NodeInsufficientDevice"}


def test_app_containers_share_one_working_copy_per_vendor() -> None:
    cs = ClusterState(registry(FakeBackend()))
    cs.upsert_node("n1", {"FAKE": fake_devices("n1", 1, mem=1000, count=4)})
    two = pod("p", fake_ctr("a", mem=600), fake_ctr("b", mem=600))
    out = cs.filter(two, ["n1"], now=NOW)
    assert out.failed_nodes == {"n1": "1/1 CardInsufficientMemory"}
    fits_one_after_another = pod("p", fake_ctr("a", mem=600), init=[fake_ctr("i", mem=900)])
    assert cs.filter(fits_one_after_another, ["n1"], now=NOW).node == "n1"


# --- node choice ---------------------------------------------------------------------------------


def _two_nodes(fake: FakeBackend, node_policy: str) -> ClusterState:
    cs = ClusterState(registry(fake), node_policy=node_policy)
    for n in ("n1", "n2"):
        cs.upsert_node(n, {"NVIDIA": gpus(n, 1), "FAKE": fake_devices(n, 1)})
    busy = ContainerDevice("GPU-n1-0", "NVIDIA", 20000, 50)
    cs.add_pod("busy", "x", "busy", "n1", {"NVIDIA": ((busy,),)})
    return cs


@pytest.mark.parametrize(
    ("policy", "scores", "bonus", "node"),
    [
        ("binpack", False, {"FAKE-n2-0": 100.0}, "n1"),  # first fit in node-policy order
        ("binpack", True, {}, "n1"),  # a tie keeps that order
        ("binpack", True, {"FAKE-n2-0": 100.0}, "n2"),  # the bonus lifts the idle node
        ("spread", True, {}, "n2"),
        ("spread", True, {"FAKE-n1-0": -100.0}, "n1"),  # spread takes the lowest total
    ],
)
def test_scores_nodes_decides_among_all_fitting_nodes(
    policy: str, scores: bool, bonus: dict[str, float], node: str
) -> None:
    cs = _two_nodes(FakeBackend(scores_nodes=scores, bonus=bonus), policy)
    assert cs.filter(pod("p", fake_ctr()), now=NOW).node == node


def test_scores_nodes_only_counts_for_pods_asking_that_vendor() -> None:
    cs = _two_nodes(FakeBackend(scores_nodes=True, bonus={"GPU-n2-0": 100.0}), "binpack")
    assert cs.filter(pod("p", ctr(gpu=1, mem=10)), now=NOW).node == "n1"


# --- annotations ---------------------------------------------------------------------------------


def test_annotations_only_for_the_vendors_the_pod_got_devices_of() -> None:
    cs = mixed_state()
    nv = cs.filter(pod("p", ctr(gpu=1, mem=1000)), ["n1"], now=NOW)
    assert set(nv.annotations) == {"hami.io/vgpu-node", "hami.io/vgpu-time",
                                   "hami.io/vgpu-devices-to-allocate",
                                   "hami.io/vgpu-devices-allocated"}  # fmt: skip
    assert list(nv.devices) == ["NVIDIA"]
    fake = cs.filter(pod("p", fake_ctr()), ["n1"], now=NOW)
    assert fake.annotations == {
        "hami.io/vgpu-node": "n1",
        "hami.io/vgpu-time": TIME,
        "hami.io/fake-devices-allocated": "FAKE-n1-1,FAKE,1000,0:;",
        "hami.io/fake-devices-to-allocate": "FAKE-n1-1,FAKE,1000,0:;",
    }
    mixed = cs.filter(pod("p", both(), init=[fake_ctr("i")]), ["n1"], now=NOW)
    assert mixed.annotations["hami.io/vgpu-devices-allocated"] == ";GPU-n1-1,NVIDIA,1000,0:;"
    assert mixed.annotations["hami.io/fake-devices-allocated"] == (
        "FAKE-n1-1,FAKE,1000,0:;FAKE-n1-1,FAKE,500,0:;")  # fmt: skip


# --- usage ---------------------------------------------------------------------------------------


def test_usage_is_rebuilt_from_every_allocated_annotation() -> None:
    cs = mixed_state()
    placed = {"metadata": {"annotations": {
        "hami.io/vgpu-devices-allocated": "GPU-n1-0,NVIDIA,1000,10:;",
        "hami.io/fake-devices-allocated": "FAKE-n1-0,FAKE,500,20:;",
    }}, "spec": {"containers": [{"name": "c"}]}}  # fmt: skip
    held = held_devices(placed, cs.registry)
    assert held is not None
    devices, init_count = held
    assert set(devices) == {"NVIDIA", "FAKE"} and init_count == 0
    assert pod_devices_from_annotations(placed, {"X": "hami.io/fake-devices-allocated"}) == {
        "X": devices["FAKE"]
    }
    cs.add_pod("u", "ns", "p", "n1", devices)
    used = {(g.vendor, g.uuid): (g.used, g.usedmem, g.usedcores) for g in cs.nodes()[0].gpus}
    assert used[("NVIDIA", "GPU-n1-0")] == (1, 1000, 10)
    assert used[("FAKE", "FAKE-n1-0")] == (1, 500, 20)
    assert used[("FAKE", "FAKE-n1-1")] == (0, 0, 0)
    cs.remove_pod("u")
    assert all(g.used == 0 for g in cs.nodes()[0].gpus)


def test_a_two_vendor_decision_round_trips_through_its_annotations() -> None:
    cs = mixed_state()
    out = cs.filter(pod("p", both(n=2), ctr("second", gpu=1, mem=5)), ["n1"], now=NOW)
    back = pod_devices_from_annotations({"metadata": {"annotations": out.annotations}},
                                        cs.registry)  # fmt: skip
    assert back == out.devices


# --- quota ---------------------------------------------------------------------------------------


def test_quota_is_per_vendor_and_only_for_backends_that_check_it() -> None:
    cs = mixed_state(FakeBackend(fit_checks_quota=True))
    cs.set_quota("default", 1500, None, vendor="FAKE")
    cs.set_quota("default", 500, None)  # NVIDIA's, by default
    first = cs.filter(pod("a", fake_ctr(mem=1000)), ["n1"], now=NOW)
    assert first.node == "n1"
    cs.add_pod("uid-a", "default", "a", "n1", first.devices)
    second = cs.filter(pod("b", fake_ctr(mem=1000)), ["n1"], now=NOW)
    assert second.failed_nodes == {"n1": "2/2 ResourceQuotaNotFit"}
    assert cs.filter(pod("c", ctr(gpu=1, mem=400)), ["n1"], now=NOW).node == "n1"
    assert "ResourceQuotaNotFit" in cs.filter(pod("d", ctr(gpu=1, mem=600)), ["n1"],
                                               now=NOW).failed_nodes["n1"]  # fmt: skip
    cs.set_quota("default", None, None, vendor="FAKE")
    assert cs.filter(pod("b", fake_ctr(mem=1000)), ["n1"], now=NOW).node == "n1"


def test_a_backend_that_does_not_check_quota_ignores_its_limits() -> None:
    cs = mixed_state(FakeBackend(fit_checks_quota=False))
    cs.set_quota("default", 0, 0, vendor="FAKE")
    assert cs.filter(pod("a", fake_ctr(mem=1000)), ["n1"], now=NOW).node == "n1"


# --- nodes, candidates, pruning ------------------------------------------------------------------


def test_node_objects_are_read_through_every_inventory() -> None:
    cs = ClusterState(registry(FakeBackend()))
    node = node_object("n1", {"NVIDIA": gpus("n1", 1), "FAKE": fake_devices("n1", 2)})
    assert cs.upsert_node_object(node) == {}
    assert [(g.vendor, g.uuid) for g in cs.nodes()[0].gpus] == [
        ("FAKE", "FAKE-n1-0"), ("FAKE", "FAKE-n1-1"), ("NVIDIA", "GPU-n1-0")]  # fmt: skip
    node["metadata"]["annotations"]["hami.io/node-fake-register"] = "{oops"
    errors = cs.upsert_node_object(node)
    assert list(errors) == ["FAKE"] and "hami.io/node-fake-register" in errors["FAKE"]
    assert [g.vendor for g in cs.nodes()[0].gpus] == ["NVIDIA"]
    assert cs.upsert_node_object(node_object("n1", {})) == {}
    assert cs.node_names() == []


def test_a_plain_device_list_still_means_nvidia() -> None:
    cs = ClusterState(DeviceConfig())
    cs.upsert_node("n1", gpus("n1", 1))
    assert [g.vendor for g in cs.nodes()[0].gpus] == ["NVIDIA"]
    assert list(cs.registry.backends) == ["DCU", "MLU", "NVIDIA"]


class _NoIteration(frozenset[str]):
    def __iter__(self) -> Any:
        raise AssertionError("candidates were copied")


def test_a_frozenset_of_candidates_is_used_without_copying() -> None:
    cs = mixed_state()
    out = cs.filter(pod("p", ctr(gpu=1, mem=1)), _NoIteration({"n1", "ghost"}), now=NOW)
    assert out.node == "n1"
    out = cs.filter(pod("p", ctr(gpu=9, mem=1)), _NoIteration({"n1", "ghost"}), now=NOW)
    assert out.failed_nodes == {"n1": "NodeInsufficientDevice", "ghost": "node unregistered"}


def test_a_vendor_without_summary_may_always_fit_and_an_absent_one_never() -> None:
    reg = registry(FakeBackend())
    node = NodeUsage("n", {"NVIDIA": gpus("n", 1, mem=100), "FAKE": fake_devices("n", 1)},
                     summarizers=reg.summarizers)  # fmt: skip
    huge_fake = ContainerRequest(1, "FAKE", 10**9)
    assert node.may_fit(huge_fake)  # no summary: the detailed fit decides
    assert not node.may_fit(ContainerRequest(1, "NVIDIA", 101))  # the summary rules it out
    assert not node.may_fit(ContainerRequest(1, "OTHER", 1))
    assert node.may_fit(ContainerRequest(0, "OTHER", 1))


# --- bind re-check -------------------------------------------------------------------------------


def test_bind_recheck_covers_every_vendor_of_the_pod() -> None:
    reg = registry(FakeBackend())
    node = node_object("n1", {"NVIDIA": gpus("n1", 1), "FAKE": fake_devices("n1", 1, mem=1000)})
    anns = {"hami.io/vgpu-node": "n1",
            "hami.io/vgpu-devices-allocated": "GPU-n1-0,NVIDIA,1000,0:;",
            "hami.io/fake-devices-allocated": "FAKE-n1-0,FAKE,600,0:;"}  # fmt: skip
    mine = {"metadata": {"name": "me", "namespace": "d", "annotations": anns},
            "spec": {"containers": [{"name": "c"}]}}  # fmt: skip
    assert misfit(mine, node, [], reg) is None
    other = {"metadata": {"name": "o", "annotations": {
        "hami.io/fake-devices-allocated": "FAKE-n1-0,FAKE,600,0:;"}}, "spec": {}}  # fmt: skip
    why = misfit(mine, node, [other], reg) or ""
    assert why.endswith("GPU FAKE-n1-0 has 400 MiB free, the pod needs 600")
    bare = node_object("n1", {"NVIDIA": gpus("n1", 1)})
    assert misfit(mine, bare, [], reg) == "node n1 has no hami.io/node-fake-register annotation"


# --- hami simulate -------------------------------------------------------------------------------


def test_simulate_a_mixed_cluster_reports_per_vendor() -> None:
    from hami.cmd.simulate import render_table

    reg = registry(FakeBackend())
    docs = [node_object("n1", {"NVIDIA": gpus("n1", 1), "FAKE": fake_devices("n1", 2)}),
            node_object("n2", {"FAKE": fake_devices("n2", 1)})]  # fmt: skip
    nodes = load_nodes(docs, "nodes.yaml", reg)
    assert [sorted(n.by_vendor) for n in nodes] == [["FAKE", "NVIDIA"], ["FAKE"]]
    pods = [pod("nv", ctr(gpu=1, mem=1000)), pod("fk", fake_ctr()), pod("mix", both())]
    res = simulate(nodes, pods, reg)
    assert [p.status for p in res.pods] == ["scheduled"] * 3
    mix = res.pods[2]
    assert [(d.type, d.uuid) for c in mix.containers for d in c] == [
        ("FAKE", "FAKE-n1-0"), ("NVIDIA", "GPU-n1-0")]  # fmt: skip
    doc = json.loads(json.dumps(res.to_json()))
    assert {g["vendor"] for g in doc["gpus"]} == {"FAKE", "NVIDIA"}
    assert doc["totals"]["gpus"] == 4
    assert doc["totals"]["vendors"]["FAKE"]["gpus"] == 3
    assert doc["totals"]["vendors"]["NVIDIA"]["memory"] == {"used": 2000, "total": 40960}
    table = render_table(res)
    assert "\nDEVICES\nVENDOR       NODE " in table
    assert "\nFAKE         n2             FAKE-n2-0 " in table
    assert table.endswith(
        "TOTAL: 3/3 pods scheduled (0 pending, 0 denied, 0 unmanaged)\n"
        "  FAKE: 3 devices; memory 1500/24576 MiB (6%); cores 0/300 (0%); slots 2/12\n"
        "  NVIDIA: 1 devices; memory 2000/40960 MiB (5%); cores 0/100 (0%); slots 2/10"
    )


def test_simulate_warns_about_devices_whose_type_lacks_their_cw() -> None:
    from hami.engine.simulation import NodeInput, lint_nodes

    odd = fake_devices("n1", 1)[0]
    odd = type(odd)(odd.id, odd.count, odd.devmem, odd.devcore, "mystery", index=0)
    (warning,) = lint_nodes([NodeInput("n1", {"FAKE": (odd,)}, {})], "nodes.yaml")
    assert "type 'mystery' has no 'FAKE' in it, so no FAKE request ever matches it" in warning
