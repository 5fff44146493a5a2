"""Node usage built from reserved pods (spec §4.2), with pruning summaries kept incrementally.

Each reserved pod charges its devices once, with init containers accounted as
``max(peak init, sum app)`` for memory and cores and ``max(1, app occurrences)`` slots.
:class:`NodeUsage` holds a node's devices per vendor (cw) and keeps the node score over all of
them plus, per vendor whose backend has the optional
:class:`~hami.device.base.FitSummarizer` role, a small summary (e.g. free memory/cores of
devices with a free slot), so the engine can discard most nodes with a few comparisons before
the detailed fit. A vendor without a summary is always fitted in detail.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, cast

from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.device.base import MIG_MODE, DeviceSummary, DeviceUsage, FitSummarizer
from hami.engine.index import ANY
from hami.engine.score import node_score

_NONE: Final[frozenset[str]] = frozenset()
_NO_MAP: Final[Mapping[str, Any]] = MappingProxyType({})
_NO_MIG: Final[list[tuple[int, int]]] = []
"""The ``mig_used`` of every device without a MIG placement: one shared empty list, replaced by
its own list before the first placement is recorded (nothing appends to it otherwise: fits
only modify copies)."""


def _usage(info: DeviceInfo) -> DeviceUsage:
    return DeviceUsage(
        info.id, info.index, info.type, info.numa, info.mode, info.health, info.count,
        info.devmem, info.devcore, 0, 0, 0, info.mig_profiles, _NO_MIG, info.custominfo,
    )  # fmt: skip


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
    """What one pod holds on one device."""

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
    """One node's devices, held per vendor (cw), with their usage, the node score and per-vendor
    pruning summaries."""

    __slots__ = (
        "_totals", "annotations", "cordoned", "devices", "key", "name", "pair_scores",
        "partitioned", "score", "summaries", "summarizers", "vendors", "version",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        devices: Mapping[str, Sequence[DeviceInfo]],
        *,
        summarizers: Mapping[str, FitSummarizer] | None = None,
        cordoned: Iterable[str] = (),
        pair_scores: Mapping[str, Mapping[str, int]] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.vendors: dict[str, list[DeviceUsage]] = {
            cw: [_usage(d) for d in devs] for cw, devs in sorted(devices.items()) if devs
        }
        """cw -> the devices that vendor's inventory returned, in registration order."""
        self.devices: list[DeviceUsage] = (
            next(iter(self.vendors.values())) if len(self.vendors) == 1
            else [d for devs in self.vendors.values() for d in devs]
        )  # fmt: skip
        """Every device of every vendor (cw order)."""
        self.cordoned = frozenset(cordoned) or _NONE
        self.pair_scores: Mapping[str, Mapping[str, int]] = pair_scores or _NO_MAP
        self.annotations: Mapping[str, str] = annotations or _NO_MAP
        self.partitioned = (
            frozenset(
                cw for cw, devs in self.vendors.items() if any(d.mode == MIG_MODE for d in devs)
            )
            or _NONE
        )
        """Vendors with a partitioned (MIG) device here: no device-count pre-check, no pruning."""
        self.summarizers: tuple[tuple[str, FitSummarizer], ...] = tuple(
            (cw, s)
            for cw, s in (summarizers or {}).items()
            if cw in self.vendors and cw not in self.partitioned
        )
        """The vendors summarized here (not those with a partitioned device)."""
        self.summaries: Mapping[str, DeviceSummary] = _NO_MAP
        self.score = 0.0
        self._totals = (0, 0, 0, 0, 0, 0)
        """Sums over all devices: used, count, usedcores, totalcore, usedmem, totalmem."""
        self.version = 0
        """Bumped on every usage change; lets callers cache per-node results."""
        self.key: Hashable = None
        """What else the owner built the node from (the cluster state: its cordon and topology
        annotations), to tell whether a refresh must rebuild it."""
        self.refresh()

    def same_devices(self, devices: Mapping[str, Sequence[DeviceInfo]]) -> bool:
        """True when ``devices`` (cw -> inventory, sorted, no empty vendor) is the inventory
        this node was built from (every field a :class:`DeviceUsage` carries)."""
        if len(devices) != len(self.vendors):
            return False
        for (cw, infos), (mine_cw, mine) in zip(devices.items(), self.vendors.items(), strict=True):
            if cw != mine_cw or len(infos) != len(mine):
                return False
            for i, d in zip(infos, mine, strict=True):
                if (i.id, i.index, i.type, i.numa, i.mode, i.health, i.count, i.devmem,
                    i.devcore, i.mig_profiles, i.custominfo) != (
                    d.id, d.index, d.type, d.numa, d.mode, d.health, d.count, d.totalmem,
                    d.totalcore, d.mig_profiles, d.custominfo):  # fmt: skip
                    return False
        return True

    def _device(self, uuid: str) -> DeviceUsage | None:
        for d in self.devices:
            if d.id == uuid:
                return d
        return None

    def placement(self) -> tuple[tuple[str, Hashable], ...]:
        """(cw, capacity bucket) per vendor for the :class:`~hami.engine.index.NodeIndex`: the
        summary's ``bucket`` when it has one, ``ANY`` otherwise; a vendor whose summary says
        no device can take anything (bucket None) is left out."""
        summaries = self.summaries
        out: list[tuple[str, Hashable]] = []
        for cw in self.vendors:
            summary = summaries.get(cw)
            if summary is None:
                out.append((cw, ANY))
                continue
            bucket = getattr(summary, "bucket", ANY) if hasattr(summary, "admits") else ANY
            if bucket is not None:
                out.append((cw, bucket))
        return tuple(out)

    def charge(self, charges: Sequence[str | int], sign: int, mig: Iterable[MigAllocation]) -> None:
        """Add (sign=1) or remove (sign=-1) a pod's charges, flat: device id, slots, MiB, cores
        per device; unknown devices are ignored."""
        used = mem = cores = 0
        for k in range(0, len(charges), 4):
            uuid, c_used, c_mem, c_cores = cast(tuple[str, int, int, int], charges[k : k + 4])
            dev = self._device(uuid)
            if dev is not None:
                dev.used += sign * c_used
                dev.usedmem += sign * c_mem
                dev.usedcores += sign * c_cores
                used += c_used
                mem += c_mem
                cores += c_cores
        t = self._totals
        self._totals = (
            t[0] + sign * used,
            t[1],
            t[2] + sign * cores,
            t[3],
            t[4] + sign * mem,
            t[5],
        )
        for m in mig:
            dev = self._device(m.uuid)
            if dev is None:
                continue
            if sign > 0:
                if dev.mig_used is _NO_MIG:
                    dev.mig_used = []
                dev.mig_used.append((m.start, m.size))
            elif (m.start, m.size) in dev.mig_used:
                dev.mig_used.remove((m.start, m.size))
        self._changed()

    def refresh(self) -> None:
        """Recompute everything from the devices after their usage was changed directly."""
        used = count = ucores = tcores = umem = tmem = 0
        for d in self.devices:
            used += d.used
            count += d.count
            ucores += d.usedcores
            tcores += d.totalcore
            umem += d.usedmem
            tmem += d.totalmem
        self._totals = (used, count, ucores, tcores, umem, tmem)
        self._changed()

    def _changed(self) -> None:
        """After a usage change: the node score (over all vendors' devices, HAMi's
        ComputeDefaultScore) from the running sums, and the summaries."""
        self.version += 1
        self.score = node_score(*self._totals)
        cordoned = self.cordoned
        vendors = self.vendors
        if self.summarizers:
            self.summaries = {
                cw: summarizer.summarize(vendors[cw], cordoned)
                for cw, summarizer in self.summarizers
            }

    def may_fit(self, req: ContainerRequest, sel: Any = None, mutex: bool = False) -> bool:
        """Cheap necessary condition for one container of vendor ``req.type``; False means the
        detailed fit must fail. A vendor without a summary (or with a partitioned device) here
        may always fit; a vendor with no device here never does."""
        if req.nums <= 0:
            return True
        summary = self.summaries.get(req.type)
        if summary is None:
            return req.type in self.vendors
        return summary.may_fit(req, sel, mutex)

    def may_fit_all(self, checks: Iterable[tuple[ContainerRequest, Any]], mutex: bool) -> bool:
        """:meth:`may_fit` for every (request, selection) of a pod (requests with nums > 0)."""
        summaries = self.summaries
        for req, sel in checks:
            summary = summaries.get(req.type)
            if summary is None:
                if req.type not in self.vendors:
                    return False
            elif not summary.may_fit(req, sel, mutex):
                return False
        return True


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
