"""Hygon's webhook part (vendors spec §3): found iff the count is in limits, no change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.device.hygon.admission import HygonAdmission

from ._data import CONFIG, CORE, COUNT, MEM, ctr, pod

ADM = HygonAdmission(CONFIG.hygon)


@pytest.mark.parametrize(
    ("container", "found"),
    [
        (ctr(limits={COUNT: "1"}), True),
        (ctr(limits={COUNT: "1", MEM: "1024", CORE: "10"}), True),
        (ctr(requests={COUNT: "1"}), False),
        (ctr(limits={MEM: "1024"}), False),
        (ctr(limits={"cambricon.com/vmlu": "1"}), False),
        ({"name": "bare"}, False),
    ],
)
def test_found_iff_count_in_limits_and_nothing_changes(
    container: dict[str, Any], found: bool
) -> None:
    before = copy.deepcopy(container)
    assert ADM.validate_container(container) is None
    assert ADM.mutate_container(container) is found
    assert container == before


def test_pod_is_left_alone() -> None:
    p = pod(ctr(limits={COUNT: "1"}))
    before = copy.deepcopy(p)
    ADM.mutate_pod(p)
    assert p == before


@pytest.mark.parametrize("resource", [COUNT, MEM, CORE])
def test_unreadable_value_is_a_one_line_denial(resource: str) -> None:
    with pytest.raises(DecodeError) as err:
        ADM.validate_container(ctr("w", requests={COUNT: "1", resource: "some"}))
    assert str(err.value).startswith(f"container w requests[{resource}]: ")
    assert "\n" not in str(err.value)
