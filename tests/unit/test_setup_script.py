"""scripts/setup: the README's test command installs the system packages it misses (issue 13,
point 15), and says what to install where it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stub(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text(f"#!{shutil.which('bash')}\n{body}\n")
    path.chmod(0o755)


def _run(tmp_path: Path, uid: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """scripts/setup with a PATH holding only stubs: every tool it looks for is missing."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "apt.log"
    _stub(bindir, "id", f"echo {uid}")
    _stub(bindir, "apt-get", f'echo "$@" >> {log}')
    proc = subprocess.run(
        [shutil.which("bash") or "bash", str(ROOT / "scripts" / "setup")],
        env={"PATH": str(bindir), "HOME": os.environ.get("HOME", "/root")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return proc, log.read_text() if log.exists() else ""


def test_installs_what_is_missing_as_root(tmp_path: Path) -> None:
    proc, apt = _run(tmp_path, 0)
    assert proc.returncode == 0, proc.stderr
    update, install = apt.splitlines()
    assert update == "update -qq"
    for pkg in ("gcc", "make", "binutils", "unzip", "qemu-user"):
        assert f" {pkg}" in install, install


def test_says_what_to_install_when_it_cannot(tmp_path: Path) -> None:
    proc, apt = _run(tmp_path, 1000)
    assert proc.returncode == 1
    assert apt == ""
    assert "scripts/setup: missing gcc make binutils unzip qemu-user" in proc.stderr
    assert "apt-get install" in proc.stderr
