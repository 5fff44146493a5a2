"""Fixtures: the real device plugin app on unix sockets, a kubelet stand-in, and a cluster.

The cluster is either the in-memory ``FakeKube`` or the apiserver stand-in reached through the real
lightkube adapter over HTTP (``rig`` is parametrized over both). Sockets live in a short temp dir
(unix socket paths are limited to ~107 bytes). The kubelet stand-in is synchronous, so tests call it
through ``asyncio.to_thread`` while the plugin runs on the test's event loop.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from hami.deviceplugin.app import DevicePluginApp, running
from hami.deviceplugin.nvml import FakeNvml, GpuInfo
from hami.deviceplugin.settings import PluginSettings
from hami.k8s.fake import FakeKube
from hami.k8s.port import KubeClient
from tests.support.apiserver import ApiServerThread
from tests.support.kubelet import KubeletStandIn

from .pods import NODE, NS, UUID_A, UUID_B, node

CACHE_NAME = "fixed-cache-id.cache"


class Cluster(Protocol):
    """Direct (test-side) access to the cluster state the plugin talks to."""

    def add_pod(self, pod: dict[str, Any]) -> None: ...
    def pod(self, name: str) -> dict[str, Any]: ...
    def node(self) -> dict[str, Any]: ...
    def set_node_annotation(self, key: str, value: str) -> None: ...


class FakeCluster:
    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube

    def add_pod(self, pod: dict[str, Any]) -> None:
        self.kube.add("pods", pod)

    def pod(self, name: str) -> dict[str, Any]:
        return self.kube.get("pods", NS, name)

    def node(self) -> dict[str, Any]:
        return self.kube.get("nodes", "", NODE)

    def set_node_annotation(self, key: str, value: str) -> None:
        n = self.node()
        n["metadata"].setdefault("annotations", {})[key] = value
        self.kube.update("nodes", n)


class ApiCluster:
    def __init__(self, api: ApiServerThread) -> None:
        self.api = api

    def add_pod(self, pod: dict[str, Any]) -> None:
        self.api.store.create(pod)

    def pod(self, name: str) -> dict[str, Any]:
        return self.api.store.get("pods", name, NS)

    def node(self) -> dict[str, Any]:
        return self.api.store.get("nodes", NODE)

    def set_node_annotation(self, key: str, value: str) -> None:
        n = self.node()
        n["metadata"].setdefault("annotations", {})[key] = value
        self.api.store.update(n)


@dataclass
class Rig:
    cluster: Cluster
    kube: KubeClient
    nvml: FakeNvml
    kubelet: KubeletStandIn
    app: DevicePluginApp
    settings: PluginSettings

    def annotations(self, pod: str) -> dict[str, str]:
        return dict(self.cluster.pod(pod)["metadata"].get("annotations") or {})

    def node_annotations(self) -> dict[str, str]:
        return dict(self.cluster.node()["metadata"].get("annotations") or {})


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dp", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(sock_dir: Path, tmp_path: Path) -> PluginSettings:
    return PluginSettings(
        node_name=NODE,
        plugin_dir=sock_dir,
        hook_path=tmp_path / "hook",
        lock_dir=tmp_path / "vgpulock",
        register_interval_s=30,
        pod_lookup_retries=0,
        list_resend_s=None,
    )


def two_gpus() -> FakeNvml:
    return FakeNvml(
        gpus=[
            GpuInfo(0, UUID_A, "Tesla V100-PCIE-32GB", 32768, numa=0),
            GpuInfo(1, UUID_B, "Tesla V100-PCIE-32GB", 32768, numa=1),
        ]
    )


@contextlib.asynccontextmanager
async def make_rig(
    settings: PluginSettings,
    sock_dir: Path,
    backend: str = "fake",
    *,
    kubelet_up: bool = True,
    nvml: FakeNvml | None = None,
) -> AsyncIterator[Rig]:
    """Cluster + kubelet stand-in + running plugin; yields once the plugin has registered
    (or immediately when ``kubelet_up`` is False: the kubelet stand-in is left stopped)."""
    async with contextlib.AsyncExitStack() as stack:
        cluster: Cluster
        kube: KubeClient
        api_url: str | None = None
        if backend == "fake":
            fake = FakeKube()
            fake.add("nodes", node())
            cluster, kube = FakeCluster(fake), fake
        else:
            from hami.k8s.lightkube import LightkubeClient

            api = stack.enter_context(ApiServerThread())
            api.store.create(node())
            cluster = ApiCluster(api)
            kube = LightkubeClient.from_kubeconfig(api.kubeconfig_path)
            stack.push_async_callback(kube.close)
            api_url = api.url
        kubelet = KubeletStandIn(sock_dir, NODE, api_url)
        stack.callback(kubelet.close)
        if kubelet_up:
            kubelet.start()
        app = DevicePluginApp(
            settings,
            nvml or two_gpus(),
            kube,
            cache_name=lambda: CACHE_NAME,
            poll_s=0.05,
            xid_poll_s=0.05,
        )
        assert isinstance(app.nvml, FakeNvml)
        await stack.enter_async_context(running(app))
        if kubelet_up:
            await app.session.registered.wait()
        yield Rig(cluster, kube, app.nvml, kubelet, app, settings)


@pytest.fixture(params=["fake", "apiserver"])
async def rig(
    request: pytest.FixtureRequest, settings: PluginSettings, sock_dir: Path
) -> AsyncIterator[Rig]:
    async with make_rig(settings, sock_dir, request.param) as r:
        yield r
