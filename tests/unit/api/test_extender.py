"""Extender and admission payload shapes, and Go's key matching for the extender payloads.

kube-scheduler marshals the extender types from Go structs without JSON tags, so every key is
the capitalised field name; Go decoders (kube-scheduler's, HAMi's) match keys to fields
case-insensitively. Goldens: tests/fixtures/extender/*.json, shaped as kube-scheduler 1.36 sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hami.api import admission, extender

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "extender"


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        (extender.ExtenderArgs, {"Pod", "Nodes", "NodeNames"}),
        (
            extender.ExtenderFilterResult,
            {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"},
        ),
        (extender.ExtenderBindingArgs, {"PodName", "PodNamespace", "PodUID", "Node"}),
        (extender.ExtenderBindingResult, {"Error"}),
        (admission.AdmissionReview, {"apiVersion", "kind", "request", "response"}),
        (admission.AdmissionResponse, {"uid", "allowed", "status", "patch", "patchType"}),
    ],
    ids=["filter-args", "filter-result", "bind-args", "bind-result", "review", "response"],
)
def test_wire_member_names(typed: type, keys: set[str]) -> None:
    assert set(typed.__annotations__) == keys


def test_field_tuples_match_the_typed_dicts() -> None:
    assert tuple(extender.ExtenderArgs.__annotations__) == extender.FILTER_ARGS_FIELDS
    assert tuple(extender.ExtenderFilterResult.__annotations__) == extender.FILTER_RESULT_FIELDS
    assert tuple(extender.ExtenderBindingArgs.__annotations__) == extender.BINDING_ARGS_FIELDS
    assert tuple(extender.ExtenderBindingResult.__annotations__) == extender.BINDING_RESULT_FIELDS


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ({"Pod": 1, "Nodes": None, "NodeNames": ["a"]},
         {"Pod": 1, "Nodes": None, "NodeNames": ["a"]}),
        ({"pod": 1, "nodenames": ["a"]}, {"Pod": 1, "NodeNames": ["a"]}),
        ({"POD": 1, "nodeNames": ["a"], "NODES": None},
         {"Pod": 1, "NodeNames": ["a"], "Nodes": None}),
        ({"Pod": 1, "pod": 2}, {"Pod": 2}),
        ({"pod": 2, "Pod": 1}, {"Pod": 1}),
        ({"Pods": 1, "node_names": [], "extra": 3}, {}),
        ({"Nodename\u017fs": 1}, {}),
        ({"nodename\u017f": ["a"]}, {"NodeNames": ["a"]}),
    ],
    ids=["go-encoded", "lowercase", "mixed", "last-key-wins", "last-key-wins-exact",
         "unknown-ignored", "no-partial-match", "long-s-folds-to-s"],
)  # fmt: skip
def test_go_fields_matches_keys_like_encoding_json(body: dict[str, Any], want: Any) -> None:
    assert extender.go_fields(body, extender.FILTER_ARGS_FIELDS) == want


def test_kelvin_sign_folds_to_k() -> None:
    assert extender.go_fields({"\u212aey": 1}, ("Key",)) == {"Key": 1}


def test_filter_result_is_what_go_encodes() -> None:
    got = json.dumps(extender.filter_result(node_names=["n1"]), separators=(",", ":"))
    assert got == (
        '{"Nodes":null,"NodeNames":["n1"],"FailedNodes":{},'
        '"FailedAndUnresolvableNodes":null,"Error":""}'
    )
    err = extender.filter_result(error="boom", failed={"n2": "x"})
    assert err["NodeNames"] is None and err["FailedNodes"] == {"n2": "x"} and err["Error"] == "boom"
    assert json.dumps(extender.binding_result("no")) == '{"Error": "no"}'


@pytest.mark.parametrize("name", ["filter-nodenames.json", "filter-nodes.json", "bind.json"])
def test_goldens_are_go_encoded(name: str) -> None:
    """The fixtures carry exactly the Go field names, in Go's field order."""
    body = json.loads((FIXTURES / name).read_text())
    fields = {
        "filter-nodenames.json": extender.FILTER_ARGS_FIELDS,
        "filter-nodes.json": extender.FILTER_ARGS_FIELDS,
        "bind.json": extender.BINDING_ARGS_FIELDS,
    }[name]
    assert tuple(body) == fields
    assert extender.go_fields(body, fields) == body


def test_constants() -> None:
    assert admission.API_VERSION == "admission.k8s.io/v1"
    assert admission.PATCH_TYPE_JSON == "JSONPatch"
