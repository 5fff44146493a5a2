"""Pod annotations an Iluvatar chip writes and reads back (golden files)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from hami.api.poddevices import decode_pod_devices
from hami.api.types import ContainerDevice, PodSingleDevice
from hami.device.common import UuidFilter

from ._support import backend, golden

_CASES = golden("pod-annotations.json")["cases"]


def _devices(raw: list[list[list[Any]]]) -> PodSingleDevice:
    return tuple(tuple(ContainerDevice(*d) for d in ctr) for ctr in raw)


@pytest.mark.parametrize("case", _CASES, ids=lambda c: c["name"])
def test_golden_pod_annotations(case: dict[str, Any]) -> None:
    b = backend(case["cw"])
    got = b.pod_annotations(_devices(case["devices"]), UuidFilter(), now=datetime(2026, 1, 1))
    assert got == case["annotations"]


@pytest.mark.parametrize("case", _CASES, ids=lambda c: c["name"])
def test_allocated_annotation_rebuilds_usage_with_the_generic_codec(case: dict[str, Any]) -> None:
    b = backend(case["cw"])
    value = case["annotations"][b.allocated_annotation]
    assert decode_pod_devices(value, b.allocated_annotation) == _devices(case["devices"])


def test_annotation_keys_embed_the_common_word() -> None:
    b = backend("BI-V150")
    assert b.to_allocate_annotation == "hami.io/BI-V150-devices-to-allocate"
    assert b.allocated_annotation == "hami.io/BI-V150-devices-allocated"
