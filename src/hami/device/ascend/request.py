"""Per-container requests for one Ascend model (vendors spec §5.2, ``GenerateResourceRequests``).

Each resource is read from ``limits``, else ``requests``. The count must be 1 ... 2^31-1; the
memory (MiB) is taken as written (the webhook has already rounded it to a template) and a
negative one or one beyond 2^31-1 (``16Gi`` is bytes) drops the container's request, as HAMi
does; it is multiplied by ``memoryFactor`` when that is above 1. Cores come from the ``-core``
resource (0 when absent). With no memory the container asks for 100 % of each NPU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hami.api.podshape import pod_ref
from hami.api.types import ContainerRequest
from hami.config.vendors import AscendModelConfig
from hami.device.common import (
    INT32_MAX,
    count_in_range,
    has_resource,
    pod_containers,
    resource_value,
)

log = logging.getLogger(__name__)


def resource_names(cfg: AscendModelConfig) -> tuple[str, ...]:
    """Count, memory and (when configured) core resource of the model."""
    names = (cfg.resource_name, cfg.resource_memory_name, cfg.resource_core_name)
    return tuple(n for n in names if n)


def _memory(container: Mapping[str, Any], cfg: AscendModelConfig, field: str) -> int | None:
    """MiB after ``memoryFactor``; 0 when absent; None when out of range (request dropped)."""
    raw = resource_value(container, cfg.resource_memory_name, field)
    if raw is None:
        return 0
    mem = raw * cfg.memory_factor if cfg.memory_factor > 1 else raw
    if not 0 <= raw <= INT32_MAX or mem > INT32_MAX:
        log.warning("%s: %s=%s out of range, request ignored", field, cfg.resource_memory_name, raw)
        return None
    return mem


def container_request(
    container: Mapping[str, Any], cfg: AscendModelConfig, field: str = "container"
) -> ContainerRequest | None:
    """The request of one container for this model, or None when it asks for none.

    Raises :class:`~hami.api.errors.DecodeError` for a quantity that is not a whole number.
    """
    nums = count_in_range(resource_value(container, cfg.resource_name, field))
    if nums is None:
        return None
    mem = _memory(container, cfg, field)
    if mem is None:
        return None
    cores = 0
    if cfg.resource_core_name:
        cores = resource_value(container, cfg.resource_core_name, field) or 0
    return ContainerRequest(
        nums=nums,
        type=cfg.common_word,
        memreq=mem,
        mem_percentage_req=100 if mem == 0 else 0,
        coresreq=cores,
    )


def container_requests(
    pod: Mapping[str, Any], cfg: AscendModelConfig
) -> list[ContainerRequest | None]:
    """One entry per container (init first), None where it asks nothing of this model."""
    ref = pod_ref(pod)
    return [
        container_request(ctr, cfg, f"pod {ref} container {ctr.get('name') or i!s}")
        for i, ctr in enumerate(pod_containers(pod))
    ]


def pod_has_managed_resources(pod: Mapping[str, Any], cfg: AscendModelConfig) -> bool:
    """Whether any container mentions any resource of this model."""
    names = resource_names(cfg)
    return any(has_resource(c, n) for c in pod_containers(pod) for n in names)
