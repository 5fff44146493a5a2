"""``hami monitor``'s command line: HAMi's flags and environment, one-line errors."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from hami.cli import main


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    async def fake_run(settings: Any, kubeconfig: Any, no_nvml: bool) -> None:
        seen.append((settings, kubeconfig, no_nvml))

    monkeypatch.setattr("hami.cmd.monitor._run", fake_run)
    return seen


def test_environment_and_go_style_flags(captured: list[Any]) -> None:
    env = {"NODE_NAME": "n1", "HOOK_PATH": "/x/vgpu", "HAMI_RESYNC_INTERVAL": "2m"}
    result = CliRunner().invoke(
        main, ["monitor", "--legacy-metrics=true", "-v=4", "--no-nvml"], env=env
    )
    assert result.exit_code == 0, result.output
    ((settings, _, no_nvml),) = captured
    assert (settings.node_name, str(settings.containers_dir)) == ("n1", "/x/vgpu/containers")
    assert (settings.legacy_metrics, settings.resync_interval, no_nvml) == (True, 120.0, True)
    assert settings.metrics_bind_address == ":9394"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--metrics-bind-address", "nope"], "bad bind address"),
        (["--resync-interval", "5 minutes"], "bad duration"),
        ([], "--node-name"),
    ],
)
def test_bad_input_is_one_usage_error(captured: list[Any], args: list[str], needle: str) -> None:
    env = {"NODE_NAME": "n1"} if args else {"NODE_NAME": ""}
    result = CliRunner().invoke(main, ["monitor", *args], env=env)
    assert result.exit_code == 2 and needle in result.output, result.output
    assert "Traceback" not in result.output and not captured


def test_missing_kubeconfig_is_one_error_line(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        main,
        ["monitor", "--node-name", "n1", "--no-nvml", "--hook-path", str(tmp_path),
         "--kubeconfig", str(tmp_path / "missing")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        f"Error: kubeconfig {tmp_path / 'missing'} not found"
    ]
