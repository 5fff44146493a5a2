"""Per-container fit for one Ascend model (vendors spec §5.4).

The walk is the standard one (:func:`hami.device.common.standard_fit`) with three Ascend rules:

* **hami-core mode** (pod annotation ``huawei.com/vnpu-mode: hami-core``) needs a node that
  supports it: node annotation ``hami-vnpu-core`` (``"true"`` = yes, anything else = no), else the
  global ``hamiVnpuCore``; otherwise the node fails at once with ``1/<n> ModeNotFit``. In this
  mode every NPU counts 100 cores (the plugin's soft split is in percent), not its AI cores.
* **topology** (``needTopology``): for ``Ascend910*`` models whose every handed NPU carries a
  ``NetworkID``, the walk collects *all* fitting NPUs; exactly ``count`` are taken as they are,
  more are narrowed (count 1: the first one; else the largest NetworkID groups first), fewer fail.
* **910C modules**: an ``Ascend910C`` request for more than one NPU also collects all fitting
  NPUs, groups them by module (``index // 2``) and takes only complete modules (both NPUs);
  anything but exactly ``count`` NPUs fails with ``AllocatedCardsInsufficientRequest`` counted
  over ``count`` (not over the NPUs handed in).

Deterministic where HAMi is not: HAMi orders equal-sized modules and NetworkID groups in Go map
order (random). Here modules go by candidate count descending, then module number ascending;
NetworkID groups by size descending, then NetworkID ascending (a non-numeric NetworkID, which
HAMi silently leaves out of every group, forms one last group). Inside a module or group the
NPUs keep the walk's try order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hami.api.types import ContainerDevice, ContainerRequest
from hami.device.ascend.keys import (
    ASCEND910_PREFIX,
    ASCEND910C,
    HAMI_CORE,
    NETWORK_ID,
    NODE_HAMI_CORE,
    VNPU_MODE,
    AscendKeys,
)
from hami.device.base import (
    ALLOCATED_INSUFFICIENT,
    MODE_NOT_FIT,
    DeviceUsage,
    FitContext,
    FitResult,
)
from hami.device.common import UuidFilter, standard_fit

HAMI_CORE_TOTAL = 100
"""Cores of one NPU in hami-core mode (percent of the NPU)."""
MODULE_SIZE = 2
"""NPUs per 910C module."""

Candidate = tuple[DeviceUsage, ContainerDevice]


@dataclass(frozen=True, slots=True)
class AscendSelection:
    """What a pod's annotations decide for one model: UUID filter and split mode."""

    uuids: UuidFilter = field(default_factory=UuidFilter)
    hami_core: bool = False
    """``huawei.com/vnpu-mode: hami-core``: soft split (memory and cores as asked, no template)."""


def selection_from_annotations(annotations: Mapping[str, str], keys: AscendKeys) -> AscendSelection:
    return AscendSelection(
        UuidFilter.from_annotations(annotations, keys.use_uuid, keys.nouse_uuid),
        annotations.get(VNPU_MODE) == HAMI_CORE,
    )


def node_supports_hami_core(node_annotations: Mapping[str, str], default: bool) -> bool:
    """Node annotation ``hami-vnpu-core`` when present (``"true"`` only), else the global switch."""
    value = node_annotations.get(NODE_HAMI_CORE)
    return default if value is None else value == "true"


def has_network_id(dev: DeviceUsage) -> bool:
    """Whether the device registered a ``NetworkID`` (any value, as HAMi tests the key)."""
    return any(key == NETWORK_ID for key, _ in dev.custominfo)


