"""`hami scheduler --log-format json` as a real process: every line is one JSON object, and the
filter's INFO line carries its fields."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.component.scheduler.objects import container, filter_args, make_pod
from tests.integration.conftest import add_nodes
from tests.support.apiserver import ApiServerThread

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_json_log_lines_carry_the_filter_decision(apiserver: ApiServerThread) -> None:
    nodes = add_nodes(apiserver, 2)
    pod = apiserver.store.create(make_pod("p1", containers=[container(gpumem=3000, gpucores=20)]))
    port, metrics = _port(), _port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hami.cli import main; main()", "scheduler",
         "--kubeconfig", str(apiserver.kubeconfig_path), "--http-bind", f"127.0.0.1:{port}",
         "--metrics-bind-address", f"127.0.0.1:{metrics}", "--log-format", "json", "-v=4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=os.environ,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready
        body = httpx.post(f"http://127.0.0.1:{port}/filter", json=filter_args(pod, nodes)).json()
        assert len(body["NodeNames"]) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "msg"} <= set(obj) for obj in lines)
    [decision] = [o for o in lines if o.get("result") == "placed"]
    assert decision["level"] == "INFO" and decision["pod"] == "default/p1"
    assert decision["node"] == body["NodeNames"][0]
    assert [(g["mem"], g["cores"]) for g in decision["gpus"]] == [(3000, 20)]
