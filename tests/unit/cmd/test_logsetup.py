"""``--log-format text|json``: extra fields in both formats, one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys

import click
import pytest

from hami.cmd import device_plugin, logsetup
from hami.cmd.scheduler import _given
from hami.cmd.scheduler import command as scheduler_command
from hami.scheduler.settings import SettingsError, load_settings


def _record(msg: str = "filter %s: placed", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("hami.scheduler.service").makeRecord(
        "hami.scheduler.service", logging.INFO, "f.py", 1, msg, args or ("ns/p",), None,
        extra=extra,
    )  # fmt: skip
    record.created = 1767323045.5  # 2026-01-02T03:04:05.500Z
    return record


EXTRA = {"pod": "ns/p", "node": "n1", "gpus": [{"uuid": "GPU-a", "mem": 3000, "cores": 20}]}


def test_text_appends_extra_fields() -> None:
    line = logsetup.TextFormatter().format(_record(**EXTRA))
    assert " INFO hami.scheduler.service: filter ns/p: placed " in line
    assert line.endswith(' pod=ns/p node=n1 gpus=[{"uuid":"GPU-a","mem":3000,"cores":20}]')
    quoted = logsetup.TextFormatter().format(_record(reason="2/2 CardInsufficientMemory"))
    assert quoted.endswith(' reason="2/2 CardInsufficientMemory"')
    assert logsetup.TextFormatter().format(_record()).endswith("filter ns/p: placed")
    uvicorn = _record(color_message="\x1b[32mfilter\x1b[0m")  # uvicorn's coloured copy: dropped
    assert logsetup.TextFormatter().format(uvicorn).endswith("filter ns/p: placed")


def test_json_is_one_object_per_line_with_the_extra_fields() -> None:
    line = logsetup.JsonFormatter().format(_record(**EXTRA))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-01-02T03:04:05.500Z", "level": "INFO", "logger": "hami.scheduler.service",
        "msg": "filter ns/p: placed", **EXTRA,
    }  # fmt: skip


def test_json_carries_the_traceback_and_never_fails_on_odd_values() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record(odd={1, 2}, msg_extra=object)
        record.exc_info = sys.exc_info()
    obj = json.loads(logsetup.JsonFormatter().format(record))
    assert "RuntimeError: boom" in obj["exc"] and obj["odd"] == "{1, 2}"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        logsetup.formatter("xml")


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--log-format", "json"], {"log_format": "json"}),
     (["--log-format=text", "-v=4"], {"log_format": "text"}), ([], {})],
    ids=["json", "text-with-klog-v", "default"],
)  # fmt: skip
def test_scheduler_flag(args: list[str], expected: dict[str, str]) -> None:
    given = _given(dict(scheduler_command.make_context("scheduler", list(args)).params))
    assert given == expected
    assert load_settings(given).log_format == expected.get("log_format", "text")


def test_scheduler_env_and_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAMI_LOG_FORMAT", "json")
    assert load_settings({}).log_format == "json"
    monkeypatch.setenv("HAMI_LOG_FORMAT", "yaml")
    with pytest.raises(SettingsError) as bad:
        load_settings({})
    assert str(bad.value) == (
        "invalid scheduler settings: HAMI_LOG_FORMAT: Input should be 'text' or 'json' (got 'yaml')"
    )  # one line, no pydantic URL
    with pytest.raises(click.BadParameter):
        scheduler_command.make_context("scheduler", ["--log-format", "xml"])


def test_device_plugin_flag() -> None:
    ctx = device_plugin.command.make_context("device-plugin", ["--node-name", "n", "--log-format",
                                                               "json"])  # fmt: skip
    assert ctx.params["log_format"] == "json"
    with pytest.raises(click.BadParameter):
        device_plugin.command.make_context("device-plugin", ["--node-name", "n", "--log-format",
                                                             "yaml"])  # fmt: skip


def test_configure_installs_the_chosen_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    logsetup.configure(debug=False, fmt="json")
    assert [type(h.formatter) for h in root.handlers] == [logsetup.JsonFormatter]
    assert root.level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING


@pytest.mark.parametrize(
    "value",
    ["", "a", "a b", 'x"y', "a=b", "l\n", "ü", 0, -5, 10**30, True, False, None, 0.1, 1e300,
     1e-7, float("inf"), float("nan"), -0.0, 3.0, [1, "a"], {"k": 1.5}],
)  # fmt: skip
def test_text_values_are_what_json_writes(value: object) -> None:
    """The fast paths for strings and numbers write what ``json.dumps`` does."""
    if isinstance(value, str):
        quoted = not value or any(c in value for c in ' "=\n')
        expected = json.dumps(value) if quoted else value
    elif isinstance(value, bool | int | float) or value is None:
        expected = json.dumps(value)
    else:
        expected = json.dumps(value, separators=(",", ":"))
    assert logsetup._text_value(value) == expected
