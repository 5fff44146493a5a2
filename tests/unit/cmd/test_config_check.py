"""``hami config check FILE`` and ``--strict-config`` (issue 13 point 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hami.cli import main

HAMI_FILE = "nvidia:\n  memoryFactor: 0\n  gpuCorePolicy: ''\n  someNewKey: 1\nscheduler: {}\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_prints_one_warning_per_key_and_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "device-config.yaml"
    path.write_text(HAMI_FILE)
    code, out, err = run("config", "check", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:3] == [
        f"warning: {path}: nvidia.memoryFactor: 0: HAMi uses max(memoryFactor, 1); using 1",
        f"warning: {path}: nvidia.someNewKey: unknown key, ignored",
        f"warning: {path}: scheduler: unknown key, ignored",
    ]
    assert "3 warnings" in lines[3]


@pytest.mark.parametrize(
    ("text", "name", "needle"),
    [("nvidia:\n  deviceSplitCount: many\n", "dc.yaml", "nvidia.deviceSplitCount"),
     ("nvidia: [", "dc.yaml", "invalid YAML"),
     (None, "missing.yaml", "cannot read")],
    ids=["wrong-type", "bad-yaml", "missing"],
)  # fmt: skip
def test_check_fails_only_on_what_hami_refuses(
    tmp_path: Path, text: str | None, name: str, needle: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    code, _, err = run("config", "check", str(path))
    assert code == 1
    assert err.startswith(f"error: {path}") and needle in err and "Traceback" not in err


def test_check_strict_is_todays_refusal(tmp_path: Path) -> None:
    path = tmp_path / "device-config.yaml"
    path.write_text(HAMI_FILE)
    code, _, err = run("config", "check", "--strict", str(path))
    assert code == 1 and "nvidia.someNewKey" in err


def test_per_node_config_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"nodeConfig": [{"Name": "n1", "deviceSplitCount": 2}]}')
    code, out, _ = run("config", "check", str(path))
    assert code == 0 and "0 warnings" in out


def test_simulate_loads_a_hami_file_and_strict_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "device-config.yaml"
    path.write_text(HAMI_FILE)
    code, _, err = run("simulate", "--config", str(path), "--output", "json")
    assert code == 0, err
    code, _, err = run("simulate", "--config", str(path), "--strict-config")
    assert code != 0 and "nvidia.someNewKey" in err and "Traceback" not in err


@pytest.mark.parametrize("cmd", ["scheduler", "device-plugin"])
def test_strict_config_flag_exists(cmd: str) -> None:
    code, out, _ = run(cmd, "--help")
    assert code == 0 and "--strict-config" in out
