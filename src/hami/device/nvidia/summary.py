"""NVIDIA's pruning summary of one node (a :class:`~hami.device.base.FitSummarizer`).

A few sorted lists (free memory, free cores, free memory fraction of the GPUs with a free slot,
cordoned ones left out) and counts, rebuilt by the engine after every usage change of the node,
so most nodes are ruled out with a few comparisons before the detailed fit. ``may_fit`` is a
necessary condition of :func:`hami.device.nvidia.fit.fit_container`: False means the fit fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from hami.api.types import PERCENTAGE_UNSET, ContainerRequest
from hami.device.base import MIG_MODE, DeviceUsage
from hami.device.nvidia.fit import Selection


class NvidiaSummary:
    """Free capacity of one node's NVIDIA GPUs that still have a slot and are not cordoned."""

    __slots__ = (
        "free_cores", "free_fracs", "free_mems", "has_mig", "n_exclusive_ok", "n_idle",
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
        for d in devices:
            has_mig = has_mig or d.mode == MIG_MODE
            if not d.health or d.used >= d.count or d.id in cordoned:
                continue
            free = d.totalmem - d.usedmem
            mems.append(free)
            cores.append(d.totalcore - d.usedcores)
            # (free + 1) / total keeps the percentage check conservative under floor division
            fracs.append((free + 1) / d.totalmem if d.totalmem > 0 else 1.0)
            idle += d.used == 0
            excl_ok += d.used == 0 or d.totalcore != 100
            key = (d.type.lower(), d.mode)
            counts[key] = counts.get(key, 0) + 1
            ids.append(d.id)
        mems.sort(reverse=True)
        cores.sort(reverse=True)
        fracs.sort(reverse=True)
        self.free_mems, self.free_cores, self.free_fracs = mems, cores, fracs
        self.n_idle, self.n_exclusive_ok = idle, excl_ok
        self.type_counts = counts
        self.usable_ids = frozenset(ids)
        self.has_mig = has_mig

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
            return False  # a core-booked GPU cannot take even a 0-core request (check 13)
        if req.coresreq == 100 and self.n_exclusive_ok < n:
            return False
        if (mutex or (selection is not None and selection.mutex)) and self.n_idle < n:
            return False
        return selection is None or self._selection_may_fit(selection, n)

    def _selection_may_fit(self, sel: Selection, n: int) -> bool:
        if sel.filters_types and (
            sum(c for (t, m), c in self.type_counts.items() if sel.type_mode_ok(t, m)) < n
        ):
            return False
        if sel.use_uuids and sum(1 for u in sel.use_uuids if u in self.usable_ids) < n:
            return False
        return not sel.nouse_uuids or len(self.usable_ids - sel.nouse_uuids) >= n
