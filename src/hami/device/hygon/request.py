"""Per-container Hygon requests (vendors spec §3.2).

Count from limits, then requests, in ``1 ... 2**31 - 1``; memory in MiB times ``memoryFactor``
(when above 1), a negative or int32-overflowing value drops the request as HAMi does; cores
default to 100 (a whole card). Without memory the request takes 100 % of each card's memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hami.api.podshape import pod_ref
from hami.api.types import ContainerRequest
from hami.config.vendors import HygonConfig
from hami.device.common import (
    INT32_MAX,
    count_in_range,
    has_resource,
    pod_containers,
    resource_value,
)
from hami.device.hygon.keys import DCU

DEFAULT_CORES = 100


def effective_factor(cfg: HygonConfig) -> int:
    """``memoryFactor`` as applied: values of 0 and 1 both mean "MiB as written"."""
    return cfg.memory_factor if cfg.memory_factor > 1 else 1


def container_request(
    container: Mapping[str, Any], cfg: HygonConfig, field: str = "container"
) -> ContainerRequest | None:
    """The DCU request of one container, or None when it asks for none (or is dropped).

    Raises :class:`~hami.api.errors.DecodeError` naming ``field`` and the resource when a
    value is not a Kubernetes integer quantity.
    """
    nums = count_in_range(resource_value(container, cfg.resource_count_name, field))
    if nums is None:
        return None
    mem = resource_value(container, cfg.resource_memory_name, field)
    memreq = 0 if mem is None else mem * effective_factor(cfg)
    if not 0 <= memreq <= INT32_MAX:
        return None
    cores = resource_value(container, cfg.resource_core_name, field)
    return ContainerRequest(
        nums=nums,
        type=DCU,
        memreq=memreq,
        mem_percentage_req=100 if memreq == 0 else 0,
        coresreq=DEFAULT_CORES if cores is None else cores,
    )


def container_requests(pod: Mapping[str, Any], cfg: HygonConfig) -> list[ContainerRequest | None]:
    """One entry per container, init containers first; None where no DCU is asked."""
    ref = pod_ref(pod)
    return [
        container_request(ctr, cfg, f"pod {ref} container {ctr.get('name') or i!s}")
        for i, ctr in enumerate(pod_containers(pod))
    ]


def pod_has_managed_resources(pod: Mapping[str, Any], cfg: HygonConfig) -> bool:
    """Whether any container mentions the count, memory or core resource."""
    names = (cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_core_name)
    return any(has_resource(c, n) for c in pod_containers(pod) for n in names)
