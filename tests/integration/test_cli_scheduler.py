"""`hami scheduler` as a real process against the apiserver stand-in; flag/settings errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from hami.cli import main
from tests.integration.conftest import add_nodes
from tests.support.apiserver import ApiServerThread

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_scheduler_process_serves_and_stops_cleanly(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 2)
    port, metrics = _port(), _port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hami.cli import main; main()", "scheduler",
         "--kubeconfig", str(apiserver.kubeconfig_path), "--http-bind", f"127.0.0.1:{port}",
         "--metrics-bind-address", f"127.0.0.1:{metrics}", "--node-lock-timeout", "2m"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "HAMI_SCHEDULER_NAME": "from-env"},
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
        text = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
        assert "hami_build_info" in text
        assert text.count("hami_gpu_memory_limit_bytes{") == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "'node_lock_timeout': 120.0" in out  # effective settings logged at start
    assert "'scheduler_name': 'from-env'" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--gpu-scheduler-policy", "fastest"], "unknown GPU policy"),
     (["--node-lock-timeout", "soon"], "not a duration"),
     (["--node-scheduler-policy", "random"], "Invalid value")],
    ids=["policy", "duration", "choice"],
)  # fmt: skip
def test_bad_flags_exit_2_with_a_clear_message(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, ["scheduler", *args])
    assert result.exit_code == 2
    assert needle in result.output
