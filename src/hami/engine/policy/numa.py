"""``numa``: a chain key on the NUMA id (HAMi sorts ascending, so the highest id is tried first)."""

from __future__ import annotations

from hami.device.base import DeviceUsage
from hami.engine.policy.base import GpuPolicy

NAME = "numa"


def _key(dev: DeviceUsage, score: float) -> float:
    return float(dev.numa)


GPU = GpuPolicy(NAME, _key, ordering=False, chain_key=True)
