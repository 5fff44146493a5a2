"""Every flag of every command has help text and shows its default; renamed flags keep their
old spellings as hidden aliases; one name for the device-config file everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hami.cli import _SUBCOMMANDS, main

_BUILTIN = {"help", "version"}


def _commands() -> Iterator[tuple[str, click.Command, click.Context]]:
    """(path, command, context) for the group, every subcommand and their subcommands."""
    root = click.Context(main, info_name="hami")
    yield "hami", main, root
    stack: list[tuple[str, click.Command, click.Context]] = []
    for name in _SUBCOMMANDS:
        cmd = main.get_command(root, name)
        assert cmd is not None, name
        stack.append((f"hami {name}", cmd, click.Context(cmd, info_name=name, parent=root)))
    while stack:
        path, cmd, ctx = stack.pop()
        yield path, cmd, ctx
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                child = cmd.get_command(ctx, sub)
                assert child is not None
                stack.append((f"{path} {sub}", child,
                              click.Context(child, info_name=sub, parent=ctx)))  # fmt: skip


def _options() -> list[tuple[str, click.Option, click.Context]]:
    return [
        (f"{path} {p.opts[0]}", p, ctx)
        for path, cmd, ctx in _commands()
        for p in cmd.get_params(ctx)
        if isinstance(p, click.Option) and not p.hidden and p.name not in _BUILTIN
    ]


@pytest.mark.parametrize(("where", "param", "ctx"), _options(), ids=lambda v: v
                         if isinstance(v, str) else "")  # fmt: skip
def test_every_flag_has_help_and_shows_its_default(
    where: str, param: click.Option, ctx: click.Context
) -> None:
    assert (param.help or "").strip(), f"{where}: no help text"
    record = param.get_help_record(ctx)
    assert record is not None
    if param.required:
        assert "required" in record[1]
        return
    assert param.show_default not in (None, False), f"{where}: default not shown"
    if param.is_flag and not param.secondary_opts and not param.default:
        return  # an off-by-default switch: click shows no "[default: False]"
    extra = record[1].rsplit("[", 1)[-1] if record[1].endswith("]") else ""
    assert "default: " in extra, f"{where}: {record[1]!r}"
    assert "default: (" not in extra, f"{where}: parenthesised default {record[1]!r}"


def test_every_command_has_help() -> None:
    for path, cmd, _ in _commands():
        assert (cmd.help or cmd.short_help or "").strip(), path
        result = CliRunner().invoke(main, [*path.split()[1:], "--help"])
        assert result.exit_code == 0, (path, result.output)


@pytest.mark.parametrize("name", ["simulate", "scheduler", "device-plugin"])
def test_one_device_config_flag_everywhere(name: str) -> None:
    text = CliRunner().invoke(main, [name, "--help"]).output
    assert "--device-config-file FILE" in text
    assert "--config-file" not in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["simulate", "--config", "{cfg}", "--output", "json"], '"pods"'),
     (["simulate", "--device-config-file", "{cfg}", "--output", "json"], '"pods"'),
     (["device-plugin", "--node-name", "n", "--node-config", "{none}", "--config-file", "{cfg}",
       "--print-config"], '"split_count": 7'),
     (["device-plugin", "--node-name", "n", "--node-config", "{none}", "--device-config-file",
       "{cfg}", "--print-config"], '"split_count": 7')],
    ids=["simulate-old", "simulate-new", "plugin-old", "plugin-new"],
)  # fmt: skip
def test_old_spellings_still_work(tmp_path: Path, args: list[str], needle: str) -> None:
    cfg = tmp_path / "device-config.yaml"
    cfg.write_text("nvidia:\n  deviceSplitCount: 7\n")
    argv = [a.replace("{cfg}", str(cfg)).replace("{none}", str(tmp_path / "none.json"))
            for a in args]  # fmt: skip
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    assert needle in result.output


def test_hidden_aliases_are_not_listed() -> None:
    sim = CliRunner().invoke(main, ["simulate", "--help"]).output
    assert "--device-config-file" in sim and "--config " not in sim and "--config," not in sim
    plugin = CliRunner().invoke(main, ["device-plugin", "--help"]).output
    assert "--device-config-file" in plugin and "--config-file" not in plugin


def test_legacy_metrics_help_says_pre_v2_9() -> None:
    text = CliRunner().invoke(main, ["scheduler", "--help"]).output
    line = " ".join(text.split("--legacy-metrics", 1)[1].split("--profiling", 1)[0].split())
    assert "pre-v2.9" in line and "pre-v2.8" not in text


@pytest.mark.parametrize("name", ["scheduler", "scheduler-config"])
def test_vendor_switches_are_listed(name: str) -> None:
    text = " ".join(CliRunner().invoke(main, [name, "--help"]).output.split())
    for flag in ("--enable-ascend", "--enable-iluvatar"):
        assert flag in text
        about = text.split(flag, 1)[1].split("--", 1)[0]
        assert "Ascend" in about or "Iluvatar" in about
        if name == "scheduler":  # a Go-style bool shows its default
            assert "default: false" in about
