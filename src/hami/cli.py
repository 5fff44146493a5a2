"""The ``hami`` command line: a thin click group whose subcommands load on demand."""

from __future__ import annotations

import importlib

import click

# name -> module under hami.cmd that defines ``command``
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("hami.cmd.simulate", "Schedule pods onto a cluster described in YAML, offline."),
    "scheduler": ("hami.cmd.scheduler", "Run the scheduler extender and admission webhook."),
    "device-plugin": ("hami.cmd.device_plugin", "Run the NVIDIA device plugin on a GPU node."),
    "run": ("hami.cmd.run", "Run a local command with libvgpu preloaded and GPU caps set."),
    "config": ("hami.cmd.config", "Check a device-config file as HAMi reads it (config check)."),
    "monitor": ("hami.cmd.monitor", "Run the node monitor: GPU metrics and priority feedback."),
    "top": ("hami.cmd.top", "Show GPU allocation (and usage) per node, GPU and pod."),
    "scheduler-config": ("hami.cmd.scheduler_config", "Print the kube-scheduler configuration."),
    "certs": ("hami.cmd.certs", "Create or renew the webhook's TLS Secret and patch caBundle."),
}


class _LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        try:
            module = importlib.import_module(entry[0])
        except ModuleNotFoundError as exc:
            if exc.name != entry[0]:
                raise
            return None
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{entry[0]} defines no click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in sorted(_SUBCOMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="hami")
def main() -> None:
    """hami: share GPUs between Kubernetes pods with hard memory and compute caps."""
