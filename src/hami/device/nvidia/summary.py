"""NVIDIA's pruning summary of one node (a :class:`~hami.device.base.FitSummarizer`).

A few sorted tuples (free memory, free cores and the largest memory percentage each can grant,
of the usable GPUs: healthy, not cordoned, with a free slot and a free core; the others can take
no request) and counts, rebuilt by the engine after every usage change of the node, so most
nodes are ruled out with a few comparisons before the detailed fit. ``may_fit`` is a necessary
condition of :func:`hami.device.nvidia.fit.fit_container`: False means the fit fails.

``bucket`` is the node's capacity class for the engine's node index (see
:mod:`hami.engine.index`): the bits of the largest free MiB, the largest memory percentage one
usable GPU can still grant in fifths and whether one usable GPU can take a 100-core request,
packed in one small int (``bits * 12 + fifths * 2 + cores``, bits capped at 20, so that it is
one of CPython's shared small ints); None when no GPU is usable. :meth:`NvidiaSummary.admits`
tells from a class alone whether a request may fit a node of that class, so the engine walks
only the classes that may.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hami.api.types import PERCENTAGE_UNSET, ContainerRequest
from hami.device.base import MIG_MODE, DeviceUsage
from hami.device.nvidia.fit import Selection

_MAX_BITS = 20
"""Free MiB classes stop at 2**20 (bigger is one class): every bucket is a small int."""


def _max_percentage(free: int, total: int) -> int:
    """The largest p in 0..100 such that a p % request fits ``free`` MiB of ``total`` (HAMi's
    floor of ``total * p / 100``); -1 when not even 0 % fits."""
    if free < 0:
        return -1
    p = min(100, free * 100 // total) if total > 0 else 100
    while p < 100 and total * (p + 1) // 100 <= free:
        p += 1
    return p


class NvidiaSummary:
    """Free capacity of one node's usable NVIDIA GPUs (see the module docstring)."""

    __slots__ = (
        "_cordoned", "_devices", "bucket", "free_cores", "free_fracs", "free_mems", "has_mig",
        "n_exclusive_ok", "n_idle",
    )  # fmt: skip

    def __init__(self, devices: Sequence[DeviceUsage], cordoned: frozenset[str]) -> None:
        idle = excl_ok = 0
        mems: list[int] = []
        cores: list[int] = []
        fracs: list[int] = []
        usable = 0
        has_mig = False
        best_mem = best_pct = big_cores = 0
        for d in devices:
            has_mig = has_mig or d.mode == MIG_MODE
            free_cores = d.totalcore - d.usedcores
            if not d.health or d.used >= d.count or free_cores <= 0 or d.id in cordoned:
                continue  # a core-booked GPU cannot take even a 0-core request (check 13)
            free = d.totalmem - d.usedmem
            mems.append(free)
            cores.append(free_cores)
            pct = _max_percentage(free, d.totalmem)
            fracs.append(pct)
            idle += d.used == 0
            exclusive = d.used == 0 or d.totalcore != 100
            excl_ok += exclusive
            usable += 1
            best_mem = max(best_mem, free)
            best_pct = max(best_pct, pct)
            big_cores |= exclusive and free_cores >= 100
        mems.sort(reverse=True)
        cores.sort(reverse=True)
        fracs.sort(reverse=True)
        self.free_mems, self.free_cores, self.free_fracs = tuple(mems), tuple(cores), tuple(fracs)
        self.n_idle, self.n_exclusive_ok = idle, excl_ok
        self._devices, self._cordoned = devices, cordoned  # for the rare type/UUID filters
        self.has_mig = has_mig
        self.bucket: int | None = (
            min(best_mem.bit_length(), _MAX_BITS) * 12 + best_pct // 20 * 2 + big_cores
            if usable
            else None
        )

    @staticmethod
    def admits(
        bucket: Any, req: ContainerRequest, selection: Any = None, mutex: bool = False
    ) -> bool:
        """False only when ``req`` fits no node whose summary has this ``bucket``."""
        mem_bits, rest = divmod(bucket, 12)
        fifths, big_cores = divmod(rest, 2)
        if req.memreq > 0:
            if mem_bits < min(req.memreq.bit_length(), _MAX_BITS):
                return False
        elif req.mem_percentage_req != PERCENTAGE_UNSET and fifths < req.mem_percentage_req // 20:
            return False
        return not (req.coresreq >= 100 and not big_cores)

    def may_fit(
        self, req: ContainerRequest, selection: Selection | None = None, mutex: bool = False
    ) -> bool:
        """Cheap necessary condition for one container; False means the detailed fit must fail."""
        if self.has_mig:
            return True
        n = req.nums
        if n <= 0:
            return True
        if n > len(self.free_mems):
            return False
        if req.memreq > 0:
            if self.free_mems[n - 1] < req.memreq:
                return False
        elif (
            req.mem_percentage_req != PERCENTAGE_UNSET
            and req.mem_percentage_req <= 100
            and self.free_fracs[n - 1] < req.mem_percentage_req
        ):
            return False
        if self.free_cores[n - 1] < max(req.coresreq, 1):
            return False
        if req.coresreq == 100 and self.n_exclusive_ok < n:
            return False
        if (mutex or (selection is not None and selection.mutex)) and self.n_idle < n:
            return False
        return selection is None or self._selection_may_fit(selection, n)

    def _usable(self) -> list[DeviceUsage]:
        cordoned = self._cordoned
        return [
            d
            for d in self._devices
            if d.health and d.used < d.count and d.totalcore > d.usedcores and d.id not in cordoned
        ]

    def _selection_may_fit(self, sel: Selection, n: int) -> bool:
        if not (sel.filters_types or sel.use_uuids or sel.nouse_uuids):
            return True
        usable = self._usable()
        if sel.filters_types:
            usable = [d for d in usable if sel.type_mode_ok(d.type.lower(), d.mode)]
        if sel.use_uuids:
            usable = [d for d in usable if d.id in sel.use_uuids]
        if sel.nouse_uuids:
            usable = [d for d in usable if d.id not in sel.nouse_uuids]
        return len(usable) >= n
