"""Our /metrics writer parses to exactly what prometheus_client's writer gives, and serves."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hami.monitor.exposition import CONTENT_TYPE, asgi_app, render
from hami.monitor.samples import Samples
from hami.monitor.service import build_registry
from tests.unit.monitor.test_region import v1_region, write
from tests.unit.monitor.test_service import UID, make, pod, region_dir


def parsed(
    text: str,
) -> list[tuple[str, str, str, list[tuple[str, tuple[tuple[str, str], ...], float]]]]:
    out = []
    for fam in text_string_to_metric_families(text):
        samples = [
            (s.name, tuple(sorted(s.labels.items())), s.value if not math.isnan(s.value) else -1.5)
            for s in fam.samples
        ]
        out.append((fam.name, fam.type, fam.documentation, samples))
    return out


def test_same_as_prometheus_client(tmp_path: Any) -> None:
    m = make(tmp_path, legacy_metrics=True)
    m._on_pod("ADDED", None, pod(name='we"ird\\pod\nname'))
    write(region_dir(tmp_path, f"{UID}_main") / "x.cache", v1_region())
    ours = render(m.samples()).decode()
    theirs = generate_latest(build_registry(m)).decode()
    assert parsed(ours) == parsed(theirs)
    assert 'pod="we\\"ird\\\\pod\\nname"' in ours


def test_special_values() -> None:
    samples: Samples = {
        "hami_build_info": [(("v", "r", "d", "g", "c", "p"), float("nan"))],
        "hami_host_gpu_utilization_ratio": [
            (("n", "0", "u", "t"), float("inf")),
            (("n", "1", "u", "t"), 1e20),
        ],
    }
    text = render(samples).decode()
    assert " NaN\n" in text and " +Inf\n" in text and " 1e+20\n" in text
    values = [s.value for f in text_string_to_metric_families(text) for s in f.samples]
    assert math.isnan(values[0]) and values[1:] == [math.inf, 1e20]


def test_asgi_app_serves_text_and_refuses_other_methods() -> None:
    app = asgi_app(lambda: {"hami_build_info": [(("v", "r", "d", "g", "c", "p"), 1.0)]})

    def call(method: str) -> tuple[int, dict[bytes, bytes], bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request"}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        asyncio.run(app({"type": "http", "method": method, "path": "/metrics"}, receive, send))
        return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]

    status, headers, body = call("GET")
    assert status == 200 and headers[b"content-type"] == CONTENT_TYPE.encode()
    assert b'hami_build_info{version="v"' in body
    assert call("POST")[0] == 405


def test_a_failing_collect_is_a_500_and_one_log_line(caplog: Any) -> None:
    def boom() -> Samples:
        raise OSError("disk on fire")

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    asyncio.run(asgi_app(boom)({"type": "http", "method": "GET"}, receive, send))
    assert sent[0]["status"] == 500
    (rec,) = caplog.records
    assert "disk on fire" in rec.getMessage() and rec.exc_info is None
