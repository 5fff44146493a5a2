"""``hami device-plugin`` as a real process: real nvidia-ml-py over the fake ``libnvidia-ml.so.1``,
the lightkube adapter against the apiserver stand-in, and the kubelet stand-in over unix sockets.

One scenario, end to end: register, advertise 2 GPUs x split 10, publish the node annotation,
serve an Allocate, stream a GPU going unhealthy after an XID is injected through the fake's XID
file, and re-register on SIGHUP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hami.api import annotations as ann
from hami.cmd.device_plugin import command
from tests.support.apiserver import ApiServerThread
from tests.support.kubelet import KubeletStandIn

from .pods import NODE, NS, bound_pod, container, lock_value, node

ROOT = Path(__file__).resolve().parents[3]
FAKE_DIR = ROOT / "libvgpu" / "build" / "fake"
U0 = "GPU-fa4e0000-0000-4000-8000-000000000000"
U1 = "GPU-fa4e0000-0000-4000-8000-000000000001"
GPU = "nvidia.com/gpu"


def _wait(pred, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


@pytest.fixture
def plugin_process(
    apiserver: ApiServerThread, sock_dir: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    if not (FAKE_DIR / "libnvidia-ml.so.1").exists():
        subprocess.run(["make", "-C", str(ROOT / "libvgpu" / "tests")], check=True)
    apiserver.store.create(node())
    xid_file = tmp_path / "xid"
    xid_file.touch()
    lib = tmp_path / "libvgpu.so"
    lib.write_bytes(b"not really a library")
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": str(FAKE_DIR),
        "FAKE_CUDA_DEVICES": "2",
        "FAKE_CUDA_MEM_MB": "24576",
        "FAKE_NVML_XID_FILE": str(xid_file),
        "NODE_NAME": NODE,
    }
    args = [
        sys.executable, "-c", "from hami.cli import main; main()", "device-plugin",
        "--kubeconfig", str(apiserver.kubeconfig_path),
        "--plugin-dir", str(sock_dir),
        "--hook-path", str(tmp_path / "hook"),
        "--install-lib", str(lib),
        "--node-config", str(tmp_path / "absent.json"),
    ]  # fmt: skip
    log = (tmp_path / "plugin.log").open("w")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc, xid_file
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_process_end_to_end(
    apiserver: ApiServerThread,
    sock_dir: Path,
    tmp_path: Path,
    plugin_process: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, xid_file = plugin_process
    with KubeletStandIn(sock_dir, NODE, apiserver.url) as kubelet:
        ok = kubelet.wait_devices(GPU, 20, timeout=30)
        if not ok:
            proc.terminate()
            output = (tmp_path / "plugin.log").read_text()
            pytest.fail(f"plugin did not register: {output[-3000:]}")
        assert sorted(kubelet.table.devices(GPU)) == sorted(
            [f"{U0}-{i}" for i in range(10)] + [f"{U1}-{i}" for i in range(10)]
        )

        def annotation() -> str | None:
            annos = apiserver.store.get("nodes", NODE)["metadata"].get("annotations") or {}
            return annos.get(ann.NODE_NVIDIA_REGISTER)

        assert _wait(lambda: annotation() is not None)
        value = annotation()
        assert value is not None
        assert [d["id"] for d in json.loads(value)] == [U0, U1]
        assert {d["type"] for d in json.loads(value)} == {"NVIDIA Fake GPU"}

        pod = bound_pod("p1", f"{U1},NVIDIA,4096,25:;", containers=[container("main", 1)])
        apiserver.store.create(pod)
        # The plugin writes the node too (registration, its lock sweep): a merge patch, not a
        # read-modify-update that a concurrent write turns into a 409.
        apiserver.store.patch(
            "nodes", NODE, {"metadata": {"annotations": {ann.NODE_LOCK: lock_value("p1")}}},
            namespace="",
        )  # fmt: skip
        result = kubelet.admit(apiserver.store.get("pods", "p1", NS))
        envs = result.envs("main")
        assert envs["NVIDIA_VISIBLE_DEVICES"] == U1
        assert envs["CUDA_DEVICE_MEMORY_LIMIT_0"] == "4096m"
        assert envs["CUDA_DEVICE_SM_LIMIT"] == "25"
        (alloc,) = result.for_container("main")
        lib_mount = next(m for m in alloc.response.mounts if m.container_path.endswith(".so"))
        assert Path(lib_mount.host_path).name.startswith("libvgpu.so.")
        assert Path(lib_mount.host_path).read_bytes() == b"not really a library"
        annos = apiserver.store.get("pods", "p1", NS)["metadata"]["annotations"]
        assert annos[ann.BIND_PHASE] == "success"

        with xid_file.open("a") as fh:
            fh.write("0 79\n")
        assert kubelet.wait_devices(GPU, 10, timeout=20)
        bad = {i for i, d in kubelet.table.devices(GPU).items() if d.health == "Unhealthy"}
        assert bad == {f"{U0}-{i}" for i in range(10)}
        assert _wait(lambda: '"health":true' not in (annotation() or "").split(U1)[0])

        proc.send_signal(signal.SIGHUP)  # re-register, as after a kubelet restart
        assert kubelet.wait_for(lambda k: len(k.registrations) == 2, 20)
        assert kubelet.wait_devices(GPU, 10, timeout=20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Missing option '--node-name'"),
        (["--node-name", "n1", "--device-split-count", "0"], "--device-split-count: must be >= 1"),
        (["--node-name", "n1", "--config-file", "/nonexistent.yaml"], "cannot read"),
    ],
    ids=["no-node", "bad-split", "missing-config"],
)
def test_cli_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(command, args, env={"NODE_NAME": ""})
    assert result.exit_code == 2
    assert message in result.output


def test_cli_print_config_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "device-config.yaml"
    cfg.write_text("nvidia:\n  deviceSplitCount: 4\n  deviceMemoryScaling: 2\n")
    per_node = tmp_path / "config.json"
    per_node.write_text(json.dumps({"nodeconfig": [{"name": "n1", "devicesplitcount": 6}]}))
    args = ["--node-name", "n1", "--config-file", str(cfg), "--node-config", str(per_node)]
    args += ["--device-cores-scaling", "3", "--print-config"]
    result = CliRunner().invoke(command, args, env={"DP_DISABLE_HEALTHCHECKS": "48"})
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["split_count"], out["memory_scaling"], out["core_scaling"]) == (6, 2.0, 3.0)
    assert 48 in out["ignored_xids"]
    assert out["health_checks"] is True
