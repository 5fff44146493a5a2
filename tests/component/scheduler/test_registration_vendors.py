"""Registration and health for every registered backend (vendors §0.2), with fake vendors beside
the real NVIDIA backend: per-vendor inventories, health kinds, the generic handshake, per-vendor
errors that leave the other vendors alone."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from hami.api.handshake import format_requesting
from hami.api.types import DeviceInfo
from hami.config.devices import DeviceConfig
from hami.k8s.fake import FakeKube
from hami.scheduler.registration import NodeRegistrar
from hami.webhook.backends import device_backends
from tests.component.scheduler.objects import make_node
from tests.support.fake_backends import FakeBackend, backends, register_value

NOW = datetime(2026, 5, 1, 12, 0, 0)
FAKE_REG = "hami.io/node-fake-register"
FAKE_HS = "hami.io/node-handshake-fake"
NV_HS = "hami.io/node-handshake"


class RecordingState:
    """What the registrar hands the engine: node -> cw -> device ids."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, list[str]]] = {}

    def upsert_node(
        self,
        name: str,
        devices: Mapping[str, Sequence[DeviceInfo]],
        annotations: Mapping[str, str] = {},
    ) -> None:
        self.nodes[name] = {cw: [d.id for d in ds] for cw, ds in devices.items()}

    def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)


def _setup(*fakes: FakeBackend, kube: FakeKube | None = None) -> tuple[NodeRegistrar, Any]:
    nvidia = device_backends(DeviceConfig())["NVIDIA"]
    found = {**backends(*fakes), "NVIDIA": nvidia}
    state = RecordingState()
    reg = NodeRegistrar(kube or FakeKube(), state, DeviceConfig(), backends=found,  # type: ignore[arg-type]
                        local_clock=lambda: NOW)  # fmt: skip
    return reg, state


def _node(
    name: str = "n",
    *,
    fake: str | None = None,
    fake_allocatable: int = 4,
    nvidia_allocatable: int | None = None,
) -> dict[str, Any]:
    anns = {FAKE_REG: fake if fake is not None else register_value(name, "FAKE")}
    node = make_node(name, allocatable=nvidia_allocatable, annotations=anns)
    node["status"]["allocatable"]["fake.io/dev"] = str(fake_allocatable)
    node["status"]["capacity"]["fake.io/dev"] = str(fake_allocatable)
    return node


def _with(node: dict[str, Any], **annotations: str | None) -> dict[str, Any]:
    for key, value in annotations.items():
        real = {"fake_hs": FAKE_HS, "nv_hs": NV_HS, "fake_reg": FAKE_REG}[key]
        if value is None:
            node["metadata"]["annotations"].pop(real, None)
        else:
            node["metadata"]["annotations"][real] = value
    return node


def test_every_vendor_of_a_node_is_registered() -> None:
    reg, state = _setup(FakeBackend())
    reg.on_node_event("ADDED", None, _node())
    assert state.nodes["n"] == {
        "FAKE": ["n-fake-0", "n-fake-1"],
        "NVIDIA": ["GPU-n-00", "GPU-n-01"],
    }


@pytest.mark.parametrize(
    ("stamp", "allocatable", "healthy", "write"),
    [
        (None, 4, True, "stamp"),
        ("Reported_2026.05.01 11:59:00", 0, True, "stamp"),
        (format_requesting(NOW - timedelta(seconds=30)), 0, True, None),
        (format_requesting(NOW - timedelta(seconds=90)), 4, True, None),
        (format_requesting(NOW - timedelta(seconds=90)), 0, False, "delete"),
        ("Requesting_garbage", 0, True, None),
    ],
    ids=["absent", "reported", "fresh-request", "stale-request-allocatable",
         "stale-request-dead", "unreadable-request"],
)  # fmt: skip
async def test_generic_handshake(
    stamp: str | None, allocatable: int, healthy: bool, write: str | None
) -> None:
    kube = FakeKube()
    node = _with(_node(fake_allocatable=allocatable), fake_hs=stamp)
    kube.add("nodes", node)
    reg, state = _setup(FakeBackend(), kube=kube)
    reg.on_node_event("ADDED", None, node)
    assert ("FAKE" in state.nodes["n"]) is healthy
    assert "NVIDIA" in state.nodes["n"]  # the other vendor is not affected
    await reg.run_pass(leader=True)
    anns = kube.get("nodes", "", "n")["metadata"]["annotations"]
    if write == "stamp":
        assert anns[FAKE_HS] == format_requesting(NOW)
    elif write == "delete":
        assert FAKE_HS not in anns
    else:
        assert anns.get(FAKE_HS) == stamp
    assert anns[NV_HS] == format_requesting(NOW)  # NVIDIA's own rule, unchanged


