"""Per-container Cambricon requests (vendors spec §2.2).

The count resource is read from limits, then requests; the memory resource counts units of
256 MiB; cores default to 100 (a whole card). Without memory the request takes 100 % of each
card's memory, with memory the percentage is 0 (HAMi's value, unused since ``memreq`` > 0).
A memory value outside ``[0, (2**31 - 1) / 256]`` drops the container's request, as HAMi does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hami.api.podshape import pod_ref
from hami.api.types import ContainerRequest
from hami.config.vendors import CambriconConfig
from hami.device.cambricon.keys import MEMORY_UNIT, MLU
from hami.device.common import (
    INT32_MAX,
    count_in_range,
    has_resource,
    pod_containers,
    resource_value,
)

DEFAULT_CORES = 100
MAX_MEMORY_UNITS = INT32_MAX // MEMORY_UNIT


def container_request(
    container: Mapping[str, Any], cfg: CambriconConfig, field: str = "container"
) -> ContainerRequest | None:
    """The MLU request of one container, or None when it asks for none (or is dropped).

    Raises :class:`~hami.api.errors.DecodeError` naming ``field`` and the resource when a
    value is not a Kubernetes integer quantity.
    """
    nums = count_in_range(resource_value(container, cfg.resource_count_name, field))
    if nums is None:
        return None
    units = resource_value(container, cfg.resource_memory_name, field)
    units = 0 if units is None else units
    if not 0 <= units <= MAX_MEMORY_UNITS:
        return None
    cores = resource_value(container, cfg.resource_core_name, field)
    memreq = units * MEMORY_UNIT
    return ContainerRequest(
        nums=nums,
        type=MLU,
        memreq=memreq,
        mem_percentage_req=100 if memreq == 0 else 0,
        coresreq=DEFAULT_CORES if cores is None else cores,
    )


def container_requests(
    pod: Mapping[str, Any], cfg: CambriconConfig
) -> list[ContainerRequest | None]:
    """One entry per container, init containers first; None where no MLU is asked."""
    ref = pod_ref(pod)
    return [
        container_request(ctr, cfg, f"pod {ref} container {ctr.get('name') or i!s}")
        for i, ctr in enumerate(pod_containers(pod))
    ]


def pod_has_managed_resources(pod: Mapping[str, Any], cfg: CambriconConfig) -> bool:
    """Whether any container mentions the count, memory or core resource."""
    names = (cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name)
    return any(has_resource(c, n) for c in pod_containers(pod) for n in names)
