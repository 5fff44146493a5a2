"""``hami config check FILE``: read a device-config file as HAMi v2.10 reads it.

Prints one line per key HAMi would ignore or we clamp (file and key named), and exits non-zero
only on what HAMi itself would refuse (unreadable file, broken YAML/JSON, a value of the wrong
type). ``--strict`` applies the old refusal of ``--strict-config`` instead.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group(name="config")
def command() -> None:
    """Check device-config files."""


@command.command(name="check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--strict",
    is_flag=True,
    default=False,
    show_default=True,
    help="Refuse unknown keys and out-of-range values, as --strict-config does.",
)
def check(file: Path, strict: bool) -> None:
    """Read FILE (device-config.yaml, its ConfigMap manifest, or a per-node config.json) and
    print what HAMi would ignore or refuse."""
    from hami.config.devices import read_device_config_file

    report = read_device_config_file(file, strict=strict)
    for problem in report.warnings:
        click.echo(f"warning: {problem}")
    for problem in report.errors:
        click.echo(f"error: {problem}", err=True)
    if report.errors:
        raise SystemExit(1)
    n = len(report.warnings)
    click.echo(f"{file}: loads as HAMi reads it ({n} warning{'' if n == 1 else 's'})")
