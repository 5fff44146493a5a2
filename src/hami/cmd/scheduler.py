"""``hami scheduler``: the kube-scheduler extender + admission webhook service.

Flags mirror HAMi's extender flags (spec §2.3). Only flags given explicitly override the
environment (``HAMI_*``) and the ``--config`` file; the effective settings are logged at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import click

_FLAGS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--http-bind", "--http_bind", "http_bind"), {"help": "host:port of the extender."}),
    (("--cert-file", "--cert_file", "cert_file"), {"type": click.Path(path_type=Path)}),
    (("--key-file", "--key_file", "key_file"), {"type": click.Path(path_type=Path)}),
    (("--metrics-bind-address", "metrics_bind_address"), {"help": "host:port of /metrics."}),
    (("--scheduler-name", "scheduler_name"), {}),
    (("--node-scheduler-policy", "node_scheduler_policy"),
     {"type": click.Choice(["binpack", "spread"])}),
    (("--gpu-scheduler-policy", "gpu_scheduler_policy"), {}),
    (("--node-label-selector", "node_label_selector"), {"help": "k=v,... of GPU nodes."}),
    (("--kubeconfig", "kubeconfig"), {"type": click.Path(path_type=Path)}),
    (("--kube-timeout", "kube_timeout"), {"help": "API call timeout (e.g. 30s)."}),
    (("--node-lock-timeout", "node_lock_timeout"), {"help": "Node lock expiry (e.g. 5m)."}),
    (("--node-lock-retry-timeout", "node_lock_retry_timeout"), {}),
    (("--force-overwrite-default-scheduler/--no-force-overwrite-default-scheduler",
      "force_overwrite_default_scheduler"), {"default": None}),
    (("--leader-elect/--no-leader-elect", "leader_elect"), {"default": None}),
    (("--leader-elect-resource-name", "leader_elect_resource_name"), {}),
    (("--leader-elect-resource-namespace", "leader_elect_resource_namespace"), {}),
    (("--device-config-file", "device_config_file"), {"type": click.Path(path_type=Path)}),
    (("--legacy-metrics/--no-legacy-metrics", "legacy_metrics"), {"default": None}),
    (("--debug/--no-debug", "debug"), {"default": None}),
]  # fmt: skip


def _options(fn: Any) -> Any:
    for decls, kwargs in reversed(_FLAGS):
        fn = click.option(*decls, **kwargs)(fn)
    return fn


@click.command(name="scheduler")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="YAML settings file (snake_case keys).",
)
@_options
def command(config_file: Path | None, **flags: Any) -> None:
    """Run the scheduler extender (/filter, /bind) and the admission webhook (/webhook)."""
    from hami.config.devices import ConfigError
    from hami.k8s.lightkube import LightkubeClient
    from hami.scheduler.runner import SchedulerRunner
    from hami.scheduler.settings import SettingsError, load_settings

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = load_settings(given, config_file)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not settings.debug:  # one INFO line per API request would cost more than the request
        for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)

    async def _main() -> None:
        client = LightkubeClient.from_kubeconfig(
            settings.kubeconfig, timeout_s=settings.kube_timeout
        )
        try:
            runner = SchedulerRunner(settings, client)
            await runner.serve()
        finally:
            await client.close()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
