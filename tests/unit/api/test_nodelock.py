"""Node lock value (spec §1.4): ``RFC3339,ns,name`` and the legacy bare time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hami.api.annotations import NODE_LOCK
from hami.api.errors import DecodeError
from hami.api.nodelock import (
    NodeLock,
    bare_lock_held,
    format_lock,
    is_expired,
    parse_lock,
    pending_allocation,
)

T = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T, "2026-03-04T05:06:07Z,gpu,train-0"),
        (T.replace(microsecond=999), "2026-03-04T05:06:07Z,gpu,train-0"),
        (T.replace(tzinfo=None), "2026-03-04T05:06:07Z,gpu,train-0"),
        (
            T.replace(tzinfo=timezone(timedelta(hours=8))),
            "2026-03-04T05:06:07+08:00,gpu,train-0",
        ),
        (
            T.replace(tzinfo=timezone(-timedelta(hours=3, minutes=30))),
            "2026-03-04T05:06:07-03:30,gpu,train-0",
        ),
    ],
    ids=["utc", "drops-fraction", "naive-is-utc", "east", "west-half-hour"],
)
def test_format(now: datetime, expected: str) -> None:
    assert format_lock(now, "gpu", "train-0") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-04T05:06:07Z,gpu,train-0", NodeLock(T, "gpu", "train-0")),
        ("2026-03-04T05:06:07Z", NodeLock(T)),
        ("2026-03-04T13:06:07+08:00,a,b", NodeLock(T, "a", "b")),
        ("2026-03-04T05:06:07.123456Z,a,b", NodeLock(T.replace(microsecond=123456), "a", "b")),
    ],
    ids=["current", "legacy", "offset", "nano"],
)
def test_parse(value: str, expected: NodeLock) -> None:
    assert parse_lock(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "yesterday", "2026-03-04", "2026-03-04T05:06:07", "2026-03-04T05:06:07Z,ns", "x,a,b",
     "2026-03-04T05:06:07Z,,b", "2026-03-04T05:06:07Z,a,b,c"],
    ids=["empty", "word", "date-only", "no-zone", "two-parts", "bad-time", "empty-ns", "four"],
)  # fmt: skip
def test_parse_malformed(value: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_lock(value)
    assert info.value.field == NODE_LOCK


def test_round_trip_and_owner() -> None:
    lock = parse_lock(format_lock(T, "ns", "pod"))
    assert lock.owned_by("ns", "pod")
    assert not lock.owned_by("ns", "other")
    assert not parse_lock("2026-03-04T05:06:07Z").owned_by("ns", "pod")


@pytest.mark.parametrize(
    ("age", "expired"),
    [(timedelta(minutes=4, seconds=59), False), (timedelta(minutes=5), False),
     (timedelta(minutes=5, seconds=1), True)],
    ids=["young", "exactly-timeout", "old"],
)  # fmt: skip
def test_is_expired(age: timedelta, expired: bool) -> None:
    assert is_expired(NodeLock(T), T + age) is expired
    assert is_expired(NodeLock(T), (T + age).replace(tzinfo=None)) is expired


def test_custom_timeout() -> None:
    assert is_expired(NodeLock(T), T + timedelta(seconds=31), timedelta(seconds=30))


@pytest.mark.parametrize(
    ("age", "held"),
    [(timedelta(seconds=0), True), (timedelta(minutes=1, seconds=59), True),
     (timedelta(minutes=2), False), (timedelta(hours=1), False)],
    ids=["now", "young", "exactly-2-min", "old"],
)  # fmt: skip
def test_bare_lock_held(age: timedelta, held: bool) -> None:
    value = "2026-03-04T05:06:07Z"
    assert bare_lock_held(value, T + age, "cambricon.com/dsmlu.lock") is held
    assert bare_lock_held(value, (T + age).replace(tzinfo=None), "x") is held


def test_bare_lock_garbage_names_the_annotation() -> None:
    with pytest.raises(DecodeError) as info:
        bare_lock_held("soon", T, "cambricon.com/dsmlu.lock")
    assert info.value.field == "cambricon.com/dsmlu.lock"


@pytest.mark.parametrize(
    ("annotations", "pending"),
    [
        ({}, False),
        ({"hami.io/vgpu-devices-to-allocate": ";;"}, False),
        ({"hami.io/vgpu-devices-to-allocate": "GPU-0,NVIDIA,1000,0:;"}, True),
        ({"hami.io/dcu-devices-to-allocate": "d0,DCU,1024,10:;"}, True),
        ({"hami.io/Ascend910B3-devices-to-allocate": ";npu-1,Ascend910B3,16384,0:;"}, True),
        ({"hami.io/dcu-devices-allocated": "d0,DCU,1024,10:;"}, False),
        ({"example.com/x-devices-to-allocate": "d0,X,1,1:;"}, False),
    ],
    ids=["none", "emptied", "nvidia", "dcu", "ascend-second-container", "allocated-only",
         "foreign-prefix"],
)  # fmt: skip
def test_pending_allocation_of_any_vendor(annotations: dict[str, str], pending: bool) -> None:
    assert pending_allocation(annotations) is pending
