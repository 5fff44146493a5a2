"""The tiny interface every GPU placement policy implements: a sort key over devices.

Devices are ordered by a tuple of keys (one per policy token of a comma chain, in written order);
the first device of the ordering is tried first. Lower key = preferred.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hami.device.nvidia.fit import DeviceUsage

KeyFn = Callable[[DeviceUsage, float], float]
"""``(device, usage score) -> key``; lower keys are tried first."""


@dataclass(frozen=True, slots=True)
class GpuPolicy:
    """A named GPU policy token of ``hami.io/gpu-scheduler-policy``."""

    name: str
    key: KeyFn
    ordering: bool
    """True when the token decides the primary usage order (binpack/spread/mutex/topology)."""
