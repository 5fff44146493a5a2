"""``hami run`` pure helpers: cap parsing, environment building, region paths, library discovery."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hami.cli import main
from hami.runner.caps import (
    MAX_GPUMEM_MIB,
    PROBE_NO_DRIVER,
    CapError,
    Caps,
    MemoryRequest,
    build_env,
    capped_against,
    parse_devices,
    parse_gpucores,
    parse_gpumem,
    preload_with,
    probe_verdict,
    region_path,
)
from hami.runner.library import OVERRIDE, LibraryNotFound, candidates, find_library

LIB = Path("/opt/hami/libvgpu.so")
REGION = Path("/run/user/1000/hami/run-x.cache")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3000", MemoryRequest(mib=3000)),
        (" 1 ", MemoryRequest(mib=1)),
        ("50%", MemoryRequest(percent=50)),
        ("100%", MemoryRequest(percent=100)),
    ],
    ids=["mib", "spaces", "percent", "all"],
)
def test_gpumem_accepts(text: str, expected: MemoryRequest) -> None:
    assert parse_gpumem(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "0", "-5", "1.5", "3g", "0%", "101%", "50 %", "%"],
    ids=["empty", "word", "zero", "negative", "decimal", "unit", "0pct", "101pct", "gap", "bare"],
)
def test_gpumem_rejects(text: str) -> None:
    with pytest.raises(CapError) as err:
        parse_gpumem(text)
    assert err.value.field == "--gpumem"


@pytest.mark.parametrize("value", [0, -1, 101], ids=["zero", "negative", "over"])
def test_gpucores_rejects(value: int) -> None:
    with pytest.raises(CapError, match="--gpucores"):
        parse_gpucores(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", ("0",)),
        ("0,1", ("0", "1")),
        (" 1 , 0", ("1", "0")),
        ("GPU-fa4e0000-0000-4000-8000-000000000001", ("GPU-fa4e0000-0000-4000-8000-000000000001",)),
    ],
    ids=["one", "two", "spaces", "uuid"],
)
def test_devices_accepts(text: str, expected: tuple[str, ...]) -> None:
    assert parse_devices(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0,,1", "a", "0,0", "-1", "GPU"],
    ids=["empty", "hole", "word", "dup", "neg", "bare"],
)
def test_devices_rejects(text: str) -> None:
    with pytest.raises(CapError, match="--devices"):
        parse_devices(text)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, str(LIB)),
        ("", str(LIB)),
        ("/a.so", f"/a.so:{LIB}"),
        ("/a.so /b.so", f"/a.so:/b.so:{LIB}"),
        (f"{LIB}:/a.so", f"{LIB}:/a.so"),
    ],
    ids=["unset", "empty", "one", "spaces", "already"],
)
def test_preload_appends_once(existing: str | None, expected: str) -> None:
    assert preload_with(existing, LIB) == expected


CASES = [
    (
        Caps(memory=MemoryRequest(mib=3000)),
        None,
        {"CUDA_DEVICE_MEMORY_LIMIT": "3000m"},
    ),
    (
        Caps(memory=MemoryRequest(mib=3000), devices=("0", "1")),
        None,
        {
            "CUDA_VISIBLE_DEVICES": "0,1",
            "CUDA_DEVICE_MEMORY_LIMIT_0": "3000m",
            "CUDA_DEVICE_MEMORY_LIMIT_1": "3000m",
        },
    ),
    (
        Caps(memory=MemoryRequest(percent=50)),
        [16384, 8192],
        {"CUDA_DEVICE_MEMORY_LIMIT_0": "8192m", "CUDA_DEVICE_MEMORY_LIMIT_1": "4096m"},
    ),
    (
        Caps(cores=30, devices=("GPU-x",)),
        None,
        {"CUDA_DEVICE_SM_LIMIT": "30", "CUDA_VISIBLE_DEVICES": "GPU-x"},
    ),
    (Caps(), None, {}),
]


@pytest.mark.parametrize(
    ("caps", "totals", "expected"), CASES, ids=["mib", "mib-devices", "percent", "cores", "none"]
)
def test_build_env(caps: Caps, totals: list[int] | None, expected: dict[str, str]) -> None:
    base = {
        "PATH": "/bin",
        "CUDA_DEVICE_MEMORY_LIMIT_3": "1m",  # stale caps from the caller never leak through
        "CUDA_DEVICE_SM_LIMIT": "5",
    }
    env = build_env(base, caps, LIB, REGION, totals)
    assert env.pop("PATH") == "/bin"
    assert env.pop("LD_PRELOAD") == str(LIB)
    assert env.pop("CUDA_DEVICE_MEMORY_SHARED_CACHE") == str(REGION)
    assert env == expected


def test_percent_without_devices_is_an_error() -> None:
    with pytest.raises(CapError, match="--gpumem"):
        build_env({}, Caps(memory=MemoryRequest(percent=50)), LIB, REGION, [])


@pytest.mark.parametrize(
    ("share", "name"),
    [("team", "share-team.cache"), (None, "run-abc.cache")],
    ids=["shared", "private"],
)
def test_region_path(tmp_path: Path, share: str | None, name: str) -> None:
    assert region_path(tmp_path, share, "abc") == tmp_path / name


@pytest.mark.parametrize("share", ["", "a/b", "../x", "-x", "x" * 65], ids=str)
def test_share_name_rejects(tmp_path: Path, share: str) -> None:
    with pytest.raises(CapError, match="--share"):
        region_path(tmp_path, share, "abc")


def test_library_prefers_override_then_package_then_checkout(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "hami"
    (tmp_path / "libvgpu" / "build").mkdir(parents=True)
    (pkg / "_lib").mkdir(parents=True)
    assert candidates(pkg, {OVERRIDE: "/x.so"}) == [Path("/x.so")]
    assert candidates(pkg, {}) == [pkg / "_lib/libvgpu.so", tmp_path / "libvgpu/build/libvgpu.so"]
    with pytest.raises(LibraryNotFound, match="make -C libvgpu"):
        find_library(pkg, {})
    (tmp_path / "libvgpu/build/libvgpu.so").write_bytes(b"")
    assert find_library(pkg, {}) == (tmp_path / "libvgpu/build/libvgpu.so").resolve()
    (pkg / "_lib/libvgpu.so").write_bytes(b"")
    assert find_library(pkg, {}) == (pkg / "_lib/libvgpu.so").resolve()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--gpumem", "lots", "--", "true"], "--gpumem"),
        (["--gpucores", "150", "--", "true"], "--gpucores"),
        (["--devices", "0,0", "--", "true"], "--devices"),
        (["--share", "a/b", "--", "true"], "--share"),
        ([], "Missing argument"),
    ],
    ids=["gpumem", "gpucores", "devices", "share", "no-command"],
)
def test_cli_rejects_bad_values(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 2
    assert fragment in result.output


# --- issue 13, point 14: caps that mean nothing, a library that does not preload, no driver ---


def test_gpumem_above_any_gpu_is_refused_with_the_unit() -> None:
    with pytest.raises(CapError, match=r"more memory than any GPU has.*write 3072 for 3 GiB"):
        parse_gpumem(str(MAX_GPUMEM_MIB + 1))
    assert parse_gpumem(str(MAX_GPUMEM_MIB)) == MemoryRequest(mib=MAX_GPUMEM_MIB)


def test_gpumem_above_the_gpu_is_refused() -> None:
    with pytest.raises(CapError, match="more than the GPU has \\(16384 MiB\\)"):
        capped_against(Caps(memory=MemoryRequest(mib=20000)), [16384, 8192])
    capped_against(Caps(memory=MemoryRequest(mib=16384)), [16384, 8192])
    capped_against(Caps(memory=MemoryRequest(mib=20000)), [])  # unknown totals: no verdict
    capped_against(Caps(memory=MemoryRequest(percent=50)), [16384])


@pytest.mark.parametrize(
    ("rc", "stderr", "fragment"),
    [
        (0, "", None),
        (0, "ERROR: ld.so: object '/x.so' from LD_PRELOAD cannot be preloaded (wrong ELF class)"
            ": ignored.\n", "could not be preloaded, so no cap would apply: ERROR: ld.so"),
        (PROBE_NO_DRIVER, "libcuda.so.1: cannot open shared object file\n",
         "no NVIDIA driver found (libcuda.so.1 cannot be loaded: libcuda.so.1: cannot open"),
        (1, "Segmentation fault", "the preload check failed (exit 1)"),
    ],
    ids=["fine", "preload-failed", "no-driver", "crashed"],
)  # fmt: skip
def test_probe_verdict(rc: int, stderr: str, fragment: str | None) -> None:
    verdict = probe_verdict(Path("/x.so"), rc, stderr)
    if fragment is None:
        assert verdict is None
    else:
        assert verdict is not None and fragment in verdict


def test_cli_reports_an_unknown_option() -> None:
    result = CliRunner().invoke(main, ["run", "--gpumme", "30", "--", "true"])
    assert result.exit_code == 2
    assert "No such option '--gpumme'" in result.output


def test_cli_refuses_a_library_that_does_not_preload(tmp_path: Path) -> None:
    bogus = tmp_path / "libvgpu.so"
    bogus.write_text("not an ELF file")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hami"), "run", "--gpumem", "3000", "--", "true"],
        env={**os.environ, OVERRIDE: str(bogus), "XDG_RUNTIME_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "could not be preloaded, so no cap would apply" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    ctypes.util.find_library("cuda") is not None, reason="this machine has a CUDA driver"
)
def test_cli_refuses_to_run_uncapped_without_a_driver(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hami"), "run", "--gpumem", "3000", "--", "true"],
        env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "LD_LIBRARY_PATH": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "no NVIDIA driver found" in result.stderr
