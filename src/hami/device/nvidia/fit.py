"""Per-container fit of an NVIDIA request onto one node's GPUs (HAMi's ``Fit``, spec §4.3).

Pure and allocation-light: the scheduler engine hands in the node's devices already ordered by the
GPU policy (first = preferred) and gets back either the chosen devices or a count of why each
device was skipped, which becomes HAMi's ``"2/4 CardInsufficientMemory"`` reason text.
:class:`DeviceUsage` is the mutable per-GPU usage record the engine keeps and copies per decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hami.api.annotations import NUMA_BIND
from hami.api.errors import DecodeError
from hami.api.types import ContainerDevice, ContainerRequest, MigProfile
from hami.config.devices import NvidiaConfig
from hami.device.base import (
    ALLOCATED_INSUFFICIENT,
    CARD_COMPUTE_UNITS_EXHAUSTED,
    CARD_CORDONED,
    CARD_INSUFFICIENT_CORE,
    CARD_INSUFFICIENT_MEMORY,
    CARD_MIG_INFEASIBLE,
    CARD_NOT_HEALTH,
    CARD_TIME_SLICING_EXHAUSTED,
    CARD_TYPE_MISMATCH,
    CARD_UUID_MISMATCH,
    EXCLUSIVE_CONFLICT,
    MIG_MODE,
    NODE_INSUFFICIENT_DEVICE,
    NUMA_NOT_FIT,
    RESOURCE_QUOTA_NOT_FIT,
    Chooser,
    DeviceUsage,
    FitResult,
    MigPick,
    QuotaRoom,
    add_usage,
    format_reasons,
    resolve_memreq,
)
from hami.device.common import GO_TRUE, has_resource, pod_containers, resource_value

__all__ = [
    "ALLOCATED_INSUFFICIENT", "CARD_COMPUTE_UNITS_EXHAUSTED", "CARD_CORDONED",
    "CARD_INSUFFICIENT_CORE", "CARD_INSUFFICIENT_MEMORY", "CARD_MIG_INFEASIBLE", "CARD_NOT_HEALTH",
    "CARD_TIME_SLICING_EXHAUSTED", "CARD_TYPE_MISMATCH", "CARD_UUID_MISMATCH", "EXCLUSIVE_CONFLICT",
    "GO_TRUE", "MIG_MODE", "NODE_INSUFFICIENT_DEVICE", "NUMA_NOT_FIT", "RESOURCE_QUOTA_NOT_FIT",
    "Chooser", "DeviceUsage", "FitResult", "MigPick", "QuotaRoom", "Selection", "add_usage",
    "fit_container", "format_reasons", "pick_mig", "resolve_memreq", "selection_from_annotations",
    "whole_gpu_hint",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Selection:
    """Pod-level device filters from annotations (type, UUID, mode, NUMA binding, mutex)."""

    use_types: tuple[str, ...] = ()
    nouse_types: tuple[str, ...] = ()
    use_uuids: frozenset[str] = frozenset()
    nouse_uuids: frozenset[str] = frozenset()
    vgpu_mode: str = ""
    numa_bind: bool = False
    mutex: bool = False

    @property
    def filters_types(self) -> bool:
        """True when type or mode constraints are set (lets node pruning skip the check)."""
        return bool(self.use_types or self.nouse_types or self.vgpu_mode)

    def type_ok(self, dev: DeviceUsage) -> bool:
        return self.type_mode_ok(dev.type.lower(), dev.mode)

    def type_mode_ok(self, low_type: str, mode: str) -> bool:
        """Type filters (case-insensitive substrings) and ``nvidia.com/vgpu-mode``."""
        if self.use_types and not any(t in low_type for t in self.use_types):
            return False
        if any(t in low_type for t in self.nouse_types):
            return False
        return not self.vgpu_mode or mode in self.vgpu_mode

    def uuid_ok(self, dev: DeviceUsage) -> bool:
        if self.use_uuids and dev.id not in self.use_uuids:
            return False
        return dev.id not in self.nouse_uuids


def _split(value: str | None, *, lower: bool) -> tuple[str, ...]:
    if not value:
        return ()
    parts = (p.strip() for p in value.split(","))
    return tuple(p.lower() if lower else p for p in parts if p)


def selection_from_annotations(annotations: Mapping[str, str], *, mutex: bool = False) -> Selection:
    """Read ``nvidia.com/use-gputype`` and friends (spec §3.1) from a pod's annotations."""
    return Selection(
        use_types=_split(annotations.get("nvidia.com/use-gputype"), lower=True),
        nouse_types=_split(annotations.get("nvidia.com/nouse-gputype"), lower=True),
        use_uuids=frozenset(_split(annotations.get("nvidia.com/use-gpuuuid"), lower=False)),
        nouse_uuids=frozenset(_split(annotations.get("nvidia.com/nouse-gpuuuid"), lower=False)),
        vgpu_mode=annotations.get("nvidia.com/vgpu-mode", "").strip(),
        numa_bind=annotations.get(NUMA_BIND, "").strip() in GO_TRUE,
        mutex=mutex,
    )


