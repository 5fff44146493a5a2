"""Compute cap: launches throttled toward CUDA_DEVICE_SM_LIMIT, measured on the fake GPU.

The fake credits FAKE_CUDA_KERNEL_US of device time per kernel to the launching process; the
program reports its share of wall time after a warm-up. Bounds are the issue's +-5 points.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.libvgpu.kit import Kit, Spawned, finish

SECONDS, WARMUP = 3, 1.5


def _share(kit: Kit, mode: str, limit: int | None, policy: str = "force") -> float:
    extra = {"GPU_CORE_UTILIZATION_POLICY": policy, "FAKE_CUDA_KERNEL_US": "100"}
    if limit is not None:
        extra["CUDA_DEVICE_SM_LIMIT"] = str(limit)
    run = kit.run("launch_loop", mode, SECONDS, WARMUP, env=kit.env(extra=extra), timeout=60)
    assert run.returncode == 0, run.describe()
    util = run.one("util")
    assert util["errors"] == 0, util
    return float(util["percent"])


@pytest.mark.parametrize("limit", [20, 50, 80], ids=lambda v: f"{v}pct")
def test_kernel_launches_track_the_limit(kit: Kit, limit: int) -> None:
    share = _share(kit, "kernel", limit)
    assert abs(share - limit) <= 5, f"limit {limit}%: measured {share:.1f}%"


@pytest.mark.parametrize("mode", ["ex", "coop", "graph", "ptsz"])
def test_every_launch_path_is_throttled(kit: Kit, mode: str) -> None:
    share = _share(kit, mode, 50)
    assert abs(share - 50) <= 5, f"{mode}: measured {share:.1f}%"


def test_disable_policy_does_not_throttle(kit: Kit) -> None:
    share = _share(kit, "kernel", 20, policy="disable")
    assert share > 40, f"policy=disable with a 20% limit still throttled to {share:.1f}%"


def _spawn_share(kit: Kit, cache: Path, limit: int) -> Spawned:
    extra = {
        "GPU_CORE_UTILIZATION_POLICY": "force",
        "CUDA_DEVICE_SM_LIMIT": str(limit),
        "FAKE_CUDA_KERNEL_US": "100",
    }
    env = kit.env(cache=cache, extra=extra)
    return kit.spawn("launch_loop", "kernel", SECONDS, WARMUP, env=env)


def _shares(runs: list[Spawned]) -> list[float]:
    done = [finish(s) for s in runs]
    for run in done:
        assert run.returncode == 0, run.describe()
    return [float(run.one("util")["percent"]) for run in done]


def test_processes_of_one_container_share_its_limit(kit: Kit) -> None:
    cache = kit.tmp / "one.cache"
    shares = _shares([_spawn_share(kit, cache, 30) for _ in range(2)])
    assert abs(sum(shares) - 30) <= 5, f"two processes under one 30% cap ran {shares}"


def test_two_containers_with_different_limits_separate(kit: Kit) -> None:
    low, high = _shares(
        [
            _spawn_share(kit, kit.tmp / "low.cache", 20),
            _spawn_share(kit, kit.tmp / "high.cache", 60),
        ]
    )
    assert abs(low - 20) <= 5, (low, high)
    assert abs(high - 60) <= 5, (low, high)
