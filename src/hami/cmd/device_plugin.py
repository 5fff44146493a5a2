"""``hami device-plugin``: the NVIDIA device plugin DaemonSet process.

Precedence: built-in defaults < device-config file (``nvidia:``) < this node's entry in the
per-node ``config.json`` < flags/env given explicitly. Unlike HAMi v2.10, the split-count, scaling
and core-limit flags take effect. ``--fake-gpus N`` runs on an in-memory NVML (mock device mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import click

from hami.cmd.options import option, source_of

_PATH = click.Path(path_type=Path)
_FILE = click.Path(path_type=Path, dir_okay=False)
#: Override keys of :func:`hami.deviceplugin.settings.load_settings` -> this command's params.
_OVERRIDE_PARAMS = {
    "resource_name": "resource_name",
    "split_count": "device_split_count",
    "memory_scaling": "device_memory_scaling",
    "core_scaling": "device_cores_scaling",
    "disable_core_limit": "disable_core_limit",
    "mig_strategy": "mig_strategy",
    "topology_score": "topology_score",
}


_FROM_CONFIG = "device config, else {}"


@click.command(name="device-plugin")
@option(
    "--node-name", envvar="NODE_NAME", required=True, show_envvar=True, help="This node's name."
)
@option(
    "--device-config-file",
    "--config-file",
    "config_file",
    hidden_aliases=("--config-file",),
    envvar="CONFIG_FILE",
    show_envvar=True,
    type=_FILE,
    show_default="built-in defaults",
    help="HAMi device-config.yaml (or its ConfigMap manifest); its nvidia: section applies.",
)
@option(
    "--node-config",
    envvar="NODE_CONFIG_FILE",
    show_envvar=True,
    type=_FILE,
    default=Path("/config/config.json"),
    show_default=True,
    help="Per-node overrides ({'nodeconfig': [...]}); a missing file is ignored.",
)
@option(
    "--resource-name",
    envvar="RESOURCE_NAME",
    show_envvar=True,
    show_default=_FROM_CONFIG.format("nvidia.com/gpu"),
    help="Extended resource the GPUs are advertised as.",
)
@option(
    "--device-split-count",
    envvar="DEVICE_SPLIT_COUNT",
    show_envvar=True,
    type=int,
    show_default=_FROM_CONFIG.format(10),
    help="Pods that may share one GPU.",
)
@option(
    "--device-memory-scaling",
    envvar="DEVICE_MEMORY_SCALING",
    show_envvar=True,
    type=float,
    show_default=_FROM_CONFIG.format(1),
    help="Advertised memory = physical x this (above 1 oversubscribes).",
)
@option(
    "--device-cores-scaling",
    envvar="DEVICE_CORES_SCALING",
    show_envvar=True,
    type=float,
    show_default=_FROM_CONFIG.format(1),
    help="Advertised cores = 100 x this per GPU.",
)
@option(
    "--disable-core-limit/--no-disable-core-limit",
    default=None,
    show_default=_FROM_CONFIG.format("false"),
    help="Do not cap compute (gpucores) inside containers.",
)
@option(
    "--mig-strategy",
    envvar="MIG_STRATEGY",
    show_envvar=True,
    type=click.Choice(["none", "mixed"]),
    show_default=_FROM_CONFIG.format("none"),
    help="none: whole GPUs only; mixed: also one resource per MIG profile.",
)
@option(
    "--topology-score/--no-topology-score",
    envvar="ENABLE_TOPOLOGY_SCORE",
    show_envvar=True,
    default=None,
    show_default="false",
    help="Publish hami.io/node-nvidia-score from NVML link data.",
)
@option(
    "--hook-path",
    envvar="HOOK_PATH",
    show_envvar=True,
    type=_PATH,
    default=Path("/usr/local"),
    show_default=True,
    help="Host directory holding vgpu/ (libvgpu.so and its files).",
)
@option(
    "--plugin-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/var/lib/kubelet/device-plugins"),
    show_default=True,
    help="kubelet's device-plugin directory (kubelet.sock and our sockets).",
)
@option(
    "--install-lib",
    type=_FILE,
    show_default="install nothing",
    help="Install this libvgpu.so into <hook-path>/vgpu first.",
)
@option(
    "--kubeconfig",
    envvar="KUBECONFIG",
    show_envvar=True,
    type=_PATH,
    show_default="in-cluster, else ~/.kube/config",
    help="Cluster configuration file.",
)
@option(
    "--fake-gpus",
    type=click.IntRange(min=0),
    show_default="real GPUs through NVML",
    help="Use N in-memory fake GPUs instead of NVML.",
)
@option(
    "--strict-config",
    is_flag=True,
    default=False,
    show_default=True,
    help="Refuse unknown device-config and config.json keys and bad values instead of warning.",
)
@option(
    "--print-config",
    is_flag=True,
    default=False,
    show_default=True,
    help="Print the effective settings and exit.",
)
@option("--debug", is_flag=True, default=False, show_default=True, help="Debug logging.")
@option(
    "--log-format",
    envvar="HAMI_LOG_FORMAT",
    show_envvar=True,
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text, or one JSON object per line.",
)
def command(
    node_name: str,
    config_file: Path | None,
    node_config: Path,
    resource_name: str | None,
    device_split_count: int | None,
    device_memory_scaling: float | None,
    device_cores_scaling: float | None,
    disable_core_limit: bool | None,
    mig_strategy: str | None,
    topology_score: bool | None,
    hook_path: Path,
    plugin_dir: Path,
    install_lib: Path | None,
    kubeconfig: Path | None,
    fake_gpus: int | None,
    strict_config: bool,
    print_config: bool,
    debug: bool,
    log_format: str,
) -> None:
    """Run the NVIDIA device plugin on a GPU node."""
    from hami.cmd.logsetup import configure
    from hami.deviceplugin.settings import PluginSettings, SettingsError, load_settings

    if strict_config:
        _check_strict(config_file, node_config)

    overrides: dict[str, Any] = {
        "resource_name": resource_name,
        "split_count": device_split_count,
        "memory_scaling": device_memory_scaling,
        "core_scaling": device_cores_scaling,
        "disable_core_limit": disable_core_limit,
        "mig_strategy": mig_strategy,
        "topology_score": topology_score,
    }
    ctx = click.get_current_context()
    sources = {key: source_of(ctx, param) for key, param in _OVERRIDE_PARAMS.items()}
    _check_plugin_dir(plugin_dir)
    try:
        base = PluginSettings(node_name=node_name, hook_path=hook_path, plugin_dir=plugin_dir)
        settings = load_settings(
            base, config_file, node_config, overrides, os.environ.get("DP_DISABLE_HEALTHCHECKS"),
            sources=sources,
        )  # fmt: skip
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if print_config:
        click.echo(json.dumps(settings.dump(), indent=2, sort_keys=True))
        return
    configure(debug=debug, fmt=log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, install_lib, kubeconfig, fake_gpus))


def _check_plugin_dir(plugin_dir: Path) -> None:
    """``--plugin-dir`` must be a directory, or not exist yet (kubelet creates it): the nearest
    existing path on the way there must be a directory."""
    for path in (plugin_dir, *plugin_dir.parents):
        if path.exists():
            if not path.is_dir():
                what = "is" if path == plugin_dir else f"is under {path}, which is"
                raise click.BadParameter(
                    f"{plugin_dir} {what} a file, not a directory", param_hint="'--plugin-dir'"
                )
            return


def _check_strict(config_file: Path | None, node_config: Path) -> None:
    """``--strict-config``: refuse files the lenient reading would only warn about."""
    from hami.config.devices import ConfigError, load_device_config

    try:
        load_device_config(config_file, strict=True)
        if node_config.exists():
            load_device_config(node_config, strict=True)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


async def _run(
    settings: Any, install_lib: Path | None, kubeconfig: Path | None, fake_gpus: int | None
) -> None:
    from hami.deviceplugin.app import DevicePluginApp
    from hami.deviceplugin.install import InstallError, install_hook
    from hami.deviceplugin.nvml import FakeNvml, Nvml, NvmlError, PynvmlNvml
    from hami.k8s.lightkube import KubeConfigError, LightkubeClient

    if install_lib is not None:
        try:
            install_hook(install_lib, settings.vgpu_dir)
        except InstallError as exc:
            raise click.ClickException(str(exc)) from exc
    try:
        nvml: Nvml = FakeNvml.with_gpus(fake_gpus) if fake_gpus is not None else PynvmlNvml()
    except NvmlError as exc:
        raise click.ClickException(f"NVML unavailable: {exc}") from exc
    try:
        client = LightkubeClient.from_kubeconfig(kubeconfig)
    except KubeConfigError as exc:
        nvml.close()
        raise click.ClickException(str(exc)) from None
    try:
        app = DevicePluginApp(settings, nvml, client)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, app.session.request_reregister)
        await app.run()
    except* OSError as group:  # e.g. a socket that cannot be created in --plugin-dir
        raise click.ClickException(f"device plugin stopped: {group.exceptions[0]}") from None
    finally:
        await client.close()
        nvml.close()
