"""Per-GPU usage score that the GPU policies sort on (HAMi ``DeviceUsageList``, spec §4.5).

``score = 10 x (wSlot*Used/Count + wCore*Usedcores/Totalcore + wMem*Usedmem/Totalmem)``. HAMi adds
the request only when its type equals the model string, which never happens for ``NVIDIA``, so the
score reflects current usage only. Weights come from ``hami.io/device-scoring-weights``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hami.device.base import DeviceUsage


class WeightsError(ValueError):
    """``hami.io/device-scoring-weights`` is malformed; the pod is unschedulable."""


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """Relative weight of slots, cores and memory in the device score."""

    slot: int = 1
    core: int = 1
    memory: int = 1


DEFAULT_WEIGHTS = ScoringWeights()
_KEYS = ("slot", "core", "memory")


def parse_weights(value: str | None) -> ScoringWeights:
    """Parse ``"slot=1,core=1,memory=3"``: all three keys, non-negative ints, one > 0."""
    if value is None or not value.strip():
        return DEFAULT_WEIGHTS
    found: dict[str, int] = {}
    for part in value.split(","):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in _KEYS or key in found:
            raise WeightsError(f"hami.io/device-scoring-weights: bad entry {part.strip()!r}")
        try:
            found[key] = int(raw.strip())
        except ValueError:
            raise WeightsError(
                f"hami.io/device-scoring-weights: {key} is not an integer ({raw.strip()!r})"
            ) from None
        if found[key] < 0:
            raise WeightsError(f"hami.io/device-scoring-weights: {key} is negative")
    if set(found) != set(_KEYS):
        missing = ", ".join(k for k in _KEYS if k not in found)
        raise WeightsError(f"hami.io/device-scoring-weights: missing {missing}")
    if not any(found.values()):
        raise WeightsError("hami.io/device-scoring-weights: all weights are zero")
    return ScoringWeights(found["slot"], found["core"], found["memory"])


def device_score(dev: DeviceUsage, weights: ScoringWeights = DEFAULT_WEIGHTS) -> float:
    """Usage score of one GPU; higher means busier.

    As in HAMi, a device with no slots, no cores or no memory scores 0 as a whole (rather than
    dropping only the term that would divide by zero).
    """
    if dev.count <= 0 or dev.totalcore <= 0 or dev.totalmem <= 0:
        return 0.0
    return 10 * (
        weights.slot * dev.used / dev.count
        + weights.core * dev.usedcores / dev.totalcore
        + weights.memory * dev.usedmem / dev.totalmem
    )


def node_score(
    used: int, count: int, usedcores: int, totalcore: int, usedmem: int, totalmem: int
) -> float:
    """Node usage score over the sums of its GPUs (HAMi ``ComputeDefaultScore``, spec §4.6).

    0 when the node has no slots, no cores or no memory in total, as in HAMi.
    """
    if count <= 0 or totalcore <= 0 or totalmem <= 0:
        return 0.0
    return 10 * (used / count + usedcores / totalcore + usedmem / totalmem)
