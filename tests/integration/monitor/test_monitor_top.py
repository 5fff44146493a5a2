"""``hami top`` against the apiserver stand-in with a workload our scheduler placed (golden output),
its JSON form, and ``--usage`` from a monitor's /metrics."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hami.cli import main
from tests.component.scheduler.objects import container, make_pod
from tests.integration.conftest import add_nodes
from tests.integration.stack import control_plane, wait_for
from tests.support.apiserver import ApiServerThread

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = False  # set True locally to rewrite the golden files

WORKLOAD: list[tuple[str, dict[str, Any]]] = [
    ("train", {"containers": [container(gpumem=3000, gpucores=30)]}),
    ("notebook", {"containers": [container(gpumem=1000)], "namespace": "team-a"}),
    ("wide", {"containers": [container(gpu=2, gpumem=2000, gpucores=10)]}),
    ("pair", {"containers": [container("a", gpumem=1000), container("b", gpumem=2000)]}),
    ("whole", {"containers": [container(gpu=1, gpucores=100)], "namespace": "team-b"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[ApiServerThread]:
    with ApiServerThread() as api:
        add_nodes(api, 2)
        for ns in ("team-a", "team-b"):
            api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        with control_plane(api):
            for name, kw in WORKLOAD:
                api.store.create(make_pod(name, **kw))

                def done(name: str = name, ns: str = kw.get("namespace", "default")) -> bool:
                    pod = api.store.get("pods", name, namespace=ns)
                    anns = pod["metadata"].get("annotations") or {}
                    return anns.get("hami.io/bind-phase") == "success"

                assert wait_for(done, 30), name
        yield api


def top(api: ApiServerThread, *args: str) -> str:
    result = CliRunner().invoke(main, ["top", "--kubeconfig", str(api.kubeconfig_path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"\n{text}"
    assert all(len(line) <= 80 for line in text.splitlines()), "wider than 80 columns"


def test_table_golden(cluster: ApiServerThread) -> None:
    check_golden("top.txt", top(cluster))


def test_node_filter(cluster: ApiServerThread) -> None:
    out = top(cluster, "--node", "gpu-node-01")
    assert "gpu-node-00" not in out and "gpu-node-01" in out


SCHEMA: dict[str, Any] = {
    "nodes": [{"name": str, "gpus": [{
        "index": int, "uuid": str, "type": str, "health": bool,
        "slots": {"allocated": int, "capacity": int},
        "memory_mib": {"allocated": int, "capacity": int},
        "cores": {"allocated": int, "capacity": int},
        "pods": [{"namespace": str, "name": str, "container": str, "memory_mib": int,
                  "cores": int}],
    }]}],
    "totals": {"nodes": int, "gpus": int, "pods": int,
               "slots": {"allocated": int, "capacity": int},
               "memory_mib": {"allocated": int, "capacity": int},
               "cores": {"allocated": int, "capacity": int}},
}  # fmt: skip


def validate(value: Any, schema: Any, where: str = "$") -> None:
    """Exact structural check: same keys, element schemas, types (bool is not int)."""
    if isinstance(schema, dict):
        assert isinstance(value, dict) and set(value) == set(schema), (where, value)
        for k, sub in schema.items():
            validate(value[k], sub, f"{where}.{k}")
    elif isinstance(schema, list):
        assert isinstance(value, list), (where, value)
        for i, item in enumerate(value):
            validate(item, schema[0], f"{where}[{i}]")
    else:
        ok = isinstance(value, schema) and (schema is bool or not isinstance(value, bool))
        assert ok, (where, value, schema)


def test_json_validates_and_agrees_with_the_table(cluster: ApiServerThread) -> None:
    doc = json.loads(top(cluster, "--output", "json"))
    validate(doc, SCHEMA)
    totals = doc["totals"]
    assert (totals["nodes"], totals["gpus"], totals["pods"]) == (2, 4, 5)
    assert totals["slots"] == {"allocated": 7, "capacity": 40}
    assert totals["memory_mib"] == {"allocated": 3000 + 1000 + 2 * 2000 + 1000 + 2000 + 16384,
                                    "capacity": 4 * 16384}  # fmt: skip
    pods = {(p["namespace"], p["name"], p["container"]) for n in doc["nodes"] for g in n["gpus"]
            for p in g["pods"]}  # fmt: skip
    assert ("default", "pair", "b") in pods and ("team-b", "whole", "main") in pods
    check_golden("top.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")


METRICS = """\
# TYPE hami_host_gpu_memory_used_bytes gauge
hami_host_gpu_memory_used_bytes{node="gpu-node-00",device_index="0",device_uuid="UUID0",device_type="NVIDIA-Tesla T4"} 3221225472
# TYPE hami_host_gpu_utilization_ratio gauge
hami_host_gpu_utilization_ratio{node="gpu-node-00",device_index="0",device_uuid="UUID0",device_type="NVIDIA-Tesla T4"} 87
# TYPE hami_vgpu_memory_used_bytes gauge
hami_vgpu_memory_used_bytes{namespace="default",pod="train",container="main",vdevice_index="0",device_uuid="UUID0"} 2147483648
# TYPE hami_container_device_utilization_ratio gauge
hami_container_device_utilization_ratio{namespace="default",pod="train",container="main",vdevice_index="0",device_uuid="UUID0"} 61
"""  # noqa: E501


@pytest.fixture
def metrics_server(cluster: ApiServerThread) -> Iterator[str]:
    doc = json.loads(top(cluster, "--output", "json"))
    uuid = next(g["uuid"] for n in doc["nodes"] for g in n["gpus"]
                if any(p["name"] == "train" for p in g["pods"]))  # fmt: skip
    body = METRICS.replace("UUID0", uuid).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/metrics"
    finally:
        srv.shutdown()
        srv.server_close()


def test_usage_from_a_monitor(cluster: ApiServerThread, metrics_server: str) -> None:
    out = top(cluster, "--usage", "--metrics-url", metrics_server)
    check_golden("top-usage.txt", out)
    doc = json.loads(top(cluster, "--usage", "--metrics-url", metrics_server, "-o", "json"))
    train = next(p for n in doc["nodes"] for g in n["gpus"] for p in g["pods"]
                 if p["name"] == "train")  # fmt: skip
    assert train["usage"] == {"memory_used_bytes": 2 << 30, "utilization_percent": 61.0}


def test_unreachable_monitor_is_one_warning(cluster: ApiServerThread) -> None:
    result = CliRunner().invoke(main, ["top", "--kubeconfig", str(cluster.kubeconfig_path),
                                       "--metrics-url", "http://127.0.0.1:9/metrics"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("unreachable") == 1
    assert "Traceback" not in result.output


def test_watch_refreshes_until_interrupted(cluster: ApiServerThread, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    out = tmp_path / "watch.out"
    with out.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from hami.cli import main; main()", "top", "--kubeconfig",
             str(cluster.kubeconfig_path), "--watch", "--interval", "0.3"],
            stdout=f, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        assert wait_for(lambda: out.read_text().count("NODE / GPU / POD") >= 3, 30), out.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(10)
    assert rc == 0, out.read_text()
    assert "Traceback" not in out.read_text()
