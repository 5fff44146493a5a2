"""Allocate driven by the kubelet stand-in's admission, over real sockets.

Each case puts a bound pod (scheduler annotations + node lock) into the cluster, lets the kubelet
stand-in admit it (it calls Allocate once per container and resource, init containers first), and
checks the exact env and mounts per container, the consumed annotation, ``bind-phase`` and the lock.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hami.api import annotations as ann
from hami.deviceplugin.inventory import physical_uuid
from hami.deviceplugin.nvml import FakeNvml, GpuInfo, MigDevice
from hami.deviceplugin.settings import PluginSettings
from hami.k8s.errors import ServerError
from hami.k8s.fake import FakeKube
from tests.support.kubelet import AdmissionError, AdmissionResult

from .conftest import CACHE_NAME, Rig, make_rig
from .pods import NS, UUID_A, UUID_B, bound_pod, container, lock_value

GPU = "nvidia.com/gpu"


def _setup(rig: Rig, pod: dict[str, Any], *, lock: bool = True) -> dict[str, Any]:
    """Store the pod (the apiserver assigns its uid) and take the node lock for it."""
    rig.cluster.add_pod(pod)
    if lock:
        rig.cluster.set_node_annotation(ann.NODE_LOCK, lock_value(pod["metadata"]["name"]))
    return rig.cluster.pod(pod["metadata"]["name"])


def _uid(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["uid"])


async def _admit(rig: Rig, pod: dict[str, Any]) -> AdmissionResult:
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    return await asyncio.to_thread(rig.kubelet.admit, pod)


def _pod_annos(rig: Rig, name: str) -> dict[str, str]:
    return rig.annotations(name)


def _lock(rig: Rig) -> str | None:
    return rig.node_annotations().get(ann.NODE_LOCK)


def _mounts(result: AdmissionResult, ctr: str) -> list[tuple[str, str, bool]]:
    (alloc,) = result.for_container(ctr)
    return [(m.container_path, m.host_path, m.read_only) for m in alloc.response.mounts]


def _expected_mounts(rig: Rig, uid: str, ctr: str) -> list[tuple[str, str, bool]]:
    vgpu = rig.settings.vgpu_dir
    return [
        ("/usr/local/vgpu/libvgpu.so", str(vgpu / "libvgpu.so"), True),
        ("/usr/local/vgpu", str(vgpu / "containers" / f"{uid}_{ctr}"), False),
        ("/tmp/vgpulock", str(rig.settings.lock_dir), False),
        ("/etc/ld.so.preload", str(vgpu / "ld.so.preload"), True),
    ]


async def test_single_container(rig: Rig) -> None:
    pod = bound_pod(
        "p1", f"{UUID_A},NVIDIA,3000,30:;", containers=[container("main", 1)], uid="uid-p1"
    )
    pod = _setup(rig, pod)
    result = await _admit(rig, pod)
    assert result.envs("main") == {
        "NVIDIA_VISIBLE_DEVICES": UUID_A,
        "CUDA_DEVICE_MEMORY_LIMIT_0": "3000m",
        "CUDA_DEVICE_SM_LIMIT": "30",
        "CUDA_DEVICE_MEMORY_SHARED_CACHE": f"/usr/local/vgpu/{CACHE_NAME}",
    }
    assert _mounts(result, "main") == _expected_mounts(rig, _uid(pod), "main")
    annos = _pod_annos(rig, "p1")
    assert annos[ann.DEVICES_TO_ALLOCATE] == ";"
    assert annos[ann.DEVICES_ALLOCATED] == f"{UUID_A},NVIDIA,3000,30:;"
    assert annos[ann.BIND_PHASE] == "success"
    assert _lock(rig) is None
    host_dir = rig.settings.vgpu_dir / "containers" / f"{_uid(pod)}_main"
    assert stat.S_IMODE(os.stat(host_dir).st_mode) == 0o777


async def test_multi_container_with_init_and_multi_gpu(rig: Rig) -> None:
    value = (
        f"{UUID_B},NVIDIA,1000,10:;"  # init container
        ";"  # sidecar without GPU
        f"{UUID_A},NVIDIA,4000,30:{UUID_B},NVIDIA,4000,30:;"  # trainer, 2 GPUs
        f"{UUID_A},NVIDIA,2000,0:;"  # eval, opts out of the hook
    )
    pod = bound_pod(
        "p2",
        value,
        init=[container("prep", 1)],
        containers=[
            container("sidecar"),
            container("trainer", 2),
            container("eval", 1, env={"CUDA_DISABLE_CONTROL": "true"}),
        ],
    )
    pod = _setup(rig, pod)
    result = await _admit(rig, pod)
    assert [a.container for a in result.allocations] == ["prep", "trainer", "eval"]
    assert result.envs("prep")["NVIDIA_VISIBLE_DEVICES"] == UUID_B
    assert result.envs("prep")["CUDA_DEVICE_MEMORY_LIMIT_0"] == "1000m"
    assert result.envs("trainer") == {
        "NVIDIA_VISIBLE_DEVICES": f"{UUID_A},{UUID_B}",
        "CUDA_DEVICE_MEMORY_LIMIT_0": "4000m",
        "CUDA_DEVICE_MEMORY_LIMIT_1": "4000m",
        "CUDA_DEVICE_SM_LIMIT": "30",
        "CUDA_DEVICE_MEMORY_SHARED_CACHE": f"/usr/local/vgpu/{CACHE_NAME}",
    }
    assert _mounts(result, "trainer") == _expected_mounts(rig, _uid(pod), "trainer")
    assert _mounts(result, "eval") == _expected_mounts(rig, _uid(pod), "eval")[:3]
    assert result.envs("eval")["CUDA_DEVICE_SM_LIMIT"] == "0"
    annos = _pod_annos(rig, "p2")
    assert annos[ann.DEVICES_TO_ALLOCATE] == ";;;;"
    assert annos[ann.BIND_PHASE] == "success"
    assert _lock(rig) is None


async def test_lock_kept_until_last_container(rig: Rig) -> None:
    """Between containers the pod stays 'allocating' and the lock stays (checked via the API)."""
    value = f"{UUID_A},NVIDIA,1000,0:;{UUID_B},NVIDIA,1000,0:;"
    pod = bound_pod("p3", value, containers=[container("a", 1), container("b", 1)])
    _setup(rig, pod)
    assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 20)
    from hami.deviceplugin._proto import api_pb2

    ep = rig.kubelet.endpoint(GPU)
    assert ep is not None
    req = api_pb2.AllocateRequest(
        container_requests=[api_pb2.ContainerAllocateRequest(devices_ids=[f"{UUID_A}-0"])]
    )
    resp = await asyncio.to_thread(ep.stub.Allocate, req, timeout=10)
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == UUID_A
    annos = _pod_annos(rig, "p3")
    assert annos[ann.DEVICES_TO_ALLOCATE] == f";{UUID_B},NVIDIA,1000,0:;"
    assert annos[ann.BIND_PHASE] == "allocating"
    assert _lock(rig) is not None
    resp = await asyncio.to_thread(ep.stub.Allocate, req, timeout=10)
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == UUID_B
    assert _pod_annos(rig, "p3")[ann.BIND_PHASE] == "success"
    assert _lock(rig) is None


async def test_fallback_without_lock(rig: Rig) -> None:
    pod = bound_pod("p4", f"{UUID_B},NVIDIA,500,5:;", containers=[container("main", 1)])
    _setup(rig, pod, lock=False)
    result = await _admit(rig, pod)
    assert result.envs("main")["NVIDIA_VISIBLE_DEVICES"] == UUID_B
    assert _pod_annos(rig, "p4")[ann.BIND_PHASE] == "success"


@pytest.mark.parametrize(
    ("value", "gpus", "message"),
    [
        (
            f"{UUID_A},NVIDIA,1000,0:;",
            2,
            "kubelet requested 2 device(s) but the scheduler assigned 1",
        ),
        ("GPU-x,NVIDIA,lots,0:;", 1, "usedmem is not an integer"),
        ("GPU-x,NVIDIA:;", 1, "device entry needs 4 fields"),
    ],
    ids=["count-mismatch", "garbage-number", "garbage-fields"],
)
async def test_bad_assignment_fails_cleanly(rig: Rig, value: str, gpus: int, message: str) -> None:
    pod = bound_pod("bad", value, containers=[container("main", gpus)])
    _setup(rig, pod)
    with pytest.raises(AdmissionError, match="Allocate failed") as err:
        await _admit(rig, pod)
    assert message in str(err.value)
    assert f"pod {NS}/bad" in str(err.value)
    annos = _pod_annos(rig, "bad")
    assert annos[ann.BIND_PHASE] == "failed"
    assert annos[ann.DEVICES_TO_ALLOCATE] == value  # nothing consumed
    assert _lock(rig) is None


async def test_no_pending_pod(rig: Rig) -> None:
    pod = bound_pod("ghost", f"{UUID_A},NVIDIA,1000,0:;", containers=[container("main", 1)])
    # pod bound to the node in kubelet's eyes, but the apiserver has no pending assignment
    with pytest.raises(AdmissionError, match="no pending pod with devices to allocate"):
        await _admit(rig, pod)


async def test_lock_of_other_pod_is_not_released(rig: Rig) -> None:
    pod = bound_pod("p5", f"{UUID_A},NVIDIA,1000,0:;", containers=[container("main", 2)])
    _setup(rig, pod, lock=False)
    rig.cluster.set_node_annotation(ann.NODE_LOCK, lock_value("someone-else"))
    with pytest.raises(AdmissionError):
        await _admit(rig, pod)
    assert _pod_annos(rig, "p5")[ann.BIND_PHASE] == "failed"
    assert _lock(rig) is not None


@pytest.mark.parametrize(
    ("value", "gpus", "expected"),
    [
        (f"{UUID_B},NVIDIA,1000,0:;", 1, {UUID_B}),
        (f"{UUID_B},NVIDIA,1000,0:{UUID_A},NVIDIA,1000,0:;", 2, {UUID_A, UUID_B}),
    ],
    ids=["one-gpu", "two-gpus"],
)
async def test_preferred_allocation_follows_scheduler(
    settings: PluginSettings, sock_dir: Path, value: str, gpus: int, expected: set[str]
) -> None:
    async with make_rig(replace(settings, enable_preferred_allocation=True), sock_dir) as rig:
        pod = _setup(rig, bound_pod("pref", value, containers=[container("main", gpus)]))
        result = await _admit(rig, pod)
        (alloc,) = result.for_container("main")
        assert alloc.preferred_asked
        assert {physical_uuid(i) for i in alloc.device_ids} == expected
        assert rig.annotations("pref")[ann.BIND_PHASE] == "success"


async def test_mig_mixed_passthrough(settings: PluginSettings, sock_dir: Path) -> None:
    nvml = FakeNvml(
        gpus=[
            GpuInfo(0, UUID_A, "Tesla V100-PCIE-32GB", 32768),
            GpuInfo(
                1,
                UUID_B,
                "NVIDIA A100-SXM4-40GB",
                40960,
                mig_enabled=True,
                mig_devices=(
                    MigDevice("MIG-one", "1g.5gb", 4864),
                    MigDevice("MIG-two", "1g.5gb", 4864),
                ),
            ),
        ]
    )
    async with make_rig(replace(settings, mig_strategy="mixed"), sock_dir, nvml=nvml) as rig:
        mig = "nvidia.com/mig-1g.5gb"
        assert await asyncio.to_thread(rig.kubelet.wait_devices, GPU, 10)
        assert await asyncio.to_thread(rig.kubelet.wait_devices, mig, 2)
        assert sorted(rig.kubelet.table.devices(mig)) == ["MIG-one", "MIG-two"]
        names = sorted(r.endpoint for r in rig.kubelet.registrations)
        assert names == ["nvidia-gpu.sock", "nvidia-mig-1g.5gb.sock"]
        pod = bound_pod("m", "", containers=[container("main", 1, resource=mig)])
        result = await asyncio.to_thread(rig.kubelet.admit, pod)
        (alloc,) = result.for_container("main")
        assert dict(alloc.response.envs) == {"NVIDIA_VISIBLE_DEVICES": alloc.device_ids[0]}
        assert list(alloc.response.mounts) == []


async def test_apiserver_unreachable_fails_admission(
    settings: PluginSettings, sock_dir: Path
) -> None:
    async with make_rig(settings, sock_dir) as rig:
        pod = _setup(
            rig, bound_pod("p6", f"{UUID_A},NVIDIA,1000,0:;", containers=[container("main", 1)])
        )
        assert isinstance(rig.kube, FakeKube)
        rig.kube.fail_next("get_node", ServerError("etcd down"))
        with pytest.raises(AdmissionError, match="code = Unavailable desc = etcd down"):
            await _admit(rig, pod)
        assert rig.annotations("p6")[ann.BIND_PHASE] == "allocating"  # untouched: kubelet retries
        result = await _admit(rig, pod)  # the API is back: the retry succeeds
        assert result.envs("main")["NVIDIA_VISIBLE_DEVICES"] == UUID_A


async def test_lock_of_a_pod_whose_admission_failed_is_released(
    settings: PluginSettings, sock_dir: Path
) -> None:
    """The plugin was down: kubelet failed the pod's admission without calling Allocate, so the
    pod ends Failed, still ``allocating``, holding the lock. The plugin releases it."""
    async with make_rig(replace(settings, lock_sweep_interval_s=0.05), sock_dir) as rig:
        pod = bound_pod("d1", f"{UUID_A},NVIDIA,1000,0:;", containers=[container("main", 1)])
        pod["status"] = {"phase": "Failed", "reason": "UnexpectedAdmissionError"}
        _setup(rig, pod)
        for _ in range(100):
            if _lock(rig) is None:
                break
            await asyncio.sleep(0.02)
        assert _lock(rig) is None
        assert _pod_annos(rig, "d1")[ann.BIND_PHASE] == "failed"


async def test_a_pod_that_skipped_the_webhook_is_told_so(rig: Rig) -> None:
    """A GPU pod created while hami was down (failurePolicy Ignore) reaches kubelet through the
    default scheduler with no assignment: Allocate's error says what happened and what to do."""
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bypassed", "namespace": NS},
        "spec": {"nodeName": "gpu-node-1", "schedulerName": "default-scheduler",
                 "containers": [container("main", 1)]},
        "status": {"phase": "Pending"},
    }  # fmt: skip
    rig.cluster.add_pod(pod)
    with pytest.raises(AdmissionError, match="no pending pod with devices to allocate") as err:
        await _admit(rig, rig.cluster.pod("bypassed"))
    assert (
        f"pod {NS}/bypassed asks for nvidia.com/gpu but was not placed by hami "
        "(scheduler default-scheduler): it skipped hami's admission webhook"
    ) in str(err.value)
    assert "Delete and re-create the pod" in str(err.value)
