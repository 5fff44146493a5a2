"""Register annotations (vendors spec §5.3) decode to the model's NPUs; bad ones are one-line
errors; health is the generic handshake on the model's own key."""

# ruff: noqa: E501  (case tables and wire strings read best on one line)

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.device.common import handshake_verdict

from ._npu import backend, fixture


def node(annotations: dict[str, Any] | None) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "annotations": annotations}}


REGISTER = fixture("register.json")["cases"]


@pytest.mark.parametrize("case", REGISTER, ids=[c["name"] for c in REGISTER])
def test_register_golden(case: dict[str, Any]) -> None:
    b = backend(case["cw"])
    got = b.node_devices(node({b.register_annotation: case["annotation"]}))
    want = case["devices"]
    assert len(got) == len(want)
    for dev, exp in zip(got, want, strict=True):
        assert (dev.id, dev.index, dev.count, dev.devmem, dev.devcore, dev.type, dev.health) == (
            exp["id"], exp["index"], exp["count"], exp["devmem"], exp["devcore"], exp["type"],
            exp["health"],
        )  # fmt: skip
        assert dev.custom("NetworkID") == exp["NetworkID"]
        assert dev.numa == 0


def test_each_model_reads_only_its_own_annotation() -> None:
    case = REGISTER[0]
    assert backend("Ascend910B4").node_devices(node({"hami.io/node-register-Ascend910B3": case["annotation"]})) == []  # fmt: skip


@pytest.mark.parametrize("annotations", [None, {}, {"other": "x"}])
def test_no_annotation_no_devices(annotations: dict[str, Any] | None) -> None:
    assert backend("Ascend910B3").node_devices(node(annotations)) == []
    assert backend("Ascend910B3").node_devices({}) == []


def test_empty_array_is_no_devices() -> None:
    assert (
        backend("Ascend910B3").node_devices(node({"hami.io/node-register-Ascend910B3": "[]"})) == []
    )


def test_legacy_colon_form_decodes_too() -> None:
    value = "npu-0,4,65536,20,Ascend910B3,0,true:npu-1,4,65536,20,Ascend910B3,0,false,1,x:"
    got = backend("Ascend910B3").node_devices(node({"hami.io/node-register-Ascend910B3": value}))
    assert [(d.id, d.index, d.health, d.custominfo) for d in got] == [
        ("npu-0", 0, True, ()), ("npu-1", 1, False, ()),
    ]  # fmt: skip


def test_key_case_and_unknown_keys_as_go_decodes() -> None:
    value = '[{"ID":"npu-0","Count":4,"Devmem":65536,"devcore":20,"Type":"Ascend910B3","Health":true,"extra":1,"CustomInfo":{"NetworkID":1}}]'
    (dev,) = backend("Ascend910B3").node_devices(node({"hami.io/node-register-Ascend910B3": value}))
    assert (dev.id, dev.count, dev.devmem, dev.health, dev.custom("NetworkID")) == (
        "npu-0",
        4,
        65536,
        True,
        1.0,
    )


MALFORMED = [
    ("empty string", ""),
    ("not JSON", "[{"),
    ("not an array", '{"id":"npu-0"}'),
    ("device without id", '[{"count":4}]'),
    ("count not a number", '[{"id":"npu-0","count":"four"}]'),
    ("custominfo not an object", '[{"id":"npu-0","custominfo":[1]}]'),
    ("neither JSON nor colon form", "garbage"),
]


@pytest.mark.parametrize(("name", "value"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_register_is_a_one_line_decode_error(name: str, value: str) -> None:
    with pytest.raises(DecodeError) as exc:
        backend("Ascend910B3").node_devices(node({"hami.io/node-register-Ascend910B3": value}))
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("hami.io/node-register-Ascend910B3")


def test_non_string_annotation_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match=r"hami\.io/node-register-Ascend910B3: expected a string"):
        backend("Ascend910B3").node_devices(node({"hami.io/node-register-Ascend910B3": 5}))


def test_handshake_on_the_models_key_with_its_count_resource() -> None:
    b = backend("Ascend310P")
    assert (b.health_kind, b.handshake_annotation, b.count_resource) == (
        "handshake", "hami.io/node-handshake-Ascend310P", "huawei.com/Ascend310P",
    )  # fmt: skip
    now = datetime(2024, 5, 1, 12, 0, 0)
    assert handshake_verdict("Reported_2024.05.01 11:59:30", now, 0).write_requesting
    stale = handshake_verdict("Requesting_2024-05-01 11:58:00", now, 0)
    assert not stale.healthy
