"""Cambricon request derivation (vendors spec §2.2; golden from HAMi's device_test.go, §15)."""

# ruff: noqa: E501  (case tables read best one case per line)

from __future__ import annotations

import pytest

from hami.api.errors import DecodeError
from hami.api.types import ContainerRequest
from hami.config.vendors import CambriconConfig
from hami.device.cambricon.request import (
    MAX_MEMORY_UNITS,
    container_request,
    container_requests,
    pod_has_managed_resources,
)

from ._data import GOLDEN_CONFIG, ctr, pod

CFG = GOLDEN_CONFIG.cambricon
COUNT, MEM, CORE = (
    "cambricon.com/mlu",
    "cambricon.com/mlu.smlu.vmemory",
    "cambricon.com/mlu.smlu.vcore",
)


def test_golden_count_and_memory() -> None:
    got = container_request(ctr(limits={COUNT: "1", MEM: "1000"}), CFG)
    assert got == ContainerRequest(nums=1, type="MLU", memreq=256000, mem_percentage_req=0,
                                   coresreq=100)  # fmt: skip


@pytest.mark.parametrize(
    ("limits", "requests", "want"),
    [
        pytest.param({COUNT: "2"}, None, ContainerRequest(2, "MLU", 0, 100, 100), id="count-only-whole-memory-whole-cores"),
        pytest.param({COUNT: "1", MEM: "0"}, None, ContainerRequest(1, "MLU", 0, 100, 100), id="memory-0-is-percentage-100"),
        pytest.param({COUNT: "1", MEM: "4", CORE: "20"}, None, ContainerRequest(1, "MLU", 1024, 0, 20), id="cores-as-written"),
        pytest.param({COUNT: "1", CORE: "0"}, None, ContainerRequest(1, "MLU", 0, 100, 0), id="cores-0-kept"),
        pytest.param({COUNT: "1", CORE: "150"}, None, ContainerRequest(1, "MLU", 0, 100, 150), id="cores-over-100-capped-only-by-fit"),
        pytest.param(None, {COUNT: "1", MEM: "2"}, ContainerRequest(1, "MLU", 512, 0, 100), id="requests-when-no-limits"),
        pytest.param({COUNT: "1"}, {COUNT: "3", MEM: "2"}, ContainerRequest(1, "MLU", 512, 0, 100), id="limits-then-requests-per-resource"),
        pytest.param({COUNT: "1", MEM: str(MAX_MEMORY_UNITS)}, None, ContainerRequest(1, "MLU", MAX_MEMORY_UNITS * 256, 0, 100), id="largest-memory"),
        pytest.param({COUNT: "1", MEM: str(MAX_MEMORY_UNITS + 1)}, None, None, id="memory-overflow-dropped"),
        pytest.param({COUNT: "1", MEM: "-1"}, None, None, id="negative-memory-dropped"),
        pytest.param({COUNT: "0"}, None, None, id="count-0"),
        pytest.param({COUNT: "-1"}, None, None, id="negative-count"),
        pytest.param({COUNT: str(2**31)}, None, None, id="count-beyond-int32"),
        pytest.param({MEM: "4", CORE: "20"}, None, None, id="no-count"),
        pytest.param({"cambricon.com/vmlu": "1"}, None, None, id="chart-name-not-configured"),
    ],
)  # fmt: skip
def test_request_table(
    limits: dict[str, str] | None, requests: dict[str, str] | None, want: ContainerRequest | None
) -> None:
    assert container_request(ctr(limits=limits, requests=requests), CFG) == want


def test_chart_default_count_name() -> None:
    chart = CambriconConfig.model_validate({})
    got = container_request(ctr(limits={"cambricon.com/vmlu": "1"}), chart)
    assert got is not None and got.nums == 1


def test_one_entry_per_container_init_first() -> None:
    p = pod(ctr("app", {COUNT: "2", MEM: "1"}), ctr("side"), init=(ctr("init", {COUNT: "1"}),))
    assert container_requests(p, CFG) == [
        ContainerRequest(1, "MLU", 0, 100, 100),
        ContainerRequest(2, "MLU", 256, 0, 100),
        None,
    ]


@pytest.mark.parametrize(
    ("container", "want"),
    [
        (ctr(limits={COUNT: "1"}), True),
        (ctr(requests={MEM: "1"}), True),
        (ctr(limits={CORE: "10"}), True),
        (ctr(limits={"nvidia.com/gpu": "1"}), False),
        (ctr(), False),
    ],
)
def test_pod_has_managed_resources(container: dict[str, object], want: bool) -> None:
    assert pod_has_managed_resources(pod(container), CFG) is want


@pytest.mark.parametrize(
    ("limits", "where"),
    [
        ({COUNT: "one"}, f"limits[{COUNT}]"),
        ({COUNT: "1", MEM: "1x"}, f"limits[{MEM}]"),
        ({COUNT: "1", CORE: "lots"}, f"limits[{CORE}]"),
    ],
)
def test_unreadable_value_is_one_line_error_naming_pod_and_resource(
    limits: dict[str, str], where: str
) -> None:
    with pytest.raises(DecodeError) as err:
        container_requests(pod(ctr("worker", limits)), CFG)
    msg = str(err.value)
    assert msg.startswith(f"pod ns/p container worker {where}: ")
    assert "\n" not in msg


def test_fraction_is_refused_as_asint64_does() -> None:
    with pytest.raises(DecodeError):
        container_request(ctr(limits={COUNT: "1", MEM: "1.5"}), CFG)
