"""Requests derived from a pod (vendors spec §5.2): count range, memory MiB as written (dropped
when negative or beyond int32, times memoryFactor above 1), cores from ``-core``, 100 % iff no
memory."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.api.types import ContainerRequest

from ._npu import MODELS, backend, configured, container


def one(cw: str, ctr: dict[str, Any], b: Any = None) -> ContainerRequest | None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [ctr]}}
    (got,) = (b or backend(cw)).container_requests(pod)
    return got


B3 = "Ascend910B3"
R = ContainerRequest

CASES = [
    ("count only: whole card", container(B3, count=1), R(1, B3, 0, 100, 0)),
    ("memory as written, no rounding", container(B3, count=1, mem=20000), R(1, B3, 20000, 0, 0)),
    ("memory 0: whole card", container(B3, count=2, mem=0), R(2, B3, 0, 100, 0)),
    ("cores from -core", container(B3, count=1, mem=8192, core=30), R(1, B3, 8192, 0, 30)),
    ("decimal suffix is a whole number", container(B3, count=1, mem="16k"), R(1, B3, 16000, 0, 0)),
    ("count at int32 max", container(B3, count=2**31 - 1), R(2**31 - 1, B3, 0, 100, 0)),
    ("memory at int32 max", container(B3, count=1, mem=2**31 - 1), R(1, B3, 2**31 - 1, 0, 0)),
    ("count 0: none", container(B3, count=0), None),
    ("negative count: none", container(B3, count=-1), None),
    ("count beyond int32: none", container(B3, count=2**31), None),
    ("negative memory: dropped", container(B3, count=1, mem=-1), None),
    ("memory in bytes (16Gi): dropped", container(B3, count=1, mem="16Gi"), None),
    ("memory beyond int32: dropped", container(B3, count=1, mem=2**31), None),
    ("memory alone asks nothing", container(B3, mem=8192), None),
    ("nothing", {"name": "c"}, None),
]


@pytest.mark.parametrize(("name", "ctr", "want"), CASES, ids=[c[0] for c in CASES])
def test_request(name: str, ctr: dict[str, Any], want: ContainerRequest | None) -> None:
    assert one(B3, ctr) == want


def test_requests_section_is_read_when_limits_lack_the_resource() -> None:
    ctr = {"name": "c", "resources": {"limits": {"huawei.com/Ascend910B3-memory": "4096"},
                                      "requests": {"huawei.com/Ascend910B3": "2", "huawei.com/Ascend910B3-memory": "9"}}}  # fmt: skip
    assert one(B3, ctr) == R(2, B3, 4096, 0, 0)


def test_limits_win_over_requests() -> None:
    ctr = container(B3, requests=True, count=1, mem=4096)
    ctr["resources"]["requests"]["huawei.com/Ascend910B3"] = "3"
    assert one(B3, ctr) == R(1, B3, 4096, 0, 0)


@pytest.mark.parametrize("cw", MODELS)
def test_every_model_reads_its_own_resources(cw: str) -> None:
    assert one(cw, container(cw, count=1, mem=3000, core=2)) == R(1, cw, 3000, 0, 2)
    other = "Ascend910A" if cw != "Ascend910A" else "Ascend310P"
    assert one(cw, container(other, count=1)) is None


def test_memory_factor_above_one_multiplies() -> None:
    b = configured("Ascend910A", memoryFactor=10)
    assert one("Ascend910A", container("Ascend910A", count=1, mem=128), b) == R(
        1, "Ascend910A", 1280, 0, 0
    )


def test_memory_factor_one_or_unset_leaves_memory() -> None:
    assert backend("Ascend910C").cfg.memory_factor == 0  # the chart leaves it unset
    assert one("Ascend910C", container("Ascend910C", count=2, mem=128)) == R(
        2, "Ascend910C", 128, 0, 0
    )


def test_memory_overflowing_int32_after_the_factor_is_dropped() -> None:
    b = configured("Ascend910A", memoryFactor=10)
    assert one("Ascend910A", container("Ascend910A", count=1, mem=2**28), b) is None


def test_init_containers_come_first() -> None:
    pod = {"spec": {"initContainers": [container(B3, name="i", count=1, mem=1)],
                    "containers": [{"name": "plain"}, container(B3, name="a", count=2)]}}  # fmt: skip
    assert backend(B3).container_requests(pod) == [R(1, B3, 1, 0, 0), None, R(2, B3, 0, 100, 0)]


@pytest.mark.parametrize(
    ("res", "value"),
    [("count", "1.5"), ("mem", "500m"), ("core", "0.5"), ("mem", "lots")],
)
def test_unreadable_quantity_is_a_one_line_decode_error(res: str, value: str) -> None:
    values: dict[str, Any] = {"count": 1, res: value}
    ctr = container(B3, name="worker", **values)
    with pytest.raises(DecodeError) as exc:
        one(B3, ctr)
    text = str(exc.value)
    assert "\n" not in text
    assert "pod ns/p container worker limits[huawei.com/Ascend910B3" in text
    assert value in text


@pytest.mark.parametrize(
    ("ctr", "want"),
    [
        (container(B3, count=1), True),
        (container(B3, mem=1), True),
        (container(B3, core=1), True),
        (container("Ascend910A", count=1), False),
        ({"name": "c"}, False),
    ],
)
def test_pod_has_managed_resources(ctr: dict[str, Any], want: bool) -> None:
    pod = {"spec": {"containers": [{"name": "other"}, ctr]}}
    assert backend(B3).pod_has_managed_resources(pod) is want
