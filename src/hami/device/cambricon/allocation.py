"""Pod annotations a Cambricon allocation writes (vendors spec §2.6).

The standard pair (the same ``uuid,MLU,mem,cores:`` / ``;`` text under the to-allocate and the
allocated key) plus what Cambricon's dynamic-sMLU device plugin reads:
``CAMBRICON_DSMLU_ASSIGNED: "false"`` (and ``CAMBRICON_DSMLU_ASSIGHED``, the spelling the
plugin actually reads) and ``CAMBRICON_DSMLU_PROFILE:
"<index>_<cores>_<memory units>"`` of the first device of the first container that got any.
"""

from __future__ import annotations

import re

from hami.api.types import ContainerDevice, PodSingleDevice
from hami.device.cambricon.keys import (
    ALLOCATED,
    DSMLU_ASSIGHED,
    DSMLU_ASSIGNED,
    DSMLU_PROFILE,
    MEMORY_UNIT,
    TO_ALLOCATE,
)
from hami.device.common import standard_annotations

_TRAILING_INDEX = re.compile(r"-(\d+)$")


def device_index(device_id: str) -> int:
    """The card index of a device id ``<node>-cambricon-mlu-<i>`` (HAMi's ``Idx``).

    Cards are numbered by :func:`hami.device.cambricon.inventory.node_devices`, which puts the
    index at the end of the id; an id without a trailing ``-<digits>`` gives 0.
    """
    match = _TRAILING_INDEX.search(device_id)
    return int(match.group(1)) if match else 0


def dsmlu_profile(device: ContainerDevice) -> str:
    """``<index>_<usedcores>_<usedmem / 256>`` (integer division)."""
    return f"{device_index(device.uuid)}_{device.usedcores}_{device.usedmem // MEMORY_UNIT}"


def pod_annotations(devices: PodSingleDevice) -> dict[str, str]:
    """The annotations to patch for ``devices`` ({} when no container got a card)."""
    first = next((c[0] for c in devices if c), None)
    if first is None:
        return {}
    out = standard_annotations(devices, TO_ALLOCATE, ALLOCATED)
    out[DSMLU_ASSIGNED] = "false"
    out[DSMLU_ASSIGHED] = "false"  # what the Cambricon device plugin reads (see keys.py)
    out[DSMLU_PROFILE] = dsmlu_profile(first)
    return out
