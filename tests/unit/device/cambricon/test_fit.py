"""Cambricon per-container fit (vendors spec §0.3 + §2.4): one row per skip reason in walk
order, which reason wins when several apply, the reason text, partial picks, quota, filters."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest

from hami.api.types import ContainerDevice, ContainerRequest
from hami.device.base import DeviceUsage, FitContext, QuotaRoom, format_reasons
from hami.device.cambricon.fit import Selection, fit_container, selection_from_annotations

from ._data import mlu, req

NO = Selection()
USE_OTHER = selection_from_annotations({"cambricon.com/use-gpuuuid": "n-cambricon-mlu-9"})
NOUSE_0 = selection_from_annotations({"cambricon.com/nouse-gpuuuid": "x, n-cambricon-mlu-0"})


def reason(devs: Sequence[DeviceUsage], r: ContainerRequest, sel: Selection = NO,
           ctx: FitContext | None = None) -> str:  # fmt: skip
    res = fit_container(devs, r, sel, ctx or FitContext())
    assert res.devices is None
    return format_reasons(res.reasons, res.denominator or len(devs))


# In the order of vendors spec §0.3 (checks 1-5, 8-12).
SKIPS = [
    ("1 unhealthy", mlu(health=False), req(), NO, FitContext(), "1/1 CardNotHealth"),
    ("2 request type is not MLU", mlu(), req(type_="MLU370"), NO, FitContext(), "1/1 CardTypeMismatch"),
    ("3 use-gpuuuid lists another card", mlu(), req(), USE_OTHER, FitContext(), "1/1 CardUuidMismatch"),
    ("3 nouse-gpuuuid lists this card", mlu(), req(), NOUSE_0, FitContext(), "1/1 CardUuidMismatch"),
    ("4 shares used up", mlu(count=2, used=2, usedcores=20), req(cores=10, mem=256), NO, FitContext(), "1/1 CardTimeSlicingExhausted"),
    ("5 mutex policy and card in use", mlu(used=1, usedmem=256, usedcores=10), req(mem=256, cores=10), NO, FitContext(mutex=True), "1/1 ExclusiveDeviceAllocateConflict"),
    ("8 quota", mlu(), req(mem=1024, cores=10), NO, FitContext(quota=QuotaRoom(mem=1000, cores=None)), "1/1 ResourceQuotaNotFit"),
    ("9 memory", mlu(usedmem=25000, used=1, usedcores=10), req(mem=1024, cores=10), NO, FitContext(), "1/1 CardInsufficientMemory"),
    ("9 percentage 100 on a used card", mlu(usedmem=1, used=1, usedcores=10), req(cores=10), NO, FitContext(), "1/1 CardInsufficientMemory"),
    ("10 cores", mlu(used=1, usedmem=256, usedcores=95), req(mem=256, cores=10), NO, FitContext(), "1/1 CardInsufficientCore"),
    ("11 exclusive request on a shared card", mlu(used=1, usedmem=256, usedcores=0), req(mem=256, cores=100), NO, FitContext(), "1/1 ExclusiveDeviceAllocateConflict"),
    ("11 cores over 100 are capped to 100 first", mlu(used=1, usedmem=256, usedcores=0), req(mem=256, cores=150), NO, FitContext(), "1/1 ExclusiveDeviceAllocateConflict"),
    ("12 compute used up, no cores asked", mlu(used=1, usedmem=256, usedcores=100), req(mem=256, cores=0), NO, FitContext(), "1/1 CardComputeUnitsExhausted"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dev", "r", "sel", "ctx", "want"), [c[1:] for c in SKIPS], ids=[c[0] for c in SKIPS]
)
def test_each_skip_reason(
    dev: DeviceUsage, r: ContainerRequest, sel: Selection, ctx: FitContext, want: str
) -> None:
    assert reason([dev], r, sel, ctx) == want


# A card failing several checks is counted under the earliest one.
PRECEDENCE = [
    ("health before type", mlu(health=False), req(type_="X"), NO, FitContext(), "1/1 CardNotHealth"),
    ("type before uuid", mlu(), req(type_="X"), USE_OTHER, FitContext(), "1/1 CardTypeMismatch"),
    ("uuid before shares", mlu(count=1, used=1), req(), USE_OTHER, FitContext(), "1/1 CardUuidMismatch"),
    ("shares before mutex", mlu(count=1, used=1), req(), NO, FitContext(mutex=True), "1/1 CardTimeSlicingExhausted"),
    ("mutex before quota", mlu(used=1), req(), NO, FitContext(mutex=True, quota=QuotaRoom(0, 0)), "1/1 ExclusiveDeviceAllocateConflict"),
    ("quota before memory", mlu(usedmem=25600), req(mem=256), NO, FitContext(quota=QuotaRoom(0, None)), "1/1 ResourceQuotaNotFit"),
    ("memory before cores", mlu(usedmem=25600, usedcores=100), req(mem=256, cores=10), NO, FitContext(), "1/1 CardInsufficientMemory"),
    ("cores before exclusive", mlu(used=1, usedcores=50), req(mem=256, cores=100), NO, FitContext(), "1/1 CardInsufficientCore"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dev", "r", "sel", "ctx", "want"), [c[1:] for c in PRECEDENCE], ids=[c[0] for c in PRECEDENCE]
)
def test_earliest_reason_wins(
    dev: DeviceUsage, r: ContainerRequest, sel: Selection, ctx: FitContext, want: str
) -> None:
    assert reason([dev], r, sel, ctx) == want


def test_reason_text_over_all_cards_sorted() -> None:
    devs = [mlu(0, usedmem=25600, used=0)] + [
        mlu(i, used=1, usedmem=256, usedcores=0) for i in (1, 2, 3)
    ]
    assert (
        reason(devs, req(mem=256, cores=100))
        == "1/4 CardInsufficientMemory, 3/4 ExclusiveDeviceAllocateConflict"
    )


def test_some_cards_taken_but_not_enough() -> None:
    devs = [mlu(0), mlu(1, health=False), mlu(2, usedmem=25600, used=1, usedcores=1)]
    got = reason(devs, req(nums=2, mem=256, cores=10))
    assert (
        got
        == "1/3 AllocatedCardsInsufficientRequest, 1/3 CardInsufficientMemory, 1/3 CardNotHealth"
    )


def test_takes_the_first_cards_in_try_order() -> None:
    devs = [mlu(2), mlu(0, health=False), mlu(1), mlu(3)]
    res = fit_container(devs, req(nums=2, mem=512, cores=30), NO, FitContext())
    assert res.devices == (
        ContainerDevice("n-cambricon-mlu-2", "MLU", 512, 30),
        ContainerDevice("n-cambricon-mlu-1", "MLU", 512, 30),
    )
    assert dict(res.reasons) == {"CardNotHealth": 1}


def test_whole_card_default_takes_all_memory_and_caps_cores() -> None:
    res = fit_container([mlu(totalmem=49152)], req(cores=250), NO, FitContext())
    assert res.devices == (ContainerDevice("n-cambricon-mlu-0", "MLU", 49152, 100),)


def test_use_list_selects_the_listed_card() -> None:
    sel = selection_from_annotations(
        {"cambricon.com/use-gpuuuid": " n-cambricon-mlu-1 ,n-cambricon-mlu-7"}
    )
    res = fit_container([mlu(0), mlu(1)], req(mem=256), sel, FitContext())
    assert res.devices is not None and [d.uuid for d in res.devices] == ["n-cambricon-mlu-1"]
    assert dict(res.reasons) == {"CardUuidMismatch": 1}


def test_mlu_type_annotations_are_not_consulted() -> None:
    sel = selection_from_annotations(
        {"cambricon.com/use-mlutype": "MLU590", "cambricon.com/nouse-mlutype": "MLU"}
    )
    assert sel == Selection()
    assert fit_container([mlu(type="anything")], req(), sel, FitContext()).devices is not None


def test_quota_counts_this_containers_earlier_picks_and_is_taken_on_success() -> None:
    room = QuotaRoom(mem=1024, cores=None)
    devs = [mlu(0), mlu(1), mlu(2)]
    res = fit_container(devs, req(nums=3, mem=512, cores=10), NO, FitContext(quota=room))
    assert res.devices is None
    assert (
        format_reasons(res.reasons, 3)
        == "2/3 AllocatedCardsInsufficientRequest, 1/3 ResourceQuotaNotFit"
    )
    assert (room.mem, room.cores) == (1024, None)
    ok = fit_container(devs, req(nums=2, mem=512, cores=10), NO, FitContext(quota=room))
    assert ok.devices is not None
    assert (room.mem, room.cores) == (0, None)


def test_core_quota() -> None:
    res = fit_container(
        [mlu()], req(mem=256, cores=60), NO, FitContext(quota=QuotaRoom(mem=None, cores=50))
    )
    assert res.devices is None and dict(res.reasons) == {"ResourceQuotaNotFit": 1}


def test_fit_does_not_modify_devices() -> None:
    devs = [mlu(0, used=1, usedmem=256, usedcores=10), mlu(1)]
    before = copy.deepcopy(devs)
    fit_container(devs, req(nums=2, mem=256, cores=10), NO, FitContext())
    assert devs == before


def test_selection_is_hashable() -> None:
    assert hash(NOUSE_0) == hash(
        selection_from_annotations({"cambricon.com/nouse-gpuuuid": "n-cambricon-mlu-0,x"})
    )
