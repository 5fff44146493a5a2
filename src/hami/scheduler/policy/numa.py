"""``numa``: order GPUs by NUMA node (lower id first); combine with binpack/spread in a chain."""

from __future__ import annotations

from hami.device.nvidia.fit import DeviceUsage
from hami.scheduler.policy.base import GpuPolicy

NAME = "numa"


def _key(dev: DeviceUsage, score: float) -> float:
    return float(dev.numa)


GPU = GpuPolicy(NAME, _key, ordering=False)
