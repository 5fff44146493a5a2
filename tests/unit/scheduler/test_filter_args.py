"""The /filter body decoder: Go's key matching, and NodeNames decoded once per distinct list."""

from __future__ import annotations

import json

import msgspec
import pytest

from hami.api.extender import FILTER_ARGS_FIELDS, go_fields
from hami.scheduler.app import FilterArgsDecoder

POD = {"metadata": {"name": "p", "namespace": "default", "uid": "u"}}


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "obj",
    [
        {"Pod": POD, "Nodes": None, "NodeNames": ["a", "b"]},
        {"pod": POD, "NODENAMES": ["a"], "Extra": 1},
        {"nodenames": ["x"], "NodeNames": ["y"], "Pod": POD},  # the exact name wins
        {"NodeNames": ["y"], "nodenames": ["x"], "Pod": POD},  # a later key overwrites
        {"Pod": POD, "Nodes": {"items": [{"metadata": {"name": "a"}}]}},
        {"Pod": POD, "NodeNames": [1, "a"]},
        {"Pod": POD, "NodeNames": None},
        {},
    ],
)
def test_payload_is_what_go_decodes(obj: dict[str, object]) -> None:
    payload, names = FilterArgsDecoder().decode(_body(obj))
    assert payload == go_fields(json.loads(_body(obj)), FILTER_ARGS_FIELDS)
    listed = payload.get("NodeNames")
    ok = isinstance(listed, list) and all(isinstance(n, str) for n in listed)
    assert names == (frozenset(listed) if ok else None)


def test_the_same_node_names_are_decoded_once() -> None:
    decoder = FilterArgsDecoder()
    first, set1 = decoder.decode(_body({"Pod": POD, "NodeNames": ["a", "b"]}))
    again, set2 = decoder.decode(_body({"NodeNames": ["a", "b"], "Pod": {**POD, "x": 1}}))
    assert again["NodeNames"] is first["NodeNames"] and set2 is set1 == {"a", "b"}
    assert again["Pod"] == {**POD, "x": 1}
    other, set3 = decoder.decode(_body({"Pod": POD, "NodeNames": ["a", "c"]}))
    assert other["NodeNames"] == ["a", "c"] and set3 == {"a", "c"}
    bad, none = decoder.decode(_body({"Pod": POD, "NodeNames": ["a", 2]}))
    assert bad["NodeNames"] == ["a", 2] and none is None


def test_bodies_that_are_not_objects_or_not_json() -> None:
    assert FilterArgsDecoder().decode(b"[1, 2]") == ([1, 2], None)
    with pytest.raises(msgspec.DecodeError):
        FilterArgsDecoder().decode(b'{"Pod": ')
    with pytest.raises(RecursionError):
        FilterArgsDecoder().decode(b'{"Pod":' + b"[" * 100000 + b"]" * 100000 + b"}")
