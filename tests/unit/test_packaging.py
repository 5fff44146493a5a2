"""Packaging facts that must agree: the Zig pin of the wheel build and of the dev tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ziglang_pin_is_the_same_for_the_wheel_build_and_the_dev_extra() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [r for r in meta["build-system"]["requires"] if r.startswith("ziglang")]
    dev = [r for r in meta["project"]["optional-dependencies"]["dev"] if r.startswith("ziglang")]
    assert len(pins) == 1 and re.fullmatch(r"ziglang==[\d.]+", pins[0]), pins
    assert pins == dev
