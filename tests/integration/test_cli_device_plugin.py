"""`hami device-plugin` on the command line: bad input is one `Error:` line with the right exit
code (2: flags/settings, 1: runtime), never a traceback; without kubelet it says it waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.apiserver import ApiServerThread

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hami.cli import main; main()", "device-plugin", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "NODE_NAME", "CONFIG_FILE")
           and not k.startswith(("DEVICE_", "RESOURCE_NAME", "MIG_STRATEGY"))}  # fmt: skip
    return {**env, "HOME": str(tmp_path), **extra}


def _one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    assert proc.returncode == code, out
    return errors[0]


@pytest.mark.parametrize(
    ("args", "env", "code", "needle"),
    [(["--device-split-count", "0"], {}, 2, "--device-split-count: must be >= 1, got 0"),
     ([], {"DEVICE_SPLIT_COUNT": "0"}, 2, "DEVICE_SPLIT_COUNT: must be >= 1, got 0"),
     ([], {"DEVICE_MEMORY_SCALING": "-1"}, 2, "DEVICE_MEMORY_SCALING: must be > 0"),
     (["--resource-name", "gpu"], {}, 2, "--resource-name: 'gpu' needs a domain prefix"),
     (["--plugin-dir", "{file}"], {}, 2, "is a file"),
     (["--plugin-dir", "{file}/sub"], {}, 2, "which is a file, not a directory"),
     (["--device-config-file", "{cm}"], {}, 2, "data.device-config.yaml: invalid YAML"),
     (["--kubeconfig", "{tmp}"], {}, 1, "is a directory"),
     (["--kubeconfig", "{bad}"], {}, 1, "invalid YAML (line 1)"),
     ([], {}, 1, "no cluster configuration: not in a cluster")],
    ids=["split-flag", "split-env", "scaling-env", "resource-name", "plugin-dir-file",
         "plugin-dir-under-file", "configmap-broken-yaml", "kubeconfig-dir", "kubeconfig-yaml",
         "no-kubeconfig"],
)  # fmt: skip
def test_bad_input_is_one_error_line(
    tmp_path: Path, args: list[str], env: dict[str, str], code: int, needle: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
                  "  device-config.yaml: |\n    nvidia: [\n")  # fmt: skip
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text("clusters: [}\n")
    subst = {"{file}": str(afile), "{cm}": str(cm), "{tmp}": str(tmp_path), "{bad}": str(bad)}
    argv = [next((a.replace(k, v) for k, v in subst.items() if k in a), a) for a in args]
    proc = _cli("--node-name", "n1", "--fake-gpus", "1", "--node-config",
                str(tmp_path / "none.json"), *argv, env=_env(tmp_path, **env))  # fmt: skip
    assert needle in _one_error(proc, code)


def test_old_config_file_flag_still_works(tmp_path: Path) -> None:
    cfg = tmp_path / "device-config.yaml"
    cfg.write_text("nvidia:\n  deviceSplitCount: 7\n")
    for flag in ("--device-config-file", "--config-file"):
        proc = _cli("--node-name", "n1", flag, str(cfg), "--node-config",
                    str(tmp_path / "none.json"), "--print-config", env=_env(tmp_path))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert '"split_count": 7' in proc.stdout


def test_waits_for_kubelet_and_says_so(apiserver: ApiServerThread, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "device-plugins"
    plugin_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hami.cli import main; main()", "device-plugin",
         "--node-name", "n1", "--fake-gpus", "1", "--node-config", str(tmp_path / "none.json"),
         "--plugin-dir", str(plugin_dir), "--kubeconfig", str(apiserver.kubeconfig_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env=_env(tmp_path),
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "waiting for kubelet" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    text = "".join(lines)
    assert f"waiting for kubelet: {plugin_dir / 'kubelet.sock'} does not exist yet" in text, text
    assert "Traceback" not in text


def test_a_socket_it_cannot_create_stops_it_with_one_line(
    apiserver: ApiServerThread, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "device-plugins"
    (plugin_dir / "nvidia-gpu.sock").mkdir(parents=True)  # in the way of our socket
    (plugin_dir / "kubelet.sock").write_text("")
    proc = _cli("--node-name", "n1", "--fake-gpus", "1", "--node-config",
                str(tmp_path / "none.json"), "--plugin-dir", str(plugin_dir),
                "--kubeconfig", str(apiserver.kubeconfig_path), env=_env(tmp_path))  # fmt: skip
    line = _one_error(proc, 1)
    assert f"device plugin stopped: [Errno 21] Is a directory: '{plugin_dir}/nvidia-gpu.sock'" \
        in line
