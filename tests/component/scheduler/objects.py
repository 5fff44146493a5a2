"""Builders of Node and Pod dicts for the scheduler service tests (component and integration)."""

from __future__ import annotations

from typing import Any

from hami.api.noderegister import encode_node_devices
from hami.api.types import DeviceInfo


def gpu_uuid(node: str, index: int) -> str:
    return f"GPU-{node}-{index:02d}"


def make_node(
    name: str,
    *,
    gpus: int = 2,
    mem: int = 16384,
    split: int = 10,
    gpu_type: str = "NVIDIA-Tesla T4",
    allocatable: int | None = None,
    register: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    devices = [
        DeviceInfo(id=gpu_uuid(name, i), count=split, devmem=mem, devcore=100,
                   type=gpu_type, index=i, health=True)
        for i in range(gpus)
    ]  # fmt: skip
    anns = {"hami.io/node-nvidia-register": register or encode_node_devices(devices)}
    anns.update(annotations or {})
    count = gpus * split if allocatable is None else allocatable
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"gpu": "on", **(labels or {})}, "annotations": anns},
        "status": {
            "capacity": {
                "nvidia.com/gpu": str(count),
                "cpu": "64",
                "memory": "256Gi",
                "pods": "500",
            },
            "allocatable": {
                "nvidia.com/gpu": str(count),
                "cpu": "64",
                "memory": "256Gi",
                "pods": "500",
            },
        },
    }


def container(
    name: str = "main",
    *,
    gpu: int | None = 1,
    gpumem: int | None = None,
    gpucores: int | None = None,
    percentage: int | None = None,
) -> dict[str, Any]:
    limits: dict[str, str] = {}
    if gpu is not None:
        limits["nvidia.com/gpu"] = str(gpu)
    if gpumem is not None:
        limits["nvidia.com/gpumem"] = str(gpumem)
    if gpucores is not None:
        limits["nvidia.com/gpucores"] = str(gpucores)
    if percentage is not None:
        limits["nvidia.com/gpumem-percentage"] = str(percentage)
    spec: dict[str, Any] = {"name": name, "image": "busybox"}
    if limits:
        spec["resources"] = {"limits": limits}
    return spec


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    scheduler_name: str = "hami-scheduler",
    uid: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": scheduler_name,
        "containers": containers if containers is not None else [container(gpumem=1000)],
    }
    if init_containers:
        spec["initContainers"] = init_containers
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Pending"}}  # fmt: skip


def filter_args(pod: dict[str, Any], nodes: list[str]) -> dict[str, Any]:
    return {"Pod": pod, "Nodes": None, "NodeNames": nodes}


def bind_args(pod: dict[str, Any], node: str) -> dict[str, str]:
    meta = pod["metadata"]
    return {"PodName": meta["name"], "PodNamespace": meta.get("namespace", "default"),
            "PodUID": meta.get("uid", ""), "Node": node}  # fmt: skip


def usage_by_gpu(pods: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """GPU uuid -> (slots, MiB, cores) summed over the pods' ``-allocated`` annotations."""
    from hami.api.poddevices import decode_pod_devices

    usage: dict[str, tuple[int, int, int]] = {}
    for pod in pods:
        value = (pod["metadata"].get("annotations") or {}).get("hami.io/vgpu-devices-allocated")
        if not value:
            continue
        for block in decode_pod_devices(value):
            for dev in block:
                slots, mem, cores = usage.get(dev.uuid, (0, 0, 0))
                usage[dev.uuid] = (slots + 1, mem + dev.usedmem, cores + dev.usedcores)
    return usage
