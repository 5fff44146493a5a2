"""The kubelet stand-in speaks the device-plugin API like kubelet: registration checks, the
dial-back and ListAndWatch, device choice, Allocate per container, PreStart, preferred allocation,
failure propagation, and restart. Driven over real unix sockets with real gRPC stubs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.kubelet import HEALTHY, UNHEALTHY, AdmissionError, KubeletStandIn
from tests.support.kubelet.stubplugin import StubDevicePlugin

RES = "example.com/dev"
NODE = "node-a"


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    d = Path(tempfile.mkdtemp(prefix="kl-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def kubelet(sockdir: Path) -> Iterator[KubeletStandIn]:
    with KubeletStandIn(sockdir, NODE) as k:
        yield k


def make_plugin(sockdir: Path, **kw: Any) -> StubDevicePlugin:
    return StubDevicePlugin(sockdir, RES, **kw).start()


def pod(
    containers: dict[str, dict[str, str]],
    *,
    init: dict[str, dict[str, str]] | None = None,
    node: str = NODE,
    uid: str = "uid-1",
) -> dict[str, Any]:
    def ctrs(spec: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        return [
            {"name": n, "resources": {"limits": lim, "requests": lim}} for n, lim in spec.items()
        ]

    spec: dict[str, Any] = {"nodeName": node, "containers": ctrs(containers)}
    if init:
        spec["initContainers"] = ctrs(init)
    return {"metadata": {"name": "p", "namespace": "default", "uid": uid}, "spec": spec}


@pytest.fixture
def plugin(sockdir: Path, kubelet: KubeletStandIn) -> Iterator[StubDevicePlugin]:
    p = make_plugin(sockdir, devices=["dev-0", "dev-1", "dev-2"])
    p.register()
    assert kubelet.wait_devices(RES, 3)
    yield p
    p.stop()


def test_register_dials_back_and_lists(kubelet: KubeletStandIn, plugin: StubDevicePlugin) -> None:
    ep = kubelet.endpoint(RES)
    assert ep is not None
    assert plugin.list_and_watch_opened == 1
    assert kubelet.table.capacity(RES) == (3, 3)
    assert kubelet.registrations[0].endpoint == "stub.sock"
    assert kubelet.registrations[0].version == "v1beta1"


@pytest.mark.parametrize(
    ("version", "resource", "message"),
    [
        ("v1alpha", RES, "requested API version 'v1alpha' is not supported by kubelet"),
        ("v1beta1", "dev", "the ResourceName 'dev' is invalid"),
        ("v1beta1", "kubernetes.io/gpu", "the ResourceName 'kubernetes.io/gpu' is invalid"),
        ("v1beta1", "example.com/", "the ResourceName 'example.com/' is invalid"),
    ],
    ids=["bad-version", "unqualified", "kubernetes-io", "empty-name"],
)
def test_register_rejected(
    sockdir: Path, kubelet: KubeletStandIn, version: str, resource: str, message: str
) -> None:
    with make_plugin(sockdir) as p, pytest.raises(grpc.RpcError) as exc:
        p.register(version=version, resource=resource)
    assert message in str(exc.value.details())
    assert kubelet.endpoint(resource) is None


def test_health_updates_follow_list_and_watch(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    plugin.set_health("dev-1", UNHEALTHY)
    assert kubelet.wait_devices(RES, 2)
    assert kubelet.table.capacity(RES) == (3, 2)
    assert kubelet.table.devices(RES)["dev-1"].health == UNHEALTHY
    plugin.set_health("dev-1", HEALTHY)
    assert kubelet.wait_devices(RES, 3)


def test_plugin_gone_marks_devices_unhealthy(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    plugin.stop()
    assert kubelet.wait_for(lambda k: k.endpoint(RES) is None)
    assert kubelet.table.capacity(RES) == (3, 0)


@pytest.mark.parametrize(
    ("containers", "expect_sizes"),
    [
        ({"main": {RES: "1"}}, [1]),
        ({"main": {RES: "2"}}, [2]),
        ({"a": {RES: "1"}, "b": {RES: "2"}}, [1, 2]),
        ({"a": {RES: "1"}, "side": {"cpu": "1"}}, [1]),
        ({"a": {RES: "1", "example.com/devmem": "3000"}}, [1]),
    ],
    ids=["one", "two-in-one", "per-container", "skip-no-device", "ignore-unknown-resource"],
)
def test_allocate_per_container(
    kubelet: KubeletStandIn,
    plugin: StubDevicePlugin,
    containers: dict[str, dict[str, str]],
    expect_sizes: list[int],
) -> None:
    result = kubelet.admit(pod(containers))
    sizes = [len(r.container_requests[0].devices_ids) for r in plugin.allocate_requests]
    assert sizes == expect_sizes
    assert all(len(r.container_requests) == 1 for r in plugin.allocate_requests)
    ids = [i for a in result.allocations for i in a.device_ids]
    assert len(ids) == len(set(ids)), "a device was handed out twice"
    for a in result.allocations:
        assert a.response.envs["STUB_DEVICES"] == ",".join(a.device_ids)
    assert len(kubelet.allocate_latencies_s) == len(expect_sizes)


def test_unhealthy_and_allocated_devices_are_not_picked(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    plugin.set_health("dev-0", UNHEALTHY)
    assert kubelet.wait_devices(RES, 2)
    first = kubelet.admit(pod({"a": {RES: "1"}}, uid="u1"))
    second = kubelet.admit(pod({"a": {RES: "1"}}, uid="u2"))
    got = first.allocations[0].device_ids + second.allocations[0].device_ids
    assert sorted(got) == ["dev-1", "dev-2"]
    with pytest.raises(AdmissionError, match=r"Requested: 1, Available: 0"):
        kubelet.admit(pod({"a": {RES: "1"}}, uid="u3"))
    assert kubelet.release(pod({}, uid="u1")) == 1
    assert (
        kubelet.admit(pod({"a": {RES: "1"}}, uid="u3")).allocations[0].device_ids
        == first.allocations[0].device_ids
    )


def test_readmission_does_not_allocate_again(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    p = pod({"a": {RES: "1"}})
    kubelet.admit(p)
    assert kubelet.admit(p).allocations == []
    assert len(plugin.allocate_requests) == 1


def test_init_container_devices_are_reused(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    result = kubelet.admit(pod({"main": {RES: "3"}}, init={"setup": {RES: "3"}}))
    assert [a.container for a in result.allocations] == ["setup", "main"]
    assert sorted(result.allocations[1].device_ids) == ["dev-0", "dev-1", "dev-2"]


def test_not_bound_here(kubelet: KubeletStandIn, plugin: StubDevicePlugin) -> None:
    with pytest.raises(AdmissionError, match="not to node node-a"):
        kubelet.admit(pod({"a": {RES: "1"}}, node="node-b"))
    assert plugin.allocate_requests == []


def test_allocate_error_propagates(kubelet: KubeletStandIn, plugin: StubDevicePlugin) -> None:
    plugin.fail_allocate = (grpc.StatusCode.INTERNAL, "no pending pod on node-a")
    with pytest.raises(AdmissionError) as exc:
        kubelet.admit(pod({"a": {RES: "2"}}))
    assert str(exc.value) == (
        "Allocate failed due to rpc error: code = Internal desc = no pending "
        "pod on node-a, which is unexpected"
    )
    assert kubelet.table.available(RES, "other", set()) == ["dev-0", "dev-1", "dev-2"]


def test_preferred_allocation_used_when_offered(sockdir: Path, kubelet: KubeletStandIn) -> None:
    with make_plugin(sockdir, devices=["d-0", "d-1", "d-2", "d-3"], preferred_available=True) as p:
        p.preferred_answer = ["d-3", "d-1"]
        p.register()
        assert kubelet.wait_devices(RES, 4)
        result = kubelet.admit(pod({"a": {RES: "2"}}))
        (preq,) = p.preferred_requests
        creq = preq.container_requests[0]
        assert list(creq.available_deviceIDs) == ["d-0", "d-1", "d-2", "d-3"]
        assert creq.allocation_size == 2
        assert list(creq.must_include_deviceIDs) == []
        assert result.allocations[0].device_ids == ["d-3", "d-1"]
        assert list(p.allocate_requests[0].container_requests[0].devices_ids) == ["d-3", "d-1"]


def test_preferred_not_called_unless_offered(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    kubelet.admit(pod({"a": {RES: "1"}}))
    assert plugin.preferred_requests == []
    assert plugin.prestart_requests == []


def test_prestart_when_required(sockdir: Path, kubelet: KubeletStandIn) -> None:
    with make_plugin(sockdir, pre_start_required=True) as p:
        p.register()
        assert kubelet.wait_devices(RES, 2)
        result = kubelet.admit(pod({"a": {RES: "2"}}))
        assert [list(r.devices_ids) for r in p.prestart_requests] == [
            result.allocations[0].device_ids
        ]
        assert result.allocations[0].pre_started


def test_restart_recreates_socket_and_needs_reregistration(
    sockdir: Path, kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    # A hard link pins the old inode, so a re-created socket must get a new one.
    keep = sockdir / "old-kubelet.sock"
    keep.hardlink_to(kubelet.socket_path)
    before = kubelet.socket_path.stat().st_ino
    kubelet.restart()
    assert kubelet.socket_path.exists()
    assert kubelet.socket_path.stat().st_ino != before
    assert kubelet.endpoint(RES) is None
    assert kubelet.table.capacity(RES) == (3, 0)
    with pytest.raises(AdmissionError, match="not registered"):
        kubelet.admit(pod({"a": {RES: "1"}}))
    plugin.register()
    assert kubelet.wait_devices(RES, 3)
    assert plugin.list_and_watch_opened == 2
    assert kubelet.admit(pod({"a": {RES: "1"}})).allocations


def test_reregistration_replaces_endpoint(
    kubelet: KubeletStandIn, plugin: StubDevicePlugin
) -> None:
    old = kubelet.endpoint(RES)
    plugin.register()
    assert kubelet.wait_for(lambda k: k.endpoint(RES) not in (None, old))
    assert kubelet.wait_devices(RES, 3)
