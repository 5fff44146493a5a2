"""Shared click pieces of the subcommands: options with hidden alias spellings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

_FC = TypeVar("_FC", bound=Callable[..., Any] | click.Command)


class Option(click.Option):
    """A click option that also answers to old spellings (``hidden_aliases``) without listing
    them in ``--help`` (renamed flags keep working in existing scripts and manifests), and shows
    a string ``show_default`` as written (click puts it in parentheses)."""

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

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        if isinstance(self.show_default, str) and "default" in extra:
            extra["default"] = self.show_default
        return extra


def option(*param_decls: str, **kwargs: Any) -> Callable[[_FC], _FC]:
    """``click.option`` with :class:`Option`."""
    return click.option(*param_decls, cls=Option, **kwargs)


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
