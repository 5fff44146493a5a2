"""Fit tables for one Iluvatar chip (vendors spec §0.3 standard walk, §4.4).

Devices are listed in the engine's try order (preferred first), which is HAMi's sorted list
read from its end: HAMi's own cases are written ``reversed(hami_list)`` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hami.api.types import PERCENTAGE_UNSET, ContainerDevice, ContainerRequest
from hami.device.base import DeviceUsage, FitContext, format_reasons

from ._support import backend


def _dev(
    id: str,
    *,
    used: int = 0,
    count: int = 10,
    mem: int = 8192,
    usedmem: int = 0,
    core: int = 100,
    usedcores: int = 0,
    health: bool = True,
    type: str = "MR-V100",
) -> DeviceUsage:
    return DeviceUsage(
        id=id, index=0, type=type, numa=0, mode="hami-core", health=health, count=count,
        totalmem=mem, totalcore=core, used=used, usedmem=usedmem, usedcores=usedcores,
    )  # fmt: skip


def _req(nums: int = 1, mem: int = 0, cores: int = 0, *, type: str = "MR-V100") -> ContainerRequest:
    pct = 100 if mem == 0 else 0
    return ContainerRequest(
        nums=nums, type=type, memreq=mem, mem_percentage_req=pct, coresreq=cores
    )


@dataclass
class Case:
    name: str
    devices: list[DeviceUsage]
    req: ContainerRequest
    picked: list[tuple[str, int, int]] | None
    """(uuid, usedmem, usedcores) per device on success; None on failure."""
    reason: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    mutex: bool = False


_HAMI_TWO = [_dev("dev-0", count=100, mem=128), _dev("dev-1", count=100, mem=128)]

CASES = [
    # HAMi's own Fit table (pkg/device/iluvatar/device_test.go), try order = reversed list.
    Case("hami-fit-success-takes-last", list(reversed(_HAMI_TWO)), _req(1, 64, 50),
         [("dev-1", 64, 50)]),
    Case("hami-memory-not-enough", [_dev("dev-0", count=100, mem=128)], _req(1, 512, 50), None,
         "1/1 CardInsufficientMemory"),
    Case("hami-core-not-enough-memory-checked-first",
         [_dev("dev-0", count=100, mem=128, usedcores=100)], _req(1, 512, 50), None,
         "1/1 CardInsufficientMemory"),
    Case("hami-type-mismatch", [_dev("dev-0")], _req(1, 512, 50, type="OtherType"), None,
         "1/1 CardTypeMismatch"),
    Case("hami-mutex-rejects-used-device", [_dev("dev-0", used=1, count=2, mem=128)],
         _req(1, 64, 50), None, "1/1 ExclusiveDeviceAllocateConflict", mutex=True),
    # The rest of the walk.
    Case("device-type-is-not-compared", [_dev("d0", type="BI-V150")], _req(1, 1024),
         [("d0", 1024, 0)]),
    Case("whole-memory-by-percentage", [_dev("d0", usedmem=1)], _req(1), None,
         "1/1 CardInsufficientMemory"),
    Case("percentage-of-each-card", [_dev("d0", mem=16384), _dev("d1", mem=8192)], _req(2),
         [("d0", 16384, 0), ("d1", 8192, 0)]),
    Case("unhealthy-skipped", [_dev("d0", health=False), _dev("d1")], _req(1, 256),
         [("d1", 256, 0)]),
    Case("time-slicing-exhausted", [_dev("d0", used=10), _dev("d1", used=3)], _req(1, 256),
         [("d1", 256, 0)]),
    Case("cores-over-100-capped", [_dev("d0"), _dev("d1")], _req(2, 256, 200),
         [("d0", 256, 100), ("d1", 256, 100)]),
    Case("exclusive-card-needs-an-unused-card", [_dev("d0", used=1, usedmem=256)],
         _req(1, 256, 100), None, "1/1 ExclusiveDeviceAllocateConflict"),
    Case("insufficient-core", [_dev("d0", used=1, usedcores=60)], _req(1, 256, 50), None,
         "1/1 CardInsufficientCore"),
    Case("compute-exhausted-refuses-zero-core-request", [_dev("d0", used=2, usedcores=100)],
         _req(1, 256, 0), None, "1/1 CardComputeUnitsExhausted"),
    Case("too-few-cards", [_dev("d0"), _dev("d1", usedmem=8000), _dev("d2", health=False)],
         _req(2, 1024), None,
         "1/3 AllocatedCardsInsufficientRequest, 1/3 CardInsufficientMemory, 1/3 CardNotHealth"),
    Case("use-uuid", [_dev("d0"), _dev("d1")], _req(1, 256), [("d1", 256, 0)],
         annotations={"hami.io/use-MR-V100-uuid": " d1 ,d9"}),
    Case("no-use-uuid", [_dev("d0"), _dev("d1")], _req(1, 256), [("d1", 256, 0)],
         annotations={"hami.io/no-use-MR-V100-uuid": "d0"}),
    Case("other-chip-uuid-keys-ignored", [_dev("d0")], _req(1, 256), [("d0", 256, 0)],
         annotations={"hami.io/use-MR-V50-uuid": "d9", "hami.io/no-use-MR-V100-uuid": ""}),
    Case("uuid-mismatch-reason", [_dev("d0"), _dev("d1")], _req(1, 256), None,
         "2/2 CardUuidMismatch", annotations={"hami.io/use-MR-V100-uuid": "d7"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fit_table(case: Case) -> None:
    b = backend()
    before = [d.copy() for d in case.devices]
    selection = b.pod_selection(case.annotations)
    result = b.fit_container(case.devices, case.req, selection, FitContext(mutex=case.mutex))
    if case.picked is None:
        assert result.devices is None
        assert format_reasons(result.reasons, len(case.devices)) == case.reason
    else:
        assert result.devices == tuple(
            ContainerDevice(uuid, "MR-V100", mem, cores) for uuid, mem, cores in case.picked
        )
    assert [_usage(d) for d in case.devices] == [_usage(d) for d in before]


def _usage(d: DeviceUsage) -> tuple[object, ...]:
    return (d.id, d.used, d.usedmem, d.usedcores)


def test_selection_is_hashable_and_per_chip() -> None:
    annotations = {"hami.io/use-BI-V150-uuid": "a,b"}
    assert hash(backend("BI-V150").pod_selection(annotations)) is not None
    assert backend("BI-V150").pod_selection(annotations) != backend().pod_selection(annotations)


def test_percentage_unset_means_no_memory() -> None:
    req = ContainerRequest(nums=1, type="MR-V100", memreq=0, mem_percentage_req=PERCENTAGE_UNSET)
    result = backend().fit_container([_dev("d0", usedmem=8192)], req, backend().pod_selection({}),
                                     FitContext())  # fmt: skip
    assert result.devices == (ContainerDevice("d0", "MR-V100", 0, 0),)


def test_score_is_zero_and_no_quota_in_fit() -> None:
    b = backend()
    assert not b.scores_nodes
    assert not b.fit_checks_quota
    picked = ((ContainerDevice("d0", "MR-V100", 256, 0),),)
    assert b.score_node([_dev("d0")], picked) == 0.0
