"""``mutex``: a GPU already used by anyone is not shared; idle GPUs are tried first."""

from __future__ import annotations

from hami.device.base import DeviceUsage
from hami.engine.policy.base import GpuPolicy

NAME = "mutex"


def _key(dev: DeviceUsage, score: float) -> float:
    return float(-dev.used)


GPU = GpuPolicy(NAME, _key, ordering=True)
