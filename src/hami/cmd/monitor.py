"""``hami monitor``: the per-node vGPU monitor (HAMi's ``vGPUmonitor``, spec control-plane §7.2).

Configured as HAMi's: ``NODE_NAME`` and ``HOOK_PATH`` (default ``/usr/local/vgpu``) from the
environment, ``--metrics-bind-address`` (default ``:9394``), ``HAMI_RESYNC_INTERVAL`` (default
5m) for the cleanup of cache directories of pods that are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import click

from hami.cmd.options import option

_PATH = click.Path(path_type=Path)


class _GoStyleCommand(click.Command):
    """Accepts klog's ``-v=4`` as HAMi's chart passes it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        for arg in args:
            out += ["-v", arg[3:]] if arg.startswith("-v=") else [arg]
        return super().parse_args(ctx, out)


@click.command(name="monitor", cls=_GoStyleCommand)
@click.option("--node-name", envvar="NODE_NAME", required=True, help="This node's name.")
@click.option(
    "--hook-path", envvar="HOOK_PATH", type=_PATH, default=Path("/usr/local/vgpu"),
    show_default=True, help="Holds containers/<podUID>_<container>/*.cache.",
)  # fmt: skip
@click.option("--metrics-bind-address", default=":9394", show_default=True,
              help="Address of /metrics.")  # fmt: skip
@option(
    "--legacy-metrics", type=click.BOOL, is_flag=False, flag_value=True, default=False,
    show_default="false", metavar="[=BOOL]",
    help="Also export HAMi's pre-v2.9 metric names.",
)  # fmt: skip
@click.option(
    "--resync-interval", envvar="HAMI_RESYNC_INTERVAL", default="5m", show_default=True,
    help="Remove cache dirs of pods gone for this long (Go duration).",
)  # fmt: skip
@click.option("--feedback-interval", default="5s", show_default=True, help="Feedback period.")
@click.option(
    "--mig-apply-lock", type=_PATH, default=Path("/tmp/vgpulock/mig-apply.lock"),
    show_default=True, help="Feedback pauses while this file exists.",
)  # fmt: skip
@option("--kubeconfig", envvar="KUBECONFIG", type=_PATH,
        show_default="in-cluster, else ~/.kube/config", help="Kubeconfig file.")  # fmt: skip
@click.option("--no-nvml", is_flag=True, show_default=True,
              help="Export no host GPU figures (no NVML on this node).")  # fmt: skip
@click.option("--debug", is_flag=True, show_default=True, help="Debug logging.")
@option("-v", "--v", "verbosity", type=int, show_default="0",
        help="klog verbosity (accepted, ignored).")  # fmt: skip
def command(
    node_name: str,
    hook_path: Path,
    metrics_bind_address: str,
    legacy_metrics: bool,
    resync_interval: str,
    feedback_interval: str,
    mig_apply_lock: Path,
    kubeconfig: Path | None,
    no_nvml: bool,
    debug: bool,
    verbosity: int | None,
) -> None:
    """Export per-container GPU metrics and run the priority feedback loop on this node."""
    from hami.monitor.service import MonitorSettings, parse_duration, split_bind

    try:
        settings = MonitorSettings(
            node_name=node_name,
            hook_path=hook_path,
            metrics_bind_address=metrics_bind_address,
            legacy_metrics=legacy_metrics,
            resync_interval=parse_duration(resync_interval),
            feedback_interval=max(0.05, parse_duration(feedback_interval)),
            mig_lock_file=mig_apply_lock,
        )
        split_bind(metrics_bind_address)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, kubeconfig, no_nvml))


async def _run(settings: object, kubeconfig: Path | None, no_nvml: bool) -> None:
    from hami.k8s.lightkube import KubeConfigError, LightkubeClient
    from hami.monitor.nvml import HostGpus, PynvmlHostGpus, StaticHostGpus
    from hami.monitor.service import Monitor, MonitorSettings, serve_metrics

    assert isinstance(settings, MonitorSettings)
    log = logging.getLogger("hami.monitor")
    try:
        client = LightkubeClient.from_kubeconfig(kubeconfig)
    except KubeConfigError as exc:
        raise click.ClickException(str(exc)) from None
    hosts: HostGpus
    if no_nvml:
        hosts = StaticHostGpus()
    else:
        try:
            hosts = PynvmlHostGpus()
        except Exception as exc:  # pynvml raises its own error classes, or OSError
            await client.close()
            raise click.ClickException(f"NVML unavailable: {exc} (use --no-nvml)") from exc
    try:
        monitor = Monitor(settings, client, hosts)
        server = serve_metrics(monitor, settings.metrics_bind_address)
        log.info(
            "hami monitor on node %s: regions under %s, /metrics on %s, resync %.0fs",
            settings.node_name, settings.containers_dir, settings.metrics_bind_address,
            settings.resync_interval,
        )  # fmt: skip
        await monitor.run(server.serve)
    finally:
        await client.close()
        hosts.close()
