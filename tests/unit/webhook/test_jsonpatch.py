"""Our JSONPatch diff, checked against the independent ``jsonpatch`` library."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hami.webhook.jsonpatch import apply_patch, diff, escape, unescape

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="ab/~c", max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None)
@given(_json, _json)
def test_diff_applies_to_target(old: Any, new: Any) -> None:
    ops = diff(old, new)
    assert jsonpatch.apply_patch(old, ops) == new
    assert apply_patch(old, ops) == new


@settings(deadline=None)
@given(_json)
def test_no_change_no_ops(doc: Any) -> None:
    assert diff(doc, doc) == []


@pytest.mark.parametrize(
    ("key", "escaped"),
    [("nvidia.com/gpu", "nvidia.com~1gpu"), ("a~b", "a~0b"), ("~/", "~0~1"), ("plain", "plain")],
    ids=["slash", "tilde", "both", "plain"],
)
def test_escape(key: str, escaped: str) -> None:
    assert escape(key) == escaped
    assert unescape(escaped) == key


def test_bool_vs_int_is_a_change() -> None:
    assert diff({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]


def test_appended_list_items_use_dash() -> None:
    assert diff({"env": [1]}, {"env": [1, 2]}) == [{"op": "add", "path": "/env/-", "value": 2}]


def test_shrunk_list_is_replaced() -> None:
    ops = diff({"l": [1, 2, 3]}, {"l": [1]})
    assert ops == [{"op": "replace", "path": "/l", "value": [1]}]


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "remove", "path": "/l/0"}], {"l": [2], "m": {"k": 1}}),
        ([{"op": "replace", "path": "/l/1", "value": 9}], {"l": [1, 9], "m": {"k": 1}}),
        ([{"op": "add", "path": "/l/0", "value": 0}], {"l": [0, 1, 2], "m": {"k": 1}}),
        ([{"op": "remove", "path": "/m/k"}], {"l": [1, 2], "m": {}}),
        ([{"op": "replace", "path": "", "value": 5}], 5),
    ],
    ids=["list-remove", "list-replace", "list-insert", "dict-remove", "root"],
)
def test_apply_patch_matches_library(ops: list[Any], expected: Any) -> None:
    doc = {"l": [1, 2], "m": {"k": 1}}
    assert apply_patch(doc, ops) == expected == jsonpatch.apply_patch(doc, ops)
