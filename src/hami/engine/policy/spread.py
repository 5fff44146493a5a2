"""``spread`` (GPU default): use the least-used GPU (and, as node policy, node) first."""

from __future__ import annotations

from hami.device.base import DeviceUsage
from hami.engine.policy.base import GpuPolicy

NAME = "spread"


def _key(dev: DeviceUsage, score: float) -> float:
    return -score


GPU = GpuPolicy(NAME, _key, ordering=True, chain_key=True)
NODE_PREFERS_HIGH_SCORE = False
