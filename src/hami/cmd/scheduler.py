"""``hami scheduler``: the kube-scheduler extender + admission webhook service.

Flags mirror HAMi's extender flags (spec §2.3). Only flags given explicitly override the
environment (``HAMI_*``) and the ``--config`` file; the effective settings are logged at start.
Boolean flags also take Go's ``--flag=true|false`` form and klog's ``-v=N`` is accepted (and
ignored: ``--debug`` sets the log level), so the HAMi chart's extender arguments work unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from hami.cmd.options import Option

log = logging.getLogger(__name__)

_PATH = click.Path(path_type=Path)
_FILE = click.Path(path_type=Path, dir_okay=False)

_FLAGS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--http-bind", "--http_bind", "http_bind"),
     {"help": "host:port of the extender (/filter, /bind) and the webhook."}),
    (("--cert-file", "--cert_file", "cert_file"),
     {"type": _FILE, "help": "TLS certificate (PEM), reloaded on change; needs --key-file."}),
    (("--key-file", "--key_file", "key_file"),
     {"type": _FILE, "help": "TLS private key (PEM); needs --cert-file."}),
    (("--metrics-bind-address", "metrics_bind_address"), {"help": "host:port of /metrics."}),
    (("--scheduler-name", "scheduler_name"),
     {"help": "schedulerName the webhook gives GPU pods."}),
    (("--node-scheduler-policy", "node_scheduler_policy"),
     {"type": click.Choice(["binpack", "spread"]), "help": "Default node policy."}),
    (("--gpu-scheduler-policy", "gpu_scheduler_policy"),
     {"help": "Default GPU policy: binpack, spread, topology-aware, mutex, numa or a chain."}),
    (("--node-label-selector", "node_label_selector"),
     {"help": "k=v,... selecting GPU nodes (empty: all)."}),
    (("--kubeconfig", "kubeconfig"), {"type": _PATH, "help": "Cluster configuration file."}),
    (("--kube-timeout", "kube_timeout"), {"help": "API call timeout, seconds or e.g. 30s."}),
    (("--kube-qps", "kube_qps"),
     {"type": float, "help": "Client-side apiserver request rate; 0 = unlimited."}),
    (("--kube-burst", "kube_burst"),
     {"type": int, "help": "Burst above --kube-qps; 0 = ceil(--kube-qps)."}),
    (("--node-lock-timeout", "node_lock_timeout"),
     {"help": "Age at which a node lock is stale, seconds or e.g. 5m."}),
    (("--node-lock-retry-timeout", "node_lock_retry_timeout"),
     {"help": "How long bind waits for a busy node lock, seconds or e.g. 28s."}),
    (("--leader-elect-resource-name", "leader_elect_resource_name"),
     {"help": "Name of the leader-election Lease."}),
    (("--leader-elect-resource-namespace", "leader_elect_resource_namespace"),
     {"help": "Namespace of the leader-election Lease (empty: the pod's own, POD_NAMESPACE)."}),
    (("--device-config-file", "device_config_file"),
     {"type": _FILE, "help": "HAMi device-config.yaml (or its ConfigMap manifest)."}),
    (("--log-format", "log_format"),
     {"type": click.Choice(["text", "json"]), "help": "text, or one JSON object per line."}),
]  # fmt: skip


#: Boolean settings: ``--x``, ``--x=true|false`` (Go) and ``--no-x``.
_BOOLS: list[tuple[str, str]] = [
    ("force_overwrite_default_scheduler", "Rewrite schedulerName default-scheduler to ours."),
    ("leader_elect", "Elect one leader among replicas (it registers nodes)."),
    ("legacy_metrics", "Also export the pre-v2.9 metric names (nodeGPUOverview, ...)."),
    ("profiling", "Serve /debug/pprof/* on the extender port."),
    ("debug", "Debug logging."),
    ("success_events", "Also record FilteringSucceed/BindingSucceed Events (2 writes per pod)."),
    ("enable_ascend", "Schedule Huawei Ascend NPUs too (the device config's vnpus models)."),
    ("enable_iluvatar", "Schedule Iluvatar GPUs too (the device config's iluvatars chips)."),
]

_NEGATED = "no_"


def _default(dest: str) -> str:
    """The built-in default of setting ``dest`` as ``--help`` shows it (flags only override)."""
    from hami.scheduler.settings import SchedulerSettings

    if dest == "kubeconfig":
        return "in-cluster, else $KUBECONFIG or ~/.kube/config"
    value = SchedulerSettings.model_fields[dest].default
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _options(fn: Any) -> Any:
    fn = click.option(
        "-v", "--v", "verbosity", type=int, show_default="0", cls=Option,
        help="klog verbosity (accepted and ignored; use --debug).",
    )(fn)  # fmt: skip
    for dest, about in reversed(_BOOLS):
        flag = "--" + dest.replace("_", "-")
        fn = click.option(f"--no-{flag[2:]}", _NEGATED + dest, is_flag=True, default=None,
                          hidden=True)(fn)  # fmt: skip
        fn = click.option(flag, dest, type=click.BOOL, is_flag=False, flag_value=True,
                          default=None, metavar="[=BOOL]", help=about, cls=Option,
                          show_default=_default(dest))(fn)  # fmt: skip
    for decls, kwargs in reversed(_FLAGS):
        fn = click.option(*decls, cls=Option, show_default=_default(decls[-1]), **kwargs)(fn)
    return fn


class _GoStyleCommand(click.Command):
    """Accepts klog's ``-v=4`` (click reads short options only as ``-v 4``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        for arg in args:
            out += ["-v", arg[3:]] if arg.startswith("-v=") else [arg]
        return super().parse_args(ctx, out)


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    """Explicit flags only (None = not given); ``--no-x`` becomes ``x=False``."""
    given: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None or key in ("verbosity", "strict_config"):
            continue
        if key.startswith(_NEGATED) and key[len(_NEGATED) :] in dict(_BOOLS):
            given[key[len(_NEGATED) :]] = False
        else:
            given[key] = value
    return given


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (kubelet stopping the pod) cancels the running task, so the runner shuts down
    cleanly: servers stop, the leader Lease is released (another replica takes over at once)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopping: list[bool] = []

    def _stop() -> None:
        if stopping:
            return  # already shutting down; a second cancel would cut the shutdown short
        log.info("SIGTERM received: shutting down")
        stopping.append(True)
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, _stop)
    except (NotImplementedError, RuntimeError):  # not the main thread / no signals here
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        if not stopping:
            raise
        task.uncancel()  # our own stop request, answered: finish normally
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@click.command(name="scheduler", cls=_GoStyleCommand)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    show_default="none",
    cls=Option,
    help="YAML settings file (snake_case keys); flags and HAMI_* variables override it.",
)
@click.option(
    "--strict-config",
    is_flag=True,
    default=False,
    show_default=True,
    help="Refuse unknown device-config keys and out-of-range values instead of warning.",
)
@_options
def command(config_file: Path | None, strict_config: bool, **flags: Any) -> None:
    """Run the scheduler extender (/filter, /bind) and the admission webhook (/webhook)."""
    from hami.cmd.logsetup import configure
    from hami.config.devices import ConfigError, load_device_config
    from hami.k8s.lightkube import KubeConfigError, LightkubeClient
    from hami.scheduler.runner import SchedulerRunner, ServeError
    from hami.scheduler.settings import SettingsError, load_settings

    given = _given(flags)
    try:
        settings = load_settings(given, config_file)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    configure(debug=settings.debug, fmt=settings.log_format)
    try:
        device_config = load_device_config(settings.device_config_file, strict=strict_config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

    async def _main() -> None:
        client = LightkubeClient.from_kubeconfig(
            settings.kubeconfig, timeout_s=settings.kube_timeout
        )
        try:
            runner = SchedulerRunner(settings, client, device_config=device_config)
            with _stop_on_sigterm():
                await runner.serve()
        finally:
            await client.close()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_main())
    except (KubeConfigError, ServeError) as exc:
        raise click.ClickException(str(exc)) from None
