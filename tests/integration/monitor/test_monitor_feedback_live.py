"""The feedback loop against real tenants on the fake GPU: uncapped alone, capped under contention.

Two pods with a 30 % core cap and the ``default`` policy share the fake GPU. The fake driver
credits kernel time per process, so each tenant reports the share of the GPU it got every 0.5 s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hami.monitor import region
from tests.integration.monitor.harness import Node, build_tenant, gpu_node
from tests.integration.stack import wait_for


@pytest.fixture(scope="module")
def tenant_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tenant(tmp_path_factory.mktemp("tenant"))


@pytest.fixture
def node(tmp_path: Path, tenant_exe: Path) -> Iterator[Node]:
    with gpu_node(tmp_path, tenant_exe) as n:
        yield n


def _mean_after(t: float, values: list[tuple[float, float]]) -> float:
    picked = [v for ts, v in values if ts >= t]
    assert len(picked) >= 3, values
    return statistics.mean(picked)


def _util_since(tenant: object, wall_start: float, since_wall: float) -> list[tuple[float, float]]:
    events = tenant.events()  # type: ignore[attr-defined]
    return [(wall_start + e["t"], e["percent"]) for e in events if e.get("event") == "util"
            and wall_start + e["t"] >= since_wall]  # fmt: skip


def test_single_tenant_uncapped_then_capped_when_a_second_starts(node: Node) -> None:
    node.start_monitor(feedback="0.5s")
    pod_a = node.schedule("tenant-a", gpumem=1000, gpucores=30)
    pod_b = node.schedule("tenant-b", gpumem=1000, gpucores=30)

    a_start = time.time()
    a = node.start_tenant(pod_a, alloc_mib=100)
    # alone: the monitor clears the switch, libvgpu stops throttling
    assert wait_for(lambda: region.read(str(a.cache)).utilization_switch == 0, 10), node.log_text()
    switch_off = time.time()
    time.sleep(2.5)
    alone = _mean_after(switch_off + 0.6, _util_since(a, a_start, switch_off + 0.6))
    assert alone > 60, (alone, a.events()[-10:])  # uncapped (the fake GPU gives ~100)

    b_start = time.time()
    b = node.start_tenant(pod_b, alloc_mib=200)
    # contention: both switches on, both capped at 30 %
    assert wait_for(lambda: region.read(str(a.cache)).utilization_switch == 1, 10), node.log_text()
    assert wait_for(lambda: region.read(str(b.cache)).utilization_switch == 1, 10)
    both = time.time()
    time.sleep(3.5)
    a_capped = _mean_after(both + 1.0, _util_since(a, a_start, both + 1.0))
    b_capped = _mean_after(both + 1.0, _util_since(b, b_start, both + 1.0))
    assert 10 < a_capped < 50, (a_capped, a.events()[-8:])
    assert 10 < b_capped < 50, (b_capped, b.events()[-8:])

    # B goes away: A is alone again and runs uncapped
    b.stop()
    assert wait_for(lambda: region.read(str(a.cache)).utilization_switch == 0, 10), node.log_text()
    assert "Traceback" not in node.log_text()


def test_higher_priority_tenant_blocks_a_lower_one(node: Node) -> None:
    node.start_monitor(feedback="0.5s")
    low_pod = node.schedule("low", gpumem=1000, gpucores=30)
    high_pod = node.schedule("high", gpumem=1000, gpucores=30)
    t0 = time.time()
    low = node.start_tenant(low_pod, alloc_mib=10, priority=1)
    assert wait_for(lambda: region.read(str(low.cache)).utilization_switch == 0, 10)
    high = node.start_tenant(high_pod, alloc_mib=10, priority=0)
    assert wait_for(lambda: region.read(str(low.cache)).recent_kernel == -1, 10), node.log_text()
    blocked_at = time.time()
    time.sleep(2.5)
    # blocked: its launch waits inside libvgpu, so no 0.5 s interval completes
    assert _util_since(low, t0, blocked_at + 1.0) == []
    snap = region.read(str(high.cache))
    assert (snap.recent_kernel > 0, snap.utilization_switch) == (True, 0)  # high runs uncapped
    high.stop()
    assert wait_for(lambda: region.read(str(low.cache)).recent_kernel >= 0, 10), node.log_text()
    resumed = time.time()
    assert wait_for(lambda: len(_util_since(low, t0, resumed)) >= 2, 10), low.events()[-5:]
    first = _util_since(low, t0, resumed)[0][1]
    assert first < 30, first  # the interval spanning the blocked time saw few kernels
