"""The whole control plane over real sockets: apiserver stand-in, our scheduler (extender +
webhook, lightkube client), the kube-scheduler stand-in and a minimal device-plugin stand-in that
finishes allocations (sets ``bind-phase=success`` and releases the node lock, as Allocate does)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from hami.api.nodelock import parse_lock
from hami.k8s.lightkube import LightkubeClient
from hami.scheduler.runner import SchedulerThread
from hami.scheduler.settings import SchedulerSettings
from tests.component.scheduler.objects import usage_by_gpu
from tests.support.apiserver import ApiServerThread
from tests.support.kubescheduler import KubeSchedulerThread, parse_scheduler_config

MANAGED = ["nvidia.com/gpu", "nvidia.com/gpumem", "nvidia.com/gpucores",
           "nvidia.com/gpumem-percentage", "nvidia.com/priority"]  # fmt: skip


def scheduler_settings(**overrides: Any) -> SchedulerSettings:
    base: dict[str, Any] = {
        "http_bind": "127.0.0.1:0",
        "metrics_bind_address": "127.0.0.1:0",
        "register_interval": 1.0,
        "kube_timeout": 10,
    }
    base.update(overrides)
    return SchedulerSettings.model_validate(base)


def start_scheduler(
    api: ApiServerThread, *, identity: str = "hami-0", **overrides: Any
) -> SchedulerThread:
    path = api.kubeconfig_path
    thread = SchedulerThread(
        scheduler_settings(**overrides),
        lambda: LightkubeClient.from_kubeconfig(path, timeout_s=10),
        identity=identity,
    )
    return thread.start()


def kube_scheduler_config(url: str) -> Any:
    return parse_scheduler_config({
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [{"schedulerName": "hami-scheduler"}],
        "extenders": [{
            "urlPrefix": url, "filterVerb": "filter", "bindVerb": "bind", "enableHTTPS": False,
            "nodeCacheCapable": True, "weight": 1, "httpTimeout": "30s",
            "managedResources": [{"name": n, "ignoredByScheduler": True} for n in MANAGED],
        }],
    })  # fmt: skip


class DevicePluginStandIn:
    """Polls the store: pods in ``bind-phase=allocating`` on a node get ``success`` and their
    node lock is released, like the device plugin's Allocate does."""

    def __init__(self, api: ApiServerThread, interval: float = 0.02, delay_s: float = 0.0) -> None:
        self._api = api
        self._interval = interval
        self._delay_s = delay_s
        """How long a lock is held before Allocate finishes (a real kubelet: ~0.5 s)."""
        self._seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="dp-standin")
        self.allocated = 0

    def __enter__(self) -> DevicePluginStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self.pass_once()

    def pass_once(self) -> None:
        store = self._api.store
        for node in store.list("nodes"):
            lock = (node["metadata"].get("annotations") or {}).get("hami.io/mutex.lock")
            if not lock:
                continue
            owner = parse_lock(lock)
            if owner.namespace is None or owner.name is None:
                continue
            try:
                pod = store.get("pods", owner.name, namespace=owner.namespace)
            except Exception:
                continue
            anns = pod["metadata"].get("annotations") or {}
            if pod["spec"].get("nodeName") != node["metadata"]["name"]:
                continue
            if anns.get("hami.io/bind-phase") != "allocating":
                continue
            if time.monotonic() - self._seen.setdefault(lock, time.monotonic()) < self._delay_s:
                continue
            blocks = anns.get("hami.io/vgpu-devices-to-allocate", "").count(";")
            store.patch("pods", owner.name, {"metadata": {"annotations": {
                "hami.io/bind-phase": "success",
                "hami.io/vgpu-devices-to-allocate": ";" * blocks}}},
                namespace=owner.namespace)  # fmt: skip
            store.patch("nodes", node["metadata"]["name"], {"metadata": {"annotations": {
                "hami.io/mutex.lock": None}}}, namespace="")  # fmt: skip
            self.allocated += 1


@contextlib.contextmanager
def control_plane(api: ApiServerThread, **overrides: Any) -> Iterator[tuple[SchedulerThread, Any]]:
    """Scheduler + kube-scheduler + device-plugin stand-ins around ``api``."""
    sched = start_scheduler(api, **overrides)
    try:
        with (
            DevicePluginStandIn(api),
            KubeSchedulerThread(api.url, kube_scheduler_config(sched.url), max_backoff_s=0.5) as ks,
        ):
            yield sched, ks
    finally:
        sched.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def pods(api: ApiServerThread) -> list[dict[str, Any]]:
    return list(api.store.list("pods"))


def bound(api: ApiServerThread) -> list[dict[str, Any]]:
    return [p for p in pods(api) if (p.get("spec") or {}).get("nodeName")]


def events(api: ApiServerThread, reason: str) -> list[dict[str, Any]]:
    return [e for e in api.store.list("events") if e.get("reason") == reason]


def assert_no_overcommit(api: ApiServerThread, *, split: int, mem: int, cores: int = 100) -> None:
    """The invariant over the final state: no GPU holds more than its capacity."""
    usage = usage_by_gpu(pods(api))
    for uuid, (slots, used_mem, used_cores) in usage.items():
        assert slots <= split, (uuid, slots)
        assert used_mem <= mem, (uuid, used_mem)
        assert used_cores <= cores, (uuid, used_cores)
    for pod in bound(api):
        anns = pod["metadata"].get("annotations") or {}
        assert anns.get("hami.io/vgpu-node") == pod["spec"]["nodeName"], pod["metadata"]["name"]


def state_usage(sched: SchedulerThread) -> dict[str, tuple[int, int, int]]:
    """GPU uuid -> (slots, MiB, cores) as the scheduler's engine accounts it."""
    nodes = sched.call(lambda r: r.state.nodes())
    return {g.uuid: (g.used, g.usedmem, g.usedcores) for n in nodes for g in n.gpus if g.used}