def _free_placement(dev: DeviceUsage, profile: MigProfile) -> tuple[int, int] | None:
    for pl in profile.placements:
        end = pl.start + pl.size
        if all(end <= s or pl.start >= s + z for s, z in dev.mig_used):
            return pl.start, pl.size
    return None


def pick_mig(dev: DeviceUsage, memreq: int) -> tuple[MigProfile, int, int] | None:
    """Smallest profile with ``memory_mb >= memreq`` that still has a free legal placement."""
    for profile in sorted(dev.mig_profiles, key=lambda p: (p.memory_mb, p.slice_count, p.name)):
        if profile.memory_mb < memreq:
            continue
        placement = _free_placement(dev, profile)
        if placement is not None:
            return profile, placement[0], placement[1]
    return None


def _skip_reason(
    dev: DeviceUsage,
    req: ContainerRequest,
    sel: Selection,
    cordoned: frozenset[str],
    memreq: int,
    mutex: bool,
) -> str | None:
    """Why ``dev`` cannot take one device of ``req`` (checks 1-3, 5-7, 10-13 of §4.3), or None."""
    if not dev.health:
        return CARD_NOT_HEALTH
    if dev.id in cordoned:
        return CARD_CORDONED
    low = dev.type.lower()
    if req.type.lower() not in low or (sel.filters_types and not sel.type_mode_ok(low, dev.mode)):
        return CARD_TYPE_MISMATCH
    if (sel.use_uuids or sel.nouse_uuids) and not sel.uuid_ok(dev):
        return CARD_UUID_MISMATCH
    if dev.used >= dev.count:
        return CARD_TIME_SLICING_EXHAUSTED
    if mutex and dev.used > 0:
        return EXCLUSIVE_CONFLICT
    if dev.mode == MIG_MODE:
        return None
    if dev.totalmem - dev.usedmem < memreq:
        return CARD_INSUFFICIENT_MEMORY
    if dev.totalcore - dev.usedcores < req.coresreq:
        return CARD_INSUFFICIENT_CORE
    if dev.totalcore == 100 and req.coresreq == 100 and dev.used > 0:
        return EXCLUSIVE_CONFLICT
    if dev.usedcores >= dev.totalcore and req.coresreq == 0:
        return CARD_COMPUTE_UNITS_EXHAUSTED
    return None


def _grant(
    dev: DeviceUsage, req: ContainerRequest, sel: Selection, cordoned: frozenset[str], mutex: bool
) -> tuple[ContainerDevice, MigPick | None] | str:
    """The device one container would get on ``dev``, or the reason it cannot."""
    memreq = resolve_memreq(req, dev)
    why = _skip_reason(dev, req, sel, cordoned, memreq, mutex)
    if why is not None:
        return why
    if dev.mode != MIG_MODE:
        return ContainerDevice(dev.id, req.type, memreq, req.coresreq), None
    found = pick_mig(dev, memreq)
    if found is None:
        return CARD_MIG_INFEASIBLE
    profile, start, size = found
    granted = ContainerDevice(dev.id, req.type, profile.memory_mb, profile.core)
    return granted, MigPick(dev.id, profile.name, start, size)


