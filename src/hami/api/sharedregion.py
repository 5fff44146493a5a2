"""The libvgpu shared-region file (HAMi layout v1), mirrored in ctypes, plus a reader.

Every process of a GPU container maps one file (``CUDA_DEVICE_MEMORY_SHARED_CACHE``) in which
libvgpu keeps per-device limits and per-process usage. HAMi's node monitor and ours read it, so the
byte layout is fixed: magic 19920718, major 1 / minor 2, 2,008,952 bytes (x86-64 and arm64 LP64).
This module is the single Python description of that layout; the C side is
``libvgpu/include/vgpu_region.h`` and ``tests/libvgpu/test_layout.py`` checks that both agree with
the spec table. The reader validates size, magic and version and raises :class:`SharedRegionError`
naming the file and the offending field instead of returning garbage.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

MAGIC = 19920718
MAJOR_VERSION = 1
MINOR_VERSION = 2
MAX_DEVICES = 16
MAX_PROCS = 1024
UUID_LEN = 96
REGION_SIZE = 2_008_952
#: Length of the file libvgpu creates: the region plus one byte (HAMi writes a byte at ``sizeof``).
FILE_SIZE = REGION_SIZE + 1


class DeviceMemory(ctypes.Structure):
    """Per-device memory counters of one process (64 bytes); ``total`` is what limits use."""

    _fields_ = [
        ("context_size", ctypes.c_uint64),
        ("module_size", ctypes.c_uint64),
        ("data_size", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
        ("total", ctypes.c_uint64),
        ("unused", ctypes.c_uint64 * 3),
    ]


class DeviceUtil(ctypes.Structure):
    """Per-device utilization of one process (48 bytes); only ``sm_util`` is written."""

    _fields_ = [
        ("dec_util", ctypes.c_uint64),
        ("enc_util", ctypes.c_uint64),
        ("sm_util", ctypes.c_uint64),
        ("unused", ctypes.c_uint64 * 3),
    ]


class ProcSlot(ctypes.Structure):
    """One process slot (1,960 bytes)."""

    _fields_ = [
        ("pid", ctypes.c_int32),
        ("hostpid", ctypes.c_int32),
        ("used", DeviceMemory * MAX_DEVICES),
        ("monitorused", ctypes.c_uint64 * MAX_DEVICES),
        ("device_util", DeviceUtil * MAX_DEVICES),
        ("status", ctypes.c_int32),
        ("pad0", ctypes.c_int32),
        ("seqlock", ctypes.c_uint64),
        ("unused", ctypes.c_uint64 * 2),
    ]


class SharedRegion(ctypes.Structure):
    """The whole region (2,008,952 bytes)."""

    _fields_ = [
        ("initialized_flag", ctypes.c_int32),
        ("major_version", ctypes.c_uint32),
        ("minor_version", ctypes.c_uint32),
        ("sm_init_flag", ctypes.c_int32),
        ("owner_pid", ctypes.c_uint64),
        ("sem", ctypes.c_ubyte * 32),
        ("device_num", ctypes.c_uint64),
        ("uuids", (ctypes.c_char * UUID_LEN) * MAX_DEVICES),
        ("limit", ctypes.c_uint64 * MAX_DEVICES),
        ("sm_limit", ctypes.c_uint64 * MAX_DEVICES),
        ("procs", ProcSlot * MAX_PROCS),
        ("proc_num", ctypes.c_int32),
        ("utilization_switch", ctypes.c_int32),
        ("recent_kernel", ctypes.c_int32),
        ("priority", ctypes.c_int32),
        ("last_kernel_time", ctypes.c_uint64),
        ("sem_postinit", ctypes.c_ubyte * 32),
    ]


assert ctypes.sizeof(SharedRegion) == REGION_SIZE, "shared region layout drifted"


class SharedRegionError(ValueError):
    """A region file that is missing, truncated, foreign or corrupt; names the file and field."""

    def __init__(self, path: str, field: str, detail: str) -> None:
        super().__init__(f"shared region {path}: {field}: {detail}")
        self.path = path
        self.field = field


@dataclass(frozen=True, slots=True)
class DeviceUsage:
    """One process's usage of one device."""

    total: int
    context: int
    module: int
    data: int
    sm_util: int
    monitor_used: int


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """One live process slot."""

    pid: int
    host_pid: int
    status: int
    devices: tuple[DeviceUsage, ...]


