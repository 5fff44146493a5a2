"""Fixtures: the real device plugin app on unix sockets, a kubelet stand-in, and a kube client.

Sockets live in a short temp dir (unix socket paths are limited to ~107 bytes). The kubelet
stand-in is synchronous, so tests call it through ``asyncio.to_thread`` while the plugin runs on
the test's event loop.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hami.deviceplugin.app import DevicePluginApp, running
from hami.deviceplugin.nvml import FakeNvml, GpuInfo
from hami.deviceplugin.settings import PluginSettings
from hami.k8s.fake import FakeKube
from tests.support.kubelet import KubeletStandIn

from .pods import NODE, UUID_A, UUID_B, node

CACHE_NAME = "fixed-cache-id.cache"


@dataclass
class Rig:
    kube: FakeKube
    nvml: FakeNvml
    kubelet: KubeletStandIn
    app: DevicePluginApp
    settings: PluginSettings


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
        list_resend_s=0.5,
    )


def two_gpus() -> FakeNvml:
    return FakeNvml(
        gpus=[
            GpuInfo(0, UUID_A, "Tesla V100-PCIE-32GB", 32768, numa=0),
            GpuInfo(1, UUID_B, "Tesla V100-PCIE-32GB", 32768, numa=1),
        ]
    )


async def start_rig(settings: PluginSettings, sock_dir: Path) -> tuple[Rig, object]:
    kube = FakeKube()
    kube.add("nodes", node())
    nvml = two_gpus()
    kubelet = KubeletStandIn(sock_dir, NODE).start()
    app = DevicePluginApp(
        settings, nvml, kube, cache_name=lambda: CACHE_NAME, poll_s=0.05, xid_poll_s=0.05
    )
    return Rig(kube, nvml, kubelet, app, settings), running(app)


@pytest.fixture
async def rig(settings: PluginSettings, sock_dir: Path) -> AsyncIterator[Rig]:
    r, ctx = await start_rig(settings, sock_dir)
    try:
        async with ctx:  # type: ignore[attr-defined]
            await r.app.session.registered.wait()
            yield r
    finally:
        r.kubelet.close()
