"""The pod annotations a successful Filter writes for one Ascend model (vendors spec §5.6).

* the standard pair ``hami.io/<cw>-devices-to-allocate`` / ``hami.io/<cw>-devices-allocated``
  (``UUID,<cw>,mem,cores:`` per device, ``;`` per container);
* ``predicate-time``: Unix seconds of the decision;
* ``huawei.com/<cw>``: the JSON the Ascend device plugin cuts vNPUs from, one object per granted
  NPU over all containers, fields ``UUID, temp, memory, core`` in this order, each left out when
  empty or 0 (Go ``omitempty``). ``temp`` is the smallest template holding the reserved memory
  (none for a whole card) in template mode, and never written in hami-core mode. E.g.
  ``[{"UUID":"device-0","temp":"vir08","memory":8738,"core":1}]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hami.api._jsonwire import go_dumps
from hami.api.types import PodSingleDevice
from hami.config.vendors import AscendModelConfig
from hami.device.ascend.keys import PREDICATE_TIME, AscendKeys
from hami.device.ascend.templates import template_name
from hami.device.common import standard_annotations


def runtime_info(devices: PodSingleDevice, cfg: AscendModelConfig, *, hami_core: bool) -> str:
    """The ``huawei.com/<cw>`` value (``null`` when no container got a device, as Go writes a
    nil slice)."""
    items: list[dict[str, Any]] = []
    for container in devices:
        for granted in container:
            obj: dict[str, Any] = {}
            if granted.uuid:
                obj["UUID"] = granted.uuid
            if not hami_core:
                temp = template_name(cfg, granted.usedmem)
                if temp:
                    obj["temp"] = temp
            if granted.usedmem:
                obj["memory"] = granted.usedmem
            if granted.usedcores:
                obj["core"] = granted.usedcores
            items.append(obj)
    return go_dumps(items) if items else "null"


def pod_annotations(
    devices: PodSingleDevice,
    keys: AscendKeys,
    cfg: AscendModelConfig,
    *,
    hami_core: bool,
    now: datetime,
) -> dict[str, str]:
    """Every annotation the Filter patches onto a pod granted ``devices`` of this model."""
    out = standard_annotations(devices, keys.to_allocate, keys.allocated)
    out[PREDICATE_TIME] = str(int(now.timestamp()))
    out[keys.runtime] = runtime_info(devices, cfg, hami_core=hami_core)
    return out
