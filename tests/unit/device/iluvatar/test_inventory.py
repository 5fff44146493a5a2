"""Node inventory and health keys of an Iluvatar chip (vendors spec §4.3, golden §15)."""

from __future__ import annotations

from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.api.types import DeviceInfo

from ._support import backend, golden

_REGISTER = golden("node-register.json")


def _node(annotations: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "annotations": annotations}}


@pytest.mark.parametrize("case", _REGISTER["cases"], ids=lambda c: c["name"])
def test_golden_register_annotations(case: dict[str, Any]) -> None:
    b = backend(case["cw"])
    assert b.register_annotation == case["annotation"]
    got = b.node_devices(_node({case["annotation"]: case["value"]}))
    keys = ("id", "count", "devmem", "devcore", "type", "index", "numa", "health")
    want = [DeviceInfo(**{k: d[k] for k in keys}) for d in case["devices"]]
    assert got == want


def test_hami_golden_count_and_memory() -> None:
    """§15: ``GPU-bad51c5a-…,10,8192,100,MR-V100,0,true:`` => Count 10, Devmem 8192."""
    value = "GPU-bad51c5a-ed4c-591d-91bf-c04a12e19eae,10,8192,100,MR-V100,0,true:"
    (dev,) = backend().node_devices(_node({"hami.io/node-MR-V100-register": value}))
    assert (dev.count, dev.devmem, dev.devcore, dev.health) == (10, 8192, 100, True)


def test_each_chip_reads_only_its_own_annotation() -> None:
    node = _node({"hami.io/node-MR-V100-register": "GPU-1,10,8192,100,MR-V100,0,true:"})
    assert backend("MR-V50").node_devices(node) == []
    assert backend("BI-V150").node_devices({"metadata": {}}) == []
    assert len(backend("MR-V100").node_devices(node)) == 1


@pytest.mark.parametrize("case", _REGISTER["errors"], ids=lambda c: c["name"])
def test_malformed_register_is_a_one_line_decode_error(case: dict[str, Any]) -> None:
    node = _node({"hami.io/node-MR-V100-register": case["value"]})
    with pytest.raises(DecodeError) as err:
        backend().node_devices(node)
    text = str(err.value)
    assert "\n" not in text
    assert case["contains"] in text


def test_non_string_register_value_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="expected a string"):
        backend().node_devices(_node({"hami.io/node-MR-V100-register": 5}))


def test_health_is_the_generic_handshake_on_the_chip_key() -> None:
    b = backend("BI-V100")
    assert b.health_kind == "handshake"
    assert b.handshake_annotation == "hami.io/node-handshake-BI-V100"
    assert b.count_resource == "iluvatar.ai/BI-V100-vgpu"