def network_id(dev: DeviceUsage) -> int | None:
    """The numeric NetworkID (Go reads it as float64 and truncates), else None."""
    value = dev.custom(NETWORK_ID)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def fit_container(
    ordered: Sequence[DeviceUsage],
    req: ContainerRequest,
    sel: AscendSelection,
    ctx: FitContext,
    *,
    cw: str,
    hami_core_default: bool,
) -> FitResult:
    """Fit ``req`` on the model's NPUs of one node, in try order (see the module doc)."""
    if sel.hami_core and not node_supports_hami_core(ctx.node_annotations, hami_core_default):
        return FitResult(None, Counter({MODE_NOT_FIT: 1}))
    devices: Sequence[DeviceUsage] = ordered
    if sel.hami_core:
        devices = [replace(d, totalcore=HAMI_CORE_TOTAL) for d in ordered]

    def type_ok(_dev: DeviceUsage) -> bool:
        return req.type == cw

    def uuid_ok(dev: DeviceUsage) -> bool:
        return sel.uuids.ok(dev.id)

    pairing = cw == ASCEND910C and req.nums > 1
    topology = cw.startswith(ASCEND910_PREFIX) and all(has_network_id(d) for d in ordered)
    if not pairing and not topology:
        return standard_fit(devices, req, ctx, type_ok=type_ok, uuid_ok=uuid_ok)
    found, reasons = _collect(devices, req, ctx, type_ok, uuid_ok)
    if pairing:
        chosen = pair_modules(found, req.nums)
        if len(chosen) != req.nums:
            reasons[ALLOCATED_INSUFFICIENT] = len(chosen)
            return FitResult(None, reasons, denominator=req.nums)
        return _success(chosen, reasons)
    if len(found) < req.nums:
        if found:
            reasons[ALLOCATED_INSUFFICIENT] = len(found)
        return FitResult(None, reasons)
    if len(found) > req.nums:
        found = found[:1] if req.nums == 1 else group_by_network(found, req.nums)
    return _success(found, reasons)


def _success(chosen: Sequence[Candidate], reasons: Counter[str]) -> FitResult:
    return FitResult(tuple(cd for _, cd in chosen), reasons, (None,) * len(chosen))


def _collect(
    devices: Sequence[DeviceUsage],
    req: ContainerRequest,
    ctx: FitContext,
    type_ok: Callable[[DeviceUsage], bool],
    uuid_ok: Callable[[DeviceUsage], bool],
) -> tuple[list[Candidate], Counter[str]]:
    """Every device the standard walk would take (in try order), and why the others were not.

    Each device is judged alone by the standard walk for one NPU: the walk's checks look at one
    device at a time, so this is HAMi's walk with the count never decremented."""
    one = replace(req, nums=1)
    found: list[Candidate] = []
    reasons: Counter[str] = Counter()
    for dev in devices:
        result = standard_fit([dev], one, ctx, type_ok=type_ok, uuid_ok=uuid_ok)
        if result.devices:
            found.append((dev, result.devices[0]))
        else:
            reasons.update(result.reasons)
    return found, reasons


def pair_modules(found: Sequence[Candidate], count: int) -> list[Candidate]:
    """910C: complete modules (both NPUs ``2k``, ``2k+1`` fit) until ``count`` NPUs are reached.

    Modules by candidate count descending, then module number ascending (HAMi: map order).
    May return fewer than ``count`` (no complete modules left) or more (an odd ``count``)."""
    modules: dict[int, list[Candidate]] = defaultdict(list)
    for cand in found:
        modules[cand[0].index // MODULE_SIZE].append(cand)
    order = sorted(modules.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    chosen: list[Candidate] = []
    for _, members in order:
        if len(chosen) >= count:
            break
        if len({dev.index for dev, _ in members}) == MODULE_SIZE == len(members):
            chosen.extend(members)
    return chosen


def group_by_network(found: Sequence[Candidate], count: int) -> list[Candidate]:
    """``count`` devices from the largest NetworkID groups first (ties: lower NetworkID first;
    devices without a numeric NetworkID last)."""
    groups: dict[int | None, list[Candidate]] = defaultdict(list)
    for cand in found:
        groups[network_id(cand[0])].append(cand)

    def rank(item: tuple[int | None, list[Candidate]]) -> tuple[int, int, Any]:
        key, members = item
        return (key is None, -len(members), key if key is not None else 0)

    chosen: list[Candidate] = []
    for _, members in sorted(groups.items(), key=rank):
        chosen.extend(members[: count - len(chosen)])
        if len(chosen) == count:
            break
    return chosen
