"""NVIDIA's pruning summary of one node (a :class:`~hami.device.base.FitSummarizer`).

A few sorted lists (free memory, free cores, free memory fraction of the usable GPUs: healthy,
not cordoned, with a free slot and a free core; the others can take no request) and counts,
rebuilt by the engine after every usage change of the node, so most nodes are ruled out with a
few comparisons before the detailed fit. ``may_fit`` is a necessary condition of
:func:`hami.device.nvidia.fit.fit_container`: False means the fit fails.

``bucket`` is the node's capacity class for the engine's node index (see
:mod:`hami.engine.index`): ``(bits of the largest free MiB, the largest memory percentage one
usable GPU can still grant in tenths, 1 if one usable GPU can take a 100-core request)``, or
None when no GPU is usable. :meth:`NvidiaSummary.admits` tells from a class alone whether a
request may fit a node of that class, so the engine walks only the classes that may.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hami.api.types import PERCENTAGE_UNSET, ContainerRequest
from hami.device.base import MIG_MODE, DeviceUsage
from hami.device.nvidia.fit import Selection

Bucket = tuple[int, int, int]


def _tenths(free: int, total: int) -> int:
    """The largest k in 0..10 such that a ``10k`` % request fits ``free`` MiB of ``total``
    (HAMi's floor of ``total * pct / 100``); -1 when not even 0 % fits."""
    if free < 0:
        return -1
    k = min(10, free * 10 // total) if total > 0 else 10
    while k < 10 and total * 10 * (k + 1) // 100 <= free:
        k += 1
    return k


class NvidiaSummary:
    """Free capacity of one node's usable NVIDIA GPUs (see the module docstring)."""

    __slots__ = (
        "bucket", "free_cores", "free_fracs", "free_mems", "has_mig", "n_exclusive_ok", "n_idle",
        "type_counts", "usable_ids",
    )  # fmt: skip

    def __init__(self, devices: Sequence[DeviceUsage], cordoned: frozenset[str]) -> None:
        idle = excl_ok = 0
        mems: list[int] = []
        cores: list[int] = []
        fracs: list[float] = []
        counts: dict[tuple[str, str], int] = {}
        ids: list[str] = []
        has_mig = False
        best_mem = best_tenths = big_cores = 0
        for d in devices:
            has_mig = has_mig or d.mode == MIG_MODE
            free_cores = d.totalcore - d.usedcores
            if not d.health or d.used >= d.count or free_cores <= 0 or d.id in cordoned:
                continue  # a core-booked GPU cannot take even a 0-core request (check 13)
            free = d.totalmem - d.usedmem
            mems.append(free)
            cores.append(free_cores)
            # (free + 1) / total keeps the percentage check conservative under floor division
            fracs.append((free + 1) / d.totalmem if d.totalmem > 0 else 1.0)
            idle += d.used == 0
            exclusive = d.used == 0 or d.totalcore != 100
            excl_ok += exclusive
            key = (d.type.lower(), d.mode)
            counts[key] = counts.get(key, 0) + 1
            ids.append(d.id)
            best_mem = max(best_mem, free)
            best_tenths = max(best_tenths, _tenths(free, d.totalmem))
            big_cores |= exclusive and free_cores >= 100
        mems.sort(reverse=True)
        cores.sort(reverse=True)
        fracs.sort(reverse=True)
        self.free_mems, self.free_cores, self.free_fracs = mems, cores, fracs
        self.n_idle, self.n_exclusive_ok = idle, excl_ok
        self.type_counts = tuple(counts.items())
        self.usable_ids = tuple(ids)
        self.has_mig = has_mig
        self.bucket: Bucket | None = (
            (best_mem.bit_length(), best_tenths, int(big_cores)) if ids else None
        )

    @staticmethod
    def admits(
        bucket: Any, req: ContainerRequest, selection: Any = None, mutex: bool = False
    ) -> bool:
        """False only when ``req`` fits no node whose summary has this ``bucket``."""
        mem_bits, tenths, big_cores = bucket
        if req.memreq > 0:
            if mem_bits < req.memreq.bit_length():
                return False
        elif req.mem_percentage_req != PERCENTAGE_UNSET and tenths < req.mem_percentage_req // 10:
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
        elif req.mem_percentage_req != PERCENTAGE_UNSET and (
            self.free_fracs[n - 1] * 100 + 1e-6 < req.mem_percentage_req
        ):
            return False
        if self.free_cores[n - 1] < max(req.coresreq, 1):
            return False
        if req.coresreq == 100 and self.n_exclusive_ok < n:
            return False
        if (mutex or (selection is not None and selection.mutex)) and self.n_idle < n:
            return False
        return selection is None or self._selection_may_fit(selection, n)

    def _selection_may_fit(self, sel: Selection, n: int) -> bool:
        if sel.filters_types and (
            sum(c for (t, m), c in self.type_counts if sel.type_mode_ok(t, m)) < n
        ):
            return False
        if sel.use_uuids and sum(1 for u in sel.use_uuids if u in self.usable_ids) < n:
            return False
        return not sel.nouse_uuids or sum(1 for u in self.usable_ids
                                          if u not in sel.nouse_uuids) >= n  # fmt: skip
