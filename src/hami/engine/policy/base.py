"""The tiny interface every GPU placement policy implements: a sort key over devices.

HAMi sorts a node's devices ascending with its policy comparator (a stable sort) and then walks
the sorted list **from the end**; we reproduce that exactly (``order_devices`` returns the walk
order). A policy's ``key`` is therefore HAMi's ascending sort key: the device with the *highest*
key, and among equal keys the one registered *last*, is tried first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hami.device.base import DeviceUsage

KeyFn = Callable[[DeviceUsage, float], float]
"""``(device, usage score) -> key``; higher keys are tried first (HAMi walks from the end)."""


@dataclass(frozen=True, slots=True)
class GpuPolicy:
    """A named GPU policy token of ``hami.io/gpu-scheduler-policy``."""

    name: str
    key: KeyFn
    ordering: bool
    """True when the token decides the primary usage order (binpack/spread/mutex/topology)."""
    chain_key: bool = False
    """True when HAMi uses the token as a sort key inside a comma chain (binpack/spread/numa);
    mutex and topology-aware only act as filters there."""
