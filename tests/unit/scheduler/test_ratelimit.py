"""The ``--kube-qps``/``--kube-burst`` token bucket, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import math

import pytest

from hami.scheduler.ratelimit import TokenBucket, from_settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("qps", "burst", "steps", "waits"),
    [
        # (advance clock by dt, then reserve) per step -> expected wait
        pytest.param(0.0, 0, [0, 0, 0, 0], [0, 0, 0, 0], id="unlimited"),
        pytest.param(5.0, 10, [0] * 10, [0] * 10, id="burst-is-free"),
        pytest.param(5.0, 2, [0, 0, 0, 0], [0, 0, 0.2, 0.4], id="debt-queues-in-order"),
        pytest.param(2.0, 1, [0, 0.5, 0.25], [0, 0, 0.25], id="refill-rate"),
        pytest.param(4.0, 0, [0] * 5, [0, 0, 0, 0, 0.25], id="burst-zero-means-ceil-qps"),
        pytest.param(1.0, 2, [0, 0, 100, 0, 0], [0, 0, 0, 0, 1.0], id="refill-capped-at-burst"),
    ],
)
def test_reserve(qps: float, burst: int, steps: list[float], waits: list[float]) -> None:
    clock = Clock()
    bucket = TokenBucket(qps, burst, clock=clock)
    got = []
    for dt in steps:
        clock.now += dt
        got.append(bucket.reserve())
    assert got == pytest.approx(waits)


def test_try_take_never_goes_into_debt() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 1, clock=clock)
    assert bucket.try_take() is True
    assert bucket.try_take() is False
    clock.now += 0.5
    assert bucket.try_take() is False
    clock.now += 0.5
    assert bucket.try_take() is True


def test_clock_going_backwards_adds_nothing() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 1, clock=clock)
    bucket.reserve()
    clock.now -= 50
    assert bucket.reserve() == pytest.approx(1.0)


async def test_acquire_sleeps_for_the_reserved_delay() -> None:
    clock = Clock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(10.0, 1, clock=clock)
    assert await bucket.acquire(fake_sleep) == 0.0
    assert await bucket.acquire(fake_sleep) == pytest.approx(0.1)
    assert slept == [pytest.approx(0.1)]


@pytest.mark.parametrize(
    ("qps", "burst", "needle"),
    [(-1.0, 1, "kube-qps"), (math.inf, 1, "kube-qps"), (math.nan, 1, "kube-qps"),
     (1.0, -2, "kube-burst")],
    ids=["negative-qps", "inf-qps", "nan-qps", "negative-burst"],
)  # fmt: skip
def test_bad_values(qps: float, burst: int, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        TokenBucket(qps, burst)


@pytest.mark.parametrize(
    ("qps", "burst", "expected"),
    [(0.0, 0, "None"), (0.0, 50, "None"), (5.0, 10, "TokenBucket(qps=5, burst=10)")],
    ids=["default-unlimited", "burst-without-qps", "limited"],
)
def test_from_settings(qps: float, burst: int, expected: str) -> None:
    assert repr(from_settings(qps, burst)) == expected
