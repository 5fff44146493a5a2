"""Helpers for the per-vendor end-to-end tests on the stand-ins: nodes carrying each vendor's
register annotation or capacity, pods admitted through our webhook (an AdmissionReview POSTed to
``/webhook``, the JSONPatch applied) and the control plane with every vendor enabled.

kube-scheduler's extender entry is the product's own ``hami scheduler-config`` text (every
enabled vendor's resources in ``managedResources``), so the stand-in skips exactly what the real
one skips (Cambricon's ``vmemory``/``vcore`` are counted against the node's allocatable)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from hami.api.nodelock import parse_lock
from hami.cmd.scheduler_config import build_config, managed_resources
from hami.scheduler.runner import SchedulerThread
from hami.webhook.jsonpatch import apply_patch
from tests.integration.stack import start_scheduler
from tests.support.apiserver import ApiServerThread
from tests.support.kubescheduler import (
    KubeSchedulerStandIn,
    KubeSchedulerThread,
    parse_scheduler_config,
)

BASE = {"cpu": "64", "memory": "256Gi", "pods": "500"}
SHARED_LOCK = "hami.io/mutex.lock"
MLU_LOCK = "cambricon.com/dsmlu.lock"


def node(
    name: str, annotations: dict[str, str], resources: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Node as kubelet and a vendor's device plugin leave it."""
    res = {**BASE, **(resources or {})}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
                     "annotations": dict(annotations)},
        "status": {"capacity": dict(res), "allocatable": dict(res)},
    }  # fmt: skip


def pod(name: str, *containers: tuple[str, dict[str, str]], **meta: Any) -> dict[str, Any]:
    """A pod as a user writes it: no scheduler name (the webhook sets ours)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": {"containers": [
            {"name": c, "image": "busybox", "resources": {"limits": dict(limits)}}
            for c, limits in containers
        ]},
    }  # fmt: skip


def admit(url: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The pod after our webhook: POST an AdmissionReview, apply the returned JSONPatch."""
    uid = f"review-{obj['metadata']['name']}"
    review: dict[str, Any] = {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "namespace": "default", "object": obj,
        },
    }  # fmt: skip
    resp = httpx.post(f"{url}/webhook", json=review, timeout=10).json()["response"]
    assert resp["allowed"] is True, resp
    assert resp["uid"] == uid
    if not resp.get("patch"):
        return obj
    mutated: dict[str, Any] = apply_patch(obj, json.loads(base64.b64decode(resp["patch"])))
    return mutated


def submit(api: ApiServerThread, sched: SchedulerThread, obj: dict[str, Any]) -> dict[str, Any]:
    """Admit ``obj`` through the webhook and create it, as the apiserver would."""
    admitted = admit(sched.url, obj)
    created: dict[str, Any] = api.store.create(admitted)
    return created


def extender_config(url: str) -> Any:
    """kube-scheduler's configuration from ``hami scheduler-config --enable-ascend
    --enable-iluvatar`` (plain HTTP here)."""
    resources = managed_resources(None, enable_ascend=True, enable_iluvatar=True)
    return parse_scheduler_config(build_config(url=url, resources=resources, leader_elect=False))


@contextlib.contextmanager
def vendor_plane(
    api: ApiServerThread, **overrides: Any
) -> Iterator[tuple[SchedulerThread, KubeSchedulerStandIn]]:
    """``hami scheduler --enable-ascend --enable-iluvatar`` + the kube-scheduler stand-in.
    No device-plugin stand-in: the tests play the vendor plugins themselves."""
    sched = start_scheduler(api, enable_ascend=True, enable_iluvatar=True, **overrides)
    try:
        with KubeSchedulerThread(api.url, extender_config(sched.url), max_backoff_s=0.3) as ks:
            yield sched, ks
    finally:
        sched.stop()


def anns_of(api: ApiServerThread, kind: str, name: str) -> dict[str, str]:
    ns = "" if kind == "nodes" else "default"
    obj = api.store.get(kind, name, namespace=ns)
    return dict(obj["metadata"].get("annotations") or {})


def allocate(api: ApiServerThread, name: str, node_name: str, locks: list[str]) -> None:
    """Play the vendor device plugin after Allocate: ``bind-phase=success`` and the node locks
    deleted (every vendor's plugin releases the lock it was handed)."""
    api.store.patch("pods", name, {"metadata": {"annotations": {
        "hami.io/bind-phase": "success"}}}, namespace="default")  # fmt: skip
    api.store.patch("nodes", node_name, {"metadata": {"annotations": dict.fromkeys(locks)}},
                    namespace="")  # fmt: skip


class VendorPluginStandIn:
    """Plays every vendor's device plugin after a bind: a pod bound with
    ``bind-phase=allocating`` gets ``success`` and the node locks it holds are deleted (the
    shared lock when it names the pod, Cambricon's bare-time lock when the pod asks MLUs)."""

    def __init__(self, api: ApiServerThread, interval: float = 0.02) -> None:
        self._api = api
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="vendor-plugins")
        self.allocated: list[str] = []

    def __enter__(self) -> VendorPluginStandIn:
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
        for obj in store.list("pods"):
            anns = obj["metadata"].get("annotations") or {}
            node_name = obj["spec"].get("nodeName")
            if not node_name or anns.get("hami.io/bind-phase") != "allocating":
                continue
            name = obj["metadata"]["name"]
            held = anns_of(self._api, "nodes", node_name)
            release: dict[str, None] = {}
            shared = held.get(SHARED_LOCK)
            if shared and parse_lock(shared).owned_by("default", name):
                release[SHARED_LOCK] = None
            if MLU_LOCK in held and "hami.io/cambricon-mlu-devices-allocated" in anns:
                release[MLU_LOCK] = None
            store.patch("pods", name, {"metadata": {"annotations": {
                "hami.io/bind-phase": "success"}}}, namespace="default")  # fmt: skip
            if release:
                store.patch("nodes", node_name, {"metadata": {"annotations": release}},
                            namespace="")  # fmt: skip
            self.allocated.append(name)
