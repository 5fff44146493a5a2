"""Node register annotation: golden strings of spec §3.3 in both forms, omitempty, round-trips,
and every malformed input raising DecodeError naming the annotation."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hami.api.annotations import NODE_NVIDIA_REGISTER, NODE_NVIDIA_SCORE
from hami.api.errors import DecodeError
from hami.api.noderegister import (
    decode_node_devices,
    decode_node_scores,
    encode_node_devices,
    encode_node_scores,
)
from hami.api.types import DeviceInfo, MigPlacement, MigProfile

from ._golden import GOLDEN

V100 = "NVIDIA-Tesla V100-PCIE-32GB"
SPEC_DEVICES = [
    DeviceInfo(id="GPU-aaaa…", count=10, devmem=32768, devcore=100, type=V100, health=True),
    DeviceInfo(
        id="GPU-bbbb…", index=1, count=10, devmem=32768, devcore=100, type=V100, numa=1, health=True
    ),
]


def test_encode_matches_spec_json_exactly() -> None:
    assert encode_node_devices(SPEC_DEVICES) == GOLDEN["register_json"]


def test_decode_spec_json() -> None:
    assert decode_node_devices(GOLDEN["register_json"]) == SPEC_DEVICES


def test_decode_spec_legacy_form() -> None:
    # The legacy example carries numa 0 for both devices.
    expected = [SPEC_DEVICES[0], dataclasses.replace(SPEC_DEVICES[1], numa=0)]
    assert decode_node_devices(GOLDEN["register_legacy"]) == expected


def test_legacy_seven_field_form_defaults_index_and_mode() -> None:
    (dev,) = decode_node_devices("GPU-x,4,16384,200,NVIDIA A10,1,false:")
    assert dev == DeviceInfo(
        id="GPU-x", count=4, devmem=16384, devcore=200, type="NVIDIA A10", numa=1, health=False
    )


@pytest.mark.parametrize(
    ("device", "absent", "present"),
    [
        (DeviceInfo("G", 1, 2, 3, "NVIDIA"), ["index", "numa"], ["health"]),
        (DeviceInfo("G", 1, 2, 3, "NVIDIA", health=False), ["health"], ["mode"]),
        (DeviceInfo("G", 1, 2, 3, "NVIDIA", index=2, numa=1), [], ["index", "numa"]),
        (DeviceInfo("G", 1, 2, 3, "NVIDIA"), ["migProfiles"], []),
    ],
    ids=["zero-index-numa-omitted", "health-false-omitted", "nonzero-kept", "no-mig-profiles"],
)
def test_omitempty_rules(device: DeviceInfo, absent: list[str], present: list[str]) -> None:
    (obj,) = json.loads(encode_node_devices([device]))
    for key in absent:
        assert key not in obj
    for key in present:
        assert key in obj


def test_health_and_mode_absent_decode_to_zero_values() -> None:
    (dev,) = decode_node_devices('[{"id":"G","count":1,"devmem":1,"devcore":100,"type":"NVIDIA"}]')
    assert dev.health is False
    assert dev.mode == ""  # Go's zero value; a mode-less GPU matches any nvidia.com/vgpu-mode


def test_mig_profiles_round_trip_and_field_order() -> None:
    dev = DeviceInfo(
        id="GPU-m",
        count=7,
        devmem=40960,
        devcore=100,
        type="NVIDIA A100-SXM4-40GB",
        mode="mig",
        health=True,
        mig_profiles=(MigProfile("1g.5gb", 4864, 15, 1, (MigPlacement(0, 1), MigPlacement(1, 1))),),
    )
    text = encode_node_devices([dev])
    assert text == (
        '[{"id":"GPU-m","count":7,"devmem":40960,"devcore":100,"type":"NVIDIA A100-SXM4-40GB",'
        '"mode":"mig","migProfiles":[{"name":"1g.5gb","memoryMB":4864,"core":15,"sliceCount":1,'
        '"placements":[{"start":0,"size":1},{"start":1,"size":1}]}],"health":true}]'
    )
    assert decode_node_devices(text) == [dev]


def test_go_html_escaping() -> None:
    text = encode_node_devices([DeviceInfo("G<&>", 1, 1, 100, "NVIDIA")])
    assert "\\u003c\\u0026\\u003e" in text
    assert decode_node_devices(text)[0].id == "G<&>"


def test_empty_array() -> None:
    assert encode_node_devices([]) == "[]"
    assert decode_node_devices("[]") == []


@pytest.mark.parametrize(
    ("value", "field_part"),
    [
        ("", NODE_NVIDIA_REGISTER),
        ("GPU-a,10,1,100,NVIDIA,0,true", NODE_NVIDIA_REGISTER),
        ("[", NODE_NVIDIA_REGISTER),
        ("{}", NODE_NVIDIA_REGISTER),
        ("[1]", f"{NODE_NVIDIA_REGISTER}[0]"),
        ('[{"count":1}]', f"{NODE_NVIDIA_REGISTER}[0].id"),
        ('[{"id":"G","count":"ten"}]', f"{NODE_NVIDIA_REGISTER}[0].count"),
        ('[{"id":"G","devmem":1.5}]', f"{NODE_NVIDIA_REGISTER}[0].devmem"),
        ('[{"id":"G","health":"yes"}]', f"{NODE_NVIDIA_REGISTER}[0].health"),
        ('[{"id":"G","type":7}]', f"{NODE_NVIDIA_REGISTER}[0].type"),
        ('[{"id":"G","migProfiles":{}}]', f"{NODE_NVIDIA_REGISTER}[0].migProfiles"),
        ('[{"id":"G","migProfiles":[{"name":"x","core":"a"}]}]', "migProfiles[0].core"),
        ("GPU-a,10,1,100,NVIDIA,0:", f"{NODE_NVIDIA_REGISTER}[0]"),
        ("GPU-a,x,1,100,NVIDIA,0,true:", f"{NODE_NVIDIA_REGISTER}[0].count"),
        ("GPU-a,10,1,100,NVIDIA,0,maybe:", f"{NODE_NVIDIA_REGISTER}[0].health"),
        ("GPU-a,10,1,100,NVIDIA,0,true,z,hami-core:", f"{NODE_NVIDIA_REGISTER}[0].index"),
        (",10,1,100,NVIDIA,0,true:", f"{NODE_NVIDIA_REGISTER}[0].id"),
    ],
    ids=[
        "empty",
        "no-colon",
        "truncated-json",
        "json-object",
        "json-non-object-item",
        "json-missing-id",
        "json-string-int",
        "json-float-int",
        "json-string-bool",
        "json-int-type",
        "json-mig-not-list",
        "json-mig-bad-core",
        "legacy-six-fields",
        "legacy-bad-count",
        "legacy-bad-health",
        "legacy-bad-index",
        "legacy-empty-id",
    ],
)
def test_malformed_raises_decode_error_naming_field(value: str, field_part: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_node_devices(value)
    assert field_part in info.value.field
    assert NODE_NVIDIA_REGISTER in str(info.value)


_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=",:"), min_size=1
)
_devices = st.lists(
    st.builds(
        DeviceInfo,
        id=_text,
        count=st.integers(0, 2**31 - 1),  # Go int32
        devmem=st.integers(0, 2**31 - 1),
        devcore=st.integers(0, 10_000),
        type=st.text(),
        index=st.integers(0, 64),
        numa=st.integers(0, 8),
        mode=st.sampled_from(["hami-core", "mig", "mps"]),
        health=st.booleans(),
    ),
    max_size=8,
)


@settings(deadline=None)
@given(_devices)
def test_json_round_trip(devices: list[DeviceInfo]) -> None:
    assert decode_node_devices(encode_node_devices(devices)) == devices


@settings(deadline=None)
@given(_devices)
def test_json_encoding_is_stable(devices: list[DeviceInfo]) -> None:
    text = encode_node_devices(devices)
    assert encode_node_devices(decode_node_devices(text)) == text


def test_scores_round_trip_and_sorted_keys() -> None:
    scores = {"GPU-a": {"GPU-c": 10, "GPU-b": 20}, "GPU-b": {"GPU-a": 20}}
    text = encode_node_scores(scores)
    assert text == (
        '[{"uuid":"GPU-a","score":{"GPU-b":20,"GPU-c":10}},{"uuid":"GPU-b","score":{"GPU-a":20}}]'
    )
    assert decode_node_scores(text) == scores


@pytest.mark.parametrize(
    "value",
    ["", "{}", '[{"uuid":"a","score":[]}]', '[{"uuid":"a","score":{"b":"x"}}]', '[{"uuid":1}]'],
    ids=["empty", "object", "score-list", "score-string", "uuid-int"],
)
def test_scores_malformed(value: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_node_scores(value)
    assert NODE_NVIDIA_SCORE in info.value.field


def test_remembered_devices_come_back_as_a_fresh_list() -> None:
    value = json.dumps([{"id": "GPU-a", "count": 10, "devmem": 1000, "devcore": 100}])
    first = decode_node_devices(value)
    first.append(first[0])  # the caller's list is its own
    again = decode_node_devices(value)
    assert len(again) == 1 and again is not first
    with pytest.raises(DecodeError):
        decode_node_devices("[{oops")
