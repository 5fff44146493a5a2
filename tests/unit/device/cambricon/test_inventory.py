"""Cambricon cards from node capacity (vendors spec §2.3), cases in
``tests/fixtures/vendors/cambricon/capacity.json`` (HAMi's golden included)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.config.devices import DeviceConfig
from hami.device.cambricon.inventory import node_devices

from ._data import load

CASES = load("capacity.json")
CFG = DeviceConfig().cambricon


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_cards_from_capacity(case: dict[str, Any]) -> None:
    got = node_devices(case["node"], CFG)
    fields = ("id", "index", "count", "devmem", "devcore", "type", "numa", "health")
    assert [{k: asdict(d)[k] for k in fields} for d in got] == case["devices"]


@pytest.mark.parametrize("case", CASES["errors"], ids=lambda c: c["name"])
def test_bad_capacity_is_one_line_error_naming_node(case: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as err:
        node_devices(case["node"], CFG)
    assert str(err.value) == case["message"]


def test_configured_resource_names_are_read() -> None:
    cfg = DeviceConfig.model_validate(
        {"cambricon": {"resourceCoreName": "x/vcore", "resourceMemoryName": "x/vmem"}}
    ).cambricon
    node = {"metadata": {"name": "k"}, "status": {"capacity": {"x/vcore": "200", "x/vmem": "2"}}}
    assert [(d.id, d.devmem) for d in node_devices(node, cfg)] == [
        ("k-cambricon-mlu-0", 256), ("k-cambricon-mlu-1", 256),
    ]  # fmt: skip


def test_node_without_status() -> None:
    assert node_devices({"metadata": {"name": "bare"}}, CFG) == []
