"""Cambricon cards derived from node capacity (vendors spec §2.3).

The Cambricon device plugin writes no register annotation: it advertises ``vcore`` (100 per
card) and ``vmemory`` (units of 256 MiB, all cards together) as node extended resources. The
scheduler cuts them back into cards: ``ceil(vcore / 100)`` cards, card ``i`` with id
``<node>-cambricon-mlu-<i>``, 100 shares, 100 cores and ``vmemory x 256 x 100 / vcore`` MiB
(integer division, e.g. vcore 400, vmemory 768 gives 4 cards of 49152 MiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hami.api.errors import DecodeError
from hami.api.quantity import quantity_to_int
from hami.api.types import DeviceInfo
from hami.config.vendors import CambriconConfig
from hami.device.cambricon.keys import DEVICE_ID_INFIX, MEMORY_UNIT, MLU
from hami.device.common import INT32_MAX

CORES_PER_CARD = 100
SHARES_PER_CARD = 100


def _capacity(node: Mapping[str, Any], resource: str, where: str) -> int | None:
    capacity = (node.get("status") or {}).get("capacity") or {}
    if resource not in capacity:
        return None
    return quantity_to_int(capacity[resource], f"{where} status.capacity[{resource}]")


def node_devices(node: Mapping[str, Any], cfg: CambriconConfig) -> list[DeviceInfo]:
    """The node's MLU cards; [] when the node has no ``vcore`` capacity at all.

    Raises :class:`DecodeError` naming the node when ``vcore`` is 0 (HAMi: "device not
    found") or a capacity value is not a quantity, or when a card would exceed an int32 of MiB.
    """
    name = str((node.get("metadata") or {}).get("name") or "")
    where = f"node {name}"
    cores_name = cfg.resource_core_name
    vcore = _capacity(node, cores_name, where)
    if vcore is None:
        return []
    if vcore <= 0:
        raise DecodeError(f"{where} status.capacity[{cores_name}]", vcore,
                          "no MLU registered (vcore capacity must be positive)")  # fmt: skip
    vmemory = _capacity(node, cfg.resource_memory_name, where) or 0
    devmem = vmemory * MEMORY_UNIT * CORES_PER_CARD // vcore
    if not 0 <= devmem <= INT32_MAX:
        raise DecodeError(f"{where} status.capacity[{cfg.resource_memory_name}]", vmemory,
                          f"gives {devmem} MiB per card, outside [0, {INT32_MAX}]")  # fmt: skip
    cards = -(-vcore // CORES_PER_CARD)
    return [
        DeviceInfo(
            id=f"{name}{DEVICE_ID_INFIX}{i}",
            index=i,
            count=SHARES_PER_CARD,
            devmem=devmem,
            devcore=CORES_PER_CARD,
            type=MLU,
            numa=0,
            mode="",
            health=True,
        )
        for i in range(cards)
    ]
