"""Fitting one container on one chip's devices (vendors spec §4.4): HAMi's standard walk with
the request-type check (the request must carry this chip's common word; the device's own type
is not compared) and the pod's ``hami.io/use-<cw>-uuid`` / ``hami.io/no-use-<cw>-uuid`` lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hami.api.types import ContainerRequest
from hami.device.base import DeviceUsage, FitContext, FitResult
from hami.device.common import UuidFilter, standard_fit
from hami.device.iluvatar.keys import ChipKeys


def pod_selection(annotations: Mapping[str, str], keys: ChipKeys) -> UuidFilter:
    """The pod's device-id constraints for this chip (hashable, read once per pod)."""
    return UuidFilter.from_annotations(annotations, keys.use_uuid, keys.no_use_uuid)


def fit_container(
    ordered: Sequence[DeviceUsage],
    req: ContainerRequest,
    selection: UuidFilter,
    ctx: FitContext,
    cw: str,
) -> FitResult:
    """Take ``req.nums`` devices in try order; reasons per skipped device otherwise."""
    return standard_fit(
        ordered,
        req,
        ctx,
        type_ok=lambda _dev: req.type == cw,
        uuid_ok=lambda dev: selection.ok(dev.id),
    )
