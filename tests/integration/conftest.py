"""Integration fixtures: GPU nodes in the apiserver stand-in."""

from __future__ import annotations

from tests.component.scheduler.objects import make_node
from tests.support.apiserver import ApiServerThread


def add_nodes(
    api: ApiServerThread, count: int, *, gpus: int = 2, mem: int = 16384, split: int = 10,
    gpu_type: str = "NVIDIA-Tesla T4", prefix: str = "gpu-node",
) -> list[str]:  # fmt: skip
    names = []
    for i in range(count):
        name = f"{prefix}-{i:02d}"
        api.store.create(make_node(name, gpus=gpus, mem=mem, split=split, gpu_type=gpu_type))
        names.append(name)
    return names
