"""Pure mapping from what NVML reports to what the node advertises.

Two views of the same GPUs: :func:`node_devices` builds the ``DeviceInfo`` list that goes into the
``hami.io/node-nvidia-register`` annotation (scheduler's view), and :func:`virtual_devices` builds
the ``<UUID>-<n>`` slots that ListAndWatch advertises to kubelet (kubelet's view). MIG GPUs under
the ``mixed`` strategy are kept apart and advertised as ``nvidia.com/mig-<profile>`` resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hami.api.types import DeviceInfo
from hami.deviceplugin.gpus import GpuInfo
from hami.deviceplugin.settings import PluginSettings

MIG_RESOURCE_PREFIX = "nvidia.com/mig-"


@dataclass(frozen=True, slots=True)
class VirtualDevice:
    """One kubelet-visible device ID and the physical GPU behind it."""

    id: str
    uuid: str
    healthy: bool
    numa: int | None


def model_type(name: str) -> str:
    """Device type string: the model name, prefixed so it always starts with ``NVIDIA``."""
    return name if name.startswith("NVIDIA") else f"NVIDIA-{name}"


def visible_gpus(gpus: Sequence[GpuInfo], settings: PluginSettings) -> list[GpuInfo]:
    """GPUs not hidden by ``filterdevices`` and not handed to the MIG ``mixed`` strategy."""
    return [
        g
        for g in gpus
        if g.uuid not in settings.filter_uuids
        and g.index not in settings.filter_indexes
        and not (settings.mig_strategy == "mixed" and g.mig_enabled)
    ]


def node_devices(
    gpus: Sequence[GpuInfo], settings: PluginSettings, health: Mapping[str, bool]
) -> list[DeviceInfo]:
    """The register annotation's device list (memory scaled, ``count`` = split count)."""
    out: list[DeviceInfo] = []
    for g in visible_gpus(gpus, settings):
        memory = g.memory_mib or settings.preconfigured_memory
        out.append(
            DeviceInfo(
                id=g.uuid,
                index=g.index,
                count=settings.split_count,
                devmem=int(memory * settings.memory_scaling),
                devcore=int(100 * settings.core_scaling),
                type=model_type(g.name),
                numa=g.numa or 0,
                mode=settings.operating_mode,
                health=health.get(g.uuid, True),
            )
        )
    return out


def virtual_id(uuid: str, slot: int) -> str:
    return f"{uuid}-{slot}"


def physical_uuid(virtual: str) -> str:
    """``GPU-x-3`` -> ``GPU-x`` (the slot suffix after the last ``-``)."""
    head, sep, tail = virtual.rpartition("-")
    return head if sep and tail.isdigit() else virtual


def virtual_devices(
    gpus: Sequence[GpuInfo], settings: PluginSettings, health: Mapping[str, bool]
) -> list[VirtualDevice]:
    """Split-count slots per visible GPU, in NVML order."""
    return [
        VirtualDevice(
            id=virtual_id(g.uuid, n),
            uuid=g.uuid,
            healthy=health.get(g.uuid, True),
            numa=g.numa if settings.enable_numa_topology else None,
        )
        for g in visible_gpus(gpus, settings)
        for n in range(settings.split_count)
    ]


def mig_resources(
    gpus: Sequence[GpuInfo], settings: PluginSettings, health: Mapping[str, bool]
) -> dict[str, list[VirtualDevice]]:
    """``nvidia.com/mig-<profile>`` -> MIG instances (mixed strategy only; else empty)."""
    if settings.mig_strategy != "mixed":
        return {}
    out: dict[str, list[VirtualDevice]] = {}
    for g in gpus:
        if not g.mig_enabled or g.uuid in settings.filter_uuids:
            continue
        for mig in g.mig_devices:
            out.setdefault(MIG_RESOURCE_PREFIX + mig.profile, []).append(
                VirtualDevice(id=mig.uuid, uuid=g.uuid, healthy=health.get(g.uuid, True), numa=None)
            )
    return out


def preferred(
    available: Sequence[str],
    must_include: Sequence[str],
    size: int,
    wanted_uuids: Sequence[str],
) -> list[str]:
    """Pick ``size`` virtual IDs: kubelet's must-include first, then one slot per wanted GPU."""
    chosen = list(must_include)[:size]
    used = {physical_uuid(v) for v in chosen}
    for uuid in wanted_uuids:
        if len(chosen) >= size:
            break
        if uuid in used:
            continue
        slot = next((v for v in available if physical_uuid(v) == uuid and v not in chosen), None)
        if slot is not None:
            chosen.append(slot)
            used.add(uuid)
    for v in available:
        if len(chosen) >= size:
            break
        if v not in chosen and physical_uuid(v) not in used:
            chosen.append(v)
            used.add(physical_uuid(v))
    return chosen
