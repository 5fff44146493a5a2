"""Shared-region layout: C header, ctypes mirror and spec table must agree byte for byte.

The C probe (``libvgpu/tests/layout/layout.c``) prints every field's offset and size as JSON; the
golden table below is the spec's (hami-core.md section 3), i.e. what HAMi's monitor parses.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hami.api import sharedregion as sr

ROOT = Path(__file__).resolve().parents[2]
LIBVGPU = ROOT / "libvgpu"

# spec hami-core.md section 3: (field, offset, size)
SPEC_REGION = [
    ("initialized_flag", 0, 4),
    ("major_version", 4, 4),
    ("minor_version", 8, 4),
    ("sm_init_flag", 12, 4),
    ("owner_pid", 16, 8),
    ("sem", 24, 32),
    ("device_num", 56, 8),
    ("uuids", 64, 16 * 96),
    ("limit", 1600, 128),
    ("sm_limit", 1728, 128),
    ("procs", 1856, 1024 * 1960),
    ("proc_num", 2008896, 4),
    ("utilization_switch", 2008900, 4),
    ("recent_kernel", 2008904, 4),
    ("priority", 2008908, 4),
    ("last_kernel_time", 2008912, 8),
    ("sem_postinit", 2008920, 32),
]
SPEC_SLOT = [
    ("pid", 0, 4),
    ("hostpid", 4, 4),
    ("used", 8, 16 * 64),
    ("monitorused", 1032, 128),
    ("device_util", 1160, 16 * 48),
    ("status", 1928, 4),
    ("seqlock", 1936, 8),
    ("unused", 1944, 16),
]
SPEC_DEVMEM = [
    ("context_size", 0, 8),
    ("module_size", 8, 8),
    ("data_size", 16, 8),
    ("offset", 24, 8),
    ("total", 32, 8),
    ("unused", 40, 24),
]
SPEC_DEVUTIL = [("dec_util", 0, 8), ("enc_util", 8, 8), ("sm_util", 16, 8), ("unused", 24, 24)]

TABLES = [
    pytest.param("region", sr.SharedRegion, SPEC_REGION, id="region"),
    pytest.param("slot", sr.ProcSlot, SPEC_SLOT, id="slot"),
    pytest.param("devmem", sr.DeviceMemory, SPEC_DEVMEM, id="devmem"),
    pytest.param("devutil", sr.DeviceUtil, SPEC_DEVUTIL, id="devutil"),
]


@pytest.fixture(scope="module")
def layout() -> dict[str, object]:
    subprocess.run(["make", "-s", "-C", str(LIBVGPU), "layout"], check=True)
    out = subprocess.run(
        [str(LIBVGPU / "build" / "layout")], check=True, capture_output=True, text=True
    ).stdout
    data: dict[str, object] = json.loads(out)
    return data


def test_sizes_and_constants(layout: dict[str, object]) -> None:
    assert layout["sizes"] == {"region": 2008952, "slot": 1960, "devmem": 64, "devutil": 48}
    assert (layout["magic"], layout["major"], layout["minor"]) == (19920718, 1, 2)
    assert ctypes.sizeof(sr.SharedRegion) == sr.REGION_SIZE == 2008952
    assert ctypes.sizeof(sr.ProcSlot) == 1960


@pytest.mark.parametrize(("group", "cls", "spec"), TABLES)
def test_c_layout_matches_spec(
    layout: dict[str, object],
    group: str,
    cls: type[ctypes.Structure],
    spec: list[tuple[str, int, int]],
) -> None:
    fields = layout["fields"]
    assert isinstance(fields, dict)
    got = {
        k.split(".", 1)[1]: (v["offset"], v["size"])
        for k, v in fields.items()
        if k.startswith(group + ".")
    }
    assert got == {name: (off, size) for name, off, size in spec}


@pytest.mark.parametrize(("group", "cls", "spec"), TABLES)
def test_ctypes_mirror_matches_spec(
    group: str, cls: type[ctypes.Structure], spec: list[tuple[str, int, int]]
) -> None:
    for name, off, size in spec:
        desc = getattr(cls, name)
        assert (desc.offset, desc.size) == (off, size), f"{group}.{name}"


def _fresh_region() -> sr.SharedRegion:
    r = sr.SharedRegion()
    r.initialized_flag = sr.MAGIC
    r.major_version = sr.MAJOR_VERSION
    r.minor_version = sr.MINOR_VERSION
    r.limit[0] = 1 << 30
    r.sm_limit[0] = 50
    r.uuids[0].value = b"GPU-fa4e0000-0000-4000-8000-000000000000"
    r.proc_num = 3
    for i, (pid, status, total) in enumerate([(100, 1, 300), (0, 0, 999), (102, 1, 200)]):
        r.procs[i].pid = pid
        r.procs[i].status = status
        r.procs[i].used[0].total = total
        r.procs[i].device_util[0].sm_util = 10
    return r


def test_reader_sums_live_slots(tmp_path: Path) -> None:
    path = tmp_path / "r.cache"
    path.write_bytes(bytes(_fresh_region()) + b"\0")
    snap = sr.read_region(str(path))
    assert [p.pid for p in snap.processes] == [100, 102]
    assert snap.used(0) == 500
    assert snap.sm_util(0) == 20
    assert snap.limits[0] == 1 << 30 and snap.sm_limits[0] == 50
    assert snap.uuids[0] == "GPU-fa4e0000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        pytest.param(lambda b: b[:1000], "file size", id="truncated"),
        pytest.param(lambda b: b"\x01\x02\x03\x04" + b[4:], "initialized_flag", id="bad-magic"),
        pytest.param(
            lambda b: b[:4] + (7).to_bytes(4, "little") + b[8:], "major_version", id="bad-major"
        ),
    ],
)
def test_reader_rejects_bad_files(tmp_path: Path, mutate: object, field: str) -> None:
    path = tmp_path / "r.cache"
    raw = bytes(_fresh_region()) + b"\0"
    assert callable(mutate)
    path.write_bytes(mutate(raw))
    with pytest.raises(sr.SharedRegionError) as exc:
        sr.read_region(str(path))
    assert exc.value.field == field and str(path) in str(exc.value)


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(sr.SharedRegionError, match="file"):
        sr.read_region(str(tmp_path / "nope.cache"))


def test_map_region_writes_through(tmp_path: Path) -> None:
    path = tmp_path / "r.cache"
    path.write_bytes(bytes(_fresh_region()) + b"\0")
    with sr.map_region(str(path)) as region:
        region.utilization_switch = 0
    assert sr.read_region(str(path)).utilization_switch == 0


def _run_with(tmp_path: Path, cache: Path, **env_vars: str) -> str:
    """Run one small allocation under libvgpu with ``env_vars``; return its stderr."""
    subprocess.run(["make", "-s", "-C", str(LIBVGPU)], check=True)
    build = LIBVGPU / "build"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "LIBCUDA_", "GPU_CORE"))
    }
    env.update(
        LD_PRELOAD=str(build / "libvgpu.so"),
        LD_LIBRARY_PATH=str(build / "fake"),
        CUDA_DEVICE_MEMORY_SHARED_CACHE=str(cache),
        **env_vars,
    )
    proc = subprocess.run(
        [str(build / "tests" / "memcap"), "alloc", str(1 << 20), "4"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return proc.stderr


def test_region_written_by_libvgpu(tmp_path: Path) -> None:
    """The library creates a file the reader accepts, with the environment's limits in it."""
    cache = tmp_path / "vgpu.cache"
    _run_with(tmp_path, cache, CUDA_DEVICE_MEMORY_LIMIT="1.5Gi", CUDA_DEVICE_SM_LIMIT="30")
    assert cache.stat().st_size == sr.FILE_SIZE
    snap = sr.read_region(str(cache))
    assert snap.limits[:2] == (3 << 29, 3 << 29)
    assert snap.sm_limits[0] == 30
    assert snap.processes == ()  # the process exited and released its slot
    assert snap.uuids[0].startswith("GPU-")


