"""Per-container requests for one Iluvatar chip (vendors spec §4.2, HAMi
``GenerateResourceRequests``).

Each resource is read from ``limits`` first, then ``requests``. ``<cw>.vMem`` counts units of
256 MiB; ``<cw>.vCore`` defaults to 0 (shared compute, as HAMi); without memory the container
asks 100 % of each card's memory. A value outside what HAMi can hold (count outside
1 ... 2^31-1, memory beyond int32 MiB, negative memory or cores) drops the container's request,
as HAMi drops it; the webhook refuses such values before they get here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hami.api.podshape import pod_ref
from hami.api.types import ContainerRequest
from hami.config.vendors import IluvatarChipConfig
from hami.device.common import INT32_MAX, count_in_range, has_resource, pod_containers
from hami.device.common import resource_value as _value
from hami.device.iluvatar.keys import MEMORY_UNIT_MIB

log = logging.getLogger(__name__)

MAX_MEMORY_UNITS = INT32_MAX // MEMORY_UNIT_MIB
"""Largest ``vMem`` whose MiB still fit HAMi's int32 ``Memreq``."""


def memory_units_ok(units: int) -> bool:
    """Whether ``units`` of 256 MiB is a memory request HAMi can represent."""
    return 0 <= units <= MAX_MEMORY_UNITS


def cores_ok(cores: int) -> bool:
    return 0 <= cores <= INT32_MAX


def container_request(
    container: Mapping[str, Any], chip: IluvatarChipConfig, field: str = "container"
) -> ContainerRequest | None:
    """The request of one container for ``chip``, or None when it asks for none (or asks for
    something HAMi drops). Raises :class:`~hami.api.errors.DecodeError` on a garbage quantity."""
    nums = count_in_range(_value(container, chip.resource_count_name, field))
    if nums is None:
        return None
    units = _value(container, chip.resource_memory_name, field)
    units = 0 if units is None else units
    cores = _value(container, chip.resource_core_name, field)
    cores = 0 if cores is None else cores
    if not memory_units_ok(units) or not cores_ok(cores):
        log.warning(
            "%s: %s=%s, %s=%s out of range, request ignored",
            field, chip.resource_memory_name, units, chip.resource_core_name, cores,
        )  # fmt: skip
        return None
    memreq = units * MEMORY_UNIT_MIB
    return ContainerRequest(
        nums=nums,
        type=chip.common_word,
        memreq=memreq,
        mem_percentage_req=100 if memreq == 0 else 0,
        coresreq=cores,
    )


def container_requests(
    pod: Mapping[str, Any], chip: IluvatarChipConfig
) -> list[ContainerRequest | None]:
    """One entry per container (init first), None where it asks nothing of ``chip``."""
    ref = pod_ref(pod)
    return [
        container_request(ctr, chip, f"pod {ref} container {ctr.get('name') or i!s}")
        for i, ctr in enumerate(pod_containers(pod))
    ]


def pod_has_managed_resources(pod: Mapping[str, Any], chip: IluvatarChipConfig) -> bool:
    """Whether any container mentions any of the chip's three resources."""
    names = (chip.resource_count_name, chip.resource_memory_name, chip.resource_core_name)
    return any(has_resource(c, n) for c in pod_containers(pod) for n in names)
