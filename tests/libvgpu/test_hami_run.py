"""``hami run`` end to end: a fake-driver test program run through the CLI is capped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.libvgpu.kit import LIBRARY, PROGS, Kit, MiB, Run, parse


def _hami_run(kit: Kit, args: list[str], mem_mb: int = 64) -> Run:
    env = kit.env(preload=False, mem_mb=mem_mb)
    env.pop("CUDA_DEVICE_MEMORY_SHARED_CACHE")
    env["XDG_RUNTIME_DIR"] = str(kit.tmp)
    env["HAMI_LIBVGPU"] = str(LIBRARY)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "hami"), "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, parse(proc.stdout), proc.stderr, proc.stdout)


@pytest.mark.parametrize(
    ("gpumem", "granted"), [("32", 8), ("50%", 8), ("16", 4)], ids=["mib", "percent", "small"]
)
def test_cap_is_enforced(kit: Kit, gpumem: str, granted: int) -> None:
    memcap = str(PROGS / "memcap")
    run = _hami_run(kit, ["--gpumem", gpumem, "--", memcap, "alloc", str(4 * MiB), "100"])
    assert run.returncode == 0, run.describe()
    alloc = run.one("alloc")
    assert (alloc["granted"], alloc["rc"]) == (granted, 2)
    assert run.one("query", when="before")["total"] == granted * 4 * MiB
    assert not list((kit.tmp / "hami").glob("run-*.cache")), "private region left behind"


def test_exit_code_and_share(kit: Kit) -> None:
    memcap = f"{PROGS / 'memcap'} alloc {4 * MiB} 1"
    run = _hami_run(
        kit, ["--gpumem", "32", "--share", "team", "--", "sh", "-c", f"{memcap}; exit 7"]
    )
    assert run.returncode == 7, run.describe()
    assert run.one("alloc")["granted"] == 1
    # A shared region outlives the run so later runs with the same name join it.
    assert (kit.tmp / "hami" / "share-team.cache").exists()


def test_shared_runs_share_one_cap(kit: Kit, tmp_path: Path) -> None:
    script = tmp_path / "two.sh"
    memcap = PROGS / "memcap"
    script.write_text(
        f"{PROGS / 'forkprog'} {8 * MiB}\n"  # parent + child in one run: same region
        f"{memcap} alloc {4 * MiB} 100\n"
    )
    run = _hami_run(kit, ["--gpumem", "32", "--share", "pair", "--", "sh", str(script)])
    assert run.returncode == 0, run.describe()
    assert run.one("child")["granted"] == 3  # 32 MiB minus the parent's 8 MiB
    assert run.one("alloc")["granted"] == 8  # everything was returned afterwards
