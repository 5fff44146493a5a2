"""The full loop on stand-ins, with our real device plugin at the end.

A pod goes through our webhook (``POST /webhook`` of the scheduler, JSONPatch applied), is created
in the apiserver stand-in, scheduled by the kube-scheduler stand-in calling our extender
(``/filter`` then ``/bind``, node lock taken), admitted by the kubelet stand-in, which calls our
plugin's Allocate over its unix socket. The env each container receives must match the devices the
scheduler wrote into ``hami.io/vgpu-devices-allocated``; the lock must be released and the pod
marked ``bind-phase=success``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hami.api import annotations as ann
from hami.api.poddevices import decode_pod_devices
from hami.deviceplugin.app import DevicePluginApp, running
from hami.deviceplugin.nvml import FakeNvml, GpuInfo
from hami.deviceplugin.settings import PluginSettings
from hami.k8s.lightkube import LightkubeClient
from hami.webhook.jsonpatch import apply_patch
from tests.integration.stack import kube_scheduler_config, start_scheduler
from tests.support.apiserver import ApiServerThread
from tests.support.kubelet import KubeletStandIn
from tests.support.kubescheduler import KubeSchedulerThread

NODE = "gpu-node-1"
UUIDS = ("GPU-11111111-0000-0000-0000-000000000000", "GPU-22222222-0000-0000-0000-000000000000")


async def _until(pred: Any, timeout: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await asyncio.to_thread(pred):
            return True
        await asyncio.sleep(0.05)
    return bool(await asyncio.to_thread(pred))


@contextlib.asynccontextmanager
async def gpu_node(api: ApiServerThread, tmp: Path) -> AsyncIterator[KubeletStandIn]:
    """A node whose kubelet stand-in talks to our running device plugin."""
    sock = Path(tempfile.mkdtemp(prefix="dpl", dir="/tmp"))
    res = {"cpu": "16", "memory": "64Gi", "pods": "110"}
    api.store.create({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
        "status": {"capacity": dict(res), "allocatable": dict(res)},
    })  # fmt: skip
    settings = PluginSettings(
        node_name=NODE, plugin_dir=sock, hook_path=tmp / "hook", lock_dir=tmp / "lock"
    )
    nvml = FakeNvml(gpus=[GpuInfo(i, u, "Tesla T4", 15360) for i, u in enumerate(UUIDS)])
    kube = LightkubeClient.from_kubeconfig(api.kubeconfig_path)
    kubelet = KubeletStandIn(sock, NODE, api.url).start()
    try:
        app = DevicePluginApp(settings, nvml, kube, poll_s=0.05, xid_poll_s=0.05)
        async with running(app):
            assert await asyncio.to_thread(kubelet.wait_devices, "nvidia.com/gpu", 20, 20.0)
            yield kubelet
    finally:
        kubelet.close()
        await kube.close()
        shutil.rmtree(sock, ignore_errors=True)


def _through_webhook(url: str, pod: dict[str, Any]) -> dict[str, Any]:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "review-1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": "default",
            "object": pod,
        },
    }
    resp = httpx.post(f"{url}/webhook", json=review, timeout=10).json()["response"]
    assert resp["allowed"] is True, resp
    patch = json.loads(base64.b64decode(resp["patch"]))
    mutated: dict[str, Any] = apply_patch(pod, patch)
    return mutated


def _diagnose(api: ApiServerThread) -> str:
    events = [(e.get("reason"), e.get("message")) for e in api.store.list("events")]
    node = api.store.get("nodes", NODE)
    status = api.store.get("pods", "train").get("status")
    return f"events={events} node={node['metadata'].get('annotations')} pod status={status}"


def _pod() -> dict[str, Any]:
    def ctr(name: str, limits: dict[str, str]) -> dict[str, Any]:
        return {"name": name, "image": "cuda:12", "resources": {"limits": limits}}

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "train", "namespace": "default"},
        "spec": {
            "initContainers": [ctr("prep", {"nvidia.com/gpumem": "500"})],
            "containers": [
                ctr("sidecar", {"cpu": "1"}),
                ctr("trainer", {"nvidia.com/gpu": "2", "nvidia.com/gpumem": "3000",
                                "nvidia.com/gpucores": "30"}),
            ],
        },
    }  # fmt: skip


@pytest.mark.slow
async def test_webhook_scheduler_kubelet_allocate(tmp_path: Path) -> None:
    with ApiServerThread() as api:
        async with gpu_node(api, tmp_path) as kubelet:
            sched = await asyncio.to_thread(start_scheduler, api)
            try:
                with KubeSchedulerThread(
                    api.url, kube_scheduler_config(sched.url), max_backoff_s=0.5
                ):
                    pod = await asyncio.to_thread(_through_webhook, sched.url, _pod())
                    assert pod["spec"]["schedulerName"] == "hami-scheduler"
                    api.store.create(pod)

                    def bound() -> bool:
                        return api.store.get("pods", "train")["spec"].get("nodeName") == NODE

                    if not await _until(bound):
                        pytest.fail(f"not bound: {_diagnose(api)}")
                    stored = api.store.get("pods", "train")
                    result = await asyncio.to_thread(kubelet.admit, stored)
            finally:
                await asyncio.to_thread(sched.stop)
        final = api.store.get("pods", "train")
        node_annos = api.store.get("nodes", NODE)["metadata"].get("annotations") or {}

    annos = final["metadata"]["annotations"]
    chosen = decode_pod_devices(annos[ann.DEVICES_ALLOCATED])
    assert [len(c) for c in chosen] == [1, 0, 2]
    prep, _, trainer = chosen
    assert [a.container for a in result.allocations] == ["prep", "trainer"]
    assert result.envs("prep")["NVIDIA_VISIBLE_DEVICES"] == prep[0].uuid
    assert result.envs("prep")["CUDA_DEVICE_MEMORY_LIMIT_0"] == "500m"
    envs = result.envs("trainer")
    assert envs["NVIDIA_VISIBLE_DEVICES"] == ",".join(d.uuid for d in trainer)
    assert sorted(d.uuid for d in trainer) == sorted(UUIDS)
    assert envs["CUDA_DEVICE_MEMORY_LIMIT_0"] == envs["CUDA_DEVICE_MEMORY_LIMIT_1"] == "3000m"
    assert envs["CUDA_DEVICE_SM_LIMIT"] == "30"
    assert annos[ann.BIND_PHASE] == "success"
    assert annos[ann.DEVICES_TO_ALLOCATE] == ";;;"
    assert ann.NODE_LOCK not in node_annos
