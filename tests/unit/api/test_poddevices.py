"""Pod allocation annotation: golden strings of spec §3.4, empty blocks kept, ``;;``, popping
containers in order for the device plugin, round-trips and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hami.api.annotations import DEVICES_ALLOCATED, DEVICES_TO_ALLOCATE
from hami.api.errors import DecodeError
from hami.api.poddevices import (
    decode_pod_devices,
    encode_pod_devices,
    has_pending,
    pop_next_container,
)
from hami.api.types import ContainerDevice, PodSingleDevice

from ._golden import GOLDEN


def _d(uuid: str, mem: int, cores: int, typ: str = "NVIDIA") -> ContainerDevice:
    return ContainerDevice(uuid=uuid, type=typ, usedmem=mem, usedcores=cores)


CASES: list[tuple[str, PodSingleDevice]] = [
    ("pod_two_app_containers", ((_d("GPU-0fc3…", 3000, 0),), (_d("GPU-0fc3…", 5000, 0),))),
    ("pod_init_then_two_gpus", ((), (_d("GPU-a…", 4000, 30), _d("GPU-b…", 4000, 30)))),
    ("pod_all_served", ((), ())),
]


@pytest.mark.parametrize(("key", "devs"), CASES, ids=[c[0] for c in CASES])
def test_golden_encode(key: str, devs: PodSingleDevice) -> None:
    assert encode_pod_devices(devs) == GOLDEN[key]


@pytest.mark.parametrize(("key", "devs"), CASES, ids=[c[0] for c in CASES])
def test_golden_decode(key: str, devs: PodSingleDevice) -> None:
    assert decode_pod_devices(GOLDEN[key]) == devs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        (";", ((),)),
        ("GPU-a,NVIDIA,1,2:", ((_d("GPU-a", 1, 2),),)),
        ("GPU-a,NVIDIA,1,2,extra:;", ((_d("GPU-a", 1, 2),),)),
        ("GPU-a,NVIDIA,1,2:;;;", ((_d("GPU-a", 1, 2),), (), ())),
    ],
    ids=[
        "empty",
        "one-empty-block",
        "missing-terminator",
        "extra-fields-ignored",
        "trailing-empty",
    ],
)
def test_decode_edge_cases(value: str, expected: PodSingleDevice) -> None:
    assert decode_pod_devices(value) == expected


@pytest.mark.parametrize(
    "value",
    ["GPU-a,NVIDIA,1:;", "GPU-a,NVIDIA,x,0:;", "GPU-a,NVIDIA,1,2.5:;"],
    ids=["three-fields", "bad-mem", "bad-cores"],
)
def test_malformed_raises_decode_error(value: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_pod_devices(value)
    assert info.value.field == DEVICES_TO_ALLOCATE


def test_field_name_is_configurable() -> None:
    with pytest.raises(DecodeError) as info:
        decode_pod_devices("x,y:;", DEVICES_ALLOCATED)
    assert DEVICES_ALLOCATED in str(info.value)


def test_pop_in_container_order_until_only_separators() -> None:
    value = GOLDEN["pod_init_then_two_gpus"] + "GPU-c…,NVIDIA,10,0:;"
    devs, index, value = pop_next_container(value)
    assert (index, len(devs)) == (1, 2)
    assert value == ";;GPU-c…,NVIDIA,10,0:;"
    assert has_pending(value, "NVIDIA")
    devs, index, value = pop_next_container(value)
    assert (index, devs) == (2, (_d("GPU-c…", 10, 0),))
    assert value == ";;;"
    assert not has_pending(value, "NVIDIA")
    with pytest.raises(DecodeError, match="no container is waiting"):
        pop_next_container(value)


def test_has_pending_checks_type_keyword() -> None:
    assert not has_pending("GPU-a,MLU,1,0:;", "NVIDIA")
    assert has_pending("GPU-a,MLU,1,0:;", "MLU")


_uuid = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Z", "Cc"], exclude_characters=",:;"),
    min_size=1,
)
_dev = st.builds(
    ContainerDevice,
    uuid=_uuid,
    type=st.sampled_from(["NVIDIA", "MLU", "DCU"]),
    usedmem=st.integers(0, 2**31 - 1),  # Go int32
    usedcores=st.integers(0, 100),
)
_pod = st.lists(st.lists(_dev, max_size=4).map(tuple), max_size=6).map(tuple)


@settings(deadline=None)
@given(_pod)
def test_round_trip(devs: PodSingleDevice) -> None:
    text = encode_pod_devices(devs)
    assert decode_pod_devices(text) == devs
    assert text.count(";") == len(devs)


@settings(deadline=None)
@given(_pod)
def test_popping_everything_leaves_only_separators(devs: PodSingleDevice) -> None:
    value = encode_pod_devices(devs)
    popped = []
    while any(devs_ for devs_ in decode_pod_devices(value)):
        block, index, value = pop_next_container(value)
        popped.append((index, block))
    assert value == ";" * len(devs)
    assert popped == [(i, b) for i, b in enumerate(devs) if b]