def fit_container(
    ordered: Sequence[DeviceUsage],
    req: ContainerRequest,
    sel: Selection,
    *,
    cordoned: frozenset[str] = frozenset(),
    quota: QuotaRoom | None = None,
    choose: Chooser | None = None,
    mutex: bool = False,
) -> FitResult:
    """Fit ``req`` on ``ordered`` (preferred device first); never takes two slots of one GPU.

    Does not modify the devices; the caller applies the result with :func:`add_usage`.
    With ``choose`` (topology-aware) every fitting device is collected and ``choose`` picks.
    ``mutex`` (or ``sel.mutex``): the pod's GPU policy has ``mutex``, a used GPU is skipped.
    """
    mutex = mutex or sel.mutex
    reasons: Counter[str] = Counter()
    picked: list[tuple[DeviceUsage, ContainerDevice, MigPick | None]] = []
    numa: int | None = None
    for dev in ordered:
        if choose is None and len(picked) == req.nums:
            break
        if sel.numa_bind and numa is not None and dev.numa != numa:
            reasons[NUMA_NOT_FIT] += len(picked)
            picked.clear()
        got = _grant(dev, req, sel, cordoned, mutex)
        if isinstance(got, str):
            reasons[got] += 1
            continue
        if quota is not None:
            held = [] if choose is not None else [p[1] for p in picked]
            if not _quota_fits(quota, [*held, got[0]]):
                reasons[RESOURCE_QUOTA_NOT_FIT] += 1
                continue
        numa = dev.numa
        picked.append((dev, got[0], got[1]))
    if len(picked) < req.nums:
        if picked:
            reasons[ALLOCATED_INSUFFICIENT] += len(picked)
        return FitResult(None, reasons)
    if choose is not None and len(picked) > req.nums:
        chosen = {d.id for d in choose([p[0] for p in picked], req.nums)}
        picked = [p for p in picked if p[0].id in chosen]
    granted = [p[1] for p in picked]
    if quota is not None:
        if not _quota_fits(quota, granted):
            reasons[RESOURCE_QUOTA_NOT_FIT] += len(granted)
            return FitResult(None, reasons)
        quota.take(sum(g.usedmem for g in granted), sum(g.usedcores for g in granted))
    return FitResult(tuple(granted), reasons, tuple(p[2] for p in picked))


def _quota_fits(quota: QuotaRoom, devices: Sequence[ContainerDevice]) -> bool:
    return quota.fits(sum(d.usedmem for d in devices), sum(d.usedcores for d in devices))


def whole_gpu_hint(pod: Mapping[str, Any], cfg: NvidiaConfig) -> str | None:
    """Why an unschedulable pod may be surprising: it asks for whole GPUs without saying so.

    A container that asks for ``nvidia.com/gpu`` but gives neither ``gpumem`` nor
    ``gpumem-percentage`` gets 100 % of each GPU's memory (when ``defaultMemory`` is 0), so it
    fits only a GPU nobody uses; the per-node reasons then read ``CardInsufficientMemory`` or
    ``ExclusiveDeviceAllocateConflict``. None when no container asks that way.
    """
    if cfg.default_memory:
        return None
    for container in pod_containers(pod):
        if not isinstance(container, Mapping):
            continue
        try:
            nums = resource_value(container, cfg.resource_count_name, "container")
        except DecodeError:
            continue
        if nums is None or nums <= 0:
            continue
        if has_resource(container, cfg.resource_memory_name):
            continue
        if has_resource(container, cfg.resource_memory_percentage_name):
            continue
        return (
            f"needs a whole free GPU (no {cfg.resource_memory_name} or "
            f"{cfg.resource_memory_percentage_name} given, so each requested GPU's entire memory "
            f"is asked for)"
        )
    return None
