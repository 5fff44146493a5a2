"""Pure construction of one container's Allocate answer (spec §5.4, hami-core §1.1).

Input: the devices the scheduler wrote for the container, the container's own env, the pod UID
and container name, and the plugin settings. Output: env vars and bind mounts, as plain data, which
:mod:`hami.deviceplugin.service` turns into a ``ContainerAllocateResponse``. No I/O here: the caller
resolves the host library path and generates the cache file name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hami.api.annotations import ENV_CORE_POLICY, ENV_DISABLE_CONTROL, ENV_VISIBLE_DEVICES
from hami.api.types import ContainerDevice
from hami.deviceplugin.settings import PluginSettings

#: Where the container sees the hook directory (fixed: libvgpu's ``CUDA_REDIRECT`` default).
CONTAINER_VGPU_DIR = PurePosixPath("/usr/local/vgpu")
CONTAINER_LIB = CONTAINER_VGPU_DIR / "libvgpu.so"
CONTAINER_PRELOAD = PurePosixPath("/etc/ld.so.preload")
LOCK_DIR = PurePosixPath("/tmp/vgpulock")
LICENSE_CONTAINER = PurePosixPath("/tmp/license")
VALIDATOR_CONTAINER = PurePosixPath("/usr/bin/vgpuvalidator")

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


class AllocateError(ValueError):
    """The pod's assignment cannot be served; the message is shown in the pod's events."""


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount: ``host_path`` appears at ``container_path``."""

    container_path: str
    host_path: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class ContainerAllocation:
    """What one container gets: env vars, mounts, and host dirs to (re)create with mode 0777."""

    envs: dict[str, str]
    mounts: tuple[Mount, ...]
    host_dirs: tuple[str, ...]


def container_dir_name(pod_uid: str, container: str) -> str:
    """Per-container host directory name under ``<hook>/vgpu/containers``."""
    return f"{pod_uid}_{container}"


def disables_control(env: Mapping[str, str]) -> bool:
    """Go ``strconv.ParseBool`` truth of ``CUDA_DISABLE_CONTROL``."""
    return env.get(ENV_DISABLE_CONTROL, "") in _TRUE


def limit_envs(devices: Sequence[ContainerDevice], settings: PluginSettings) -> dict[str, str]:
    """The HAMi-core limit variables for ``devices`` (in the container's device order)."""
    envs = {ENV_VISIBLE_DEVICES: ",".join(d.uuid for d in devices)}
    for i, dev in enumerate(devices):
        envs[f"CUDA_DEVICE_MEMORY_LIMIT_{i}"] = f"{dev.usedmem}m"
    envs["CUDA_DEVICE_SM_LIMIT"] = str(devices[0].usedcores)
    if settings.memory_scaling > 1:
        envs["CUDA_OVERSUBSCRIBE"] = "true"
    if settings.libcuda_log_level is not None:
        envs["LIBCUDA_LOG_LEVEL"] = str(settings.libcuda_log_level)
    if settings.disable_core_limit:
        envs[ENV_CORE_POLICY] = "disable"
    elif settings.gpu_core_policy != "default":
        envs[ENV_CORE_POLICY] = settings.gpu_core_policy
    return envs


def build_allocation(
    devices: Sequence[ContainerDevice],
    *,
    pod_uid: str,
    container: str,
    container_env: Mapping[str, str],
    settings: PluginSettings,
    cache_name: str,
    lib_host_path: Path,
    license_present: bool = False,
) -> ContainerAllocation:
    """Env and mounts for a hami-core container holding ``devices``.

    ``cache_name`` is the shared-region file name (HAMi uses a random UUID); ``lib_host_path`` is
    the versioned ``libvgpu.so`` copy on the host (see :mod:`hami.deviceplugin.install`).
    """
    if not devices:
        raise AllocateError(f"container {container}: no devices assigned")
    envs = limit_envs(devices, settings)
    envs["CUDA_DEVICE_MEMORY_SHARED_CACHE"] = str(CONTAINER_VGPU_DIR / cache_name)
    vgpu = settings.vgpu_dir
    per_container = vgpu / "containers" / container_dir_name(pod_uid, container)
    mounts = [
        Mount(str(CONTAINER_LIB), str(lib_host_path), read_only=True),
        Mount(str(CONTAINER_VGPU_DIR), str(per_container), read_only=False),
        Mount(str(LOCK_DIR), str(settings.lock_dir), read_only=False),
    ]
    if not disables_control(container_env):
        mounts.append(Mount(str(CONTAINER_PRELOAD), str(vgpu / "ld.so.preload"), read_only=True))
    if license_present:
        mounts.append(Mount(str(LICENSE_CONTAINER), str(vgpu / "license"), read_only=True))
        mounts.append(Mount(str(VALIDATOR_CONTAINER), str(vgpu / "vgpuvalidator"), read_only=True))
    return ContainerAllocation(
        envs=envs, mounts=tuple(mounts), host_dirs=(str(per_container), str(settings.lock_dir))
    )


def passthrough_allocation(device_ids: Sequence[str]) -> ContainerAllocation:
    """MIG (mixed strategy) answer: only the visible-devices list, no HAMi-core hook."""
    return ContainerAllocation(
        envs={ENV_VISIBLE_DEVICES: ",".join(device_ids)}, mounts=(), host_dirs=()
    )


def ordered_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Init containers then app containers, in spec order (the annotation's block order)."""
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def container_env(container: Mapping[str, Any]) -> dict[str, str]:
    """Literal ``env`` entries of a container spec (``valueFrom`` entries are skipped)."""
    out: dict[str, str] = {}
    for entry in container.get("env") or []:
        if isinstance(entry, Mapping) and "name" in entry and "value" in entry:
            out[str(entry["name"])] = str(entry["value"])
    return out


def check_count(devices: Sequence[ContainerDevice], requested: int, where: str) -> None:
    """The kubelet must ask for exactly as many devices as the scheduler assigned."""
    if len(devices) != requested:
        raise AllocateError(
            f"{where}: kubelet requested {requested} device(s) but the scheduler assigned "
            f"{len(devices)}"
        )
