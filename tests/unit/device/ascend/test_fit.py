"""Per-container fit (vendors spec §5.4): one row per skip reason of the standard walk, the
hami-core node gate and 100-core totals, NetworkID topology, 910C module pairing, and the
golden cases of HAMi's own tests (§15)."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from hami.api.types import ContainerDevice, ContainerRequest
from hami.device.base import DeviceUsage, FitContext, FitResult, format_reasons

from ._npu import backend, npu, req


def fit(
    devices: list[DeviceUsage],
    request: ContainerRequest,
    annotations: dict[str, str] | None = None,
    *,
    cw: str | None = None,
    ctx: FitContext | None = None,
    hami_core_default: bool = False,
) -> FitResult:
    b = backend(cw or request.type)
    b.hami_vnpu_core = hami_core_default
    return b.fit_container(
        devices, request, b.pod_selection(annotations or {}), ctx or FitContext()
    )


def reason(result: FitResult, handed: int) -> str:
    assert result.devices is None
    return format_reasons(result.reasons, result.denominator or handed)


def ids(result: FitResult) -> list[str]:
    assert result.devices is not None, result.reasons
    return [d.uuid for d in result.devices]


P = "Ascend310P"  # no topology: the plain standard walk


def p(index: int = 0, **kw: Any) -> DeviceUsage:
    kw.setdefault("net", ())
    return npu(index, P, mem=21527, core=8, count=7, **kw)


# fmt: off
SKIPS: list[tuple[str, DeviceUsage, ContainerRequest, dict[str, str], FitContext, str]] = [
    ("unhealthy", p(health=False), req(cw=P), {}, FitContext(), "1/1 CardNotHealth"),
    ("use-uuid", p(), req(cw=P), {"hami.io/use-Ascend310P-uuid": "npu-9"}, FitContext(), "1/1 CardUuidMismatch"),
    ("no-use-uuid", p(), req(cw=P), {"hami.io/no-use-Ascend310P-uuid": " npu-9 , npu-0"}, FitContext(), "1/1 CardUuidMismatch"),
    ("other model's uuid key", p(), req(cw=P), {"hami.io/use-Ascend910B3-uuid": "npu-9"}, FitContext(), ""),
    ("time slicing", p(used=7), req(cw=P, mem=1), {}, FitContext(), "1/1 CardTimeSlicingExhausted"),
    ("mutex policy", p(used=1), req(cw=P, mem=1), {}, FitContext(mutex=True), "1/1 ExclusiveDeviceAllocateConflict"),
    ("memory", p(usedmem=20000), req(cw=P, mem=3072), {}, FitContext(), "1/1 CardInsufficientMemory"),
    ("whole card on a used one", p(usedmem=1), req(cw=P), {}, FitContext(), "1/1 CardInsufficientMemory"),
    ("cores over AI cores", p(), req(cw=P, mem=1, cores=9), {}, FitContext(), "1/1 CardInsufficientCore"),
    ("cores exhausted", p(used=1, usedcores=8), req(cw=P, mem=1), {}, FitContext(), "1/1 CardComputeUnitsExhausted"),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "dev", "request_", "annos", "ctx", "want"), SKIPS, ids=[s[0] for s in SKIPS]
)
def test_skip_reason(
    name: str,
    dev: DeviceUsage,
    request_: ContainerRequest,
    annos: dict[str, str],
    ctx: FitContext,
    want: str,
) -> None:
    result = fit([dev], request_, annos, ctx=ctx)
    if want:
        assert reason(result, 1) == want
    else:
        assert ids(result) == ["npu-0"]


def test_request_of_another_type_is_a_type_mismatch() -> None:
    result = fit([p(0), p(1)], req(cw="Ascend910A"), cw=P)
    assert reason(result, 2) == "2/2 CardTypeMismatch"


def test_partial_success_is_allocated_cards_insufficient() -> None:
    result = fit([p(0), p(1, health=False), p(2, usedmem=21527)], req(3, P, mem=100))
    assert (
        reason(result, 3)
        == "1/3 AllocatedCardsInsufficientRequest, 1/3 CardInsufficientMemory, 1/3 CardNotHealth"
    )


def test_walks_try_order_and_grants_memory_and_cores() -> None:
    result = fit([p(2), p(0), p(1)], req(2, P, mem=3072, cores=2))
    assert result.devices == (
        ContainerDevice("npu-2", P, 3072, 2),
        ContainerDevice("npu-0", P, 3072, 2),
    )


def test_whole_card_reserves_all_memory() -> None:
    assert fit([p(0)], req(1, P)).devices == (ContainerDevice("npu-0", P, 21527, 0),)


def test_cores_above_100_are_capped() -> None:
    result = fit([npu(0, "Ascend310P", net=(), core=100)], req(1, P, mem=1, cores=150))
    assert result.devices == (ContainerDevice("npu-0", P, 1, 100),)


def test_fit_does_not_modify_devices() -> None:
    devs = [npu(i, used=1, usedmem=10, usedcores=3) for i in range(3)]
    before = [d.copy() for d in devs]
    fit(
        devs,
        req(2, mem=100, cores=10),
        {"huawei.com/vnpu-mode": "hami-core"},
        hami_core_default=True,
    )
    fit(devs, req(2, mem=100), cw="Ascend910B3")
    assert devs == before


# --- hami-core mode -------------------------------------------------------------------------

HC = {"huawei.com/vnpu-mode": "hami-core"}


@pytest.mark.parametrize(
    ("default", "node", "fits"),
    [
        (False, None, False),
        (True, None, True),
        (True, "false", False),
        (False, "true", True),
        (True, "True", False),  # only "true" counts
        (True, "", False),
    ],
)
def test_hami_core_needs_node_support(default: bool, node: str | None, fits: bool) -> None:
    ctx = FitContext(node_annotations={} if node is None else {"hami-vnpu-core": node})
    result = fit([p(0), p(1)], req(1, P, mem=100), HC, ctx=ctx, hami_core_default=default)
    if fits:
        assert ids(result) == ["npu-0"]
    else:
        assert reason(result, 2) == "1/2 ModeNotFit"


def test_template_mode_ignores_node_support() -> None:
    ctx = FitContext(node_annotations={"hami-vnpu-core": "false"})
    assert ids(fit([p(0)], req(1, P, mem=100), {"huawei.com/vnpu-mode": "template"}, ctx=ctx)) == [
        "npu-0"
    ]


def test_hami_core_counts_100_cores_per_npu() -> None:
    on = FitContext(node_annotations={"hami-vnpu-core": "true"})
    assert (
        reason(fit([p(0)], req(1, P, mem=100, cores=30), ctx=on), 1) == "1/1 CardInsufficientCore"
    )
    got = fit([p(0, used=1, usedcores=60)], req(1, P, mem=100, cores=30), HC, ctx=on)
    assert got.devices == (ContainerDevice("npu-0", P, 100, 30),)
    full = fit([p(0, used=1, usedcores=80)], req(1, P, mem=100, cores=30), HC, ctx=on)
    assert reason(full, 1) == "1/1 CardInsufficientCore"


def test_hami_core_exclusive_and_exhausted_use_the_100_total() -> None:
    on = FitContext(node_annotations={"hami-vnpu-core": "true"})
    busy = fit([p(0, used=1, usedcores=0)], req(1, P, mem=100, cores=100), HC, ctx=on)
    assert reason(busy, 1) == "1/1 ExclusiveDeviceAllocateConflict"
    spent = fit([p(0, used=1, usedcores=100)], req(1, P, mem=100), HC, ctx=on)
    assert reason(spent, 1) == "1/1 CardComputeUnitsExhausted"
    # template mode: 100 used cores of 8 registered is not "exhausted" but over-full
    assert (
        reason(fit([p(0, used=1, usedcores=100)], req(1, P, mem=100, cores=1)), 1)
        == "1/1 CardInsufficientCore"
    )


# --- NetworkID topology (Ascend910*) --------------------------------------------------------


def nets(*ids_: Any, cw: str = "Ascend910B3") -> list[DeviceUsage]:
    return [npu(i, cw, net=n) for i, n in enumerate(ids_)]


# fmt: off
TOPOLOGY: list[tuple[tuple[Any, ...], int, list[str]]] = [
    ((0.0, 1.0, 1.0), 1, ["npu-0"]),                       # count 1: first collected
    ((0.0, 1.0, 1.0), 2, ["npu-1", "npu-2"]),              # largest group
    ((0.0, 0.0, 1.0, 1.0), 2, ["npu-0", "npu-1"]),         # tie: lower NetworkID
    ((1.0, 1.0, 0.0, 0.0), 2, ["npu-2", "npu-3"]),         # tie: lower NetworkID, not try order
    ((1.0, 0.0, 1.0, 0.0, 0.0), 3, ["npu-1", "npu-3", "npu-4"]),
    ((1.0, 0.0, 1.0, 0.0, 0.0), 4, ["npu-1", "npu-3", "npu-4", "npu-0"]),  # then the next group
    ((0.0, 1.0), 2, ["npu-0", "npu-1"]),                   # exactly count: as collected
    (("x", 1.0, "x", 1.0), 2, ["npu-1", "npu-3"]),         # non-numeric ids form the last group
    (("x", 1.0, "x", 2.0), 3, ["npu-1", "npu-3", "npu-0"]),  # even behind smaller groups
    ((0.7, 0.2, 1.0), 2, ["npu-0", "npu-1"]),              # Go truncates the float
]
# fmt: on


@pytest.mark.parametrize(("networks", "count", "want"), TOPOLOGY)
def test_topology_grouping(networks: tuple[Any, ...], count: int, want: list[str]) -> None:
    assert ids(fit(nets(*networks), req(count, mem=100))) == want


def test_topology_skips_what_does_not_fit() -> None:
    devs = nets(1.0, 1.0, 0.0, 0.0)
    assert ids(fit(devs, req(2, mem=100))) == ["npu-2", "npu-3"]
    devs[3].health = False
    assert ids(fit(devs, req(2, mem=100))) == ["npu-0", "npu-1"]


def test_topology_failure_counts_the_collected() -> None:
    devs = nets(0.0, 0.0, 1.0)
    devs[2].usedmem = 65536
    assert (
        reason(fit(devs, req(3, mem=100)), 3)
        == "2/3 AllocatedCardsInsufficientRequest, 1/3 CardInsufficientMemory"
    )


def test_one_npu_without_network_id_means_the_plain_walk() -> None:
    devs = nets(0.0, 1.0, 1.0)
    devs.append(npu(3, net=()))
    assert ids(fit(devs, req(2, mem=100))) == ["npu-0", "npu-1"]


def test_a_null_network_id_still_counts_as_present() -> None:
    assert ids(fit(nets(None, 1.0, 1.0), req(2, mem=100))) == ["npu-1", "npu-2"]


def test_310p_never_uses_topology() -> None:
    assert ids(fit(nets(0.0, 1.0, 1.0, cw=P), req(2, P, mem=100))) == ["npu-0", "npu-1"]


@pytest.mark.parametrize("cw", ["Ascend910A", "Ascend910B2", "Ascend910B4", "Ascend910B4-1"])
def test_every_910_model_uses_topology(cw: str) -> None:
    assert ids(fit(nets(0.0, 1.0, 1.0, cw=cw), req(2, cw, mem=100))) == ["npu-1", "npu-2"]


# --- 910C modules ---------------------------------------------------------------------------

C = "Ascend910C"


def c(*indices: int, net: Any = 0.0) -> list[DeviceUsage]:
    return [npu(i, C, net=net, uuid=f"dev-{i}", count=1, mem=32000) for i in indices]


def test_golden_910c_count_4_over_one_full_and_three_half_modules() -> None:
    """HAMi device_910c_pairing_test: idx 0,1,2,4,6, count 4 => not fit."""
    result = fit(c(0, 1, 2, 4, 6), req(4, C))
    assert result.devices is None
    assert result.reasons == Counter({"AllocatedCardsInsufficientRequest": 2})
    assert result.denominator == 4
    assert reason(result, 5) == "2/4 AllocatedCardsInsufficientRequest"


@pytest.mark.parametrize("net", [0.0, ()], ids=["with NetworkID", "without NetworkID"])
def test_golden_910c_count_2_over_two_half_modules(net: Any) -> None:
    """HAMi: idx 0,2 => not fit (no complete module), with or without NetworkID."""
    result = fit(c(0, 2, net=net), req(2, C))
    assert result.devices is None
    assert result.reasons == Counter({"AllocatedCardsInsufficientRequest": 0})
    assert result.denominator == 2


@pytest.mark.parametrize("net", [0.0, ()], ids=["with NetworkID", "without NetworkID"])
def test_golden_910c_count_2_over_one_full_module(net: Any) -> None:
    """HAMi: idx 0,1 => 2 devices."""
    result = fit(c(0, 1, net=net), req(2, C))
    assert result.devices == (
        ContainerDevice("dev-0", C, 32000, 0),
        ContainerDevice("dev-1", C, 32000, 0),
    )


# fmt: off
MODULES: list[tuple[tuple[int, ...], int, list[str]]] = [
    ((0, 1, 2, 3, 4, 5, 6, 7), 4, ["dev-0", "dev-1", "dev-2", "dev-3"]),  # modules by number
    ((6, 7, 0, 1), 2, ["dev-0", "dev-1"]),                                 # not by try order
    ((0, 2, 3), 2, ["dev-2", "dev-3"]),                                    # half module 0 skipped
    ((3, 2, 5, 4), 4, ["dev-3", "dev-2", "dev-5", "dev-4"]),               # try order inside a module
    ((0, 1, 2, 3, 4, 5), 6, ["dev-0", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5"]),
]
# fmt: on


@pytest.mark.parametrize(("indices", "count", "want"), MODULES)
def test_910c_takes_complete_modules(indices: tuple[int, ...], count: int, want: list[str]) -> None:
    assert ids(fit(c(*indices), req(count, C))) == want


def test_910c_odd_count_overshoots_and_fails_over_the_count() -> None:
    result = fit(c(0, 1, 2, 3), req(3, C))
    assert reason(result, 4) == "4/3 AllocatedCardsInsufficientRequest"


def test_910c_walk_reasons_are_counted_over_the_request() -> None:
    devs = c(0, 1, 2, 3)
    devs[3].health = False
    assert (
        reason(fit(devs, req(4, C)), 4)
        == "2/4 AllocatedCardsInsufficientRequest, 1/4 CardNotHealth"
    )


def test_910c_duplicate_index_is_not_a_module() -> None:
    devs = [npu(0, C, uuid="dev-a", count=1), npu(0, C, uuid="dev-b", count=1)]
    assert fit(devs, req(2, C)).devices is None


def test_910c_count_1_takes_one_npu() -> None:
    assert ids(fit(c(2, 0), req(1, C))) == ["dev-2"]
    assert ids(fit(c(2, 0, net=()), req(1, C))) == ["dev-2"]
