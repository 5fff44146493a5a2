"""Hygon DCU wire names (vendors spec §1, §3): the common word, node and pod annotations.

The resource names and ``memoryFactor`` come from the ``hygon:`` config section
(:class:`hami.config.vendors.HygonConfig`), not from here.
"""

from __future__ import annotations

from typing import Final

DCU: Final = "DCU"
"""The common word: request type, allocation type field and registry key (the device ``Type``
is whatever the device plugin registers)."""

REGISTER: Final = "hami.io/node-dcu-register"
HANDSHAKE: Final = "hami.io/node-handshake-dcu"

TO_ALLOCATE: Final = "hami.io/dcu-devices-to-allocate"
ALLOCATED: Final = "hami.io/dcu-devices-allocated"

USE_TYPE: Final = "hygon.com/use-dcutype"
NOUSE_TYPE: Final = "hygon.com/nouse-dcutype"
USE_UUID: Final = "hygon.com/use-gpuuuid"
NOUSE_UUID: Final = "hygon.com/nouse-gpuuuid"
