"""One Iluvatar chip's devices on a node (vendors spec §4.3): the device plugin writes
``hami.io/node-<cw>-register`` in the legacy colon form
(``UUID,count,devmem,devcore,type,numa,health[,index,mode]:``); the JSON form decodes too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_devices
from hami.api.types import DeviceInfo


def node_devices(node: Mapping[str, Any], register: str) -> list[DeviceInfo]:
    """Devices from the node's ``register`` annotation; [] when absent or when it lists none.

    HAMi answers an error for both (and keeps devices it cached earlier); we read the node as
    having none of this chip. A present but malformed value (``""`` included) raises
    :class:`~hami.api.errors.DecodeError` naming the annotation.
    """
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(register)
    if value is None:
        return []
    if not isinstance(value, str):
        raise DecodeError(register, value, "expected a string")
    return decode_node_devices(value, register)
