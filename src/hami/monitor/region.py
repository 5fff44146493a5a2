"""Reading and writing shared-region files the way the monitor needs: small, safe, both layouts.

The v1 layout is :mod:`hami.api.sharedregion`'s (every offset below is taken from its ctypes
classes, so there is one description of it); v0 is HAMi's older layout (no version fields, no
reserved words: 1,197,896 bytes), chosen by file size as HAMi's monitor does. Decoded regions are
:class:`hami.api.sharedregion.RegionSnapshot` values (``major`` 0 for v0).

Files are read with ``pread`` of only the header, the tail and the first ``proc_num`` slots
(about 4 KiB for a one-process container, not 2 MB), and the feedback fields are written with
``pwrite`` of one aligned 32-bit word. Unlike an mmap, neither can fault (SIGBUS) when another
process truncates the file underneath: a short read is a :class:`SharedRegionError`.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

from hami.api import sharedregion as sr
from hami.api.sharedregion import (
    DeviceUsage,
    ProcessUsage,
    RegionSnapshot,
    SharedRegionError,
)

MAX_DEVICES = sr.MAX_DEVICES
MAX_PROCS = sr.MAX_PROCS


# --- v0 (HAMi's pre-versioned layout), from the spec table: x86-64 natural alignment ------------
class _V0DeviceMemory(ctypes.Structure):
    _fields_ = [
        ("context_size", ctypes.c_uint64),
        ("module_size", ctypes.c_uint64),
        ("data_size", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
        ("total", ctypes.c_uint64),
    ]


class _V0DeviceUtil(ctypes.Structure):
    _fields_ = [
        ("dec_util", ctypes.c_uint64),
        ("enc_util", ctypes.c_uint64),
        ("sm_util", ctypes.c_uint64),
    ]


class V0ProcSlot(ctypes.Structure):
    """A v0 process slot (1,168 bytes)."""

    _fields_ = [
        ("pid", ctypes.c_int32),
        ("hostpid", ctypes.c_int32),
        ("used", _V0DeviceMemory * MAX_DEVICES),
        ("monitorused", ctypes.c_uint64 * MAX_DEVICES),
        ("device_util", _V0DeviceUtil * MAX_DEVICES),
        ("status", ctypes.c_int32),
    ]


class V0SharedRegion(ctypes.Structure):
    """The v0 region (1,197,896 bytes)."""

    _fields_ = [
        ("initialized_flag", ctypes.c_int32),
        ("sm_init_flag", ctypes.c_int32),
        ("owner_pid", ctypes.c_uint32),
        ("sem", ctypes.c_ubyte * 32),
        ("device_num", ctypes.c_uint64),
        ("uuids", (ctypes.c_char * sr.UUID_LEN) * MAX_DEVICES),
        ("limit", ctypes.c_uint64 * MAX_DEVICES),
        ("sm_limit", ctypes.c_uint64 * MAX_DEVICES),
        ("procs", V0ProcSlot * MAX_PROCS),
        ("proc_num", ctypes.c_int32),
        ("utilization_switch", ctypes.c_int32),
        ("recent_kernel", ctypes.c_int32),
        ("priority", ctypes.c_int32),
    ]


V0_REGION_SIZE = 1_197_896
assert ctypes.sizeof(V0SharedRegion) == V0_REGION_SIZE, "v0 layout drifted"


@dataclass(frozen=True, slots=True)
class Layout:
    """Byte offsets of the fields the monitor reads or writes, for one layout version."""

    version: int
    size: int
    major: int | None
    minor: int | None
    device_num: int
    uuids: int
    limit: int
    sm_limit: int
    procs: int
    slot_size: int
    proc_num: int
    utilization_switch: int
    recent_kernel: int
    priority: int
    last_kernel_time: int | None
    # within a slot
    s_pid: int
    s_used: int
    mem_words: int
    """u64 words per device in ``used`` (5 in v0, 8 in v1)."""
    s_monitorused: int
    s_util: int
    util_words: int
    s_status: int


def _layout(version: int, region: type[ctypes.Structure], slot: type[ctypes.Structure]) -> Layout:
    def off(cls: type[ctypes.Structure], name: str) -> int:
        return int(getattr(cls, name).offset)

    def size(cls: type[ctypes.Structure], name: str) -> int:
        return int(getattr(cls, name).size)

    names = {f[0] for f in region._fields_}
    return Layout(
        version=version,
        size=ctypes.sizeof(region),
        major=off(region, "major_version") if "major_version" in names else None,
        minor=off(region, "minor_version") if "minor_version" in names else None,
        device_num=off(region, "device_num"),
        uuids=off(region, "uuids"),
        limit=off(region, "limit"),
        sm_limit=off(region, "sm_limit"),
        procs=off(region, "procs"),
        slot_size=ctypes.sizeof(slot),
        proc_num=off(region, "proc_num"),
        utilization_switch=off(region, "utilization_switch"),
        recent_kernel=off(region, "recent_kernel"),
        priority=off(region, "priority"),
        last_kernel_time=off(region, "last_kernel_time") if "last_kernel_time" in names else None,
        s_pid=off(slot, "pid"),
        s_used=off(slot, "used"),
        mem_words=size(slot, "used") // MAX_DEVICES // 8,
        s_monitorused=off(slot, "monitorused"),
        s_util=off(slot, "device_util"),
        util_words=size(slot, "device_util") // MAX_DEVICES // 8,
        s_status=off(slot, "status"),
    )


V1 = _layout(1, sr.SharedRegion, sr.ProcSlot)
V0 = _layout(0, V0SharedRegion, V0ProcSlot)

#: file size -> layout (HAMi creates files one byte longer than the region)
_BY_SIZE: dict[int, Layout] = {
    V1.size: V1,
    V1.size + 1: V1,
    V0.size: V0,
    V0.size + 1: V0,
}

_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_ARR = struct.Struct(f"<{MAX_DEVICES}Q")
_PIDS = struct.Struct("<ii")
_ZERO = DeviceUsage(0, 0, 0, 0, 0, 0)


def layout_for_size(path: str, size: int) -> Layout:
    """The layout a file of ``size`` bytes has, or a :class:`SharedRegionError`."""
    layout = _BY_SIZE.get(size)
    if layout is None:
        raise SharedRegionError(
            path,
            "file size",
            f"{size} bytes is neither layout v1 ({V1.size + 1}) nor v0 ({V0.size + 1})",
        )
    return layout


def _pread(fd: int, path: str, length: int, offset: int, what: str) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise SharedRegionError(path, what, f"truncated: {len(data)} of {length} bytes at {offset}")
    return data


def _check_header(path: str, layout: Layout, head: bytes) -> tuple[int, int]:
    magic = _I32.unpack_from(head, 0)[0]
    if magic != sr.MAGIC:
        raise SharedRegionError(path, "initialized_flag", f"{magic} is not the magic {sr.MAGIC}")
    if layout.major is None or layout.minor is None:
        return 0, 0
    major = _I32.unpack_from(head, layout.major)[0]
    minor = _I32.unpack_from(head, layout.minor)[0]
    if major != sr.MAJOR_VERSION:
        raise SharedRegionError(path, "major_version", f"{major} unsupported (want 1)")
    return major, minor


def _decode_slot(layout: Layout, buf: bytes, base: int) -> ProcessUsage | None:
    pid, hostpid = _PIDS.unpack_from(buf, base + layout.s_pid)
    status = _I32.unpack_from(buf, base + layout.s_status)[0]
    if pid == 0 or status == 0:
        return None
    mw, uw = layout.mem_words, layout.util_words
    mem = struct.unpack_from(f"<{MAX_DEVICES * mw}Q", buf, base + layout.s_used)
    util = struct.unpack_from(f"<{MAX_DEVICES * uw}Q", buf, base + layout.s_util)
    monitor = _ARR.unpack_from(buf, base + layout.s_monitorused)
    devices: list[DeviceUsage] = []
    for d in range(MAX_DEVICES):
        m = d * mw
        total, context, module, data = mem[m + 4], mem[m], mem[m + 1], mem[m + 2]
        sm_util, mon = util[d * uw + 2], monitor[d]
        if total or context or module or data or sm_util or mon:
            devices.append(DeviceUsage(total, context, module, data, sm_util, mon))
        else:
            devices.append(_ZERO)
    return ProcessUsage(pid, hostpid, status, tuple(devices))


def _uuid(raw: bytes) -> str:
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("ascii", "replace")


def read(path: str) -> RegionSnapshot:
    """Decode the region file at ``path`` (v1 or v0 by size); live process slots only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise SharedRegionError(path, "file", e.strerror or str(e)) from e
    try:
        layout = layout_for_size(path, os.fstat(fd).st_size)
        head = _pread(fd, path, layout.procs, 0, "header")
        tail_len = layout.size - layout.proc_num
        tail = _pread(fd, path, tail_len, layout.proc_num, "tail")
        major, minor = _check_header(path, layout, head)
        proc_num, switch, recent, priority = struct.unpack_from("<4i", tail, 0)
        if not 0 <= proc_num <= MAX_PROCS:
            raise SharedRegionError(path, "proc_num", f"{proc_num} out of range 0..{MAX_PROCS}")
        device_num = _U64.unpack_from(head, layout.device_num)[0]
        if device_num > MAX_DEVICES:
            raise SharedRegionError(path, "device_num", f"{device_num} out of range 0..16")
        last_kernel = 0
        if layout.last_kernel_time is not None:
            last_kernel = _U64.unpack_from(tail, layout.last_kernel_time - layout.proc_num)[0]
        slots = b""
        if proc_num:
            slots = _pread(fd, path, proc_num * layout.slot_size, layout.procs, "procs")
    except OSError as e:
        raise SharedRegionError(path, "file", e.strerror or str(e)) from e
    finally:
        os.close(fd)
    procs = []
    for i in range(proc_num):
        p = _decode_slot(layout, slots, i * layout.slot_size)
        if p is not None:
            procs.append(p)
    return RegionSnapshot(
        major=major,
        minor=minor,
        device_num=int(device_num),
        uuids=tuple(
            _uuid(head[layout.uuids + i * sr.UUID_LEN : layout.uuids + (i + 1) * sr.UUID_LEN])
            for i in range(MAX_DEVICES)
        ),
        limits=_ARR.unpack_from(head, layout.limit),
        sm_limits=_ARR.unpack_from(head, layout.sm_limit),
        processes=tuple(procs),
        utilization_switch=switch,
        recent_kernel=recent,
        priority=priority,
        last_kernel_time=last_kernel,
    )


def write_feedback(path: str, *, recent_kernel: int | None, utilization_switch: int | None) -> None:
    """Store the feedback fields (``None``: leave alone) after re-checking size and magic."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise SharedRegionError(path, "file", e.strerror or str(e)) from e
    try:
        layout = layout_for_size(path, os.fstat(fd).st_size)
        _check_header(path, layout, _pread(fd, path, 16, 0, "header"))
        if recent_kernel is not None:
            os.pwrite(fd, _I32.pack(recent_kernel), layout.recent_kernel)
        if utilization_switch is not None:
            os.pwrite(fd, _I32.pack(utilization_switch), layout.utilization_switch)
    except OSError as e:
        raise SharedRegionError(path, "file", e.strerror or str(e)) from e
    finally:
        os.close(fd)
