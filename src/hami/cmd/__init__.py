"""Subcommands of the ``hami`` CLI, one module each, loaded lazily by :mod:`hami.cli`.

Each module exposes ``command``: a :class:`click.Command`. Keeping them apart means starting one
component never imports another's heavy dependencies (grpc, starlette, lightkube).
"""
