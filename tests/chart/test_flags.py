"""The chart's flags are the commands' flags: every hami command line the chart renders (all
defined in charts/hami/templates/_helpers.tpl) parses with that command's own click parser, and
the values reach the command's settings model, which accepts them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from hami.cli import _SUBCOMMANDS, main
from tests.chart.helmsdk import find, render
from tests.chart.values_sets import VALUE_SETS

#: ``hami monitor`` is written beside this chart; until it is in the tree its contract is these
#: flags and environment variables (the same list the chart renders).
MONITOR_CONTRACT = {
    "flags": {"--metrics-bind-address", "--legacy-metrics"},
    "env": {"NODE_NAME", "HOOK_PATH"},
}


def _hami_containers(objs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objs:
        if obj["kind"] not in ("Deployment", "DaemonSet", "Job"):
            continue
        for ctr in obj["spec"]["template"]["spec"]["containers"]:
            if ctr.get("command") == ["hami"]:
                yield f"{obj['kind']}/{obj['metadata']['name']}/{ctr['name']}", ctr


def _literal_env(ctr: dict[str, Any]) -> dict[str, str]:
    """The container's env as the process would see it (downward API filled with samples)."""
    samples = {"spec.nodeName": "node-1", "metadata.name": "hami-scheduler-0",
               "metadata.namespace": "kube-system"}  # fmt: skip
    env: dict[str, str] = {}
    for e in ctr.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            env[e["name"]] = samples[e["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


@contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _parse(args: list[str]) -> tuple[str, click.Context]:
    sub, rest = args[0], args[1:]
    with click.Context(main) as root:
        cmd = main.get_command(root, sub)
        assert cmd is not None, f"hami has no subcommand {sub!r}"
        return sub, cmd.make_context(sub, list(rest), parent=root)


def _files(objs: list[dict[str, Any]], tmp: Path) -> tuple[Path, Path]:
    dev = tmp / "device-config.yaml"
    dev.write_text(find(objs, "ConfigMap", "hami-scheduler-device")["data"]["device-config.yaml"])
    node = tmp / "config.json"
    cms = [
        o
        for o in objs
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "hami-device-plugin"
    ]
    node.write_text(cms[0]["data"]["config.json"] if cms else '{"nodeconfig": []}')
    return dev, node


def _check_scheduler(ctx: click.Context, env: dict[str, str], dev: Path) -> None:
    from hami.cmd.scheduler import _given
    from hami.scheduler.settings import load_settings

    given = _given(ctx.params)
    given["device_config_file"] = dev  # the path inside the pod; same content
    with _environ(env):
        settings = load_settings(given, None)
    assert settings.pod_name == "hami-scheduler-0" and settings.pod_namespace == "kube-system"
    assert settings.node_lock_timeout == 300.0
    assert settings.leader_elect_resource_name.endswith("-extender")


def _check_device_plugin(ctx: click.Context, env: dict[str, str], dev: Path, node: Path) -> None:
    from hami.deviceplugin.settings import PluginSettings, load_settings

    p = ctx.params
    assert p["node_name"] == "node-1"
    assert str(p["hook_path"]) == env["HOOK_PATH"]
    overrides = {"resource_name": p["resource_name"], "split_count": p["device_split_count"]}
    base = PluginSettings(node_name=p["node_name"], hook_path=p["hook_path"],
                          plugin_dir=p["plugin_dir"])  # fmt: skip
    settings = load_settings(base, dev, node, overrides, None)
    assert settings.node_name == "node-1"


def _check_monitor(args: list[str], env: dict[str, str]) -> None:
    if "monitor" in _SUBCOMMANDS:
        with _environ(env):
            _, ctx = _parse(args)
        assert ctx.params["node_name"] == "node-1"
        assert str(ctx.params["hook_path"]) == env["HOOK_PATH"]
        return
    flags = {a.split("=", 1)[0] for a in args[1:]}
    assert flags <= MONITOR_CONTRACT["flags"], flags - MONITOR_CONTRACT["flags"]
    assert set(env) >= MONITOR_CONTRACT["env"]


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_rendered_command_line_parses(name: str, tmp_path: Path) -> None:
    objs = render(VALUE_SETS[name])
    dev, node = _files(objs, tmp_path)
    seen = set()
    for where, ctr in _hami_containers(objs):
        args, env = [str(a) for a in ctr["args"]], _literal_env(ctr)
        seen.add(args[0])
        if args[0] == "monitor":
            _check_monitor(args, env)
            continue
        with _environ(env):
            try:
                sub, ctx = _parse(args)
            except click.ClickException as exc:
                pytest.fail(f"{where}: hami {' '.join(args)}: {exc.format_message()}")
        if sub == "scheduler":
            _check_scheduler(ctx, env, dev)
        elif sub == "device-plugin":
            _check_device_plugin(ctx, env, dev, node)
        elif sub == "certs":
            from hami.webhook.certs import parse_duration

            assert parse_duration(ctx.params["validity"]) > parse_duration(
                ctx.params["renew_before"]
            )
    expected = {"scheduler", "device-plugin", "monitor"}
    if "Job/hami-certs" in {f"{o['kind']}/{o['metadata']['name']}" for o in objs}:
        expected.add("certs")
    assert seen == expected


def test_a_flag_the_command_lacks_is_caught() -> None:
    """The parse above can fail: an unknown flag is a usage error."""
    with pytest.raises(click.UsageError, match="no-such-flag"):
        _parse(["scheduler", "--no-such-flag=1"])
    values = {"scheduler": {"extender": {"extraArgs": ["--no-such-flag"]}}}
    ctr = container_args(render(values), "vgpu-scheduler-extender")
    with pytest.raises(click.UsageError):
        _parse(ctr)


def container_args(objs: list[dict[str, Any]], name: str) -> list[str]:
    for _, ctr in _hami_containers(objs):
        if ctr["name"] == name:
            return [str(a) for a in ctr["args"]]
    raise AssertionError(name)


def test_device_config_and_node_config_load_in_the_plugin(tmp_path: Path) -> None:
    objs = render(VALUE_SETS["everything"])
    dev, node = _files(objs, tmp_path)
    from hami.deviceplugin.settings import PluginSettings, load_settings

    settings = load_settings(PluginSettings(node_name="n1"), dev, node, {}, None)
    assert settings.split_count == 4  # the per-node entry from devicePlugin.nodeConfiguration
    assert yaml.safe_load(dev.read_text())["nvidia"]["deviceSplitCount"] == 10
