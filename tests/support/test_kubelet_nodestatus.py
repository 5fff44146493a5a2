"""The kubelet stand-in reports device counts into the node status like kubelet: it registers its
Node, capacity counts every advertised device, allocatable only the healthy ones, and a plugin
that goes away leaves capacity but zero allocatable."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import ApiServerThread
from tests.support.kubelet import UNHEALTHY, KubeletStandIn
from tests.support.kubelet.stubplugin import StubDevicePlugin

RES = "example.com/dev"


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="kl-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def api(apiserver: ApiServerThread) -> ApiServerThread:
    return apiserver


def status_of(api: ApiServerThread, node: str) -> tuple[str | None, str | None]:
    st = api.store.get("nodes", node).get("status") or {}
    return (st.get("capacity") or {}).get(RES), (st.get("allocatable") or {}).get(RES)


def wait_status(
    kubelet: KubeletStandIn, api: ApiServerThread, want: tuple[str | None, str | None]
) -> bool:
    return kubelet.wait_for(lambda k: status_of(api, k.node_name) == want, timeout=10)


def test_registers_node(api: ApiServerThread, sockdir: Path) -> None:
    with KubeletStandIn(sockdir, "node-a", api.url):
        node = api.store.get("nodes", "node-a")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    assert node["status"]["allocatable"]["pods"] == "110"


def test_existing_node_kept(api: ApiServerThread, sockdir: Path) -> None:
    api.store.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-a", "labels": {"gpu": "on"}},
        }
    )
    with KubeletStandIn(sockdir, "node-a", api.url):
        assert api.store.get("nodes", "node-a")["metadata"]["labels"] == {"gpu": "on"}


@pytest.mark.parametrize(
    ("unhealthy", "want"),
    [([], ("3", "3")), (["d-1"], ("3", "2")), (["d-0", "d-2"], ("3", "1"))],
    ids=["all-healthy", "one-unhealthy", "two-unhealthy"],
)
def test_capacity_and_allocatable(
    api: ApiServerThread, sockdir: Path, unhealthy: list[str], want: tuple[str, str]
) -> None:
    with (
        KubeletStandIn(sockdir, "node-a", api.url) as kubelet,
        StubDevicePlugin(sockdir, RES, devices=["d-0", "d-1", "d-2"]) as plugin,
    ):
        plugin.register()
        assert wait_status(kubelet, api, ("3", "3"))
        for dev in unhealthy:
            plugin.set_health(dev, UNHEALTHY)
        assert wait_status(kubelet, api, want), status_of(api, "node-a")
        assert kubelet.status_errors == []


def test_plugin_exit_zeroes_allocatable(api: ApiServerThread, sockdir: Path) -> None:
    with KubeletStandIn(sockdir, "node-a", api.url) as kubelet:
        plugin = StubDevicePlugin(sockdir, RES, devices=["d-0", "d-1"]).start()
        plugin.register()
        assert wait_status(kubelet, api, ("2", "2"))
        plugin.stop()
        assert wait_status(kubelet, api, ("2", "0"))
        kubelet.restart()
        with StubDevicePlugin(sockdir, RES, devices=["d-0", "d-1"]) as again:
            again.register()
            assert wait_status(kubelet, api, ("2", "2"))
