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
from hami.deviceplugin.nvml import GpuLink
from hami.deviceplugin.settings import PluginSettings

from .conftest import Rig, make_rig, two_gpus
from .pods import UUID_A, UUID_B

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
    value = rig.node_annotations()[ann.NODE_NVIDIA_REGISTER]
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
    value = rig.node_annotations()[ann.NODE_NVIDIA_REGISTER]
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
    async with make_rig(s, sock_dir) as r:
        assert await asyncio.to_thread(r.kubelet.wait_devices, "example.com/vgpu", 20)
        (req,) = r.kubelet.registrations
        assert req.resource_name == "example.com/vgpu"
        numa = {d.numa_nodes for d in r.kubelet.table.devices(req.resource_name).values()}
        assert numa == {(0,), (1,)}


async def test_starts_before_kubelet_and_registers_later(
    settings: PluginSettings, sock_dir: Path
) -> None:
    async with make_rig(settings, sock_dir, kubelet_up=False) as r:
        await asyncio.sleep(0.3)  # plugin polls for kubelet.sock, which is not there yet
        assert r.kubelet.registrations == []
        await asyncio.to_thread(r.kubelet.start)
        assert await asyncio.to_thread(r.kubelet.wait_devices, GPU, 20)


async def test_topology_score_annotation(settings: PluginSettings, sock_dir: Path) -> None:
    nvml = two_gpus()
    nvml.topology = {(UUID_A, UUID_B): GpuLink(10, 2), (UUID_B, UUID_A): GpuLink(10, 2)}
    async with make_rig(replace(settings, topology_score=True), sock_dir, nvml=nvml) as r:
        assert await _wait(lambda: ann.NODE_NVIDIA_SCORE in r.node_annotations())
        assert r.node_annotations()[ann.NODE_NVIDIA_SCORE] == (
            f'[{{"uuid":"{UUID_A}","score":{{"{UUID_B}":200}}}},'
            f'{{"uuid":"{UUID_B}","score":{{"{UUID_A}":200}}}}]'
        )


async def test_reregisters_when_plugin_socket_removed(rig: Rig) -> None:
    """Real kubelet wipes the plugin sockets on restart; a vanished socket means re-register."""
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    (rig.settings.plugin_dir / rig.settings.socket_name).unlink()
    assert await _wait(lambda: rig.app.session.registrations == 2)
    assert await asyncio.to_thread(rig.kubelet.wait_for, lambda k: len(k.registrations) == 2)
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)


async def test_reregisters_on_request(rig: Rig) -> None:
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    rig.app.session.request_reregister()
    assert await _wait(lambda: rig.app.session.registrations == 2)
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)


async def test_periodic_full_resend(settings: PluginSettings, sock_dir: Path) -> None:
    async with make_rig(replace(settings, list_resend_s=0.1), sock_dir) as r:
        assert await asyncio.to_thread(r.kubelet.wait_devices, GPU, 20)
        ep = r.kubelet.endpoint(GPU)
        assert ep is not None
        assert await _wait(lambda: ep.messages >= 3)
        assert r.kubelet.table.capacity(GPU) == (20, 20)
