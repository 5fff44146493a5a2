"""Per-container Cambricon fit (vendors spec §2.4): HAMi's standard walk with the quota check.

The only pod-level filter is the device-id list pair ``cambricon.com/use-gpuuuid`` /
``cambricon.com/nouse-gpuuuid``; the type check passes every card for an ``MLU`` request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hami.api.types import ContainerRequest
from hami.device.base import DeviceUsage, FitContext, FitResult
from hami.device.cambricon.keys import MLU, NOUSE_UUID, USE_UUID
from hami.device.common import UuidFilter, standard_fit


@dataclass(frozen=True, slots=True)
class Selection:
    """What a pod's annotations restrict (read once per pod)."""

    uuids: UuidFilter = field(default_factory=UuidFilter)


def selection_from_annotations(annotations: Mapping[str, str]) -> Selection:
    return Selection(UuidFilter.from_annotations(annotations, USE_UUID, NOUSE_UUID))


def fit_container(
    ordered: Sequence[DeviceUsage], req: ContainerRequest, selection: Selection, ctx: FitContext
) -> FitResult:
    """Take ``req.nums`` cards in try order; quota from ``ctx`` is checked (and taken)."""
    return standard_fit(
        ordered,
        req,
        ctx,
        type_ok=lambda _dev: req.type == MLU,
        uuid_ok=lambda dev: selection.uuids.ok(dev.id),
        quota=True,
    )
