"""Allocate answers built from a container's devices: exact env names/values and mounts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hami.api.types import ContainerDevice
from hami.deviceplugin.allocate import (
    AllocateError,
    Mount,
    build_allocation,
    check_count,
    container_env,
    disables_control,
    ordered_containers,
    passthrough_allocation,
)
from hami.deviceplugin.settings import PluginSettings

UA = "GPU-aaaa"
UB = "GPU-bbbb"
BASE = PluginSettings(node_name="n1", hook_path=Path("/usr/local"))
LIB = Path("/usr/local/vgpu/libvgpu.so.abc123")


def _build(devs: list[ContainerDevice], settings: PluginSettings = BASE, env=None, **kw):  # type: ignore[no-untyped-def]
    return build_allocation(
        devs,
        pod_uid="uid-1",
        container="main",
        container_env=env or {},
        settings=settings,
        cache_name="c1.cache",
        lib_host_path=LIB,
        **kw,
    )


def test_single_gpu_env_and_mounts_exact() -> None:
    alloc = _build([ContainerDevice(UA, "NVIDIA", 3000, 30)])
    assert alloc.envs == {
        "NVIDIA_VISIBLE_DEVICES": UA,
        "CUDA_DEVICE_MEMORY_LIMIT_0": "3000m",
        "CUDA_DEVICE_SM_LIMIT": "30",
        "CUDA_DEVICE_MEMORY_SHARED_CACHE": "/usr/local/vgpu/c1.cache",
    }
    assert alloc.mounts == (
        Mount("/usr/local/vgpu/libvgpu.so", str(LIB), True),
        Mount("/usr/local/vgpu", "/usr/local/vgpu/containers/uid-1_main", False),
        Mount("/tmp/vgpulock", "/tmp/vgpulock", False),
        Mount("/etc/ld.so.preload", "/usr/local/vgpu/ld.so.preload", True),
    )
    assert alloc.host_dirs == ("/usr/local/vgpu/containers/uid-1_main", "/tmp/vgpulock")


def test_two_gpus_limits_per_index_and_sm_from_first() -> None:
    alloc = _build(
        [ContainerDevice(UA, "NVIDIA", 4000, 30), ContainerDevice(UB, "NVIDIA", 5000, 50)]
    )
    assert alloc.envs["NVIDIA_VISIBLE_DEVICES"] == f"{UA},{UB}"
    assert alloc.envs["CUDA_DEVICE_MEMORY_LIMIT_0"] == "4000m"
    assert alloc.envs["CUDA_DEVICE_MEMORY_LIMIT_1"] == "5000m"
    assert alloc.envs["CUDA_DEVICE_SM_LIMIT"] == "30"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"memory_scaling": 2.0}, {"CUDA_OVERSUBSCRIBE": "true"}),
        ({"memory_scaling": 1.0}, {}),
        ({"libcuda_log_level": 1}, {"LIBCUDA_LOG_LEVEL": "1"}),
        ({"disable_core_limit": True}, {"GPU_CORE_UTILIZATION_POLICY": "disable"}),
        ({"gpu_core_policy": "force"}, {"GPU_CORE_UTILIZATION_POLICY": "force"}),
        (
            {"gpu_core_policy": "force", "disable_core_limit": True},
            {"GPU_CORE_UTILIZATION_POLICY": "disable"},
        ),
    ],
    ids=["oversubscribe", "no-oversubscribe", "log-level", "disable-core", "force", "disable-wins"],
)
def test_conditional_envs(changes: dict[str, object], expected: dict[str, str]) -> None:
    alloc = _build([ContainerDevice(UA, "NVIDIA", 1000, 0)], replace(BASE, **changes))  # type: ignore[arg-type]
    optional = {"CUDA_OVERSUBSCRIBE", "LIBCUDA_LOG_LEVEL", "GPU_CORE_UTILIZATION_POLICY"}
    assert {k: v for k, v in alloc.envs.items() if k in optional} == expected


@pytest.mark.parametrize(
    ("value", "skipped"),
    [("true", True), ("1", True), ("T", True), ("TRUE", True), ("false", False), ("yes", False)],
    ids=["true", "one", "T", "TRUE", "false", "yes-is-not-parsebool"],
)
def test_disable_control_skips_preload(value: str, skipped: bool) -> None:
    alloc = _build([ContainerDevice(UA, "NVIDIA", 1000, 0)], env={"CUDA_DISABLE_CONTROL": value})
    has_preload = any(m.container_path == "/etc/ld.so.preload" for m in alloc.mounts)
    assert has_preload is not skipped
    assert disables_control({"CUDA_DISABLE_CONTROL": value}) is skipped


def test_hook_path_and_license() -> None:
    settings = replace(BASE, hook_path=Path("/opt/hami"), lock_dir=Path("/var/lock/vgpu"))
    alloc = _build([ContainerDevice(UA, "NVIDIA", 1, 0)], settings, license_present=True)
    hosts = {m.container_path: m.host_path for m in alloc.mounts}
    assert hosts["/usr/local/vgpu"] == "/opt/hami/vgpu/containers/uid-1_main"
    assert hosts["/etc/ld.so.preload"] == "/opt/hami/vgpu/ld.so.preload"
    assert hosts["/tmp/vgpulock"] == "/var/lock/vgpu"
    assert hosts["/tmp/license"] == "/opt/hami/vgpu/license"
    assert hosts["/usr/bin/vgpuvalidator"] == "/opt/hami/vgpu/vgpuvalidator"


def test_no_devices_is_an_error() -> None:
    with pytest.raises(AllocateError, match="main: no devices"):
        _build([])


@pytest.mark.parametrize(("requested", "ok"), [(1, True), (2, False), (0, False)], ids=str)
def test_check_count(requested: int, ok: bool) -> None:
    devs = [ContainerDevice(UA, "NVIDIA", 1, 0)]
    if ok:
        check_count(devs, requested, "c")
    else:
        with pytest.raises(AllocateError, match=f"requested {requested} device"):
            check_count(devs, requested, "c")


def test_ordered_containers_init_first_and_env() -> None:
    pod = {
        "spec": {
            "initContainers": [{"name": "i1"}],
            "containers": [
                {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "valueFrom": {}}]},
                {"name": "b"},
            ],
        }
    }
    names = [c["name"] for c in ordered_containers(pod)]
    assert names == ["i1", "a", "b"]
    assert container_env(ordered_containers(pod)[1]) == {"X": "1"}


def test_passthrough() -> None:
    alloc = passthrough_allocation(["MIG-1", "MIG-2"])
    assert alloc.envs == {"NVIDIA_VISIBLE_DEVICES": "MIG-1,MIG-2"}
    assert alloc.mounts == ()