async def test_followers_write_nothing() -> None:
    kube = FakeKube()
    node = _node()
    kube.add("nodes", node)
    reg, _ = _setup(FakeBackend(), kube=kube)
    reg.on_node_event("ADDED", None, node)
    await reg.run_pass(leader=False)
    anns = kube.get("nodes", "", "n")["metadata"]["annotations"]
    assert FAKE_HS not in anns and NV_HS not in anns


@pytest.mark.parametrize(("allocatable", "healthy"), [(2, True), (0, False)])
async def test_capacity_health_without_handshake(allocatable: int, healthy: bool) -> None:
    """HAMi's AMD / MetaX GPU rule: healthy iff the count resource is allocatable; no stamps."""
    kube = FakeKube()
    node = _node(fake_allocatable=allocatable)
    kube.add("nodes", node)
    reg, state = _setup(FakeBackend(health_kind="capacity", handshake=False), kube=kube)
    reg.on_node_event("ADDED", None, node)
    assert ("FAKE" in state.nodes["n"]) is healthy
    await reg.run_pass(leader=True)
    anns = kube.get("nodes", "", "n")["metadata"]["annotations"]
    assert [k for k in anns if "handshake" in k] == [NV_HS]


def test_always_healthy_capacity_inventory() -> None:
    """Cambricon's shape: cards from node capacity, always healthy, no annotation at all."""
    reg, state = _setup(FakeBackend("MLUX", "mlux.io", health_kind="always", from_capacity=True))
    node = make_node("m", allocatable=0)
    node["status"]["capacity"]["mlux.io/dev"] = "3"
    reg.on_node_event("ADDED", None, node)
    assert state.nodes["m"] == {"MLUX": ["m-mlux-0", "m-mlux-1", "m-mlux-2"]}  # NVIDIA unhealthy


def test_unreadable_inventory_drops_only_that_vendor(caplog: pytest.LogCaptureFixture) -> None:
    reg, state = _setup(FakeBackend())
    with caplog.at_level(logging.WARNING, logger="hami.scheduler.registration"):
        reg.on_node_event("ADDED", None, _node(fake="not-a-device-list"))
        reg.refresh(_node(fake="not-a-device-list"))  # the same problem is logged once
    assert state.nodes["n"] == {"NVIDIA": ["GPU-n-00", "GPU-n-01"]}
    [line] = [r.getMessage() for r in caplog.records]
    assert "node n" in line and "FAKE" in line and FAKE_REG in line
    assert "\n" not in line
    assert "FAKE" in reg.bad_nodes["n"] and FAKE_REG in reg.bad_nodes["n"]
    reg.refresh(_node())  # readable again: the problem is gone
    assert "n" not in reg.bad_nodes
    assert state.nodes["n"]["FAKE"] == ["n-fake-0", "n-fake-1"]


def test_unreadable_inventory_keeps_the_devices_read_before_while_healthy() -> None:
    """HAMi's register loop: a read error while healthy keeps the cached devices."""
    reg, state = _setup(FakeBackend())
    reg.on_node_event("ADDED", None, _node())
    reg.refresh(_node(fake="[{garbage"))
    assert state.nodes["n"]["FAKE"] == ["n-fake-0", "n-fake-1"]
    assert "FAKE" in reg.bad_nodes["n"]
    # unhealthy: dropped, and not brought back by the next unreadable read
    dead = _with(_node(fake="[{garbage", fake_allocatable=0),
                 fake_hs=format_requesting(NOW - timedelta(minutes=5)))  # fmt: skip
    reg.refresh(dead)
    assert "FAKE" not in state.nodes["n"]
    reg.refresh(_node(fake="[{garbage"))
    assert "FAKE" not in state.nodes["n"]


def test_empty_inventory_removes_the_vendor() -> None:
    reg, state = _setup(FakeBackend())
    reg.on_node_event("ADDED", None, _node())
    reg.refresh(_node(fake="[]"))
    assert state.nodes["n"] == {"NVIDIA": ["GPU-n-00", "GPU-n-01"]}
    reg.refresh(_node(fake="[]", nvidia_allocatable=0))
    assert "n" not in state.nodes


def test_vendor_without_devices_on_the_node_is_not_stamped() -> None:
    reg, _ = _setup(FakeBackend())
    node = make_node("plain")
    assert reg.devices_of(node, "FAKE") is None
    assert not reg.health(node, "FAKE").needs_cleanup
