"""A GPU node for the monitor's integration tests, all real processes except the GPU.

The control plane (apiserver stand-in, our scheduler, kube-scheduler and device-plugin stand-ins)
schedules GPU pods onto one node whose registered GPU is the libvgpu test kit's fake GPU. Each
"container" is a ``monitor_tenant`` process (a C program, built here against the kit) with
libvgpu preloaded and the environment the device plugin gives a container, so its region file
lies where the plugin mounts it: ``<hook>/containers/<podUID>_<container>/<x>.cache``. ``hami
monitor`` runs as a subprocess on the fake NVML, sharing the fake driver's state file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hami.api.noderegister import encode_node_devices
from hami.api.quantity import parse_quantity
from hami.api.types import DeviceInfo
from tests.component.scheduler.objects import container, make_node, make_pod
from tests.integration.stack import bound, control_plane, wait_for
from tests.libvgpu import kit as kitmod
from tests.support.apiserver import ApiServerThread

ROOT = Path(__file__).resolve().parents[3]
NODE = "gpu-node-00"
FAKE_UUID = "GPU-fa4e0000-0000-4000-8000-000000000000"
FAKE_NAME = "NVIDIA Fake GPU"
GPU_MIB = 16384
MiB = 1 << 20
TENANT_SRC = Path(__file__).resolve().parent.parent / "monitor_tenant.c"


def build_tenant(out_dir: Path) -> Path:
    """Build libvgpu + kit (fails loudly), then ``monitor_tenant`` against the kit's headers."""
    proc = kitmod.build()
    if proc.returncode != 0:
        proc = kitmod.build()
    assert proc.returncode == 0, (
        f"make -C libvgpu failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    lib = kitmod.LIBVGPU
    exe = out_dir / "monitor_tenant"
    cmd = [
        os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
        f"-I{lib / 'third_party/cuda/include'}", f"-I{lib / 'third_party/nvml/include'}",
        f"-I{lib / 'tests/progs'}", "-o", str(exe), str(TENANT_SRC),
        f"-L{kitmod.FAKE_DIR}", "-lcuda", "-lnvidia-ml", "-ldl", "-lpthread",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"building monitor_tenant failed:\n{done.stderr}"
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_", "CUDA_"))}
    env.pop("LD_PRELOAD", None)
    env.update({
        "LD_LIBRARY_PATH": str(kitmod.FAKE_DIR),
        "FAKE_CUDA_STATE": str(state),
        "FAKE_CUDA_MEM_MB": str(GPU_MIB),
        "FAKE_CUDA_NAME": FAKE_NAME,
    })  # fmt: skip
    return env


@dataclass
class Tenant:
    pod: str
    container: str
    proc: subprocess.Popen[str]
    out: Path
    cache: Path

    def events(self) -> list[dict[str, Any]]:
        return kitmod.parse(self.out.read_text())

    def util(self, since: float) -> list[float]:
        """Utilization percent of the 0.5 s intervals that ended after ``since`` seconds."""
        return [e["percent"] for e in self.events() if e.get("event") == "util" and e["t"] > since]

    def ready(self) -> bool:
        return any(e.get("event") == "ready" for e in self.events())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Node:
    api: ApiServerThread
    tmp: Path
    tenant_exe: Path
    hook: Path
    state: Path
    sched: Any = None
    monitor: subprocess.Popen[str] | None = None
    monitor_port: int = 0
    monitor_log: Path | None = None
    tenants: list[Tenant] = field(default_factory=list)

    # -- pods ---------------------------------------------------------------------------------
    def schedule(self, name: str, *, gpumem: int, gpucores: int) -> dict[str, Any]:
        ctr = container("main", gpumem=gpumem, gpucores=gpucores)
        self.api.store.create(make_pod(name, containers=[ctr]))

        def done() -> bool:
            pod = self.api.store.get("pods", name)
            anns = pod["metadata"].get("annotations") or {}
            return anns.get("hami.io/bind-phase") == "success"

        assert wait_for(done, 30), [p["metadata"]["name"] for p in bound(self.api)]
        return self.api.store.get("pods", name)

    # -- containers ---------------------------------------------------------------------------
    def start_tenant(
        self,
        pod: dict[str, Any],
        *,
        alloc_mib: int,
        idle: bool = False,
        priority: int | None = None,
        policy: str | None = None,
    ) -> Tenant:
        uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
        ctr = pod["spec"]["containers"][0]
        limits = ctr["resources"]["limits"]
        cache_dir = self.hook / "containers" / f"{uid}_{ctr['name']}"
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = cache_dir / f"{name}.cache"
        env = fake_env(self.state)
        env.update({
            "LD_PRELOAD": str(kitmod.LIBRARY),
            "CUDA_DEVICE_MEMORY_SHARED_CACHE": str(cache),
            # The apiserver writes quantities canonically ("1000" is "1k"): parse, not paste.
            "CUDA_DEVICE_MEMORY_LIMIT_0": f"{int(parse_quantity(limits['nvidia.com/gpumem']))}m",
            "CUDA_DEVICE_SM_LIMIT": str(limits.get("nvidia.com/gpucores", "0")),
            "LIBCUDA_LOG_LEVEL": "2",
        })  # fmt: skip
        if priority is not None:
            env["CUDA_TASK_PRIORITY"] = str(priority)
        if policy is not None:
            env["GPU_CORE_UTILIZATION_POLICY"] = policy
        out = self.tmp / f"{name}.out"
        with out.open("w") as fout, (self.tmp / f"{name}.err").open("w") as ferr:
            proc = subprocess.Popen(
                [str(self.tenant_exe), str(alloc_mib), "0", "1" if idle else "0"],
                env=env, stdout=fout, stderr=ferr, text=True,
            )  # fmt: skip
        tenant = Tenant(name, ctr["name"], proc, out, cache)
        self.tenants.append(tenant)
        assert wait_for(tenant.ready, 20), (self.tmp / f"{name}.err").read_text()
        return tenant

    # -- monitor ------------------------------------------------------------------------------
    def start_monitor(self, *extra: str, feedback: str = "0.5s") -> None:
        self.monitor_port = free_port()
        self.monitor_log = self.tmp / "monitor.log"
        env = fake_env(self.state)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT)) if p)
        with self.monitor_log.open("w") as log:
            self.monitor = subprocess.Popen(
                [sys.executable, "-c", "from hami.cli import main; main()", "monitor",
                 "--node-name", NODE, "--hook-path", str(self.hook),
                 "--metrics-bind-address", f"127.0.0.1:{self.monitor_port}",
                 "--feedback-interval", feedback, "--kubeconfig", str(self.api.kubeconfig_path),
                 "--mig-apply-lock", str(self.tmp / "mig.lock"), *extra],
                env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        assert wait_for(lambda: self.scrape_text() is not None, 30), self.log_text()

    def log_text(self) -> str:
        return self.monitor_log.read_text() if self.monitor_log else ""

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}/metrics"

    def scrape_text(self) -> str | None:
        try:
            r = httpx.get(self.metrics_url, timeout=5)
        except httpx.HTTPError:
            return None
        return r.text if r.status_code == 200 else None

    def stop(self) -> None:
        for t in self.tenants:
            t.stop()
        if self.monitor is not None and self.monitor.poll() is None:
            self.monitor.terminate()
            try:
                self.monitor.wait(10)
            except subprocess.TimeoutExpired:
                self.monitor.kill()
                self.monitor.wait()


@contextlib.contextmanager
def gpu_node(tmp: Path, tenant_exe: Path) -> Iterator[Node]:
    """The control plane around one node with the fake GPU; stops everything on exit."""
    register = encode_node_devices([
        DeviceInfo(id=FAKE_UUID, count=10, devmem=GPU_MIB, devcore=100, type=FAKE_NAME, index=0)
    ])  # fmt: skip
    with ApiServerThread(tmp_dir=tmp) as api:
        api.store.create(make_node(NODE, gpus=1, mem=GPU_MIB, register=register))
        with control_plane(api) as (sched, _ks):
            node = Node(api, tmp, tenant_exe, tmp / "vgpu", tmp / "fake.state", sched=sched)
            (tmp / "vgpu" / "containers").mkdir(parents=True)
            try:
                yield node
            finally:
                node.stop()


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)[:4000]


def settle(seconds: float) -> None:
    time.sleep(seconds)
