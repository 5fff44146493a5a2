"""A real Prometheus scrapes ``hami monitor`` and ``hami scheduler`` while real processes allocate
through libvgpu on the fake GPU; every dashboard query is then evaluated through Prometheus's HTTP
API and must return the expected series and values. ``promtool check metrics`` must pass on both
endpoints. Needs the Debian package ``prometheus`` (``.ci/run`` installs it): without it the test
fails, it is never skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from hami.cli import main
from tests.integration.monitor.harness import (
    FAKE_UUID,
    NODE,
    Node,
    build_tenant,
    free_port,
    gpu_node,
)
from tests.integration.stack import wait_for
from tests.unit.monitor import dashboard

MiB = 1 << 20
Rows = list[tuple[dict[str, str], float]]


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"{name} not found: install the Debian package 'prometheus' "
            "(apt-get install -y prometheus)"
        )
    return path


@pytest.fixture(scope="module")
def tenant_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tenant(tmp_path_factory.mktemp("tenant"))


@pytest.fixture
def node(tmp_path: Path, tenant_exe: Path) -> Iterator[Node]:
    with gpu_node(tmp_path, tenant_exe) as n:
        yield n


class Prometheus:
    def __init__(self, tmp: Path, targets: dict[str, str]) -> None:
        self.port = free_port()
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}],
                 "metrics_path": "/metrics"}
                for job, target in targets.items()
            ],
        }  # fmt: skip
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        self.log = tmp / "prometheus.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [_binary("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        assert wait_for(self._ready, 60), self.log.read_text()[-3000:]

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> Rows:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        assert body.get("status") == "success", (expr, body)
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]

    def label_values(self, label: str, match: str) -> list[str]:
        r = httpx.get(
            f"{self.url}/api/v1/label/{label}/values", params={"match[]": match}, timeout=10
        )
        body = r.json()
        assert body.get("status") == "success", body
        return sorted(body["data"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def by(label: str, rows: Rows) -> dict[str, float]:
    return {r[0].get(label, ""): r[1] for r in rows}


def approx(value: float, want: float) -> bool:
    return abs(value - want) <= 1e-6 * max(1.0, abs(want))


def _node_only(rows: Rows, want: float) -> bool:
    return by("node", rows) == {NODE: want} or (
        len(rows) == 1 and rows[0][0].get("node") == NODE and approx(rows[0][1], want)
    )


def _pods(rows: Rows, want: dict[str, float]) -> bool:
    got = by("pod", rows)
    return set(got) == set(want) and all(approx(got[k], v) for k, v in want.items())


# panel title / refId -> check of the rows the query returns
EXPECT: dict[str, Callable[[Rows], bool]] = {
    "GPU memory allocated per node / A": lambda r: _node_only(r, 3000 * MiB),
    "GPU memory capacity per node / A": lambda r: _node_only(r, 16384 * MiB),
    "GPU memory allocation ratio per node / A": lambda r: _node_only(r, 3000 / 16384),
    "Cores allocated per GPU / A": lambda r: by("device_uuid", r) == {FAKE_UUID: 50},
    "Tasks per GPU / A": lambda r: by("device_uuid", r) == {FAKE_UUID: 2},
    "vGPU memory allocated per container / A": lambda r: _pods(
        r, {"tenant-a": 1000 * MiB, "tenant-b": 2000 * MiB}
    ),
    "Host GPU memory used / A": lambda r: (
        by("device_uuid", r) == {FAKE_UUID: 300 * MiB}
        and r[0][0]["device_type"] == "NVIDIA-NVIDIA Fake GPU"
        and r[0][0]["node"] == NODE
    ),
    "Host GPU utilization / A": lambda r: len(r) == 1 and r[0][1] > 20,
    "GPU memory controller utilization / A": lambda r: (
        len(r) == 1 and r[0][0]["device_uuid"] == FAKE_UUID and r[0][1] >= 0
    ),
    "Container GPU memory used / A": lambda r: _pods(
        r, {"tenant-a": 100 * MiB, "tenant-b": 200 * MiB}
    ),
    "Container GPU memory limit / A": lambda r: _pods(
        r, {"tenant-a": 1000 * MiB, "tenant-b": 2000 * MiB}
    ),
    "Container GPU memory used / limit / A": lambda r: _pods(r, {"tenant-a": 0.1, "tenant-b": 0.1}),
    "Container SM utilization / A": lambda r: (
        set(by("pod", r)) == {"tenant-a", "tenant-b"}
        and by("pod", r)["tenant-a"] > 20
        and by("pod", r)["tenant-b"] == 0
    ),
    "Seconds since the last kernel / A": lambda r: (
        set(by("pod", r)) == {"tenant-a"} and 0 <= r[0][1] < 10
    ),
    "Container GPU memory by kind / A": lambda r: _pods(r, {"tenant-a": 0, "tenant-b": 0}),
    "Container GPU memory by kind / B": lambda r: _pods(r, {"tenant-a": 0, "tenant-b": 0}),
    "Container GPU memory by kind / C": lambda r: _pods(
        r, {"tenant-a": 100 * MiB, "tenant-b": 200 * MiB}
    ),
    "Unreadable region files / A": lambda r: [v for _, v in r] == [0],
    "Components / A": lambda r: (
        sorted(m["job"] for m, v in r if v == 1) == ["hami-monitor", "hami-scheduler"]
    ),
}
VARIABLES = {"node": [NODE], "namespace": ["default"], "pod": ["tenant-a", "tenant-b"]}


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def test_dashboard_queries_through_a_real_prometheus(node: Node, tmp_path: Path) -> None:
    _binary("prometheus")
    node.start_monitor(feedback="1s")
    pod_a = node.schedule("tenant-a", gpumem=1000, gpucores=30)
    pod_b = node.schedule("tenant-b", gpumem=2000, gpucores=20)
    node.start_tenant(pod_a, alloc_mib=100)
    node.start_tenant(pod_b, alloc_mib=200, idle=True)

    monitor_text = node.scrape_text()
    assert monitor_text is not None
    sched_text = httpx.get(node.sched.metrics_url, timeout=5).text
    done = _promtool(monitor_text)
    assert done.returncode == 0, f"promtool check metrics (monitor):\n{done.stdout}{done.stderr}"
    # the scheduler keeps HAMi's name hami_gpu_shared_count (wire compatibility); promtool's lint
    # of its _count suffix is the one finding allowed, and the exposition must parse
    done = _promtool(sched_text)
    findings = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    allowed = (
        "hami_gpu_shared_count non-histogram and non-summary metrics should not have"
        ' "_count" suffix'
    )
    assert done.returncode in (0, 3) and all(f == allowed for f in findings), findings

    sched_target = node.sched.metrics_url.removeprefix("http://").removesuffix("/metrics")
    prom = Prometheus(
        tmp_path, {"hami-monitor": f"127.0.0.1:{node.monitor_port}", "hami-scheduler": sched_target}
    )
    try:
        queries = list(dashboard.queries())
        panel_queries = [q for q in queries if not q.where.startswith("variable ")]
        assert {q.where for q in panel_queries} == set(EXPECT), "every panel query needs a check"
        results: dict[str, Any] = {}

        def all_pass() -> bool:
            ok = True
            for q in panel_queries:
                rows = prom.query(dashboard.substitute(q.expr))
                results[q.where] = rows
                if not rows or not EXPECT[q.where](rows):
                    ok = False
            for q in queries:
                if q.where.startswith("variable "):
                    var = q.where.split()[1]
                    metric, label = q.expr[len("label_values(") : -1].rsplit(",", 1)
                    got = prom.label_values(label.strip(), dashboard.substitute(metric))
                    results[q.where] = got
                    ok = ok and got == VARIABLES[var]
            return ok

        passed = wait_for(all_pass, 60, interval=1.0)
        failing = {
            k: v for k, v in results.items()
            if not (k.startswith("variable ") or (v and EXPECT[k](v)))
            and not (k.startswith("variable ") and v == VARIABLES[k.split()[1]])
        }  # fmt: skip
        assert passed, f"queries not as expected: {failing}\n{prom.log.read_text()[-2000:]}"
        up = by("job", prom.query("up"))
        assert up == {"hami-monitor": 1, "hami-scheduler": 1}
    finally:
        prom.stop()
    assert "Traceback" not in node.log_text()

    # kubectl hami top --usage reads the same live monitor
    args = ["top", "--kubeconfig", str(node.api.kubeconfig_path), "--metrics-url"]
    result = CliRunner().invoke(main, [*args, node.metrics_url, "-o", "json"])
    assert result.exit_code == 0, result.output
    (gpu,) = json.loads(result.output)["nodes"][0]["gpus"]
    assert gpu["usage"]["memory_used_bytes"] == 300 * MiB
    used = {p["name"]: p["usage"]["memory_used_bytes"] for p in gpu["pods"]}
    assert used == {"tenant-a": 100 * MiB, "tenant-b": 200 * MiB}
