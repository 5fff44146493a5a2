"""Logging of the long-running commands: ``--log-format text|json`` on stderr.

``text``: ``<time> <LEVEL> <logger>: <message>`` followed by the record's extra fields as
``key=value`` (``log.info("...", extra={"pod": "ns/p"})`` shows ``pod=ns/p``). ``json``: one JSON
object per line with ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger``, ``msg``,
the extra fields, and ``exc`` with the traceback when there is one; for log pipelines.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final

FORMATS: Final = ("text", "json")

#: Attributes every LogRecord has; anything else on a record came in through ``extra``
#: (except uvicorn's ``color_message``, the same message with terminal colours).
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
#: Chatty third-party loggers (one INFO line per HTTP request) kept at WARNING unless debugging.
_NOISY: Final = ("httpx", "httpx2", "httpcore", "httpcore2")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed with ``extra=`` (in the order given)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"}


_NEEDS_QUOTES = re.compile(r'[ "=\n]').search


def _text_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value if value and not _NEEDS_QUOTES(value) else json.dumps(value)
    if kind is int:
        return str(value)  # what json.dumps writes, without its machinery (one line per pod)
    if kind is float and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return value if value and not _NEEDS_QUOTES(value) else json.dumps(value)
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return json.dumps(value, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> key=value ...`` (traceback on the lines below)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = extra_fields(record)
        if not fields:
            return line
        return line + " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, msg, the extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        obj: dict[str, Any] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            obj.setdefault(key, value)
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            obj["exc"] = record.exc_text
        if record.stack_info:
            obj["stack"] = self.formatStack(record.stack_info)
        return json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for ``--log-format`` ``fmt`` (``text`` or ``json``)."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"unknown log format {fmt!r}; allowed: {', '.join(FORMATS)}")


def configure(*, debug: bool, fmt: str = "text") -> None:
    """Root logging on stderr at INFO (DEBUG with ``debug``) in format ``fmt``.

    Like :func:`logging.basicConfig`, nothing changes when the root logger already has handlers
    (an embedding program or a test harness configured logging itself).
    """
    root = logging.getLogger()
    chosen = formatter(fmt)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(chosen)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.WARNING)