GiB = 1 << 30
MiB = 1 << 20


@pytest.mark.parametrize(
    ("value", "limit", "error"),
    [
        ("3000m", 3000 * MiB, False),
        ("3000M", 3000 * MiB, False),
        ("1.5Gi", 3 * GiB // 2, False),
        ("2g", 2 * GiB, False),
        ("512Ki", 512 * 1024, False),
        ("1GiB", GiB, False),
        ("4096", 4096, False),
        ("1GiB2", 0, True),
        ("abc", 0, True),
        ("-1g", 0, True),
        ("0x10", 0, True),
    ],
    ids=lambda v: str(v),
)
def test_memory_limit_parsing(tmp_path: Path, value: str, limit: int, error: bool) -> None:
    cache = tmp_path / "vgpu.cache"
    stderr = _run_with(tmp_path, cache, CUDA_DEVICE_MEMORY_LIMIT=value)
    assert sr.read_region(str(cache)).limits[0] == limit
    assert (f"CUDA_DEVICE_MEMORY_LIMIT={value} is not a size" in stderr) is error


@pytest.mark.parametrize(
    ("value", "stored", "error"),
    [("30", 30, False), ("0", 100, False), ("150", 100, False), ("3x", 100, True)],
    ids=["30", "zero", "over-100", "garbage"],
)
def test_sm_limit_parsing(tmp_path: Path, value: str, stored: int, error: bool) -> None:
    cache = tmp_path / "vgpu.cache"
    stderr = _run_with(tmp_path, cache, CUDA_DEVICE_SM_LIMIT=value)
    assert sr.read_region(str(cache)).sm_limits[0] == stored
    assert (f"CUDA_DEVICE_SM_LIMIT={value} is not a percentage" in stderr) is error


def test_per_device_limit_wins(tmp_path: Path) -> None:
    cache = tmp_path / "vgpu.cache"
    _run_with(tmp_path, cache, CUDA_DEVICE_MEMORY_LIMIT="2g", CUDA_DEVICE_MEMORY_LIMIT_1="1g")
    assert sr.read_region(str(cache)).limits[:3] == (2 * GiB, GiB, 2 * GiB)


def test_stale_region_takes_new_limits_when_nobody_uses_it(tmp_path: Path) -> None:
    cache = tmp_path / "vgpu.cache"
    _run_with(tmp_path, cache, CUDA_DEVICE_MEMORY_LIMIT="1g", CUDA_TASK_PRIORITY="0")
    _run_with(tmp_path, cache, CUDA_DEVICE_MEMORY_LIMIT="2g")
    snap = sr.read_region(str(cache))
    assert snap.limits[0] == 2 * GiB
    assert snap.priority == 1


def test_dead_process_slot_is_reclaimed(tmp_path: Path) -> None:
    """A SIGKILLed process keeps its usage only until the next process registers."""
    subprocess.run(["make", "-s", "-C", str(LIBVGPU)], check=True)
    build = LIBVGPU / "build"
    cache = tmp_path / "vgpu.cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "LIBCUDA_"))}
    env.update(
        LD_PRELOAD=str(build / "libvgpu.so"),
        LD_LIBRARY_PATH=str(build / "fake"),
        CUDA_DEVICE_MEMORY_SHARED_CACHE=str(cache),
        CUDA_DEVICE_MEMORY_LIMIT="1g",
    )
    # contend THREADS ITERS(0 = forever) CHUNK HOLD
    holder = subprocess.Popen(
        [str(build / "tests" / "contend"), "1", "0", str(MiB), "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                snap = sr.read_region(str(cache))
            except sr.SharedRegionError:  # not created or not initialized yet
                snap = None
            if snap is not None and snap.used(0) > 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the holder never showed usage in the region")
        assert snap is not None
        assert [p.pid for p in snap.processes] == [holder.pid]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the killed process still holds its slot (nobody has looked yet) ...
    assert sr.read_region(str(cache)).used(0) > 0
    # ... until the next process registers
    _run_with(tmp_path, cache, CUDA_DEVICE_MEMORY_LIMIT="1g")
    snap = sr.read_region(str(cache))
    assert snap.used(0) == 0
    assert snap.processes == ()
