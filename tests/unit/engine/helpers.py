"""Builders for scheduler tests: nodes' devices and pod manifests as the extender receives them."""

from __future__ import annotations

from typing import Any

from hami.api.types import DeviceInfo

A100 = "NVIDIA A100-SXM4-40GB"
T4 = "NVIDIA-Tesla T4"


def gpus(
    node: str, n: int, *, model: str = A100, mem: int = 40960, count: int = 10, numa: int = 0
) -> list[DeviceInfo]:
    return [
        DeviceInfo(f"GPU-{node}-{i}", count, mem, 100, model, index=i, numa=numa) for i in range(n)
    ]


def ctr(name: str = "main", **limits: str | int) -> dict[str, Any]:
    names = {
        "gpu": "nvidia.com/gpu",
        "mem": "nvidia.com/gpumem",
        "pct": "nvidia.com/gpumem-percentage",
        "cores": "nvidia.com/gpucores",
    }
    res = {names[k]: str(v) for k, v in limits.items()}
    return {"name": name, "image": "x", "resources": {"limits": res} if res else {}}


def pod(
    name: str = "p",
    *containers: dict[str, Any],
    init: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers) or [ctr(gpu=1, mem=1000)]}
    if init:
        spec["initContainers"] = init
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "annotations": annotations or {},
        },
        "spec": spec,
    }
