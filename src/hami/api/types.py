"""Plain data shared by every layer: devices a node registers, devices a container gets.

These mirror HAMi's Go structs (``DeviceInfo``, ``ContainerDevice``, ``ContainerDeviceRequest``)
field for field, so the codecs in :mod:`hami.api` can round-trip HAMi's annotations exactly.
Frozen and slotted: cheap to hash and copy, safe to share across threads and the engine's caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: ``gpumem-percentage`` sentinel meaning "not set" (HAMi uses 101).
PERCENTAGE_UNSET = 101


@dataclass(frozen=True, slots=True)
class MigPlacement:
    """A legal placement of a MIG profile: slices ``[start, start + size)``."""

    start: int
    size: int


@dataclass(frozen=True, slots=True)
class MigProfile:
    """One allowed MIG profile of a GPU in dynamic-MIG mode (``migProfiles`` entry)."""

    name: str
    memory_mb: int
    core: int
    slice_count: int
    placements: tuple[MigPlacement, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One physical device as a node registers it (``hami.io/node-nvidia-register`` entry)."""

    id: str
    """Device UUID, e.g. ``GPU-0fc3...``."""
    count: int
    """Split count: how many containers may share this device."""
    devmem: int
    """Device memory in MiB, after ``deviceMemoryScaling``."""
    devcore: int
    """Compute units: 100 x ``deviceCoreScaling`` (100 in MIG mode)."""
    type: str
    """Model name, for NVIDIA always starting with ``NVIDIA``."""
    index: int = 0
    numa: int = 0
    mode: str = "hami-core"
    health: bool = True
    mig_profiles: tuple[MigProfile, ...] = field(default_factory=tuple)
    custominfo: tuple[tuple[str, Any], ...] = ()
    """Vendor extras (``custominfo`` JSON map, e.g. Ascend's ``NetworkID``), sorted by key;
    numbers are floats as Go decodes them, nested values are kept as canonical JSON text."""

    def custom(self, key: str) -> Any:
        """One ``custominfo`` value, or None when absent."""
        return next((v for k, v in self.custominfo if k == key), None)


@dataclass(frozen=True, slots=True)
class ContainerDevice:
    """One device granted to one container (``UUID,Type,usedmem,usedcores`` on the wire)."""

    uuid: str
    type: str
    """Request type keyword (``NVIDIA``, ``MLU``, ...), not the model name."""
    usedmem: int
    """MiB reserved on the device."""
    usedcores: int
    """Percent of the device's compute reserved."""


#: Devices of one container.
ContainerDevices = tuple[ContainerDevice, ...]
#: Per-container device lists of one pod for one vendor, init containers first, in spec order.
PodSingleDevice = tuple[ContainerDevices, ...]


@dataclass(frozen=True, slots=True)
class ContainerRequest:
    """What one container asks of one vendor (HAMi ``ContainerDeviceRequest``)."""

    nums: int
    """Number of physical devices."""
    type: str
    """Vendor type keyword, e.g. ``NVIDIA``."""
    memreq: int
    """MiB per device (already multiplied by ``memoryFactor``); 0 when a percentage is used."""
    mem_percentage_req: int = PERCENTAGE_UNSET
    """Percent of each device's memory, or :data:`PERCENTAGE_UNSET`."""
    coresreq: int = 0
    """Percent of each device's compute."""
