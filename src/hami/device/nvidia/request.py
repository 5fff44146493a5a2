"""Per-container NVIDIA requests derived from a pod spec (spec §4.1, ``GenerateResourceRequests``).

Each resource is read from ``limits`` first, then ``requests``. ``gpumem`` is multiplied by
``memoryFactor``; a memory value outside ``[0, 2**31)`` drops the container's request (as HAMi
does). ``gpumem-percentage`` uses the sentinel 101 for "unset"; with neither memory nor
percentage the container gets ``defaultMemory`` MiB, or 100 % when that is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hami.api.annotations import NVIDIA_TYPE
from hami.api.podshape import pod_ref
from hami.api.types import PERCENTAGE_UNSET, ContainerRequest
from hami.config.devices import NvidiaConfig
from hami.device.common import INT32_MAX, has_resource, pod_containers, resource_value

log = logging.getLogger(__name__)

__all__ = ["container_request", "container_requests", "pod_has_managed_resources"]


def _memory(container: Mapping[str, Any], cfg: NvidiaConfig, field: str) -> int | None:
    """MiB after memoryFactor; 0 when absent; None when out of range (request dropped)."""
    raw = resource_value(container, cfg.resource_memory_name, field)
    if raw is None:
        return 0
    mem = raw * cfg.memory_factor
    if not 0 <= mem <= INT32_MAX:
        log.warning("%s: %s=%s out of range, request ignored", field, cfg.resource_memory_name, raw)
        return None
    return mem


def _percentage(container: Mapping[str, Any], cfg: NvidiaConfig, field: str) -> int:
    raw = resource_value(container, cfg.resource_memory_percentage_name, field)
    if raw is None or raw <= 0:
        return PERCENTAGE_UNSET
    return min(raw, 100)


def container_request(
    container: Mapping[str, Any], cfg: NvidiaConfig, field: str = "container"
) -> ContainerRequest | None:
    """The NVIDIA request of one container, or None when it asks for no GPU."""
    nums = resource_value(container, cfg.resource_count_name, field)
    if nums is None or nums <= 0:
        return None
    mem = _memory(container, cfg, field)
    if mem is None:
        return None
    pct = _percentage(container, cfg, field)
    if mem == 0 and pct == PERCENTAGE_UNSET:
        if cfg.default_memory:
            mem = cfg.default_memory
        else:
            pct = 100
    cores = resource_value(container, cfg.resource_core_name, field)
    cores = cfg.default_cores if cores is None else max(0, min(cores, 100))
    return ContainerRequest(
        nums=nums, type=NVIDIA_TYPE, memreq=mem, mem_percentage_req=pct, coresreq=cores
    )


def container_requests(pod: Mapping[str, Any], cfg: NvidiaConfig) -> list[ContainerRequest | None]:
    """One entry per container (init first), None where the container asks for no GPU.

    Raises :class:`hami.api.errors.DecodeError` naming pod, container and resource when a
    quantity is garbage.
    """
    ref = pod_ref(pod)
    out: list[ContainerRequest | None] = []
    for i, ctr in enumerate(pod_containers(pod)):
        field = f"pod {ref} container {ctr.get('name') or i!s}"
        out.append(container_request(ctr, cfg, field))
    return out


def pod_has_managed_resources(pod: Mapping[str, Any], cfg: NvidiaConfig) -> bool:
    """Whether any container mentions any resource this backend manages."""
    names = cfg.resource_names
    return any(has_resource(c, n) for c in pod_containers(pod) for n in names)
