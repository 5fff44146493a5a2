"""GPU and node placement policies, registered by name (spec §4.5, §4.6).

``hami.io/gpu-scheduler-policy`` may be a comma chain (``binpack,numa``): keys apply
lexicographically in written order, unknown tokens are ignored, a chain without an ordering token
falls back to ``spread``, and NUMA id then device index break the last ties.
"""

from __future__ import annotations

from collections.abc import Sequence

from hami.device.nvidia.fit import DeviceUsage
from hami.device.nvidia.score import DEFAULT_WEIGHTS, ScoringWeights, device_score
from hami.scheduler.policy import binpack, mutex, numa, spread, topology
from hami.scheduler.policy.base import GpuPolicy

GPU_POLICIES: dict[str, GpuPolicy] = {
    p.name: p for p in (binpack.GPU, spread.GPU, mutex.GPU, numa.GPU, topology.GPU)
}
NODE_POLICIES: dict[str, bool] = {
    binpack.NAME: binpack.NODE_PREFERS_HIGH_SCORE,
    spread.NAME: spread.NODE_PREFERS_HIGH_SCORE,
}


def parse_chain(value: str) -> tuple[str, ...]:
    """Known policy tokens of a chain, in order, lower-cased, duplicates dropped."""
    out: list[str] = []
    for token in value.split(","):
        name = token.strip().lower()
        if name in GPU_POLICIES and name not in out:
            out.append(name)
    if not any(GPU_POLICIES[n].ordering for n in out):
        out.append(spread.NAME)
    return tuple(out)


def order_devices(
    devices: Sequence[DeviceUsage],
    chain: tuple[str, ...],
    *,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
    numa_bind: bool = False,
) -> list[DeviceUsage]:
    """Devices in the order Fit tries them (preferred first)."""
    keys = [GPU_POLICIES[name].key for name in chain]
    numa_sign = -1 if binpack.NAME in chain else 1

    def sort_key(dev: DeviceUsage) -> tuple[float, ...]:
        score = device_score(dev, weights)
        parts = [k(dev, score) for k in keys]
        if numa_bind:
            parts.insert(0, numa_sign * dev.numa)
        parts.append(dev.numa)
        parts.append(dev.index)
        return tuple(parts)

    return sorted(devices, key=sort_key)


def node_prefers_high(policy: str, default: str = binpack.NAME) -> bool:
    """True when the node policy picks the highest-scored (busiest) node."""
    key = policy.strip().lower()
    return NODE_POLICIES.get(key, NODE_POLICIES.get(default, True))
