"""Allocation annotations (vendors spec §5.6): the standard pair, ``predicate-time`` and the
``huawei.com/<cw>`` runtime JSON, against the golden file and per rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hami.api.poddevices import decode_pod_devices
from hami.api.types import ContainerDevice, PodSingleDevice
from hami.device.ascend.annotations import runtime_info

from ._npu import MODELS, backend, fixture

GOLDEN = fixture("allocation.json")
NOW = datetime.fromisoformat(GOLDEN["now_utc"]).replace(tzinfo=UTC)


def devices(cw: str, containers: list[list[list[Any]]]) -> PodSingleDevice:
    return tuple(tuple(ContainerDevice(u, cw, m, c) for u, m, c in ctr) for ctr in containers)


def selection(cw: str, mode: str | None) -> Any:
    return backend(cw).pod_selection({} if mode is None else {"huawei.com/vnpu-mode": mode})


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_allocation_golden(case: dict[str, Any]) -> None:
    cw = case["cw"]
    picked = devices(cw, case["devices"])
    got = backend(cw).pod_annotations(picked, selection(cw, case["vnpu_mode"]), now=NOW)
    assert got == case["annotations"]
    # usage is rebuilt from the allocated key with the generic codec
    assert decode_pod_devices(got[f"hami.io/{cw}-devices-allocated"]) == picked


def test_hami_test_golden_verbatim() -> None:
    """HAMi device_test.go (§15): 910A, device-0, 8738 MiB, 1 core."""
    picked = devices("Ascend910A", [[["device-0", 8738, 1]]])
    got = backend("Ascend910A").pod_annotations(picked, selection("Ascend910A", None), now=NOW)
    assert (
        got["huawei.com/Ascend910A"]
        == '[{"UUID":"device-0","temp":"vir08","memory":8738,"core":1}]'
    )


def test_predicate_time_is_unix_seconds_of_now() -> None:
    b = backend("Ascend910B3")
    picked = devices("Ascend910B3", [[["npu-0", 1, 0]]])
    got = b.pod_annotations(
        picked,
        selection("Ascend910B3", None),
        now=datetime(2030, 1, 2, 3, 4, 5, 900000, tzinfo=UTC),
    )
    assert got["predicate-time"] == str(int(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()))


@pytest.mark.parametrize(
    ("cw", "mib", "temp"),
    [
        ("Ascend910A", 1, "vir02"), ("Ascend910A", 2184, "vir02"), ("Ascend910A", 2185, "vir04"),
        ("Ascend910A", 17476, "vir16"), ("Ascend910A", 17477, None), ("Ascend910A", 32768, None),
        ("Ascend910B2", 8192, "vir03_1c_8g"), ("Ascend910B2", 16384, "vir06_1c_16g"),
        ("Ascend910B2", 32768, "vir12_3c_32g"), ("Ascend910B2", 32769, None),
        ("Ascend910B3", 16385, "vir10_3c_32g"), ("Ascend910B4-1", 16384, "vir05_1c_16g"),
        ("Ascend910B4", 8192, "vir05_1c_8g"), ("Ascend910B4", 16384, "vir10_3c_16g"),
        ("Ascend910B4", 16385, None), ("Ascend310P", 3073, "vir02"), ("Ascend310P", 12288, "vir04"),
        ("Ascend310P", 21527, None), ("Ascend910C", 32768, "vir10_3c_32g"),
        ("Ascend910C", 70000, None),  # beyond the card too: still no template
    ],
)  # fmt: skip
def test_template_is_the_smallest_holding_the_memory(cw: str, mib: int, temp: str | None) -> None:
    got = runtime_info(devices(cw, [[["u", mib, 0]]]), backend(cw).cfg, hami_core=False)
    want = {"UUID": "u"} | ({"temp": temp} if temp else {}) | {"memory": mib}
    (obj,) = json.loads(got)
    assert obj == want
    assert list(obj) == list(want)  # field order


@pytest.mark.parametrize("cw", MODELS)
def test_hami_core_writes_no_template(cw: str) -> None:
    picked = devices(cw, [[["u", 2000, 25]]])
    got = backend(cw).pod_annotations(picked, selection(cw, "hami-core"), now=NOW)
    assert got[f"huawei.com/{cw}"] == '[{"UUID":"u","memory":2000,"core":25}]'


def test_zero_fields_are_omitted() -> None:
    cfg = backend("Ascend910B3").cfg
    assert runtime_info(devices("Ascend910B3", [[["", 0, 0]]]), cfg, hami_core=True) == "[{}]"
    # 0 MiB fits the smallest template (as HAMi rounds it)
    assert (
        runtime_info(devices("Ascend910B3", [[["u", 0, 0]]]), cfg, hami_core=False)
        == '[{"UUID":"u","temp":"vir05_1c_16g"}]'
    )


def test_no_device_at_all_is_null_as_go_writes_a_nil_slice() -> None:
    assert runtime_info(((), ()), backend("Ascend910B3").cfg, hami_core=False) == "null"


def test_go_escapes_in_uuid() -> None:
    got = runtime_info(
        devices("Ascend910B3", [[["a<b>&", 65536, 0]]]), backend("Ascend910B3").cfg, hami_core=False
    )
    assert got == '[{"UUID":"a\\u003cb\\u003e\\u0026","memory":65536}]'
