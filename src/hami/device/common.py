"""Machinery several vendor backends share (vendors spec §0): container resources, the
"standard fit" walk, UUID/type filters, the generic handshake verdict, standard annotations.

Pure functions over plain data; a backend composes them with its own constants.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hami.api.errors import DecodeError
from hami.api.handshake import REQUESTING
from hami.api.poddevices import encode_pod_devices
from hami.api.quantity import parse_quantity
from hami.api.types import ContainerDevice, ContainerRequest, PodSingleDevice
from hami.device.base import (
    ALLOCATED_INSUFFICIENT,
    CARD_COMPUTE_UNITS_EXHAUSTED,
    CARD_INSUFFICIENT_CORE,
    CARD_INSUFFICIENT_MEMORY,
    CARD_NOT_HEALTH,
    CARD_TIME_SLICING_EXHAUSTED,
    CARD_TYPE_MISMATCH,
    CARD_UUID_MISMATCH,
    EXCLUSIVE_CONFLICT,
    RESOURCE_QUOTA_NOT_FIT,
    DeviceUsage,
    FitContext,
    FitResult,
    resolve_memreq,
)

INT32_MAX = 2**31 - 1
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
"""What Go's ``strconv.ParseBool`` reads as true (HAMi parses ``nvidia.com/numa-bind`` so)."""
HANDSHAKE_GRACE = timedelta(seconds=60)
_DATETIME = "%Y-%m-%d %H:%M:%S"


# --- container resources ----------------------------------------------------------------------