@dataclass(frozen=True, slots=True)
class RegionSnapshot:
    """A consistent-enough copy of a region (fields are read once, without locking)."""

    major: int
    minor: int
    device_num: int
    uuids: tuple[str, ...]
    limits: tuple[int, ...]
    sm_limits: tuple[int, ...]
    processes: tuple[ProcessUsage, ...]
    utilization_switch: int
    recent_kernel: int
    priority: int
    last_kernel_time: int

    def used(self, device: int) -> int:
        """Bytes accounted on ``device``, summed over live processes (what the cap checks)."""
        return sum(p.devices[device].total for p in self.processes)

    def sm_util(self, device: int) -> int:
        """SM utilization percent of ``device`` summed over live processes."""
        return sum(p.devices[device].sm_util for p in self.processes)


def _validate(region: SharedRegion, path: str) -> None:
    if region.initialized_flag != MAGIC:
        raise SharedRegionError(
            path, "initialized_flag", f"{region.initialized_flag} is not the magic {MAGIC}"
        )
    if region.major_version != MAJOR_VERSION:
        raise SharedRegionError(
            path, "major_version", f"{region.major_version} unsupported (want {MAJOR_VERSION})"
        )
    if not 0 <= region.proc_num <= MAX_PROCS:
        raise SharedRegionError(path, "proc_num", f"{region.proc_num} out of range 0..{MAX_PROCS}")


def _device_usage(slot: ProcSlot, dev: int) -> DeviceUsage:
    mem = slot.used[dev]
    return DeviceUsage(
        total=int(mem.total),
        context=int(mem.context_size),
        module=int(mem.module_size),
        data=int(mem.data_size),
        sm_util=int(slot.device_util[dev].sm_util),
        monitor_used=int(slot.monitorused[dev]),
    )


def snapshot(region: SharedRegion, path: str = "<memory>") -> RegionSnapshot:
    """Validate ``region`` and copy it into plain data (live slots only: pid, status != 0)."""
    _validate(region, path)
    procs = []
    for i in range(region.proc_num):
        slot = region.procs[i]
        if slot.pid == 0 or slot.status == 0:
            continue
        devices = tuple(_device_usage(slot, d) for d in range(MAX_DEVICES))
        procs.append(ProcessUsage(int(slot.pid), int(slot.hostpid), int(slot.status), devices))
    return RegionSnapshot(
        major=int(region.major_version),
        minor=int(region.minor_version),
        device_num=int(region.device_num),
        uuids=tuple(bytes(u.value).decode("ascii", "replace") for u in region.uuids),
        limits=tuple(int(v) for v in region.limit),
        sm_limits=tuple(int(v) for v in region.sm_limit),
        processes=tuple(procs),
        utilization_switch=int(region.utilization_switch),
        recent_kernel=int(region.recent_kernel),
        priority=int(region.priority),
        last_kernel_time=int(region.last_kernel_time),
    )


def _check_size(path: str, size: int) -> None:
    if size not in (REGION_SIZE, FILE_SIZE):
        raise SharedRegionError(path, "file size", f"{size} bytes, want {FILE_SIZE} (layout v1)")


def read_region(path: str) -> RegionSnapshot:
    """Read and validate the region file at ``path``."""
    try:
        with open(path, "rb") as f:
            data = f.read(FILE_SIZE + 1)
    except OSError as e:
        raise SharedRegionError(path, "file", e.strerror or str(e)) from e
    _check_size(path, len(data))
    return snapshot(SharedRegion.from_buffer_copy(data[:REGION_SIZE]), path)


@contextmanager
def map_region(path: str) -> Iterator[SharedRegion]:
    """Map the region read-write (for the monitor's switch/priority feedback); validated first."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as e:
        raise SharedRegionError(path, "file", e.strerror or str(e)) from e
    try:
        _check_size(path, os.fstat(fd).st_size)
        mm = mmap.mmap(fd, REGION_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    region = SharedRegion.from_buffer(mm)
    try:
        _validate(region, path)
        yield region
    finally:
        del region
        # the caller may still hold the structure; then the mapping goes when it does
        with suppress(BufferError):
            mm.close()
