"""The device plugin's narrow view of NVML: plain GPU facts, the :class:`Nvml` port, a fake.

The plugin needs only a handful of NVML facts (what GPUs exist, their memory, NUMA node and MIG
state, XID health events, per-process memory). Putting them behind :class:`Nvml` keeps pynvml
out of the pure modules, lets unit tests run on the in-memory :class:`FakeNvml`, and lets
component tests run the real binding (:class:`PynvmlNvml`) against the test kit's fake
``libnvidia-ml.so.1``.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

#: XIDs caused by applications rather than the GPU; NVIDIA's plugin ignores them by default.
APPLICATION_XIDS: frozenset[int] = frozenset({13, 31, 43, 45, 68, 109})


class NvmlError(RuntimeError):
    """NVML failed; the message names the call and, where known, the GPU."""


@dataclass(frozen=True, slots=True)
class MigDevice:
    """One MIG instance of a MIG-enabled GPU (advertised as ``nvidia.com/mig-<profile>``)."""

    uuid: str
    profile: str
    """Profile name as NVIDIA's plugin spells it, e.g. ``1g.10gb``."""
    memory_mib: int


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One physical GPU as NVML reports it."""

    index: int
    uuid: str
    name: str
    memory_mib: int
    """Total memory in MiB; 0 when NVML cannot tell (unified-memory parts)."""
    numa: int | None = None
    mig_enabled: bool = False
    mig_devices: tuple[MigDevice, ...] = ()


@dataclass(frozen=True, slots=True)
class XidEvent:
    """A critical XID error on one GPU."""

    uuid: str
    xid: int


@dataclass(frozen=True, slots=True)
class GpuLink:
    """How GPU ``a`` reaches GPU ``b``: NVML's common-ancestor level and active NVLinks a -> b."""

    level: int | None
    """``NVML_TOPOLOGY_*`` (0 same board ... 50 cross-CPU); None when NVML cannot tell."""
    nvlinks: int = 0


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """GPU memory held by one process."""

    pid: int
    used_mib: int


class Nvml(Protocol):
    """What the device plugin asks of NVML. Implementations are safe to call from one thread."""

    def devices(self) -> list[GpuInfo]:
        """All GPUs, ordered by NVML index."""
        ...

    def wait_xid(self, timeout_s: float) -> list[XidEvent]:
        """Block up to ``timeout_s`` for critical XID events; empty on timeout."""
        ...

    def processes(self, uuid: str) -> list[ProcessUsage]:
        """Compute processes on the GPU ``uuid``."""
        ...

    def links(self) -> dict[tuple[str, str], GpuLink]:
        """Link data for every ordered pair of distinct GPUs (uuid a, uuid b)."""
        ...

    def close(self) -> None:
        """Release NVML resources."""
        ...


def is_critical_xid(xid: int, ignored: Iterable[int] = APPLICATION_XIDS) -> bool:
    """True when ``xid`` should mark a GPU unhealthy."""
    return xid not in set(ignored)


def mig_profile_name(gi_slices: int, ci_slices: int, memory_mib: int) -> str:
    """NVIDIA's MIG profile naming: ``<g>g.<GB>gb``, or ``<c>c.<g>g.<GB>gb`` for sub-instances."""
    gb = math.ceil(memory_mib / 1024)
    base = f"{gi_slices}g.{gb}gb"
    return base if ci_slices in (0, gi_slices) else f"{ci_slices}c.{base}"


# --------------------------------------------------------------------------------------------
# In-memory fake


@dataclass
class FakeNvml:
    """An in-memory :class:`Nvml` for unit and component tests.

    ``inject_xid`` is thread-safe and wakes a caller blocked in :meth:`wait_xid`.
    """

    gpus: list[GpuInfo] = field(default_factory=list)
    procs: dict[str, list[ProcessUsage]] = field(default_factory=dict)
    topology: dict[tuple[str, str], GpuLink] = field(default_factory=dict)
    _events: queue.Queue[XidEvent] = field(default_factory=queue.Queue)
    closed: bool = False

    @classmethod
    def with_gpus(
        cls, count: int, *, name: str = "Tesla V100-PCIE-32GB", memory_mib: int = 32768
    ) -> FakeNvml:
        """``count`` identical GPUs with UUIDs ``GPU-fake-0000`` ..."""
        gpus = [
            GpuInfo(index=i, uuid=f"GPU-fake-{i:04d}", name=name, memory_mib=memory_mib)
            for i in range(count)
        ]
        return cls(gpus=gpus)

    def devices(self) -> list[GpuInfo]:
        return list(self.gpus)

    def inject_xid(self, uuid: str, xid: int) -> None:
        self._events.put(XidEvent(uuid=uuid, xid=xid))

    def wait_xid(self, timeout_s: float) -> list[XidEvent]:
        try:
            first = self._events.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return []
        events = [first]
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def processes(self, uuid: str) -> list[ProcessUsage]:
        return list(self.procs.get(uuid, []))

    def links(self) -> dict[tuple[str, str], GpuLink]:
        return {
            (a.uuid, b.uuid): self.topology.get((a.uuid, b.uuid), GpuLink(None))
            for a in self.gpus
            for b in self.gpus
            if a.uuid != b.uuid
        }

    def set_memory(self, uuid: str, memory_mib: int) -> None:
        self.gpus = [replace(g, memory_mib=memory_mib) if g.uuid == uuid else g for g in self.gpus]

    def close(self) -> None:
        self.closed = True
