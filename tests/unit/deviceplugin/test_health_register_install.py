"""Health state + XID watcher, the node registrar, the hook installer, the fake NVML."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hami.api import annotations as ann
from hami.api.types import DeviceInfo
from hami.deviceplugin.health import HealthState, XidWatcher
from hami.deviceplugin.install import current_library, install_hook
from hami.deviceplugin.nvml import FakeNvml, is_critical_xid, mig_profile_name
from hami.deviceplugin.register import Registrar, register_annotations
from hami.k8s.errors import ServerError
from hami.k8s.fake import FakeKube


@pytest.mark.parametrize(("xid", "critical"), [(79, True), (48, True), (13, False), (43, False)])
def test_critical_xids(xid: int, critical: bool) -> None:
    assert is_critical_xid(xid) is critical


@pytest.mark.parametrize(
    ("gi", "ci", "mem", "name"),
    [
        (1, 1, 4864, "1g.5gb"),
        (3, 3, 19968, "3g.20gb"),
        (7, 7, 40192, "7g.40gb"),
        (2, 1, 9856, "1c.2g.10gb"),
    ],
    ids=str,
)
def test_mig_profile_name(gi: int, ci: int, mem: int, name: str) -> None:
    assert mig_profile_name(gi, ci, mem) == name


async def test_xid_watcher_marks_unhealthy_once() -> None:
    nvml = FakeNvml.with_gpus(2)
    state = HealthState(asyncio.get_running_loop(), [g.uuid for g in nvml.gpus])
    watcher = XidWatcher(nvml, state, ignored={13}, poll_s=0.05)
    watcher.start()
    try:
        nvml.inject_xid("GPU-fake-0001", 13)
        nvml.inject_xid("GPU-fake-0001", 79)
        nvml.inject_xid("GPU-fake-0001", 79)
        gen = await state.wait_change(0, timeout_s=5)
    finally:
        await asyncio.to_thread(watcher.stop)
    assert gen == 1
    assert state.snapshot() == {"GPU-fake-0000": True, "GPU-fake-0001": False}


def _dev(health: bool = True) -> DeviceInfo:
    return DeviceInfo(
        id="GPU-a", count=10, devmem=1000, devcore=100, type="NVIDIA-X", health=health
    )


async def test_registrar_patches_only_on_change_and_recovers() -> None:
    kube = FakeKube()
    kube.add("nodes", {"metadata": {"name": "n1"}})
    inv = [_dev()]
    state = HealthState(asyncio.get_running_loop())
    reg = Registrar(kube, "n1", register_annotations(lambda: inv), state)
    assert await reg.sync_once() is True
    assert await reg.sync_once() is False
    expected = (
        '[{"id":"GPU-a","count":10,"devmem":1000,"devcore":100,"type":"NVIDIA-X",'
        '"mode":"hami-core","health":true}]'
    )
    assert (
        kube.get("nodes", "", "n1")["metadata"]["annotations"][ann.NODE_NVIDIA_REGISTER] == expected
    )
    inv[0] = _dev(health=False)
    kube.fail_next("patch_node_metadata", ServerError("down"))
    with pytest.raises(ServerError):
        await reg.sync_once()
    assert await reg.sync_once() is True
    assert reg.patches == 2
    # a restarted plugin sees the same value on the node and does not patch
    again = Registrar(kube, "n1", register_annotations(lambda: inv), state)
    assert await again.sync_once() is False


def test_install_is_versioned_and_idempotent(tmp_path: Path) -> None:
    vgpu = tmp_path / "vgpu"
    v1 = tmp_path / "v1.so"
    v1.write_bytes(b"lib-one")
    first = install_hook(v1, vgpu)
    assert first.library.read_bytes() == b"lib-one"
    assert first.library.name.startswith("libvgpu.so.")
    assert (vgpu / "ld.so.preload").read_text() == "/usr/local/vgpu/libvgpu.so\n"
    assert (vgpu / "containers").is_dir()
    assert install_hook(v1, vgpu).library == first.library
    v2 = tmp_path / "v2.so"
    v2.write_bytes(b"lib-two")
    second = install_hook(v2, vgpu)
    assert second.library != first.library
    assert first.library.read_bytes() == b"lib-one"  # running containers keep their copy
    assert (vgpu / "libvgpu.so").read_bytes() == b"lib-two"
    assert current_library(vgpu) == second.library
    os.utime(second.library, (1, 1))  # make the rollback's touch observable on coarse clocks
    assert install_hook(v1, vgpu).library == first.library  # rollback
    assert current_library(vgpu) == first.library


def test_current_library_without_install(tmp_path: Path) -> None:
    assert current_library(tmp_path) == tmp_path / "libvgpu.so"


def test_fake_nvml_wait_timeout() -> None:
    nvml = FakeNvml.with_gpus(1)
    assert nvml.wait_xid(0.01) == []
    nvml.inject_xid("GPU-fake-0000", 31)
    assert [e.xid for e in nvml.wait_xid(0.01)] == [31]


async def test_registrar_extra_annotation_patched_once() -> None:
    kube = FakeKube()
    kube.add("nodes", {"metadata": {"name": "n1"}})
    state = HealthState(asyncio.get_running_loop())
    build = register_annotations(lambda: [_dev()], {ann.NODE_NVIDIA_SCORE: "[]"})
    reg = Registrar(kube, "n1", build, state)
    assert await reg.sync_once() is True
    annos = kube.get("nodes", "", "n1")["metadata"]["annotations"]
    assert annos[ann.NODE_NVIDIA_SCORE] == "[]"
    assert ann.NODE_NVIDIA_REGISTER in annos
    assert kube.calls.count("patch_node_metadata") == 1
