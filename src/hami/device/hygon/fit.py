"""Per-container Hygon fit (vendors spec §3.4): HAMi's standard walk, no quota.

Pod filters: card type lists ``hygon.com/use-dcutype`` / ``hygon.com/nouse-dcutype``
(upper-cased substring match on the registered type) and device-id lists
``hygon.com/use-gpuuuid`` / ``hygon.com/nouse-gpuuuid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hami.api.types import ContainerRequest
from hami.device.base import DeviceUsage, FitContext, FitResult
from hami.device.common import TypeFilter, UuidFilter, standard_fit
from hami.device.hygon.keys import NOUSE_TYPE, NOUSE_UUID, USE_TYPE, USE_UUID


@dataclass(frozen=True, slots=True)
class Selection:
    """What a pod's annotations restrict (read once per pod)."""

    types: TypeFilter = field(default_factory=TypeFilter)
    uuids: UuidFilter = field(default_factory=UuidFilter)


def selection_from_annotations(annotations: Mapping[str, str]) -> Selection:
    return Selection(
        TypeFilter.from_annotations(annotations, USE_TYPE, NOUSE_TYPE),
        UuidFilter.from_annotations(annotations, USE_UUID, NOUSE_UUID),
    )


def fit_container(
    ordered: Sequence[DeviceUsage], req: ContainerRequest, selection: Selection, ctx: FitContext
) -> FitResult:
    """Take ``req.nums`` cards in try order."""
    return standard_fit(
        ordered,
        req,
        ctx,
        type_ok=lambda dev: selection.types.ok(dev.type),
        uuid_ok=lambda dev: selection.uuids.ok(dev.id),
    )