def pod_containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init containers first, then app containers, in spec order (the annotation order)."""
    spec = pod.get("spec") or {}
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def resource_value(
    container: Mapping[str, Any],
    resource: str,
    field: str,
    sections: tuple[str, ...] = ("limits", "requests"),
    *,
    exact: bool = True,
) -> int | None:
    """Integer value of ``resource`` from limits, else requests; None when absent.

    ``exact``: raise :class:`DecodeError` for a value Kubernetes' ``AsInt64`` refuses (``1.5``,
    ``500m``), as the vendor backends read quantities; otherwise round up (Go's
    ``Quantity.Value()``, NVIDIA's reading).
    """
    res = container.get("resources") or {}
    for section in sections:
        values = res.get(section) or {}
        if resource in values:
            where = f"{field} {section}[{resource}]"
            value = parse_quantity(values[resource], where)
            if not exact:
                return math.ceil(value)
            if value.denominator != 1:
                raise DecodeError(where, str(values[resource]), "must be a whole number")
            return int(value)
    return None


def raw_resource(container: Mapping[str, Any], resource: str) -> tuple[str, Any] | None:
    """``(section, value as written)`` of ``resource`` from limits, else requests."""
    res = container.get("resources") or {}
    for section in ("limits", "requests"):
        values = res.get(section) or {}
        if resource in values:
            return section, values[resource]
    return None


def has_resource(container: Mapping[str, Any], resource: str) -> bool:
    """Whether ``resource`` appears in the container's limits or requests."""
    res = container.get("resources") or {}
    return any(resource in (res.get(s) or {}) for s in ("limits", "requests"))


def in_limits(container: Mapping[str, Any], resource: str) -> bool:
    """Whether ``resource`` is in the container's limits (HAMi's webhook "found" test)."""
    return resource in ((container.get("resources") or {}).get("limits") or {})


# --- selection filters ------------------------------------------------------------------------


def split_list(value: str | None, *, upper: bool = False) -> tuple[str, ...]:
    """A comma list, items trimmed, blanks dropped (``upper`` for type lists)."""
    if not value:
        return ()
    parts = (p.strip() for p in value.split(","))
    return tuple(p.upper() if upper else p for p in parts if p)


@dataclass(frozen=True, slots=True)
class UuidFilter:
    """HAMi ``CheckUUID``: exact ids; empty lists = no constraint."""

    use: frozenset[str] = frozenset()
    nouse: frozenset[str] = frozenset()

    @classmethod
    def from_annotations(
        cls, annotations: Mapping[str, str], use_key: str, nouse_key: str
    ) -> UuidFilter:
        return cls(
            frozenset(split_list(annotations.get(use_key))),
            frozenset(split_list(annotations.get(nouse_key))),
        )

    def ok(self, device_id: str) -> bool:
        if self.use and device_id not in self.use:
            return False
        return device_id not in self.nouse


@dataclass(frozen=True, slots=True)
class TypeFilter:
    """HAMi ``CheckType``: upper-cased card type contains one ``use`` item and no ``nouse``."""

    use: tuple[str, ...] = ()
    nouse: tuple[str, ...] = ()

    @classmethod
    def from_annotations(
        cls, annotations: Mapping[str, str], use_key: str, nouse_key: str
    ) -> TypeFilter:
        return cls(
            split_list(annotations.get(use_key), upper=True),
            split_list(annotations.get(nouse_key), upper=True),
        )

    def ok(self, card_type: str) -> bool:
        up = card_type.upper()
        if self.use and not any(t in up for t in self.use):
            return False
        return not any(t in up for t in self.nouse)


# --- the standard fit (vendors spec §0.3) -----------------------------------------------------


def standard_fit(
    ordered: Sequence[DeviceUsage],
    req: ContainerRequest,
    ctx: FitContext,
    *,
    type_ok: Callable[[DeviceUsage], bool] | None = None,
    uuid_ok: Callable[[DeviceUsage], bool] | None = None,
    extra: Callable[[DeviceUsage], str | None] | None = None,
    quota: bool = False,
) -> FitResult:
    """HAMi's shared ``Fit`` walk (vendors spec §0.3): take the first ``req.nums`` devices that
    pass, in try order. The engine hands ``ordered`` preferred first, which is HAMi's
    policy-sorted list walked from its end, so walking ``ordered`` forward is HAMi's walk.
    ``type_ok`` / ``uuid_ok`` are the vendor's filters (None =
    pass), ``extra`` a vendor rule run last (its reason string, or None), ``quota`` checks the
    namespace quota in ``ctx`` (Cambricon). Does not modify the devices."""
    reasons: Counter[str] = Counter()
    taken: list[ContainerDevice] = []
    coresreq = req.coresreq
    for dev in ordered:
        if len(taken) == req.nums:
            break
        why = _standard_skip(dev, req, ctx, coresreq, taken, type_ok, uuid_ok, quota)
        if isinstance(why, int):
            coresreq = why
            memreq = resolve_memreq(req, dev)
            reason = _capacity_skip(dev, memreq, coresreq) or (extra(dev) if extra else None)
            if reason is None:
                taken.append(ContainerDevice(dev.id, req.type, memreq, coresreq))
                continue
            why = reason
        reasons[why] += 1
    if len(taken) < req.nums:
        if taken:
            reasons[ALLOCATED_INSUFFICIENT] = len(taken)
        return FitResult(None, reasons)
    if quota and ctx.quota is not None:
        ctx.quota.take(sum(d.usedmem for d in taken), sum(d.usedcores for d in taken))
    return FitResult(tuple(taken), reasons, (None,) * len(taken))


def _standard_skip(
    dev: DeviceUsage,
    req: ContainerRequest,
    ctx: FitContext,
    coresreq: int,
    taken: Sequence[ContainerDevice],
    type_ok: Callable[[DeviceUsage], bool] | None,
    uuid_ok: Callable[[DeviceUsage], bool] | None,
    quota: bool,
) -> str | int:
    """Checks 1-5 and 8 of the walk; the (capped) cores to ask when none fails."""
    if not dev.health:
        return CARD_NOT_HEALTH
    if type_ok is not None and not type_ok(dev):
        return CARD_TYPE_MISMATCH
    if uuid_ok is not None and not uuid_ok(dev):
        return CARD_UUID_MISMATCH
    if dev.count <= dev.used:
        return CARD_TIME_SLICING_EXHAUSTED
    if ctx.mutex and dev.used > 0:
        return EXCLUSIVE_CONFLICT
    cores = min(coresreq, 100)  # check 6: > 100 is capped for the rest of the walk
    if quota and ctx.quota is not None:
        mem = sum(d.usedmem for d in taken) + resolve_memreq(req, dev)
        if not ctx.quota.fits(mem, sum(d.usedcores for d in taken) + cores):
            return RESOURCE_QUOTA_NOT_FIT
    return cores


def _capacity_skip(dev: DeviceUsage, memreq: int, coresreq: int) -> str | None:
    """Checks 9-12 of the walk."""
    if dev.totalmem - dev.usedmem < memreq:
        return CARD_INSUFFICIENT_MEMORY
    if dev.totalcore - dev.usedcores < coresreq:
        return CARD_INSUFFICIENT_CORE
    if dev.totalcore == 100 and coresreq == 100 and dev.used > 0:
        return EXCLUSIVE_CONFLICT
    if dev.totalcore != 0 and dev.usedcores == dev.totalcore and coresreq == 0:
        return CARD_COMPUTE_UNITS_EXHAUSTED
    return None


# --- health -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeVerdict:
    healthy: bool
    write_requesting: bool
    """The scheduler should stamp ``Requesting_<now>`` (and re-read the inventory)."""


def handshake_verdict(value: str | None, now: datetime, allocatable: int) -> HandshakeVerdict:
    """The generic handshake (vendors spec §0.2) for one vendor's handshake annotation.

    ``now`` is local wall time (naive), as the stamp is. ``Requesting_<ts>`` younger than 60 s
    (or unreadable) is healthy without a refresh; older is healthy only while the count
    resource is still allocatable. Anything else asks for a fresh ``Requesting_`` stamp.
    """
    if value is None or REQUESTING not in value:
        return HandshakeVerdict(True, True)
    _, _, stamp = value.partition("_")
    try:
        then = datetime.strptime(stamp.strip()[:19], _DATETIME)
    except ValueError:
        return HandshakeVerdict(True, False)
    if now - then < HANDSHAKE_GRACE:
        return HandshakeVerdict(True, False)
    return HandshakeVerdict(allocatable > 0, False)


# --- annotations ------------------------------------------------------------------------------


def standard_annotations(
    devices: PodSingleDevice, to_allocate: str | None, allocated: str
) -> dict[str, str]:
    """The same ``EncodePodSingleDevice`` text under the to-allocate and allocated keys."""
    encoded = encode_pod_devices(devices)
    out = {allocated: encoded}
    if to_allocate:
        out[to_allocate] = encoded
    return out


def count_in_range(nums: int | None) -> int | None:
    """A device count HAMi accepts (1 ... 2^31-1), else None (request dropped)."""
    if nums is None or not 0 < nums <= INT32_MAX:
        return None
    return nums


# --- resource names and the look-only webhook part ------------------------------------------


class VendorResources:
    """A vendor's count / memory / core resource names, as its config section names them (the
    ``RequestParser``, ``HealthCheck`` and ``QuotaNames`` members that read them)."""

    def __init__(self, count: str, memory: str, core: str) -> None:
        self._resources = (count, memory, core)

    @property
    def resource_names(self) -> tuple[str, ...]:
        return self._resources

    @property
    def count_resource(self) -> str:
        return self._resources[0]

    @property
    def memory_resource(self) -> str:
        return self._resources[1]

    @property
    def core_resource(self) -> str:
        return self._resources[2]


class LookOnlyAdmission:
    """The webhook part of a vendor HAMi only looks at (Cambricon, Hygon): a container "uses" it
    iff the count resource is in its limits, and nothing is added or changed. We also read the
    container's values of the vendor's resources once, so one that is not an integer quantity is
    answered with a one-line denial (:class:`DecodeError`) instead of a pod that never
    schedules."""

    def __init__(self, count: str, memory: str, core: str) -> None:
        self._looked_at = (count, memory, core)

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        """Raises :class:`DecodeError` when a value is not an integer quantity; no denial."""
        field = f"container {container.get('name', '')!s}"
        for name in self._looked_at:
            resource_value(container, name, field)
        return None

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        """True when the count resource is in the limits; the container is left unchanged."""
        return in_limits(container, self._looked_at[0])

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Nothing to change at pod level."""
