"""The device plugin against the kubelet stand-in over real unix sockets.

Covers registration, re-registration after a kubelet restart, ListAndWatch contents for 2 GPUs x
split 10, health streaming on XID, and the node register annotation. Allocate is in
``test_allocate_flow.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from hami.api import annotations as ann
from hami.deviceplugin.settings import PluginSettings

from .conftest import Rig, start_rig
from .pods import NODE, UUID_A, UUID_B

GPU = "nvidia.com/gpu"


async def _wait(pred, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return bool(pred())


async def test_registers_with_kubelet(rig: Rig) -> None:
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    (req,) = rig.kubelet.registrations
    assert (req.version, req.endpoint, req.resource_name) == ("v1beta1", "nvidia-gpu.sock", GPU)
    assert req.options.get_preferred_allocation_available is False
    ep = rig.kubelet.endpoint(GPU)
    assert ep is not None
    assert ep.options.pre_start_required is False


async def test_list_and_watch_two_gpus_split_ten(rig: Rig) -> None:
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    devices = rig.kubelet.table.devices(GPU)
    expected = [f"{UUID_A}-{i}" for i in range(10)] + [f"{UUID_B}-{i}" for i in range(10)]
    assert sorted(devices) == sorted(expected)
    assert {d.health for d in devices.values()} == {"Healthy"}
    assert {d.numa_nodes for d in devices.values()} == {()}
    assert rig.kubelet.table.capacity(GPU) == (20, 20)


async def test_node_register_annotation(rig: Rig) -> None:
    assert await _wait(lambda: rig.app.registrar.patches >= 1)
    value = rig.kube.get("nodes", "", NODE)["metadata"]["annotations"][ann.NODE_NVIDIA_REGISTER]
    assert value == (
        f'[{{"id":"{UUID_A}","count":10,"devmem":32768,"devcore":100,'
        '"type":"NVIDIA-Tesla V100-PCIE-32GB","mode":"hami-core","health":true},'
        f'{{"id":"{UUID_B}","index":1,"count":10,"devmem":32768,"devcore":100,'
        '"type":"NVIDIA-Tesla V100-PCIE-32GB","numa":1,"mode":"hami-core","health":true}]'
    )
    # unchanged inventory: no second patch
    assert await rig.app.registrar.sync_once() is False
    assert rig.app.registrar.patches == 1


async def test_xid_marks_gpu_unhealthy_and_streams(rig: Rig) -> None:
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    rig.nvml.inject_xid(UUID_B, 13)  # application XID: ignored
    rig.nvml.inject_xid(UUID_A, 79)  # fell off the bus
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 10)
    devices = rig.kubelet.table.devices(GPU)
    bad = sorted(i for i, d in devices.items() if d.health == "Unhealthy")
    assert bad == sorted(f"{UUID_A}-{i}" for i in range(10))
    # the node annotation follows: health omitted (false) for A, true for B
    assert await _wait(lambda: rig.app.registrar.patches >= 2)
    value = rig.kube.get("nodes", "", NODE)["metadata"]["annotations"][ann.NODE_NVIDIA_REGISTER]
    assert f'"id":"{UUID_A}","count":10,"devmem":32768,"devcore":100,' in value
    assert value.count('"health":true') == 1


async def test_reregisters_after_kubelet_restart(rig: Rig) -> None:
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    await asyncio.to_thread(rig.kubelet.restart)
    assert rig.kubelet.table.capacity(GPU) == (20, 0)
    assert await asyncio.to_thread(rig.kubelet.wait_for, lambda k: len(k.registrations) == 2, 10.0)
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    assert rig.app.session.registrations == 2


async def test_renamed_resource_and_numa(settings: PluginSettings, sock_dir: Path) -> None:
    s = replace(settings, resource_name="example.com/vgpu", enable_numa_topology=True)
    r, ctx = await start_rig(s, sock_dir)
    try:
        async with ctx:  # type: ignore[attr-defined]
            assert await asyncio.to_thread(r.kubelet.wait_devices, "example.com/vgpu", 20)
            (req,) = r.kubelet.registrations
            assert req.resource_name == "example.com/vgpu"
            numa = {d.numa_nodes for i, d in r.kubelet.table.devices(req.resource_name).items()}
            assert numa == {(0,), (1,)}
    finally:
        r.kubelet.close()


async def test_starts_before_kubelet_and_registers_later(
    settings: PluginSettings, sock_dir: Path
) -> None:
    r, ctx = await start_rig(settings, sock_dir)
    r.kubelet.stop()  # kubelet not up yet
    try:
        async with ctx:  # type: ignore[attr-defined]
            await asyncio.sleep(0.2)
            assert r.kubelet.registrations == []
            await asyncio.to_thread(r.kubelet.start)
            assert await asyncio.to_thread(r.kubelet.wait_devices, GPU, 20)
    finally:
        r.kubelet.close()
