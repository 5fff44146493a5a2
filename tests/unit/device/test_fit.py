"""Per-container NVIDIA fit: one row per skip reason of spec §4.3, plus resolution rules.

Each case builds one or two GPUs, asks for a container request under a selection and checks
either the granted devices or the exact HAMi reason text.
"""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from hami.api.types import (
    PERCENTAGE_UNSET,
    ContainerDevice,
    ContainerRequest,
    MigPlacement,
    MigProfile,
)
from hami.device.nvidia.fit import (
    DeviceUsage,
    MigPick,
    QuotaRoom,
    Selection,
    add_usage,
    fit_container,
    format_reasons,
    pick_mig,
    resolve_memreq,
    selection_from_annotations,
)


def gpu(uuid: str = "GPU-a", **kw: object) -> DeviceUsage:
    base = DeviceUsage(
        id=uuid, index=0, type="NVIDIA A100-SXM4-40GB", numa=0, mode="hami-core", health=True,
        count=10, totalmem=40960, totalcore=100,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def req(
    nums: int = 1, mem: int = 1000, pct: int = PERCENTAGE_UNSET, cores: int = 0
) -> ContainerRequest:
    return ContainerRequest(
        nums=nums, type="NVIDIA", memreq=mem, mem_percentage_req=pct, coresreq=cores
    )


SKIPS = [
    ("unhealthy", gpu(health=False), req(), Selection(), frozenset(), "1/1 CardNotHealth"),
    ("cordoned", gpu(), req(), Selection(), frozenset({"GPU-a"}), "1/1 CardCordoned"),
    ("use-type", gpu(), req(), Selection(use_types=("v100",)), frozenset(), "1/1 CardTypeMismatch"),
    ("nouse-type", gpu(), req(), Selection(nouse_types=("a100",)), frozenset(), "1/1 CardTypeMismatch"),
    ("vgpu-mode", gpu(), req(), Selection(vgpu_mode="mig"), frozenset(), "1/1 CardTypeMismatch"),
    ("wrong-vendor", gpu(type="MLU-370"), req(), Selection(), frozenset(), "1/1 CardTypeMismatch"),
    ("use-uuid", gpu(), req(), Selection(use_uuids=frozenset({"GPU-b"})), frozenset(), "1/1 CardUuidMismatch"),
    ("nouse-uuid", gpu(), req(), Selection(nouse_uuids=frozenset({"GPU-a"})), frozenset(), "1/1 CardUuidMismatch"),
    ("slots", gpu(used=10), req(), Selection(), frozenset(), "1/1 CardTimeSlicingExhausted"),
    ("mutex", gpu(used=1), req(), Selection(mutex=True), frozenset(), "1/1 ExclusiveDeviceAllocateConflict"),
    ("memory", gpu(usedmem=40000), req(mem=1000), Selection(), frozenset(), "1/1 CardInsufficientMemory"),
    ("pct-memory", gpu(usedmem=30000), req(mem=0, pct=50), Selection(), frozenset(), "1/1 CardInsufficientMemory"),
    ("cores", gpu(usedcores=80, used=1), req(cores=30), Selection(), frozenset(), "1/1 CardInsufficientCore"),
    ("exclusive", gpu(used=1), req(cores=100), Selection(), frozenset(), "1/1 ExclusiveDeviceAllocateConflict"),
    ("core-booked", gpu(used=1, usedcores=100), req(cores=0), Selection(), frozenset(), "1/1 CardComputeUnitsExhausted"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dev", "request_", "sel", "cordoned", "reason"),
    [c[1:] for c in SKIPS],
    ids=[c[0] for c in SKIPS],
)
def test_each_skip_reason(
    dev: DeviceUsage,
    request_: ContainerRequest,
    sel: Selection,
    cordoned: frozenset[str],
    reason: str,
) -> None:
    res = fit_container([dev], request_, sel, cordoned=cordoned)
    assert res.devices is None
    assert format_reasons(res.reasons, 1) == reason


ANY = Selection()
GRANTS = [
    ("mib", gpu(), req(mem=3000, cores=20), ANY, ContainerDevice("GPU-a", "NVIDIA", 3000, 20)),
    ("pct", gpu(), req(mem=0, pct=25), ANY, ContainerDevice("GPU-a", "NVIDIA", 10240, 0)),
    ("pct-floor", gpu(totalmem=15), req(mem=0, pct=50), ANY, ContainerDevice("GPU-a", "NVIDIA", 7, 0)),
    ("cores-only", gpu(), req(mem=0, cores=30), ANY, ContainerDevice("GPU-a", "NVIDIA", 0, 30)),
    ("exclusive-idle", gpu(), req(mem=0, pct=100, cores=100), ANY, ContainerDevice("GPU-a", "NVIDIA", 40960, 100)),
    ("mem-exact", gpu(usedmem=39960, used=3), req(mem=1000), ANY, ContainerDevice("GPU-a", "NVIDIA", 1000, 0)),
    ("type-substring", gpu(), req(), Selection(use_types=("a100",)), ContainerDevice("GPU-a", "NVIDIA", 1000, 0)),
    ("uuid-pinned", gpu(), req(), Selection(use_uuids=frozenset({"GPU-a"})), ContainerDevice("GPU-a", "NVIDIA", 1000, 0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dev", "request_", "sel", "granted"), [c[1:] for c in GRANTS], ids=[c[0] for c in GRANTS]
)
def test_grants(
    dev: DeviceUsage, request_: ContainerRequest, sel: Selection, granted: ContainerDevice
) -> None:
    res = fit_container([dev], request_, sel)
    assert res.devices == (granted,)
    assert not res.reasons


def test_walks_in_given_order_and_stops_at_nums() -> None:
    devs = [gpu("GPU-1"), gpu("GPU-2"), gpu("GPU-3")]
    res = fit_container(devs, req(nums=2), Selection())
    assert [d.uuid for d in res.devices or ()] == ["GPU-1", "GPU-2"]


def test_multi_gpu_never_two_slots_of_one_gpu() -> None:
    res = fit_container([gpu("GPU-1")], req(nums=2), Selection())
    assert res.devices is None
    assert format_reasons(res.reasons, 1) == "1/1 AllocatedCardsInsufficientRequest"


def test_mixed_reasons_are_counted_and_sorted() -> None:
    devs = [
        gpu("GPU-1", usedmem=40960), gpu("GPU-2", usedmem=40960),
        gpu("GPU-3", type="NVIDIA-Tesla T4"), gpu("GPU-4", type="NVIDIA-Tesla T4"),
    ]  # fmt: skip
    res = fit_container(devs, req(), Selection(use_types=("a100",)))
    assert format_reasons(res.reasons, 4) == "2/4 CardInsufficientMemory, 2/4 CardTypeMismatch"


def test_numa_bind_restarts_on_new_numa_node() -> None:
    devs = [gpu("GPU-1", numa=0), gpu("GPU-2", numa=1), gpu("GPU-3", numa=1)]
    res = fit_container(devs, req(nums=2), Selection(numa_bind=True))
    assert [d.uuid for d in res.devices or ()] == ["GPU-2", "GPU-3"]


def test_numa_bind_fails_when_no_numa_node_has_enough() -> None:
    devs = [gpu("GPU-1", numa=0), gpu("GPU-2", numa=1)]
    res = fit_container(devs, req(nums=2), Selection(numa_bind=True))
    assert res.devices is None
    assert res.reasons["NumaNotFit"] == 1


def test_quota_room_blocks_and_is_consumed() -> None:
    room = QuotaRoom(2500, None)
    res = fit_container(
        [gpu("GPU-1"), gpu("GPU-2")], req(nums=2, mem=1000), Selection(), quota=room
    )
    assert res.devices is not None and room.mem == 500
    res = fit_container([gpu("GPU-1")], req(mem=1000), Selection(), quota=room)
    assert res.devices is None and format_reasons(res.reasons, 1) == "1/1 ResourceQuotaNotFit"


def test_explicit_zero_quota_blocks() -> None:
    res = fit_container([gpu()], req(mem=1), Selection(), quota=QuotaRoom(0, None))
    assert res.devices is None


def test_chooser_receives_all_fitting_devices() -> None:
    seen: list[int] = []

    def choose(devs: list[DeviceUsage], n: int) -> list[DeviceUsage]:
        seen.append(len(devs))
        return devs[-n:]

    res = fit_container(
        [gpu("GPU-1"), gpu("GPU-2"), gpu("GPU-3")], req(), Selection(), choose=choose
    )
    assert seen == [3] and [d.uuid for d in res.devices or ()] == ["GPU-3"]


def test_add_usage_accumulates() -> None:
    dev = gpu()
    add_usage(dev, ContainerDevice("GPU-a", "NVIDIA", 1000, 20))
    add_usage(dev, ContainerDevice("GPU-a", "NVIDIA", 500, 5))
    assert (dev.used, dev.usedmem, dev.usedcores) == (2, 1500, 25)


def test_copy_is_independent() -> None:
    dev = gpu(mig_used=[(0, 1)])
    other = dev.copy()
    other.used += 1
    other.mig_used.append((1, 1))
    assert dev.used == 0 and dev.mig_used == [(0, 1)]


PROFILES = (
    MigProfile("1g.5gb", 4864, 14, 1, tuple(MigPlacement(i, 1) for i in range(7))),
    MigProfile("3g.20gb", 19968, 42, 3, (MigPlacement(0, 4), MigPlacement(4, 4))),
    MigProfile("7g.40gb", 40192, 100, 7, (MigPlacement(0, 8),)),
)


def test_mig_picks_smallest_profile_with_free_placement() -> None:
    dev = gpu(mode="mig", count=7, mig_profiles=PROFILES)
    res = fit_container([dev], req(mem=10000), Selection())
    assert res.devices == (ContainerDevice("GPU-a", "NVIDIA", 19968, 42),)
    assert res.mig[0] is not None and (res.mig[0].profile, res.mig[0].start) == ("3g.20gb", 0)
    add_usage(dev, res.devices[0], res.mig[0])
    assert pick_mig(dev, 10000) == (PROFILES[1], 4, 4)
    found = pick_mig(dev, 10000)
    assert found is not None
    add_usage(dev, res.devices[0], MigPick(dev.id, found[0].name, found[1], found[2]))
    again = fit_container([dev], req(mem=10000), Selection())
    assert (
        again.devices is None
        and format_reasons(again.reasons, 1) == "1/1 CardMigTopologyInfeasible"
    )


def test_resolve_memreq_prefers_explicit_mib() -> None:
    assert resolve_memreq(req(mem=10, pct=50), gpu()) == 10
    assert resolve_memreq(req(mem=0, pct=PERCENTAGE_UNSET), gpu()) == 0


ANNOS = [
    ("empty", {}, Selection()),
    ("types", {"nvidia.com/use-gputype": "A100, V100", "nvidia.com/nouse-gputype": "T4"},
     Selection(use_types=("a100", "v100"), nouse_types=("t4",))),
    ("uuids", {"nvidia.com/use-gpuuuid": " GPU-a ,GPU-b", "nvidia.com/nouse-gpuuuid": ""},
     Selection(use_uuids=frozenset({"GPU-a", "GPU-b"}))),
    ("numa", {"nvidia.com/numa-bind": "True"}, Selection(numa_bind=True)),
    ("numa-1", {"nvidia.com/numa-bind": "1"}, Selection(numa_bind=True)),
    ("numa-t", {"nvidia.com/numa-bind": "t"}, Selection(numa_bind=True)),
    ("numa-TRUE", {"nvidia.com/numa-bind": "TRUE"}, Selection(numa_bind=True)),
    ("numa-tRUE-is-not-go", {"nvidia.com/numa-bind": "tRUE"}, Selection()),
    ("numa-yes-is-not-go", {"nvidia.com/numa-bind": "yes"}, Selection()),
    ("mode", {"nvidia.com/vgpu-mode": "hami-core"}, Selection(vgpu_mode="hami-core")),
]  # fmt: skip


@pytest.mark.parametrize(("annos", "expected"), [c[1:] for c in ANNOS], ids=[c[0] for c in ANNOS])
def test_selection_from_annotations(annos: dict[str, str], expected: Selection) -> None:
    assert selection_from_annotations(annos) == expected


def test_format_reasons_renders_every_stored_reason() -> None:
    assert format_reasons(Counter({"B": 1, "A": 2}), 3) == "2/3 A, 1/3 B"
    # HAMi's 910C pairing stores a zero AllocatedCardsInsufficientRequest and renders it
    assert format_reasons(Counter({"A": 0}), 2) == "0/2 A"


def test_topology_chooser_sees_every_device_the_quota_allows_alone() -> None:
    seen: list[int] = []

    def choose(devs: list[DeviceUsage], n: int) -> list[DeviceUsage]:
        seen.append(len(devs))
        return devs[-n:]

    room = QuotaRoom(2000, None)
    devs = [gpu("GPU-1"), gpu("GPU-2"), gpu("GPU-3")]
    res = fit_container(devs, req(nums=2, mem=1000), Selection(), quota=room, choose=choose)
    assert seen == [3] and [d.uuid for d in res.devices or ()] == ["GPU-2", "GPU-3"]
    assert room.mem == 0
    res = fit_container(
        devs, req(nums=2, mem=1000), Selection(), quota=QuotaRoom(1500, None), choose=choose
    )
    assert res.devices is None and res.reasons["ResourceQuotaNotFit"] == 2
