"""Shared click pieces of the subcommands: options with hidden alias spellings."""

from __future__ import annotations

from typing import Any

import click


class AliasOption(click.Option):
    """An option that also answers to old spellings (``hidden_aliases``) without listing them
    in ``--help``: renamed flags keep working in existing scripts and manifests."""

    def __init__(
        self, param_decls: list[str], *, hidden_aliases: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(param_decls, **kwargs)
        self.hidden_aliases = hidden_aliases

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown = self.opts
        self.opts = [o for o in shown if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def source_of(ctx: click.Context, name: str) -> str:
    """How a person set parameter ``name``: its environment variable when it came from there,
    else its (first) flag."""
    param = next((p for p in ctx.command.params if p.name == name), None)
    if param is None:
        return name
    source = ctx.get_parameter_source(name)
    envvar = getattr(param, "envvar", None)
    if source is click.core.ParameterSource.ENVIRONMENT and isinstance(envvar, str):
        return envvar
    return param.opts[0] if param.opts else name
