"""``mutex``: a GPU already used by anyone is not shared; idle GPUs are tried first."""

from __future__ import annotations

from hami.device.nvidia.fit import DeviceUsage
from hami.scheduler.policy.base import GpuPolicy

NAME = "mutex"


def _key(dev: DeviceUsage, score: float) -> float:
    return 1.0 if dev.used > 0 else 0.0


GPU = GpuPolicy(NAME, _key, ordering=True)
