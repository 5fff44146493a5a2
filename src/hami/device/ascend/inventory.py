"""A node's NPUs of one model, from the register annotation the Ascend device plugin writes.

``hami.io/node-register-<cw>`` is a JSON array (vendors spec §5.3), e.g.
``[{"id":"<uuid>","index":0,"count":4,"devmem":65536,"devcore":20,"type":"Ascend910B3",
"health":true,"custominfo":{"NetworkID":0}}]``; the legacy colon form decodes too. ``NetworkID``
stays in :attr:`~hami.api.types.DeviceInfo.custominfo` (a float, as Go decodes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_devices
from hami.api.types import DeviceInfo


def node_annotations(node: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = node.get("metadata") or {}
    return meta.get("annotations") or {}


def node_devices(node: Mapping[str, Any], register: str) -> list[DeviceInfo]:
    """Devices registered under ``register`` ([] when the annotation is absent).

    Raises :class:`DecodeError` naming the annotation when its value is malformed (HAMi fails
    the same values: an empty string, a non-array, a device without id).
    """
    value = node_annotations(node).get(register)
    if value is None:
        return []
    if not isinstance(value, str):
        raise DecodeError(register, value, "expected a string")
    return decode_node_devices(value, register)
