"""End-to-end extender benchmark: /filter + /bind over HTTP against the apiserver stand-in.

Starts the kube-apiserver stand-in with N nodes x G GPUs and P pending pods, runs `hami scheduler`
against it, and drives it like kube-scheduler does: one scheduling loop POSTs /filter with every
node name, then hands POST /bind to the chosen node to the asynchronous binding cycle (up to
``--binds`` in flight) and filters the next pod; a pod whose bind fails (node lock held) is queued
again. After each successful bind the node lock is released over HTTP, as the device plugin's
Allocate would. Prints pods/s and p50/p99 latencies;
``--json`` prints one object with ``pods_per_s``, ``filter_p99_ms``, ``bind_p99_ms``, ...
With the default process backend it also prints ``cpu_s``: CPU seconds each process (apiserver
stand-in, scheduler, this driver) spent during the run, to see which one bounds throughput. The
driver speaks HTTP through a lean keep-alive client so it takes little CPU from the others.

    python bench/extender.py [--nodes 500 --gpus 8 --pods 2000 --binds 8] [--json]

``--binds 0`` makes the loop wait for each bind (filter and bind strictly in turn);
``BENCH_DEBUG=1`` prints the ``Error`` of every failed bind to stderr. ``--profile DIR`` (process
backend) runs the apiserver stand-in and the scheduler under cProfile for the timed part only and
writes ``DIR/apiserver.prof`` and ``DIR/scheduler.prof`` (``python -m pstats`` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from hami.api.annotations import NODE_HANDSHAKE
from hami.api.handshake import format_requesting
from hami.api.nodelock import parse_lock
from hami.k8s.fake import FakeKube
from hami.k8s.lightkube import LightkubeClient
from hami.scheduler.runner import SchedulerThread
from hami.scheduler.settings import SchedulerSettings
from tests.component.scheduler.objects import container, make_node, make_pod
from tests.support.apiserver import ApiServerThread


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Release = Callable[[str, str, str], Awaitable[None]]


def _store_release(api: ApiServerThread) -> Release:
    """The device plugin's lock release, straight into the apiserver stand-in's store."""

    async def release(node: str, ns: str, name: str) -> None:
        obj = api.store.get("nodes", node, namespace="")
        lock = (obj["metadata"].get("annotations") or {}).get("hami.io/mutex.lock")
        if lock and parse_lock(lock).owned_by(ns, name):
            api.store.patch("nodes", node, {"metadata": {"annotations": {
                "hami.io/mutex.lock": None}}}, namespace="")  # fmt: skip

    return release


def _fake_release(sched: SchedulerThread) -> Release:
    """The same against the in-memory fake, run on the scheduler's own loop."""

    async def release(node: str, ns: str, name: str) -> None:
        async def on_loop(runner: Any) -> None:
            await runner.client.patch_node_metadata(node, annotations={"hami.io/mutex.lock": None})

        await asyncio.get_running_loop().run_in_executor(None, sched.call, on_loop)

    return release


_APISERVER = """
import asyncio, json, sys
from pathlib import Path
from tests.support.apiserver import ApiServer
from tests.support.apiserver.server import StoreAccess
from tests.support.kubeconfig import write_kubeconfig

async def main():
    server = ApiServer()
    await server.start()
    store = StoreAccess(lambda: server.store)
    for line in sys.stdin:
        if not line.strip():
            break
        store.create(json.loads(line))
    write_kubeconfig(Path(sys.argv[1]), server.url)
    print("READY", server.url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


# Runs a program (argv[2:], as `python -c CODE ARGS...`) with cProfile switched on by SIGUSR1 and
# written to argv[1] by SIGUSR2: only the timed part of the run is profiled (main thread only).
# The profiler's clock is the thread's CPU time: on a busy machine wall-clock profiles charge
# the time a process waits for a CPU to whatever it was doing (often a socket write).
_PROFILED = """
import cProfile, signal, sys, time
out, code = sys.argv[1], sys.argv[2]
sys.argv = ["-c", *sys.argv[3:]]
prof = cProfile.Profile(time.thread_time)
signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
def stop(*_):
    prof.disable()
    prof.dump_stats(out)
