"""Pod annotations of a Cambricon allocation, cases in
``tests/fixtures/vendors/cambricon/allocation.json`` (HAMi's goldens included)."""

from __future__ import annotations

from typing import Any

import pytest

from hami.api.poddevices import decode_pod_devices
from hami.device.cambricon.allocation import device_index, pod_annotations

from ._data import load, pod_devices

CASES = load("allocation.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_annotations(case: dict[str, Any]) -> None:
    assert pod_annotations(pod_devices(case["devices"])) == case["annotations"]


@pytest.mark.parametrize("case", [c for c in CASES if c["annotations"]], ids=lambda c: c["name"])
def test_allocated_value_decodes_back(case: dict[str, Any]) -> None:
    value = case["annotations"]["hami.io/cambricon-mlu-devices-allocated"]
    assert decode_pod_devices(value) == pod_devices(case["devices"])


@pytest.mark.parametrize(
    ("device_id", "index"),
    [("test-cambricon-mlu-0", 0), ("node-7-cambricon-mlu-11", 11), ("device-0", 0), ("weird", 0)],
)
def test_device_index_from_id(device_id: str, index: int) -> None:
    assert device_index(device_id) == index
