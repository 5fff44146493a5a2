"""Pod annotations of a Hygon allocation, cases in
``tests/fixtures/vendors/hygon/allocation.json``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from hami.api.poddevices import decode_pod_devices
from hami.device.hygon import HygonBackend

from ._data import CONFIG, load, pod_devices

CASES = load("allocation.json")["cases"]
BACKEND = HygonBackend(CONFIG.hygon)
NOW = datetime(2026, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_annotations(case: dict[str, Any]) -> None:
    devices = pod_devices(case["devices"])
    assert (
        BACKEND.pod_annotations(devices, BACKEND.pod_selection({}), now=NOW) == case["annotations"]
    )


@pytest.mark.parametrize("case", [c for c in CASES if c["annotations"]], ids=lambda c: c["name"])
def test_allocated_value_decodes_back(case: dict[str, Any]) -> None:
    value = case["annotations"]["hami.io/dcu-devices-allocated"]
    assert decode_pod_devices(value) == pod_devices(case["devices"])
