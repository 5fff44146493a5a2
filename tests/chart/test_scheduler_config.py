"""``hami scheduler-config`` prints exactly what the chart renders into the kube-scheduler
ConfigMap, for the same inputs; and its output is a configuration kube-scheduler accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hami.cli import main
from hami.config.devices import DeviceConfig
from hami.webhook import backends as backend_source
from tests.chart.helmsdk import find, render
from tests.chart.values_sets import VALUE_SETS
from tests.support.fake_backends import FakeBackend, backends
from tests.support.kubescheduler.config import parse_scheduler_config

#: value set -> the equivalent command line ("custom-names": see the device-config-file test)
EQUIVALENT: dict[str, list[str]] = {
    "defaults": [],
    "webhook-off": ["--url=http://127.0.0.1:8080"],
    "cert-manager": [],
    "ha-3": [],
    "everything": ["--insecure", "--enable-ascend", "--enable-iluvatar"],
}

def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["scheduler-config", *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def _chart_text(values: dict[str, Any], **kw: Any) -> str:
    text: str = find(render(values, **kw), "ConfigMap", "hami-scheduler-config")["data"][
        "config.yaml"
    ]
    return text


@pytest.mark.parametrize("name", list(EQUIVALENT))
def test_command_prints_what_the_chart_renders(name: str) -> None:
    assert _cli(*EQUIVALENT[name]) == _chart_text(VALUE_SETS[name])


def test_names_from_the_device_config_file(tmp_path: Path) -> None:
    values = VALUE_SETS["custom-names"]
    objs = render(values)
    dev = tmp_path / "device-config.yaml"
    dev.write_text(find(objs, "ConfigMap", "hami-scheduler-device")["data"]["device-config.yaml"])
    out = _cli(f"--device-config-file={dev}", "--scheduler-name=gpu-share",
               "--extra-resource=cambricon.com/vmlu")  # fmt: skip
    assert out == _chart_text(values)


def test_release_namespace_and_lease() -> None:
    out = _cli("--lease-namespace=gpu", "--no-leader-elect")
    values = {"scheduler": {"leaderElect": False}}
    assert out == _chart_text(values, namespace="gpu")


def test_output_is_a_valid_scheduler_configuration() -> None:
    cfg = parse_scheduler_config(_cli("--extra-resource=a.io/b"))
    (ext,) = cfg.extenders
    assert cfg.scheduler_name == "hami-scheduler"
    assert ext.url_prefix == "https://127.0.0.1:8443" and ext.enable_https
    assert ext.tls is not None and ext.tls.ca_file == "/tls/ca.crt"
    assert [r.name for r in ext.managed_resources][-1] == "a.io/b"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url=ftp://x"], "must be an http(s) URL"),
        (["--resource-name=gpu"], "not a resource name"),
        (["--device-config-file=/nonexistent"], "does not exist"),
    ],
)
def test_bad_input_is_one_error_line(args: list[str], message: str) -> None:
    out = _cli(*args, code=2)
    assert message in out and "Traceback" not in out


def test_bad_device_config_is_one_error_line(tmp_path: Path) -> None:
    dev = tmp_path / "d.yaml"
    dev.write_text("nvidia:\n  deviceSplitCount: many\n")  # unknown keys only warn, as in HAMi
    out = _cli(f"--device-config-file={dev}", code=1)
    assert "deviceSplitCount" in out and len(out.strip().splitlines()) == 1


def test_every_registered_backend_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """In cw order; kube-scheduler still counts a capacity-derived vendor's memory and cores."""
    seen: list[dict[str, bool]] = []

    def fake(config: DeviceConfig, **flags: bool) -> object:
        seen.append(flags)
        return backends(
            FakeBackend("ZED", "zed.io"),
            FakeBackend("CAP", "cap.io", from_capacity=True),
            FakeBackend("ANN", "ann.io"),
        )

    monkeypatch.setattr(backend_source, "device_backends", fake)
    cfg = parse_scheduler_config(_cli("--enable-iluvatar", "--extra-resource=zed.io/dev"))
    (ext,) = cfg.extenders
    assert [(r.name, r.ignored_by_scheduler) for r in ext.managed_resources] == [
        ("ann.io/dev", True), ("ann.io/mem", True), ("ann.io/cores", True),
        ("cap.io/dev", True), ("cap.io/mem", False), ("cap.io/cores", False),
        ("zed.io/dev", True), ("zed.io/mem", True), ("zed.io/cores", True),
    ]  # fmt: skip
    assert seen == [{"enable_ascend": False, "enable_iluvatar": True}]
    names = _cli("--resource-name=x.io/a", "--extra-resource=cap.io/mem")
    (ext,) = parse_scheduler_config(names).extenders
    assert [(r.name, r.ignored_by_scheduler) for r in ext.managed_resources] == [
        ("x.io/a", True), ("cap.io/mem", True)]  # fmt: skip
