"""Hygon request derivation (vendors spec §3.2)."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import pytest

from hami.api.errors import DecodeError
from hami.api.types import ContainerRequest
from hami.config.devices import DeviceConfig
from hami.config.vendors import HygonConfig
from hami.device.hygon.request import (
    container_request,
    container_requests,
    pod_has_managed_resources,
)

from ._data import CONFIG, CORE, COUNT, MEM, ctr, pod

CFG = CONFIG.hygon
FACTOR_4 = DeviceConfig.model_validate({"hygon": {"memoryFactor": 4}}).hygon
FACTOR_0 = DeviceConfig.model_validate({"hygon": {"memoryFactor": 0}}).hygon


@pytest.mark.parametrize(
    ("limits", "requests", "want"),
    [
        pytest.param({COUNT: "1"}, None, ContainerRequest(1, "DCU", 0, 100, 100), id="count-only-whole-card"),
        pytest.param({COUNT: "2", MEM: "1024"}, None, ContainerRequest(2, "DCU", 1024, 0, 100), id="memory-mib"),
        pytest.param({COUNT: "1", MEM: "0"}, None, ContainerRequest(1, "DCU", 0, 100, 100), id="memory-0-is-percentage-100"),
        pytest.param({COUNT: "1", MEM: "1024", CORE: "30"}, None, ContainerRequest(1, "DCU", 1024, 0, 30), id="cores-as-written"),
        pytest.param({COUNT: "1", CORE: "0"}, None, ContainerRequest(1, "DCU", 0, 100, 0), id="cores-0-kept"),
        pytest.param(None, {COUNT: "1", MEM: "512"}, ContainerRequest(1, "DCU", 512, 0, 100), id="requests-when-no-limits"),
        pytest.param({COUNT: "1", MEM: str(2**31 - 1)}, None, ContainerRequest(1, "DCU", 2**31 - 1, 0, 100), id="largest-memory"),
        pytest.param({COUNT: "1", MEM: str(2**31)}, None, None, id="memory-overflow-dropped"),
        pytest.param({COUNT: "1", MEM: "-1"}, None, None, id="negative-memory-dropped"),
        pytest.param({COUNT: "0"}, None, None, id="count-0"),
        pytest.param({COUNT: "-2"}, None, None, id="negative-count"),
        pytest.param({COUNT: str(2**31 - 1)}, None, ContainerRequest(2**31 - 1, "DCU", 0, 100, 100), id="largest-count"),
        pytest.param({COUNT: str(2**31)}, None, None, id="count-beyond-int32"),
        pytest.param({MEM: "1024"}, None, None, id="no-count"),
    ],
)  # fmt: skip
def test_request_table(
    limits: dict[str, str] | None, requests: dict[str, str] | None, want: ContainerRequest | None
) -> None:
    assert container_request(ctr(limits=limits, requests=requests), CFG) == want


@pytest.mark.parametrize(
    ("cfg", "mem", "want"),
    [
        (FACTOR_4, "1000", 4000),
        (FACTOR_0, "1000", 1000),
        (CFG, "1000", 1000),
    ],
)
def test_memory_factor_applies_above_1(cfg: HygonConfig, mem: str, want: int) -> None:
    got = container_request(ctr(limits={COUNT: "1", MEM: mem}), cfg)
    assert got is not None and got.memreq == want


def test_memory_factor_overflow_drops() -> None:
    assert container_request(ctr(limits={COUNT: "1", MEM: str(2**30)}), FACTOR_4) is None


def test_one_entry_per_container_init_first() -> None:
    p = pod(ctr("app", {COUNT: "2", MEM: "100"}), ctr("side"), init=(ctr("init", {COUNT: "1"}),))
    assert container_requests(p, CFG) == [
        ContainerRequest(1, "DCU", 0, 100, 100),
        ContainerRequest(2, "DCU", 100, 0, 100),
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
        ({COUNT: "1", MEM: "16G!"}, f"limits[{MEM}]"),
        ({COUNT: "1", CORE: "half"}, f"limits[{CORE}]"),
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
