"""Node registration and health (spec §1.5): both register formats, health rule, handshake."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hami.api.handshake import format_requesting
from hami.config.devices import DeviceConfig
from hami.engine.state import ClusterState
from hami.k8s.fake import FakeKube
from hami.scheduler.registration import NodeRegistrar
from tests.component.scheduler.conftest import serve
from tests.component.scheduler.objects import make_node

NOW = datetime(2026, 5, 1, 12, 0, 0)
LEGACY = ("GPU-aaaa,10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true,0,hami-core:"
          "GPU-bbbb,10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true,1,hami-core:")  # fmt: skip
JSON = (
    '[{"id":"GPU-aaaa","count":10,"devmem":32768,"devcore":100,'
    '"type":"NVIDIA-Tesla V100-PCIE-32GB","mode":"hami-core","health":true},'
    '{"id":"GPU-bbbb","index":1,"count":10,"devmem":32768,"devcore":100,'
    '"type":"NVIDIA-Tesla V100-PCIE-32GB","numa":1,"mode":"hami-core","health":true}]'
)


def _registrar(kube: FakeKube) -> tuple[NodeRegistrar, ClusterState]:
    cfg = DeviceConfig()
    state = ClusterState(cfg)
    return NodeRegistrar(kube, state, cfg, local_clock=lambda: NOW), state


@pytest.mark.parametrize("register", [LEGACY, JSON], ids=["legacy-colon", "json-v2.8"])
def test_both_register_formats(register: str) -> None:
    reg, state = _registrar(FakeKube())
    reg.on_node_event("ADDED", None, make_node("n", register=register))
    [node] = state.nodes()
    assert [g.uuid for g in node.gpus] == ["GPU-aaaa", "GPU-bbbb"]
    assert {g.totalmem for g in node.gpus} == {32768}


@pytest.mark.parametrize(
    ("allocatable", "handshake", "healthy"),
    [
        (20, None, True),
        (0, None, False),
        (0, format_requesting(NOW - timedelta(seconds=30)), True),
        (0, format_requesting(NOW - timedelta(seconds=90)), False),
        (20, "Deleted_2026-05-01 11:00:00", True),
        (0, "garbage", False),
    ],
    ids=["allocatable", "no-allocatable", "fresh-request", "stale-request", "legacy-deleted",
         "garbage-handshake"],
)  # fmt: skip
def test_health_rule(allocatable: int, handshake: str | None, healthy: bool) -> None:
    reg, state = _registrar(FakeKube())
    anns = {"hami.io/node-handshake": handshake} if handshake else None
    reg.on_node_event("ADDED", None, make_node("n", allocatable=allocatable, annotations=anns))
    node = make_node("n", allocatable=allocatable, annotations=anns)
    assert reg.health(node, "NVIDIA").healthy is healthy
    assert bool(state.nodes()) is healthy


def test_node_update_and_removal() -> None:
    reg, state = _registrar(FakeKube())
    reg.on_node_event("ADDED", None, make_node("n", gpus=2))
    reg.on_node_event("MODIFIED", None, make_node("n", gpus=4))
    assert len(state.nodes()[0].gpus) == 4
    reg.on_node_event("MODIFIED", None, make_node("n", gpus=4, allocatable=0))
    assert state.nodes() == []
    reg.on_node_event("MODIFIED", None, make_node("n", gpus=1))
    reg.on_node_event("DELETED", make_node("n", gpus=1), None)
    assert state.nodes() == []


async def test_leader_writes_handshake_and_cleans_up_unhealthy() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("healthy"))
    kube.add("nodes", make_node("dead", allocatable=0, annotations={
        "hami.io/node-handshake": format_requesting(NOW - timedelta(minutes=5))}))  # fmt: skip
    kube.add("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cpu-only"}})
    reg, _ = _registrar(kube)
    for node in kube.objects("nodes"):
        reg.on_node_event("ADDED", None, node)
    await reg.run_pass(leader=False)
    assert (
        "hami.io/node-handshake" not in kube.get("nodes", "", "healthy")["metadata"]["annotations"]
    )
    await reg.run_pass(leader=True)
    anns = kube.get("nodes", "", "healthy")["metadata"]["annotations"]
    assert anns["hami.io/node-handshake"] == format_requesting(NOW)
    assert "hami.io/node-handshake" not in kube.get("nodes", "", "dead")["metadata"]["annotations"]
    assert "annotations" not in kube.get("nodes", "", "cpu-only")["metadata"]


async def test_node_label_selector_limits_the_nodes() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("picked", labels={"pool": "gpu"}))
    kube.add("nodes", make_node("ignored", labels={"pool": "other"}))
    async with serve(kube, node_label_selector="pool=gpu") as h:
        assert [n.name for n in h.service.state.nodes()] == ["picked"]


def test_a_lock_only_change_keeps_the_devices_and_records_the_annotation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bind's lock and the device plugin's unlock (two node events per pod) do not read the
    devices again; the engine still gets the node's current annotations. Any other change
    does read them."""
    reg, state = _registrar(FakeKube())
    node = make_node("n", gpus=2)
    node["metadata"]["resourceVersion"] = "1"
    reg.on_node_event("ADDED", None, node)
    reads: list[str] = []
    upserts: list[dict[str, str]] = []
    usable, upsert = reg.usable, state.upsert_node
    monkeypatch.setattr(reg, "usable", lambda n: reads.append(n["metadata"]["name"]) or usable(n))
    monkeypatch.setattr(state, "upsert_node",
                        lambda name, devs, anns: upserts.append(dict(anns)) or
                        upsert(name, devs, anns))  # fmt: skip

    def change(old: dict, annotations: dict, rv: str, **meta: object) -> dict:
        new = {**old, "metadata": {**old["metadata"], "resourceVersion": rv, **meta}}
        new["metadata"]["annotations"] = {**old["metadata"]["annotations"], **annotations}
        new["metadata"]["annotations"] = {
            k: v for k, v in new["metadata"]["annotations"].items() if v is not None
        }
        reg.on_node_event("MODIFIED", old, new)
        return new

    lock = "2026-05-01T12:00:00Z,default,p"
    locked = change(node, {"hami.io/mutex.lock": lock}, "2")
    unlocked = change(locked, {"hami.io/mutex.lock": None}, "3")
    assert reads == []
    assert [a.get("hami.io/mutex.lock") for a in upserts] == [lock, None]
    assert len(state.nodes()[0].gpus) == 2
    change(unlocked, {"hami.io/mutex.lock": lock, "other": "x"}, "4")  # not only the lock
    change(unlocked, {}, "5", labels={"gpu": "off"})  # a label
    assert reads == ["n", "n"]
    register = "hami.io/node-nvidia-register"
    change(unlocked, {register: make_node("n", gpus=4)["metadata"]["annotations"][register]}, "6")
    assert len(state.nodes()[0].gpus) == 4
