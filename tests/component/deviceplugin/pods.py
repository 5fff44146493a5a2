"""Builders for the objects the device plugin reads: bound pods and nodes with the node lock."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hami.api import annotations as ann
from hami.api.nodelock import format_lock

NODE = "gpu-node-1"
NS = "default"

UUID_A = "GPU-aaaaaaaa-0000-0000-0000-000000000000"
UUID_B = "GPU-bbbbbbbb-0000-0000-0000-000000000001"


def node(name: str = NODE, *, lock_owner: str | None = None) -> dict[str, Any]:
    annos: dict[str, str] = {}
    if lock_owner is not None:
        annos[ann.NODE_LOCK] = lock_value(lock_owner)
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": annos}}


def lock_value(pod_name: str, ns: str = NS) -> str:
    return format_lock(datetime.now(UTC), ns, pod_name)


def container(
    name: str, gpus: int = 0, env: dict[str, str] | None = None, resource: str = "nvidia.com/gpu"
) -> dict[str, Any]:
    ctr: dict[str, Any] = {"name": name, "image": "cuda:12"}
    if gpus:
        ctr["resources"] = {"limits": {resource: str(gpus)}}
    if env:
        ctr["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return ctr


def bound_pod(
    name: str,
    to_allocate: str,
    *,
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    node_name: str = NODE,
    phase: str = ann.BIND_PHASE_ALLOCATING,
    uid: str | None = None,
    bind_time: str = "1700000000",
) -> dict[str, Any]:
    """A pod as it looks after the scheduler's Filter and Bind (annotations set, bound)."""
    spec: dict[str, Any] = {"nodeName": node_name, "containers": copy.deepcopy(containers)}
    if init:
        spec["initContainers"] = copy.deepcopy(init)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid or f"uid-{name}",
            "annotations": {
                ann.VGPU_NODE: node_name,
                ann.VGPU_TIME: bind_time,
                ann.DEVICES_TO_ALLOCATE: to_allocate,
                ann.DEVICES_ALLOCATED: to_allocate,
                ann.BIND_PHASE: phase,
                ann.BIND_TIME: bind_time,
            },
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    }
