"""Fixtures for the libvgpu kit tests: one build per session (a failed build fails every test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.libvgpu import kit as kitmod


@pytest.fixture(scope="session")
def kit_build() -> None:
    proc = kitmod.build()
    for _ in range(2):  # another session building the same tree at once can break one attempt
        if proc.returncode == 0:
            break
        proc = kitmod.build()
    out, err = proc.stdout[-4000:], proc.stderr[-4000:]
    assert proc.returncode == 0, f"make -C libvgpu failed:\n{out}\n{err}"
    for path in (kitmod.LIBRARY, kitmod.FAKE_DIR / "libcuda.so.1", kitmod.SHIM):
        assert path.exists(), f"build did not produce {path}"


@pytest.fixture
def kit(kit_build: None, tmp_path: Path) -> kitmod.Kit:
    return kitmod.Kit(tmp=tmp_path)
