"""Objects and small helpers for the real-cluster tests: fake GPU nodes (no kubelet), GPU pods,
waiting, and the allocator that plays the device plugin's part after a bind."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from hami.api.nodelock import parse_lock
from tests.component.scheduler.objects import make_node

from .controlplane import Api, ControlPlane

T = TypeVar("T")
LOCK = "hami.io/mutex.lock"
PHASE = "hami.io/bind-phase"
TO_ALLOCATE = "hami.io/vgpu-devices-to-allocate"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def gpu_node(name: str, *, gpus: int = 2, mem: int = 16384, split: int = 10) -> dict[str, Any]:
    """A Node as kubelet + hami's device plugin would leave it: capacity, Ready, register
    annotation. Nobody heartbeats it, so the harness runs without the node-lifecycle controller."""
    node = make_node(name, gpus=gpus, mem=mem, split=split)
    node["metadata"]["labels"]["kubernetes.io/hostname"] = name
    node["metadata"]["labels"]["kubernetes.io/os"] = "linux"
    node["metadata"]["labels"]["hami.test/pool"] = name.rsplit("-", 1)[0]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    node["status"]["conditions"] = [{
        "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake node",
        "lastHeartbeatTime": now, "lastTransitionTime": now,
    }]  # fmt: skip
    return node


def vendor_node(
    name: str, annotations: dict[str, str], resources: dict[str, str]
) -> dict[str, Any]:
    """A Ready Node as kubelet and a vendor's device plugin leave it: the plugin's register
    annotation(s) and its extended resources in ``status.capacity`` and ``allocatable``."""
    res = {"cpu": "64", "memory": "256Gi", "pods": "110", **resources}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": dict(annotations), "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "hami.test/pool": name.rsplit("-", 1)[0]}},
        "status": {"capacity": dict(res), "allocatable": dict(res), "conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "fake node", "lastHeartbeatTime": now, "lastTransitionTime": now}]},
    }  # fmt: skip


def create_node(api: Api, node: dict[str, Any]) -> str:
    """Create (or replace) ``node`` and lift the not-ready taint (see :func:`create_nodes`)."""
    name = str(node["metadata"]["name"])
    api.apply("/api/v1/nodes", node)
    api.patch(f"/api/v1/nodes/{name}", {"spec": {"taints": None}})
    return name


def vendor_pod(name: str, *containers: tuple[str, dict[str, str]], **spec: Any) -> dict[str, Any]:
    """A pod with one container per ``(name, limits)``."""
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [
            {"name": c, "image": "hami.test/pause:1", "imagePullPolicy": "Never",
             "resources": {"limits": dict(limits)}} for c, limits in containers],
            "terminationGracePeriodSeconds": 0, **spec},
    }  # fmt: skip


def create_nodes(api: Api, prefix: str, count: int, **kw: Any) -> list[str]:
    names = []
    for i in range(count):
        name = f"{prefix}-{i:02d}"
        api.apply("/api/v1/nodes", gpu_node(name, **kw))
        # The TaintNodesByCondition admission plugin adds node.kubernetes.io/not-ready on
        # create; the node-lifecycle controller (off here: nobody heartbeats) would lift it.
        api.patch(f"/api/v1/nodes/{name}", {"spec": {"taints": None}})
        names.append(name)
    return names


def delete_nodes(api: Api, names: list[str]) -> None:
    for name in names:
        api.delete(f"/api/v1/nodes/{name}")


def gpu_pod(
    name: str, *, gpu: int = 1, mem: int | None = 3072, pct: int | None = None,
    cores: int | None = None, **spec: Any,
) -> dict[str, Any]:  # fmt: skip
    limits: dict[str, Any] = {"nvidia.com/gpu": str(gpu)}
    if mem is not None:
        limits["nvidia.com/gpumem"] = str(mem)
    if pct is not None:
        limits["nvidia.com/gpumem-percentage"] = str(pct)
    if cores is not None:
        limits["nvidia.com/gpucores"] = str(cores)
    container: dict[str, Any] = {
        "name": "main", "image": "hami.test/pause:1", "imagePullPolicy": "Never",
        "resources": {"limits": limits},
    }  # fmt: skip
    if spec.pop("privileged", False):
        container["securityContext"] = {"privileged": True}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0, **spec},
    }


def cpu_pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "hami.test/pause:1",
                                 "imagePullPolicy": "Never"}],
                 "terminationGracePeriodSeconds": 0, **spec},
    }  # fmt: skip


def new_namespace(cp: ControlPlane, prefix: str) -> str:
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cp.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})  # fmt: skip
    wait_for(
        f"default ServiceAccount in {ns}",
        lambda: cp.api.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")
        .status_code == 200,
        30,
    )  # fmt: skip
    return ns


def events_for(api: Api, ns: str, pod: str) -> list[dict[str, Any]]:
    items = api.get(f"/api/v1/namespaces/{ns}/events",
                    fieldSelector=f"involvedObject.name={pod}")["items"]  # fmt: skip
    return list(items)


class Allocator:
    """Plays the device plugin for nodes without kubelet: a pod bound with
    ``bind-phase=allocating`` gets ``success``, its ``to-allocate`` blocks emptied, and the
    node lock it holds released — the writes hami's Allocate makes. Watches pods (one list,
    then a watch; relists when the watch ends) under its own identity (``test-allocator``)."""

    def __init__(self, cp: ControlPlane, nodes: set[str] | None = None) -> None:
        self._cp = cp
        self._api = Api(cp.url, cp.tokens["allocator"], cp.pki.ca)
        self._nodes = nodes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="allocator")
        self._done: set[str] = set()
        self.allocated: list[str] = []

    def __enter__(self) -> Allocator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._api.close()

    def _run(self) -> None:
        import json

        import httpx

        while not self._stop.is_set():
            try:
                listed = self._api.get("/api/v1/pods")
                for pod in listed["items"]:
                    self.consider(pod)
                # Short watches: a relist every few seconds catches anything a watch missed.
                params = {"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"],
                          "timeoutSeconds": "5"}  # fmt: skip
                with self._api.http.stream("GET", "/api/v1/pods", params=params,
                                           timeout=httpx.Timeout(10, read=20)) as resp:  # fmt: skip
                    for line in resp.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.strip():
                            event = json.loads(line)
                            if event.get("type") in ("ADDED", "MODIFIED"):
                                self.consider(event["object"])
            except Exception:
                time.sleep(0.2)

    def consider(self, pod: dict[str, Any]) -> None:
        anns = pod["metadata"].get("annotations") or {}
        node = pod["spec"].get("nodeName")
        if not node or anns.get(PHASE) != "allocating":
            return
        if self._nodes is not None and node not in self._nodes:
            return
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        key = f"{pod['metadata']['uid']}"
        blocks = anns.get(TO_ALLOCATE, "").count(";")
        # Idempotent: a pod seen "allocating" again (a relist) is finished again.
        self._api.patch(f"/api/v1/namespaces/{ns}/pods/{name}", {"metadata": {"annotations": {
            PHASE: "success", TO_ALLOCATE: ";" * blocks}}})  # fmt: skip
        for _ in range(5):
            current = self._api.get(f"/api/v1/nodes/{node}")
            lock = (current["metadata"].get("annotations") or {}).get(LOCK)
            if not lock:
                break
            owner = parse_lock(lock)
            if (owner.namespace, owner.name) != (ns, name):
                break
            resp = self._api.request(
                "PATCH", f"/api/v1/nodes/{node}",
                content=json.dumps([
                    {"op": "test", "path": "/metadata/resourceVersion",
                     "value": current["metadata"]["resourceVersion"]},
                    {"op": "remove", "path": "/metadata/annotations/hami.io~1mutex.lock"},
                ]),
                headers={"Content-Type": "application/json-patch+json"},
            )  # fmt: skip
            if resp.status_code < 300:
                break
        if key not in self._done:
            self._done.add(key)
            self.allocated.append(f"{ns}/{name}")
