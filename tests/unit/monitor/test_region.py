"""Decoding region files: v1 and v0 by size, and truncated / foreign / corrupt files."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from hami.api import sharedregion as sr
from hami.monitor import region

UUID = "GPU-fa4e0000-0000-4000-8000-000000000000"


def v1_region(procs: int = 2) -> sr.SharedRegion:
    r = sr.SharedRegion()
    r.initialized_flag = sr.MAGIC
    r.major_version, r.minor_version = 1, 2
    r.device_num = 2
    r.uuids[0].value = UUID.encode()
    r.uuids[1].value = b"GPU-second"
    r.limit[0], r.limit[1] = 1 << 30, 2 << 30
    r.sm_limit[0], r.sm_limit[1] = 30, 30
    for i in range(procs):
        r.procs[i].pid, r.procs[i].hostpid, r.procs[i].status = 100 + i, 5000 + i, 1
        r.procs[i].used[0].total = (i + 1) * 1000
        r.procs[i].used[0].context_size = 10
        r.procs[i].used[0].data_size = (i + 1) * 990
        r.procs[i].device_util[0].sm_util = 20
        r.procs[i].monitorused[0] = 7
    r.procs[procs].pid, r.procs[procs].status = 999, 0  # dead slot inside proc_num
    r.proc_num = procs + 1
    r.utilization_switch, r.recent_kernel, r.priority, r.last_kernel_time = 0, 2, 1, 1700000000
    return r


def write(path: Path, struct: ctypes.Structure, extra: int = 1) -> str:
    path.write_bytes(bytes(struct) + b"\0" * extra)
    return str(path)


def test_v1_matches_the_api_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "a.cache", v1_region())
    snap = region.read(path)
    assert snap == sr.read_region(path)
    assert (snap.used(0), snap.sm_util(0), len(snap.processes)) == (3000, 40, 2)
    assert snap.uuids[:2] == (UUID, "GPU-second")
    assert (snap.utilization_switch, snap.recent_kernel, snap.priority) == (0, 2, 1)
    assert snap.last_kernel_time == 1700000000


def test_v1_without_the_extra_byte(tmp_path: Path) -> None:
    path = write(tmp_path / "a.cache", v1_region(), extra=0)
    assert region.read(path).used(0) == 3000


def test_v0_by_size(tmp_path: Path) -> None:
    r = region.V0SharedRegion()
    r.initialized_flag = sr.MAGIC
    r.device_num = 1
    r.uuids[0].value = UUID.encode()
    r.limit[0], r.sm_limit[0] = 1 << 30, 50
    r.procs[0].pid, r.procs[0].status = 42, 1
    r.procs[0].used[0].total, r.procs[0].used[0].module_size = 4096, 96
    r.procs[0].device_util[0].sm_util = 33
    r.proc_num, r.utilization_switch, r.recent_kernel, r.priority = 1, 1, 2, 0
    path = write(tmp_path / "v0.cache", r)
    assert os.path.getsize(path) == 1_197_897
    snap = region.read(path)
    assert (snap.major, snap.device_num, snap.uuids[0], snap.limits[0], snap.sm_limits[0]) == (
        0,
        1,
        UUID,
        1 << 30,
        50,
    )
    assert (snap.used(0), snap.processes[0].devices[0].module, snap.sm_util(0)) == (4096, 96, 33)
    assert (snap.utilization_switch, snap.recent_kernel, snap.priority, snap.last_kernel_time) == (
        1,
        2,
        0,
        0,
    )
    region.write_feedback(path, recent_kernel=-1, utilization_switch=0)
    after = region.read(path)
    assert (after.recent_kernel, after.utilization_switch, after.used(0)) == (-1, 0, 4096)


def test_write_feedback_touches_only_its_words(tmp_path: Path) -> None:
    path = write(tmp_path / "a.cache", v1_region())
    before = Path(path).read_bytes()
    region.write_feedback(path, recent_kernel=-1, utilization_switch=None)
    after = Path(path).read_bytes()
    diff = [i for i in range(len(before)) if before[i] != after[i]]
    assert diff and all(
        sr.SharedRegion.recent_kernel.offset <= i < sr.SharedRegion.recent_kernel.offset + 4
        for i in diff
    )
    assert region.read(path).recent_kernel == -1


BAD = {
    "empty": (lambda r: b"", "file size"),
    "truncated": (lambda r: bytes(r)[:100_000], "file size"),
    "foreign": (lambda r: b"hello world\n" * 10, "file size"),
    "bad magic": (lambda r: b"\x01\x02\x03\x04" + bytes(r)[4:] + b"\0", "initialized_flag"),
    "bad major": (
        lambda r: bytes(r)[:4] + (7).to_bytes(4, "little") + bytes(r)[8:] + b"\0",
        "major_version",
    ),
    "bad proc_num": (
        lambda r: (
            bytes(r)[: sr.SharedRegion.proc_num.offset]
            + (5000).to_bytes(4, "little")
            + bytes(r)[sr.SharedRegion.proc_num.offset + 4 :]
            + b"\0"
        ),
        "proc_num",
    ),
    "bad device_num": (
        lambda r: bytes(r)[:56] + (99).to_bytes(8, "little") + bytes(r)[64:] + b"\0",
        "device_num",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_raise_a_named_error(tmp_path: Path, case: str) -> None:
    make, field = BAD[case]
    path = tmp_path / "bad.cache"
    path.write_bytes(make(v1_region()))
    with pytest.raises(sr.SharedRegionError) as err:
        region.read(str(path))
    assert err.value.field == field
    assert str(path) in str(err.value)
    if field in ("initialized_flag", "major_version"):
        with pytest.raises(sr.SharedRegionError):
            region.write_feedback(str(path), recent_kernel=0, utilization_switch=0)


def test_missing_file_and_symlink(tmp_path: Path) -> None:
    with pytest.raises(sr.SharedRegionError) as err:
        region.read(str(tmp_path / "nope.cache"))
    assert err.value.field == "file"
    target = write(tmp_path / "real.cache", v1_region())
    link = tmp_path / "link.cache"
    link.symlink_to(target)
    with pytest.raises(sr.SharedRegionError):
        region.read(str(link))


def test_layout_offsets() -> None:
    assert region.V1.size == sr.REGION_SIZE
    assert (region.V1.proc_num, region.V1.utilization_switch) == (2008896, 2008900)
    assert (region.V1.recent_kernel, region.V1.priority, region.V1.last_kernel_time) == (
        2008904,
        2008908,
        2008912,
    )
    assert (region.V0.size, region.V0.slot_size, region.V0.procs) == (1_197_896, 1168, 1848)
    assert (region.V0.limit, region.V0.proc_num, region.V0.priority) == (1592, 1197880, 1197892)