signal.signal(signal.SIGUSR2, stop)
exec(compile(code, "<profiled>", "exec"), {"__name__": "__main__"})
"""


def _python(code: str, profile: Path | None, name: str) -> list[str]:
    """argv running ``code`` (under the switchable profiler when ``profile`` is a folder)."""
    if profile is None:
        return [sys.executable, "-c", code]
    return [sys.executable, "-c", _PROFILED, str(profile / f"{name}.prof"), code]


def _cpu_s(pid: int, *, system: bool = False) -> float:
    """User+system CPU seconds of process ``pid`` so far (Linux /proc); only system with
    ``system``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[12]) if system else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _rechecks(metrics_url: str) -> dict[str, int]:
    """``hami_bind_recheck_total`` by source (cache: no GET/LIST under the lock; api)."""
    out: dict[str, int] = {}
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        if line.startswith("hami_bind_recheck_total{"):
            source = line.split('source="', 1)[1].split('"', 1)[0]
            out[source] = int(float(line.rsplit(" ", 1)[1]))
    return out


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    """Wait until a profile was written (the process writes it on SIGUSR2)."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else -1
        if now > 0 and now == size:
            return
        size = now
        time.sleep(0.2)


def _start_spies(folder: Path | None, procs: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    """``py-spy record`` (sampling, on-CPU samples only) of each process into
    ``folder/<name>.txt`` (collapsed stacks, for flamegraph.pl or a quick ``sort``)."""
    if folder is None:
        return []
    spies = [
        subprocess.Popen(["py-spy", "record", "--nonblocking", "--rate", "250", "--format", "raw",
                          "--output", str(folder / f"{name}.txt"), "--pid", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, pid in procs.items()
    ]  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    return spies


def _stop_spies(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_processes(
    args: argparse.Namespace,
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    names: list[str],
    settings: SchedulerSettings,
) -> dict[str, Any]:
    """apiserver stand-in, `hami scheduler` and this driver as three processes (3 GILs)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}:{root / 'src'}"}
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        api = subprocess.Popen(
            [*_python(_APISERVER, args.profile, "apiserver"), str(kubeconfig)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=root,
        )  # fmt: skip
        sched: subprocess.Popen[str] | None = None
        try:
            assert api.stdin is not None and api.stdout is not None
            for obj in [*nodes, *pods]:
                api.stdin.write(json.dumps(obj) + "\n")
            api.stdin.write("\n")
            api.stdin.flush()
            ready = api.stdout.readline().split()
            if not ready or ready[0] != "READY":
                raise RuntimeError("apiserver stand-in did not start")
            api_url = ready[1]
            port, metrics = _free_port(), _free_port()
            sched = subprocess.Popen(
                [*_python("from hami.cli import main; main()", args.profile, "scheduler"),
                 "scheduler",
                 "--kubeconfig", str(kubeconfig), "--http-bind", f"127.0.0.1:{port}",
                 "--metrics-bind-address", f"127.0.0.1:{metrics}",
                 "--node-scheduler-policy", settings.node_scheduler_policy],
                env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise RuntimeError("scheduler did not become ready")
            listed = httpx.get(f"{api_url}/api/v1/pods", timeout=60).json()["items"]
            by_name = {p["metadata"]["name"]: p for p in listed}
            live = [by_name[p["metadata"]["name"]] for p in pods]
            procs = {"apiserver": api.pid, "scheduler": sched.pid}
            before = {k: _cpu_s(pid) for k, pid in procs.items()}
            sys_before = _cpu_s(sched.pid, system=True)
            if args.profile is not None:
                for pid in procs.values():
                    os.kill(pid, signal.SIGUSR1)
            spies = _start_spies(args.spy, procs)
            driver0 = time.process_time()
            result = asyncio.run(
                _drive(_http_release(api_url), url, live, names, args.concurrency, args.binds)
            )
            cpu = {k: round(_cpu_s(pid) - before[k], 2) for k, pid in procs.items()}
            sys_s = _cpu_s(sched.pid, system=True) - sys_before
            _stop_spies(spies)
            if args.profile is not None:
                for name, pid in procs.items():
                    os.kill(pid, signal.SIGUSR2)
                    _wait_for(args.profile / f"{name}.prof")
            cpu["driver"] = round(time.process_time() - driver0, 2)
            cpu_ms = round(cpu["scheduler"] * 1000 / max(1, result["bound"]), 2)
            sys_ms = round(sys_s * 1000 / max(1, result["bound"]), 2)
            return {**result, "cpu_s": cpu, "scheduler_cpu_ms_per_pod": cpu_ms,
                    "scheduler_sys_ms_per_pod": sys_ms,
                    "bind_rechecks": _rechecks(f"http://127.0.0.1:{metrics}/metrics")}  # fmt: skip
        finally:
            for proc in (sched, api):
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)


class _Http:
    """A lean HTTP/1.1 keep-alive JSON client (one connection, one request at a time).

    The driver stands in for kube-scheduler and the device plugin (Go programs); httpx costs
    ~2.5 ms of CPU per request here, which would be taken from the processes under test."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self._addr = (host, int(port))
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: Any, content_type: str) -> Any:
        data = json.dumps(body, separators=(",", ":")).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self._addr[0]}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n")  # fmt: skip
        if self._conn is None:
            self._conn = await asyncio.open_connection(*self._addr)
        reader, writer = self._conn
        writer.write(head.encode() + data)
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = dict(ln.lower().split(": ", 1) for ln in lines if ln)
        if headers.get("transfer-encoding") == "chunked":
            raw = b""
            while size := int((await reader.readline()).strip(), 16):
                raw += (await reader.readexactly(size + 2))[:-2]
            await reader.readline()
        else:
            raw = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection") == "close":
            writer.close()
            self._conn = None
        if not status_line.split()[1].startswith("2"):
            raise RuntimeError(f"{method} {path}: {status_line}: {raw[:200]!r}")
        return json.loads(raw)

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body, "application/json")

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None


class _Pool:
    """Idle keep-alive connections to one server, one request per connection at a time."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._idle: list[_Http] = []

    async def request(self, method: str, path: str, body: Any, content_type: str) -> Any:
        http = self._idle.pop() if self._idle else _Http(self._url)
        try:
            result = await http.request(method, path, body, content_type)
        except BaseException:
            await http.close()
            raise
        self._idle.append(http)
        return result

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body, "application/json")

    async def close(self) -> None:
        for http in self._idle:
            await http.close()
        self._idle.clear()


