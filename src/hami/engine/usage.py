"""Node usage built from reserved pods (spec §4.2), with pruning summaries kept incrementally.

Each reserved pod charges its GPUs once, with init containers accounted as
``max(peak init, sum app)`` for memory and cores and ``max(1, app occurrences)`` slots.
:class:`NodeUsage` also keeps a small summary (free memory/cores of GPUs with a free slot, node
score) so the engine can discard most nodes with a few comparisons before the detailed fit.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hami.api.types import PERCENTAGE_UNSET, ContainerRequest, DeviceInfo, PodSingleDevice
from hami.device.nvidia.fit import MIG_MODE, DeviceUsage, Selection
from hami.engine.score import node_score


@dataclass(frozen=True, slots=True)
class MigAllocation:
    """One dynamic-MIG reservation (an entry of ``hami.io/vgpu-mig-allocations``)."""

    container_index: int
    device_index: int
    uuid: str
    profile: str
    start: int
    size: int
    mig_uuid: str = ""
    """Runtime identity the device plugin adds once the instance exists ("" = not yet)."""
    gpu_instance_id: int = -1
    compute_instance_id: int = -1


@dataclass(slots=True)
class DeviceCharge:
    """What one pod holds on one GPU."""

    used: int = 0
    mem: int = 0
    cores: int = 0


def pod_charges(devices: Mapping[str, PodSingleDevice], init_count: int) -> dict[str, DeviceCharge]:
    """Per-GPU charge of a pod: ``max(peak init, sum app)`` for memory and cores."""
    app: dict[str, DeviceCharge] = {}
    init_peak: dict[str, DeviceCharge] = {}
    for per_container in devices.values():
        for i, container in enumerate(per_container):
            if i < init_count:
                this: dict[str, DeviceCharge] = {}
                for cd in container:
                    c = this.setdefault(cd.uuid, DeviceCharge())
                    c.mem += cd.usedmem
                    c.cores += cd.usedcores
                for uuid, c in this.items():
                    peak = init_peak.setdefault(uuid, DeviceCharge())
                    peak.mem = max(peak.mem, c.mem)
                    peak.cores = max(peak.cores, c.cores)
                continue
            for cd in container:
                c = app.setdefault(cd.uuid, DeviceCharge())
                c.used += 1
                c.mem += cd.usedmem
                c.cores += cd.usedcores
    out: dict[str, DeviceCharge] = {}
    for uuid in app.keys() | init_peak.keys():
        a = app.get(uuid, DeviceCharge())
        p = init_peak.get(uuid, DeviceCharge())
        out[uuid] = DeviceCharge(max(1, a.used), max(a.mem, p.mem), max(a.cores, p.cores))
    return out


class NodeUsage:
    """One node's GPUs with their current usage and a pruning summary."""

    __slots__ = (
        "by_id", "cordoned", "devices", "free_cores", "free_fracs", "free_mems", "has_mig",
        "n_exclusive_ok", "n_idle", "name", "pair_scores", "score", "type_counts", "usable_ids",
        "version",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        devices: Sequence[DeviceInfo],
        *,
        cordoned: Iterable[str] = (),
        pair_scores: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.name = name
        self.devices = [DeviceUsage.from_info(d) for d in devices]
        self.by_id = {d.id: d for d in self.devices}
        self.cordoned = frozenset(cordoned)
        self.pair_scores: Mapping[str, Mapping[str, int]] = pair_scores or {}
        self.has_mig = any(d.mode == MIG_MODE for d in self.devices)
        self.score = 0.0
        self.free_mems: list[int] = []
        self.free_cores: list[int] = []
        self.free_fracs: list[float] = []
        self.n_idle = 0
        self.n_exclusive_ok = 0
        self.type_counts: dict[tuple[str, str], int] = {}
        self.usable_ids: frozenset[str] = frozenset()
        self.version = 0
        """Bumped on every usage change; lets callers cache per-node results."""
        self.refresh()

    def charge(
        self, charges: Mapping[str, DeviceCharge], sign: int, mig: Iterable[MigAllocation]
    ) -> None:
        """Add (sign=1) or remove (sign=-1) a pod's charges; unknown GPUs are ignored."""
        for uuid, c in charges.items():
            dev = self.by_id.get(uuid)
            if dev is not None:
                dev.used += sign * c.used
                dev.usedmem += sign * c.mem
                dev.usedcores += sign * c.cores
        for m in mig:
            dev = self.by_id.get(m.uuid)
            if dev is None:
                continue
            if sign > 0:
                dev.mig_used.append((m.start, m.size))
            elif (m.start, m.size) in dev.mig_used:
                dev.mig_used.remove((m.start, m.size))
        self.refresh()

    def refresh(self) -> None:
        """Recompute the summary after a usage change (O(GPUs on this node), one pass)."""
        self.version += 1
        used = count = ucores = tcores = umem = tmem = idle = excl_ok = 0
        mems: list[int] = []
        cores: list[int] = []
        fracs: list[float] = []
        counts: dict[tuple[str, str], int] = {}
        ids: list[str] = []
        for d in self.devices:
            used += d.used
            count += d.count
            ucores += d.usedcores
            tcores += d.totalcore
            umem += d.usedmem
            tmem += d.totalmem
            if not d.health or d.used >= d.count or d.id in self.cordoned:
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
        self.score = node_score(used, count, ucores, tcores, umem, tmem)
        mems.sort(reverse=True)
        cores.sort(reverse=True)
        fracs.sort(reverse=True)
        self.free_mems, self.free_cores, self.free_fracs = mems, cores, fracs
        self.n_idle, self.n_exclusive_ok = idle, excl_ok
        self.type_counts = counts
        self.usable_ids = frozenset(ids)

    def may_fit(self, req: ContainerRequest, sel: Selection | None = None) -> bool:
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
        return sel is None or self._selection_may_fit(sel, n)

    def _selection_may_fit(self, sel: Selection, n: int) -> bool:
        if sel.mutex and self.n_idle < n:
            return False
        if sel.filters_types and (
            sum(c for (t, m), c in self.type_counts.items() if sel.type_mode_ok(t, m)) < n
        ):
            return False
        if sel.use_uuids and sum(1 for u in sel.use_uuids if u in self.usable_ids) < n:
            return False
        return not sel.nouse_uuids or len(self.usable_ids - sel.nouse_uuids) >= n


class ScoreIndex:
    """Node names kept sorted by node score both ways, updated per change in O(log n + memmove).

    Lets Filter walk nodes best-first for either node policy and stop at the first that fits,
    instead of scoring and sorting every node per decision. Ties are broken by node name.
    """

    __slots__ = ("_asc", "_desc", "_keys")

    def __init__(self) -> None:
        self._asc: list[tuple[float, str]] = []
        self._desc: list[tuple[float, str]] = []
        self._keys: dict[str, float] = {}

    def set(self, name: str, score: float) -> None:
        old = self._keys.get(name)
        if old == score:
            return
        if old is not None:
            self._drop(name, old)
        self._keys[name] = score
        bisect.insort(self._asc, (score, name))
        bisect.insort(self._desc, (-score, name))

    def discard(self, name: str) -> None:
        old = self._keys.pop(name, None)
        if old is not None:
            self._drop(name, old)

    def _drop(self, name: str, score: float) -> None:
        del self._asc[bisect.bisect_left(self._asc, (score, name))]
        del self._desc[bisect.bisect_left(self._desc, (-score, name))]

    def ordered(self, high_first: bool) -> list[tuple[float, str]]:
        """The live sorted list (do not mutate): highest score first when ``high_first``."""
        return self._desc if high_first else self._asc
