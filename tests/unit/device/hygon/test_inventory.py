"""Hygon register annotation (vendors spec §3.3), cases in
``tests/fixtures/vendors/hygon/register.json`` (HAMi's goldens included)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.device.hygon.inventory import node_devices

from ._data import load

CASES = load("register.json")
FIELDS = ("id", "index", "count", "devmem", "devcore", "type", "numa", "health", "mode")


def node(value: str | None, name: str = "test") -> dict[str, Any]:
    annotations = {} if value is None else {"hami.io/node-dcu-register": value}
    return {"metadata": {"name": name, "annotations": annotations}}


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_register_decodes(case: dict[str, Any]) -> None:
    got = node_devices(node(case["value"]))
    assert [{k: asdict(d)[k] for k in FIELDS} for d in got] == case["devices"]


@pytest.mark.parametrize("case", CASES["errors"], ids=lambda c: c["name"])
def test_malformed_register_is_one_line_error_naming_node_and_annotation(
    case: dict[str, Any],
) -> None:
    with pytest.raises(DecodeError) as err:
        node_devices(node(case["value"]))
    assert str(err.value) == case["message"]


def test_no_annotation_means_no_dcu() -> None:
    assert node_devices(node(None)) == []
    assert node_devices({"metadata": {"name": "x"}}) == []


def test_json_form_is_read_too() -> None:
    value = (
        '[{"id":"DCU-0","count":4,"devmem":16384,"devcore":100,"type":"DCU-Z100","health":true}]'
    )
    got = node_devices(node(value))
    assert [(d.id, d.count, d.devmem, d.type, d.health) for d in got] == [
        ("DCU-0", 4, 16384, "DCU-Z100", True)
    ]
