"""Hygon per-container fit (vendors spec §0.3 + §3.4): one row per skip reason in walk order,
which reason wins when several apply, the reason text, partial picks, type and id filters."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest

from hami.api.types import ContainerDevice, ContainerRequest
from hami.device.base import DeviceUsage, FitContext, QuotaRoom, format_reasons
from hami.device.hygon.fit import Selection, fit_container, selection_from_annotations

from ._data import dcu, req

NO = Selection()


def sel(**annotations: str) -> Selection:
    keys = {"use_type": "hygon.com/use-dcutype", "nouse_type": "hygon.com/nouse-dcutype",
            "use_uuid": "hygon.com/use-gpuuuid", "nouse_uuid": "hygon.com/nouse-gpuuuid"}  # fmt: skip
    return selection_from_annotations({keys[k]: v for k, v in annotations.items()})


def reason(devs: Sequence[DeviceUsage], r: ContainerRequest, s: Selection = NO,
           ctx: FitContext | None = None) -> str:  # fmt: skip
    res = fit_container(devs, r, s, ctx or FitContext())
    assert res.devices is None
    return format_reasons(res.reasons, res.denominator or len(devs))


# In the order of vendors spec §0.3 (checks 1-5, 9-12; Hygon has no quota check).
SKIPS = [
    ("1 unhealthy", dcu(health=False), req(), NO, FitContext(), "1/1 CardNotHealth"),
    ("2 use-dcutype lists another model", dcu(), req(), sel(use_type="K100"), FitContext(), "1/1 CardTypeMismatch"),
    ("2 nouse-dcutype matches (case-insensitive)", dcu(), req(), sel(nouse_type="z100"), FitContext(), "1/1 CardTypeMismatch"),
    ("3 use-gpuuuid lists another card", dcu(), req(), sel(use_uuid="DCU-9"), FitContext(), "1/1 CardUuidMismatch"),
    ("3 nouse-gpuuuid lists this card", dcu(), req(), sel(nouse_uuid="DCU-0"), FitContext(), "1/1 CardUuidMismatch"),
    ("4 shares used up", dcu(count=2, used=2, usedcores=20), req(mem=256, cores=10), NO, FitContext(), "1/1 CardTimeSlicingExhausted"),
    ("5 mutex policy and card in use", dcu(used=1, usedmem=256, usedcores=10), req(mem=256, cores=10), NO, FitContext(mutex=True), "1/1 ExclusiveDeviceAllocateConflict"),
    ("9 memory", dcu(used=1, usedmem=16000, usedcores=10), req(mem=1024, cores=10), NO, FitContext(), "1/1 CardInsufficientMemory"),
    ("9 percentage 100 on a used card", dcu(used=1, usedmem=1, usedcores=10), req(cores=10), NO, FitContext(), "1/1 CardInsufficientMemory"),
    ("10 cores", dcu(used=1, usedmem=256, usedcores=95), req(mem=256, cores=10), NO, FitContext(), "1/1 CardInsufficientCore"),
    ("11 exclusive request on a shared card", dcu(used=1, usedmem=256), req(mem=256, cores=100), NO, FitContext(), "1/1 ExclusiveDeviceAllocateConflict"),
    ("11 cores over 100 are capped to 100 first", dcu(used=1, usedmem=256), req(mem=256, cores=101), NO, FitContext(), "1/1 ExclusiveDeviceAllocateConflict"),
    ("12 compute used up, no cores asked", dcu(used=1, usedmem=256, usedcores=100), req(mem=256, cores=0), NO, FitContext(), "1/1 CardComputeUnitsExhausted"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dev", "r", "s", "ctx", "want"), [c[1:] for c in SKIPS], ids=[c[0] for c in SKIPS]
)
def test_each_skip_reason(
    dev: DeviceUsage, r: ContainerRequest, s: Selection, ctx: FitContext, want: str
) -> None:
    assert reason([dev], r, s, ctx) == want


PRECEDENCE = [
    ("health before type", dcu(health=False), req(), sel(use_type="K100"), FitContext(), "1/1 CardNotHealth"),
    ("type before uuid", dcu(), req(), sel(use_type="K100", use_uuid="DCU-9"), FitContext(), "1/1 CardTypeMismatch"),
    ("uuid before shares", dcu(count=1, used=1), req(), sel(nouse_uuid="DCU-0"), FitContext(), "1/1 CardUuidMismatch"),
    ("shares before mutex", dcu(count=1, used=1), req(), NO, FitContext(mutex=True), "1/1 CardTimeSlicingExhausted"),
    ("mutex before memory", dcu(used=1, usedmem=16384), req(mem=1), NO, FitContext(mutex=True), "1/1 ExclusiveDeviceAllocateConflict"),
    ("memory before cores", dcu(usedmem=16384, usedcores=100), req(mem=256, cores=10), NO, FitContext(), "1/1 CardInsufficientMemory"),
    ("cores before exclusive", dcu(used=1, usedcores=50), req(mem=256, cores=100), NO, FitContext(), "1/1 CardInsufficientCore"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dev", "r", "s", "ctx", "want"), [c[1:] for c in PRECEDENCE], ids=[c[0] for c in PRECEDENCE]
)
def test_earliest_reason_wins(
    dev: DeviceUsage, r: ContainerRequest, s: Selection, ctx: FitContext, want: str
) -> None:
    assert reason([dev], r, s, ctx) == want


def test_reason_text_over_all_cards_sorted() -> None:
    devs = [dcu(0, usedmem=16384)] + [dcu(i, used=1, usedmem=256) for i in (1, 2, 3)]
    assert (
        reason(devs, req(mem=256, cores=100))
        == "1/4 CardInsufficientMemory, 3/4 ExclusiveDeviceAllocateConflict"
    )


def test_some_cards_taken_but_not_enough() -> None:
    devs = [dcu(0), dcu(1, type="DCU-K100"), dcu(2)]
    got = reason(devs, req(nums=3, mem=256, cores=10), sel(nouse_type="K100"))
    assert got == "2/3 AllocatedCardsInsufficientRequest, 1/3 CardTypeMismatch"


def test_takes_the_first_cards_in_try_order() -> None:
    devs = [dcu(2), dcu(0, count=1, used=1), dcu(1), dcu(3)]
    res = fit_container(devs, req(nums=2, mem=2048, cores=25), NO, FitContext())
    assert res.devices == (
        ContainerDevice("DCU-2", "DCU", 2048, 25),
        ContainerDevice("DCU-1", "DCU", 2048, 25),
    )
    assert dict(res.reasons) == {"CardTimeSlicingExhausted": 1}


def test_whole_card_default_takes_all_memory() -> None:
    res = fit_container([dcu()], req(), NO, FitContext())
    assert res.devices == (ContainerDevice("DCU-0", "DCU", 16384, 100),)


@pytest.mark.parametrize(
    ("selection", "picked"),
    [
        (sel(use_type="k100"), ["DCU-1"]),
        (sel(use_type="Z100L, K100"), ["DCU-1", "DCU-2"]),
        (sel(nouse_type="Z100"), ["DCU-1"]),
        (sel(use_type="DCU", nouse_type="Z100L"), ["DCU-0", "DCU-1"]),
        (sel(use_uuid="DCU-2,DCU-0"), ["DCU-0", "DCU-2"]),
        (sel(nouse_uuid=" DCU-0 "), ["DCU-1", "DCU-2"]),
        (sel(use_type="", nouse_uuid=""), ["DCU-0", "DCU-1", "DCU-2"]),
    ],
)
def test_type_and_id_filters(selection: Selection, picked: list[str]) -> None:
    devs = [dcu(0, type="DCU-Z100"), dcu(1, type="DCU-K100"), dcu(2, type="DCU-Z100L")]
    fitting = [
        d.id for d in devs if fit_container([d], req(mem=1), selection, FitContext()).devices
    ]
    assert fitting == picked


def test_quota_is_not_checked() -> None:
    room = QuotaRoom(mem=0, cores=0)
    res = fit_container([dcu()], req(mem=1024, cores=10), NO, FitContext(quota=room))
    assert res.devices is not None
    assert (room.mem, room.cores) == (0, 0)


def test_fit_does_not_modify_devices() -> None:
    devs = [dcu(0, used=1, usedmem=256, usedcores=10), dcu(1)]
    before = copy.deepcopy(devs)
    fit_container(devs, req(nums=2, mem=256, cores=10), NO, FitContext())
    assert devs == before
