"""The aarch64 release libvgpu.so runs the fake-driver programs under qemu-aarch64 (issue 6).

`make -C libvgpu release` also builds the fake driver, the test programs and the stacking shim
for aarch64 (libvgpu/build/aarch64/). Each scenario runs the aarch64 program with the aarch64
library preloaded under user-mode emulation (Debian's qemu-user, sysroot from libc6-arm64-cross)
and the x86-64 program with the x86-64 release library natively, and asserts the same outcome on
both: the memory cap on every allocation API, the virtualised queries, cuGetProcAddress routing,
dlsym stacking (the architecture-specific dlsym entry), threads under one cap and the compute
throttle.

A missing qemu or sysroot is a failure with instructions, never a skip: CI installs both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.libvgpu.kit import SHIM, Kit, MiB, Run, parse

REPO = Path(__file__).resolve().parents[2]
LIBVGPU = REPO / "libvgpu"
A64 = LIBVGPU / "build" / "aarch64"
X64_LIBRARY = LIBVGPU / "build" / "x86_64" / "libvgpu.so"
SYSROOT = Path(os.environ.get("HAMI_AARCH64_SYSROOT", "/usr/aarch64-linux-gnu"))
QEMU_NAMES = ("qemu-aarch64", "qemu-aarch64-static")
CAP_MB = 32
CHUNK = 4 * MiB


ARM_LIBRARY = A64 / "libvgpu.so"
ARM_SHIM = A64 / "tests" / "libshim.so"
# preload name -> (x86-64 path, aarch64 path)
PRELOADS = {"libvgpu": (X64_LIBRARY, ARM_LIBRARY), "shim": (SHIM, ARM_SHIM)}


@dataclass(frozen=True)
class Arm:
    """How to run an aarch64 kit program: the emulator and the guest sysroot."""

    qemu: str
    sysroot: Path

    def run(self, prog: str, *args: object, env: Mapping[str, str], timeout: float = 120) -> Run:
        """Run under qemu; the loader variables go to the guest only (-E), never to qemu itself."""
        host = dict(env)
        preload = host.pop("LD_PRELOAD", "")
        host.pop("LD_LIBRARY_PATH", None)
        cmd = [self.qemu, "-L", str(self.sysroot), "-E", f"LD_LIBRARY_PATH={A64 / 'fake'}"]
        if preload:
            cmd += ["-E", f"LD_PRELOAD={preload}"]
        cmd += [str(A64 / "tests" / prog), *map(str, args)]
        proc = subprocess.run(
            cmd, env=host, capture_output=True, text=True, timeout=timeout, check=False
        )
        return Run(proc.returncode, parse(proc.stdout), proc.stderr, proc.stdout)


@pytest.fixture(scope="session")
def arm() -> Arm:
    qemu = next((found for n in QEMU_NAMES if (found := shutil.which(n))), None)
    if qemu is None:
        pytest.fail(
            "qemu-aarch64 not found: install Debian's qemu-user and libc6-arm64-cross "
            "(.ci/run does) to test the aarch64 release library"
        )
    if not (SYSROOT / "lib" / "ld-linux-aarch64.so.1").exists():
        pytest.fail(
            f"no aarch64 sysroot at {SYSROOT}: install Debian's libc6-arm64-cross "
            "(or point HAMI_AARCH64_SYSROOT at one)"
        )
    proc = subprocess.run(
        ["make", "-C", str(LIBVGPU), "release", "-j2"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"make release:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return Arm(qemu=qemu, sysroot=SYSROOT)


@dataclass(frozen=True)
class Pair:
    """One scenario run on both architectures."""

    x86: Run
    arm: Run

    def runs(self) -> list[tuple[str, Run]]:
        for name, run in (("x86-64", self.x86), ("aarch64", self.arm)):
            assert run.returncode == 0, f"{name}:\n{run.describe()}"
        return [("x86-64", self.x86), ("aarch64", self.arm)]


def both(
    kit: Kit,
    arm: Arm,
    prog: str,
    *args: object,
    cap_mb: int | None = CAP_MB,
    preload: Sequence[str] = ("libvgpu",),
    extra: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Pair:
    """Run prog natively with the x86-64 release library and under qemu with the aarch64 one; each
    architecture gets its own fake-driver state and shared region."""
    runs = []
    for index, name in enumerate(("x86", "arm")):
        scratch = kit.tmp / name
        scratch.mkdir(exist_ok=True)
        order = [PRELOADS[p][index] for p in preload]
        env = kit.env(
            cap_mb=cap_mb,
            mem_mb=256,
            state=scratch / "fake.state",
            cache=scratch / "vgpu.cache",
            extra=extra,
            preload_order=order,
        )
        if not order:
            env.pop("LD_PRELOAD", None)
        runner = kit.run if name == "x86" else arm.run
        runs.append(runner(prog, *args, env=env, timeout=timeout))
    return Pair(runs[0], runs[1])


APIS = ["alloc", "pitch", "managed", "create", "async", "pool", "array", "array3d", "mipmap"]
APIS += ["dlsym", "gpa", "gpa_legacy"]


@pytest.mark.parametrize("api", APIS, ids=APIS)
def test_cap_enforced_on_every_api(kit: Kit, arm: Arm, api: str) -> None:
    pair = both(kit, arm, "memcap", api, CHUNK, 100)
    for name, run in pair.runs():
        alloc = run.one("alloc")
        assert (alloc["granted"], alloc["rc"]) == (CAP_MB * MiB // CHUNK, 2), name
        assert alloc["driver_used"] == CAP_MB * MiB, name  # the refused request never reached it
        assert run.one("freed")["failures"] == 0, name
        after = run.one("query", when="after")
        assert (after["driver_used"], after["free"]) == (0, CAP_MB * MiB), name
    assert pair.arm.events == pair.x86.events


def test_queries_are_virtualised(kit: Kit, arm: Arm) -> None:
    pair = both(kit, arm, "memcap", "alloc", CHUNK, 3)
    cap, used = CAP_MB * MiB, 3 * CHUNK
    for name, run in pair.runs():
        before, during = run.one("query", when="before"), run.one("query", when="during")
        assert (before["total"], before["free"], before["totalmem"]) == (cap, cap, cap), name
        assert (during["total"], during["free"]) == (cap, cap - used), name
        assert (during["nvml_total"], during["nvml_used"], during["nvml_free"]) == (
            cap,
            used,
            cap - used,
        ), name
        assert (during["nvml2_total"], during["nvml2_used"]) == (cap, used), name
    assert pair.arm.events == pair.x86.events


def _gpa_rows(run: Run) -> list[dict[str, object]]:
    return [e for e in run.events if str(e["event"]).startswith("gpa")]


def test_proc_address_routing_matches_the_driver(kit: Kit, arm: Arm) -> None:
    bare = both(kit, arm, "procaddr", cap_mb=None, preload=())
    hooked = both(kit, arm, "procaddr", cap_mb=64)
    expected = _gpa_rows(bare.x86)
    assert len(expected) > 150, bare.x86.describe()
    for name, run in bare.runs() + hooked.runs():
        got = _gpa_rows(run)
        diff = [(e, g) for e, g in zip(expected, got, strict=True) if e != g]
        assert diff == [], (name, diff[:10])


def _without_paths(run: Run) -> list[dict[str, object]]:
    """Events with library paths cut to file names (the two builds live in different trees)."""
    return [{k: Path(v).name if k == "next_lib" else v for k, v in e.items()} for e in run.events]


def test_dlsym_stacking_with_a_shim_above(kit: Kit, arm: Arm) -> None:
    pair = both(kit, arm, "stackprog", CHUNK, preload=("shim", "libvgpu"))
    for name, run in pair.runs():
        assert run.one("alloc") == {"event": "alloc", "granted": 8, "rc": 2}, name
        shim = run.one("shim")
        assert shim["calls"] == 9, (name, shim)
        assert str(shim["next_lib"]).endswith("libvgpu.so"), (name, shim)
        assert (shim["repeat_same"], shim["nonnull"]) == (1, 1), (name, shim)
    assert _without_paths(pair.arm) == _without_paths(pair.x86)


def test_dlsym_stacking_with_a_shim_below(kit: Kit, arm: Arm) -> None:
    pair = both(kit, arm, "stackprog", CHUNK, preload=("libvgpu", "shim"))
    for name, run in pair.runs():
        assert run.one("alloc")["granted"] == 8, name
    assert _without_paths(pair.arm) == _without_paths(pair.x86)


# Not run here: several processes sharing one region (fork, 8 x 8 processes). qemu-user answers a
# process's own /proc/self/stat with a start time of its own (qemu's start), while other processes
# read the host's real /proc/PID/stat; the region's pid-reuse check then takes every other emulated
# process for a reused pid and reclaims its slot. An emulation artifact, covered natively by
# test_concurrency.py.


def test_threads_never_over_admit(kit: Kit, arm: Arm) -> None:
    pair = both(kit, arm, "contend", 8, 200, 1 * MiB, 4, cap_mb=16)
    for name, run in pair.runs():
        done = run.one("done")
        assert done["max_used"] <= 16 * MiB, (name, done)
        assert done["granted"] > 0, (name, done)
        assert (done["other"], done["free_fail"], done["used_after"]) == (0, 0, 0), (name, done)


def test_launches_are_throttled(kit: Kit, arm: Arm) -> None:
    limit = 30
    extra = {"CUDA_DEVICE_SM_LIMIT": str(limit), "GPU_CORE_UTILIZATION_POLICY": "force"}
    pair = both(kit, arm, "launch_loop", "kernel", 2, 1, cap_mb=None, extra=extra)
    for name, run in pair.runs():
        util = run.one("util")
        assert (util["errors"], util["launches"] > 0) == (0, True), (name, util)
        # Only an upper bound: emulation may slow the loop down, never speed it past the throttle.
        assert util["percent"] <= limit + 10, (name, util)
