"""``hami scheduler`` flags: HAMi's spellings (Go bools, ``-v=4``); only explicit flags count."""

from __future__ import annotations

from typing import Any

import click
import pytest

from hami.cmd.scheduler import _given, command


def _parse(args: list[str]) -> dict[str, Any]:
    ctx = command.make_context("scheduler", list(args))
    return _given(dict(ctx.params))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (["--debug"], {"debug": True}),
        (["--debug=false"], {"debug": False}),
        (["--leader-elect=true", "--profiling"], {"leader_elect": True, "profiling": True}),
        (["--no-force-overwrite-default-scheduler"], {"force_overwrite_default_scheduler": False}),
        (["--force-overwrite-default-scheduler=false"],
         {"force_overwrite_default_scheduler": False}),
        (["--debug", "-v=4"], {"debug": True}),
        (["-v", "4", "--legacy-metrics=1"], {"legacy_metrics": True}),
        (["--kube-qps", "50", "--kube-burst=100"], {"kube_qps": 50.0, "kube_burst": 100}),
        (["--http_bind=0.0.0.0:443", "--profiling", "--scheduler-name", "s"],
         {"http_bind": "0.0.0.0:443", "profiling": True, "scheduler_name": "s"}),
        (["--enable-ascend", "--enable-iluvatar=true"],
         {"enable_ascend": True, "enable_iluvatar": True}),
        (["--enable-ascend=false"], {"enable_ascend": False}),
    ],
    ids=["nothing", "bare-bool", "go-false", "go-true", "no-prefix", "go-false-long",
         "klog-v-equals", "klog-v-space", "qps-burst", "chart-args", "vendor-flags",
         "vendor-flag-off"],
)  # fmt: skip
def test_flags(args: list[str], expected: dict[str, Any]) -> None:
    assert _parse(args) == expected


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--debug=maybe"], "--debug"), (["--kube-qps", "fast"], "--kube-qps"),
     (["--kube-burst=1.5"], "--kube-burst"), (["-v=high"], "-v")],
    ids=["bad-bool", "bad-qps", "bad-burst", "bad-verbosity"],
)  # fmt: skip
def test_bad_flags_name_the_flag(args: list[str], needle: str) -> None:
    with pytest.raises(click.BadParameter) as info:
        command.make_context("scheduler", list(args))
    assert needle in info.value.format_message() or needle in str(info.value.param_hint)


def test_vendor_flags_reach_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--enable-ascend`` / ``HAMI_ENABLE_ILUVATAR`` decide which backends the runner builds."""
    from hami.config.devices import DeviceConfig
    from hami.k8s.fake import FakeKube
    from hami.scheduler import runner
    from hami.scheduler.settings import load_settings

    seen: list[dict[str, Any]] = []
    real = runner.DeviceRegistry.from_config

    def spy(config: DeviceConfig, **flags: Any) -> Any:
        seen.append(flags)
        return real(config, **flags)

    monkeypatch.setattr(runner.DeviceRegistry, "from_config", spy)
    monkeypatch.setenv("HAMI_ENABLE_ILUVATAR", "true")
    settings = load_settings(_parse(["--enable-ascend"]))
    runner.SchedulerRunner(settings, FakeKube(), device_config=DeviceConfig())
    assert seen == [{"enable_ascend": True, "enable_iluvatar": True}]
