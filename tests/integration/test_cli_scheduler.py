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


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hami.cli import main; main()", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env or dict(os.environ),
    )  # fmt: skip


def _one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``Error:`` line of a failed command (and no traceback anywhere)."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    assert proc.returncode == code, out
    return errors[0]


def test_missing_tls_file_stops_the_scheduler_with_its_name(
    apiserver: ApiServerThread, tmp_path: Path
) -> None:
    key = tmp_path / "tls.key"
    key.write_text("not a key")
    proc = _run_cli(
        "scheduler", "--kubeconfig", str(apiserver.kubeconfig_path),
        "--http-bind", f"127.0.0.1:{_port()}", "--metrics-bind-address", f"127.0.0.1:{_port()}",
        "--cert-file", str(tmp_path / "missing.crt"), "--key-file", str(key),
    )  # fmt: skip
    line = _one_error(proc, 1)
    assert f"TLS certificate file {tmp_path / 'missing.crt'} not found" in line


def test_unreadable_tls_pair_stops_the_scheduler(
    apiserver: ApiServerThread, tmp_path: Path
) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("garbage")
    key.write_text("garbage")
    proc = _run_cli(
        "scheduler", "--kubeconfig", str(apiserver.kubeconfig_path),
        "--http-bind", f"127.0.0.1:{_port()}", "--metrics-bind-address", f"127.0.0.1:{_port()}",
        "--cert-file", str(cert), "--key-file", str(key),
    )  # fmt: skip
    line = _one_error(proc, 1)
    assert str(cert) in line and "cannot load TLS certificate" in line


def test_port_in_use_stops_the_scheduler_naming_the_address(apiserver: ApiServerThread) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        proc = _run_cli(
            "scheduler", "--kubeconfig", str(apiserver.kubeconfig_path),
            "--http-bind", f"127.0.0.1:{_port()}",
            "--metrics-bind-address", f"127.0.0.1:{taken}",
        )  # fmt: skip
    line = _one_error(proc, 1)
    assert f"metrics server: cannot listen on 127.0.0.1:{taken}" in line


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [(["--http-bind", "garbage"], {}, "--http-bind: bad bind address 'garbage'"),
     (["--http-bind", "127.0.0.1:70000"], {}, "port 0-65535"),
     ([], {"HAMI_METRICS_BIND_ADDRESS": "nowhere"}, "HAMI_METRICS_BIND_ADDRESS: bad bind"),
     (["--cert-file", "/tmp/tls.crt"], {}, "--cert-file is set but key_file (--key-file"),
     ([], {"HAMI_KEY_FILE": "/tmp/tls.key"}, "HAMI_KEY_FILE is set but cert_file"),
     (["--kube-qps", "-1"], {}, "--kube-qps: Input should be greater than or equal to 0"),
     ([], {"HAMI_KUBE_QPS": "fast"}, "HAMI_KUBE_QPS: Input should be a valid number"),
     ([], {"HAMI_NODELOCK_EXPIRE": "soon"}, "HAMI_NODELOCK_EXPIRE: not a duration")],
    ids=["bind-garbage", "bind-port-range", "bind-env", "cert-without-key", "key-without-cert",
         "qps-flag", "qps-env", "env-alias"],
)  # fmt: skip
def test_settings_errors_name_the_flag_or_variable(
    args: list[str], env: dict[str, str], needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["scheduler", *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0], result.output
    assert "Traceback" not in result.output and "pydantic" not in result.output


def test_settings_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("kube_burst: -3\n")
    result = CliRunner().invoke(main, ["scheduler", "--config", str(settings)])
    assert result.exit_code == 2
    assert f"{settings}: kube_burst: Input should be greater than or equal to 0" in result.output


@pytest.mark.parametrize("case", ["missing", "directory", "bad-yaml", "not-a-mapping",
                                  "no-contexts", "no-default"])  # fmt: skip
def test_kubeconfig_problems_are_one_line(case: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}  # fmt: skip
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    path = tmp_path / "kubeconfig"
    args = ["--kubeconfig", str(path)]
    needle = {"missing": f"kubeconfig {path} not found", "directory": "is a directory",
              "bad-yaml": "invalid YAML (line 2)", "not-a-mapping": "not a kubeconfig",
              "no-contexts": "missing 'contexts'",
              "no-default": "not in a cluster (KUBERNETES_SERVICE_HOST unset)"}[case]  # fmt: skip
    if case == "directory":
        path.mkdir()
    elif case == "bad-yaml":
        path.write_text("clusters: [\n")
    elif case == "not-a-mapping":
        path.write_text("- a\n- b\n")
    elif case == "no-contexts":
        path.write_text("clusters: []\n")
    elif case == "no-default":
        args = []
    proc = _run_cli("scheduler", "--http-bind", f"127.0.0.1:{_port()}", *args, env=env)
    assert needle in _one_error(proc, 1)


@pytest.mark.parametrize("command", ["scheduler", "simulate"])
def test_configmap_with_broken_inner_yaml_is_one_line(command: str, tmp_path: Path) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
                  "  device-config.yaml: |\n    nvidia: [\n")  # fmt: skip
    proc = _run_cli(command, "--device-config-file", str(cm))
    line = _one_error(proc, 2)
    assert f"{cm}: data.device-config.yaml: invalid YAML" in line
