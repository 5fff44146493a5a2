"""Hygon DCUs from the node's register annotation (vendors spec §3.3).

``hami.io/node-dcu-register`` is written by the Hygon device plugin in HAMi's legacy colon
form, one ``id,count,devmem,devcore,type,numa,health[,index,mode]:`` entry per card (e.g.
``test-0,1,1024,100,DCU,0,true,0,test:``). The JSON form decodes too (a superset of HAMi,
which reads only the colon form for Hygon).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_devices
from hami.api.types import DeviceInfo
from hami.device.hygon.keys import REGISTER


def node_devices(node: Mapping[str, Any]) -> list[DeviceInfo]:
    """The node's DCUs; [] when the node has no register annotation.

    Raises :class:`DecodeError` naming node and annotation when the value is malformed or
    holds no device (HAMi: "no gpu found on node").
    """
    meta = node.get("metadata") or {}
    value = (meta.get("annotations") or {}).get(REGISTER)
    if value is None:
        return []
    where = f"node {meta.get('name') or ''!s} {REGISTER}"
    devices = decode_node_devices(value, where)
    if not devices:
        raise DecodeError(where, value, "no gpu found on node")
    return devices
