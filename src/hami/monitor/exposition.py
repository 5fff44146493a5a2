"""Prometheus text exposition (format 0.0.4) of the monitor's samples, written directly.

A busy node has about ten thousand series (100 containers x 8 GPUs x 12 families);
prometheus_client's generic writer re-validates and escapes every label name of every sample,
which costs more than computing the samples. The names and label names here come from
:mod:`hami.monitor.families` (valid by construction), so only label values are escaped. The test
suite checks that the output parses to exactly what prometheus_client's own writer produces.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from hami.monitor.families import BY_NAME
from hami.monitor.samples import Samples

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def render(samples: Samples) -> bytes:
    out: list[str] = []
    # container families share one label set: format each distinct one once per scrape
    memo: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    for name, rows in samples.items():
        fam = BY_NAME[name]
        out.append(f"# HELP {name} {_help(fam.help)}\n# TYPE {name} gauge\n")
        names = fam.labels
        for labels, value in rows:
            key = (names, labels)
            text = memo.get(key)
            if text is None:
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(names, labels, strict=True))
                memo[key] = text
            out.append(f"{name}{{{text}}} {_number(value)}\n")
    return "".join(out).encode()


def asgi_app(produce: Callable[[], Samples]) -> Callable[..., Any]:
    """A minimal ASGI app serving ``render(produce())`` on every GET (any path)."""

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope.get("type") != "http":
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _reply(send, 405, b"method not allowed\n", "text/plain")
            return
        try:
            body = render(produce())
        except Exception as exc:  # a scrape must never take the server down
            log.error("/metrics: collect failed: %s: %s", type(exc).__name__, exc)
            await _reply(send, 500, f"collect failed: {exc}\n".encode(), "text/plain")
            return
        await _reply(send, 200, body if scope.get("method") == "GET" else b"", CONTENT_TYPE)

    return app


async def _reply(send: Callable[..., Any], status: int, body: bytes, ctype: str) -> None:
    headers: Iterable[tuple[bytes, bytes]] = [
        (b"content-type", ctype.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})