def _http_release(api_url: str) -> Release:
    """The device plugin's lock release over HTTP (the lock is ours: the bind just took it)."""
    pool = _Pool(api_url)
    body = {"metadata": {"annotations": {"hami.io/mutex.lock": None}}}

    async def release(node: str, ns: str, name: str) -> None:
        await pool.request("PATCH", f"/api/v1/nodes/{node}", body, "application/merge-patch+json")

    return release


async def _drive(
    release: Release,
    url: str,
    pods: list[dict[str, Any]],
    names: list[str],
    loops: int,
    max_binds: int,
) -> dict[str, Any]:
    """Drive the extender as kube-scheduler does.

    ``loops`` scheduling loops (kube-scheduler runs one) each filter a pod and hand the bind to
    the binding cycle, which runs asynchronously (up to ``max_binds`` binds in flight), while the
    loop goes on to the next pod. A pod whose bind fails is queued again. ``max_binds=0`` makes
    each loop wait for its bind (filter and bind strictly in turn)."""
    queue: collections.deque[dict[str, Any]] = collections.deque(pods)
    filter_lat: list[float] = []
    bind_lat: list[float] = []
    outcome = {"bound": 0, "unschedulable": 0, "bind_retries": 0, "errors": 0}
    pool = _Pool(url)
    slots = asyncio.Semaphore(max(1, max_binds))
    inflight: set[asyncio.Task[None]] = set()
    changed = asyncio.Event()

    async def bind(pod: dict[str, Any], node: str) -> None:
        meta = pod["metadata"]
        try:
            t0 = time.perf_counter()
            resp = await pool.post("/bind", {
                "PodName": meta["name"], "PodNamespace": meta["namespace"],
                "PodUID": meta["uid"], "Node": node})  # fmt: skip
            bind_lat.append(time.perf_counter() - t0)
            if not resp.get("Error"):
                outcome["bound"] += 1
                await release(node, meta["namespace"], meta["name"])
            else:
                outcome["bind_retries"] += 1
                if os.environ.get("BENCH_DEBUG"):
                    print(resp["Error"], file=sys.stderr)
                queue.append(pod)  # kube-scheduler requeues the pod
        finally:
            slots.release()

    def done(task: asyncio.Task[None]) -> None:
        inflight.discard(task)
        changed.set()
        if not task.cancelled() and task.exception() is not None:
            outcome["errors"] += 1

    async def loop() -> None:
        http = _Http(url)
        try:
            while queue or inflight:
                if not queue:
                    changed.clear()
                    await changed.wait()
                    continue
                pod = queue.popleft()
                t0 = time.perf_counter()
                resp = await http.post("/filter", {"Pod": pod, "Nodes": None, "NodeNames": names})
                filter_lat.append(time.perf_counter() - t0)
                if resp.get("Error"):
                    outcome["errors"] += 1
                    continue
                if not resp.get("NodeNames"):
                    outcome["unschedulable"] += 1
                    continue
                await slots.acquire()
                task = asyncio.get_running_loop().create_task(bind(pod, resp["NodeNames"][0]))
                inflight.add(task)
                task.add_done_callback(done)
                if max_binds == 0:
                    await task
        finally:
            await http.close()

    started = time.perf_counter()
    try:
        await asyncio.gather(*(loop() for _ in range(loops)))
        await asyncio.gather(*inflight)
    finally:
        await pool.close()
    wall = time.perf_counter() - started
    return {
        **outcome,
        "wall_s": round(wall, 2),
        "pods_per_s": round(outcome["bound"] / wall, 1) if wall else 0.0,
        "filter_p50_ms": round(_pct(filter_lat, 0.5), 2),
        "filter_p99_ms": round(_pct(filter_lat, 0.99), 2),
        "bind_p50_ms": round(_pct(bind_lat, 0.5), 2),
        "bind_p99_ms": round(_pct(bind_lat, 0.99), 2),
        "filter_mean_ms": round(statistics.fmean(filter_lat) * 1000, 2) if filter_lat else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="scheduling loops filtering in parallel (kube-scheduler: 1)",
    )
    parser.add_argument("--binds", type=int, default=8,
                        help="binds in flight at most (kube-scheduler binds asynchronously); "
                        "0: each loop waits for its bind before the next filter")  # fmt: skip
    parser.add_argument("--node-policy", default="binpack", choices=["binpack", "spread"])
    parser.add_argument(
        "--backend",
        default="process",
        choices=["process", "apiserver", "fake"],
        help="process: apiserver stand-in and `hami scheduler` as separate processes "
        "(default); apiserver: both as threads of this process; fake: in-memory fake cluster",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="process backend: cProfile the apiserver stand-in and the scheduler during the "
        "timed part, into DIR/apiserver.prof and DIR/scheduler.prof",
    )
    parser.add_argument(
        "--spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="process backend: sample both processes with py-spy during the timed part into "
        "DIR/apiserver.txt and DIR/scheduler.txt (collapsed stacks; lighter than --profile)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.profile is not None:
        if args.backend != "process":
            parser.error("--profile needs --backend process")
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.spy is not None:
        if args.backend != "process":
            parser.error("--spy needs --backend process")
        args.spy.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.ERROR)
    # Nodes as a running cluster has them: registered, and stamped by the scheduler's handshake
    # (otherwise the leader stamps every node just as the timed part starts: 5000 writes).
    stamp = {NODE_HANDSHAKE: format_requesting(datetime.now())}
    nodes = [make_node(f"node-{i:04d}", gpus=args.gpus, mem=32768, split=10, annotations=stamp)
             for i in range(args.nodes)]  # fmt: skip
    names = [n["metadata"]["name"] for n in nodes]
    rng = random.Random(1)
    pods = [
        make_pod(f"bench-{i:05d}", uid=f"uid-{i:05d}", containers=[container(
            gpu=rng.choice([1, 1, 1, 2]), gpumem=rng.choice([1000, 2000, 4000, 8000]),
            gpucores=rng.choice([0, 10, 20]))])
        for i in range(args.pods)
    ]  # fmt: skip
    settings = SchedulerSettings.model_validate({
        "http_bind": "127.0.0.1:0", "metrics_bind_address": "127.0.0.1:0",
        "node_scheduler_policy": args.node_policy, "kube_timeout": 60,
    })  # fmt: skip
    if args.backend == "process":
        result = _run_processes(args, nodes, pods, names, settings)
    elif args.backend == "fake":

        def fake() -> FakeKube:
            kube = FakeKube()
            for obj in nodes:
                kube.add("nodes", obj)
            for obj in pods:
                kube.add("pods", obj)
            return kube

        with SchedulerThread(settings, fake) as sched:
            result = asyncio.run(_drive(_fake_release(sched), sched.url, pods, names,
                                        args.concurrency, args.binds))  # fmt: skip
    else:
        with ApiServerThread() as api:
            for obj in nodes:
                api.store.create(obj)
            pods = [api.store.create(obj) for obj in pods]
            path = api.kubeconfig_path
            with SchedulerThread(settings, lambda: LightkubeClient.from_kubeconfig(path)) as sched:
                result = asyncio.run(_drive(_store_release(api), sched.url, pods, names,
                                            args.concurrency, args.binds))  # fmt: skip
    result = {
        "nodes": args.nodes,
        "gpus_per_node": args.gpus,
        "pods": args.pods,
        "concurrency": args.concurrency,
        "max_binds_in_flight": args.binds,
        "backend": args.backend,
        "node_policy": args.node_policy,
        **result,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
