"""Table tests of the stand-in's pure pieces: selectors and the three PATCH kinds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.apiserver.errors import ApiError
from tests.support.apiserver.patch import (
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge,
)
from tests.support.apiserver.resources import NAMESPACES, PODS, find
from tests.support.apiserver.selectors import parse, parse_labels
from tests.support.apiserver.store import Store

LABELS = {"app": "web", "tier": "fe", "n": "5"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (db, web)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("n>4", True),
        ("n<5", False),
        ("app=web,tier=fe", True),
        ("app=web,tier=be", False),
        ("", True),
    ],
    ids=lambda v: str(v) or "empty",
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    obj = {"metadata": {"labels": LABELS}}
    assert parse(selector, "", PODS).matches(obj) is matches


def test_empty_label_value_is_legal() -> None:
    assert parse_labels("app=")[0].values == ("",)


@pytest.mark.parametrize(
    "bad",
    ["=web", "app in web", "a b", "app in (a,b", ",", "n>x"],
    ids=["no-key", "in-without-parens", "space", "unclosed", "empty", "gt-not-int"],
)
def test_bad_label_selector_is_400(bad: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_labels(bad)
    assert err.value.code == 400


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("spec.nodeName=n1", True),
        ("spec.nodeName!=n1", False),
        ("status.phase=Pending", True),
        ("metadata.name=p,metadata.namespace=ns", True),
        ("spec.schedulerName=", True),
        ("spec.nodeName==n1,status.phase!=Running", True),
    ],
    ids=lambda v: str(v),
)
def test_pod_field_selectors(selector: str, matches: bool) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Pending"},
    }
    assert parse("", selector, PODS).matches(pod) is matches


def test_unsupported_field_selector_is_400() -> None:
    cms = find("", "v1", "configmaps")
    assert cms is not None
    with pytest.raises(ApiError) as err:
        parse("", "spec.nodeName=x", cms)
    assert err.value.code == 400 and "spec.nodeName" in err.value.message


def _names(store: Store, ns: str | None, selector: str, limit: int = 0) -> list[str]:
    """Every matching pod (following continue tokens) as ``namespace/name``."""
    out: list[str] = []
    token = ""
    while True:
        page = store.list(PODS, ns, parse("", selector, PODS), limit=limit, continue_token=token)
        out += [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in page.items]
        if not page.continue_token:
            return out
        token = page.continue_token


def _scan(store: Store, ns: str | None, selector: str) -> list[str]:
    """The same answer by matching every pod (no index)."""
    wanted = parse("", selector, PODS)
    return [f"{p['metadata']['namespace']}/{p['metadata']['name']}"
            for p in store.list(PODS, ns).items if wanted.matches(p)]  # fmt: skip


def test_node_index_answers_like_a_scan() -> None:
    """LIST pods by ``spec.nodeName`` (answered from the index) equals a scan of every pod,
    through creates, binds, finalizer deletes, deletes and a namespace delete."""
    store = Store()
    store.create(NAMESPACES, "", {"metadata": {"name": "team"}})
    for i in range(12):
        ns = ("default", "team")[i % 2]
        meta: dict[str, Any] = {"name": f"p{i}"}
        if i % 5 == 0:
            meta["finalizers"] = ["x/y"]
        spec = {"containers": [{"name": "c", "image": "i"}]}
        store.create(PODS, ns, {"metadata": meta, "spec": spec})
        if i % 3:
            store.bind(ns, f"p{i}", {"target": {"name": f"n{i % 3}"}})
    store.delete(PODS, "default", "p4")  # bound to n1, gone
    store.delete(PODS, "default", "p10")  # bound to n1, finalizer: stays, being deleted
    store.patch(PODS, "default", "p10", "application/merge-patch+json",
                b'{"metadata": {"finalizers": null}}')  # fmt: skip
    store.delete(PODS, "team", "p5")  # finalizer, bound to n2: kept
    selectors = [
        "spec.nodeName=n1", "spec.nodeName=n2", "spec.nodeName=", "spec.nodeName=n9",
        "spec.nodeName!=n1", "spec.nodeName=n2,metadata.namespace=team",
        "spec.nodeName=n1,spec.nodeName=n2", "metadata.name=p7,spec.nodeName=n1",
    ]  # fmt: skip
    for ns in (None, "default", "team"):
        for selector in selectors:
            for limit in (0, 1, 2):
                got = _names(store, ns, selector, limit)
                assert got == _scan(store, ns, selector), (ns, selector, limit)
    assert _names(store, None, "spec.nodeName=n1") == ["team/p1", "team/p7"]
    assert _names(store, None, "spec.nodeName=n2") == ["default/p2", "default/p8",
                                                       "team/p11", "team/p5"]  # fmt: skip
    store.delete(NAMESPACES, "", "team")
    assert _names(store, None, "spec.nodeName=n2") == ["default/p2", "default/p8"]
    assert _names(store, None, "spec.nodeName=") == ["default/p0", "default/p6"]


# RFC 7386 appendix A examples.
@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
    ids=[f"rfc7386-{i}" for i in range(10)],
)
def test_merge_patch_rfc7386(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


@pytest.mark.parametrize(
    ("ops", "result"),
    [
        ([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3], "b": {"x/y": 1}}),
        ([{"op": "add", "path": "/a/0", "value": 0}], {"a": [0, 1, 2], "b": {"x/y": 1}}),
        ([{"op": "remove", "path": "/b/x~1y"}], {"a": [1, 2], "b": {}}),
        ([{"op": "move", "from": "/a", "path": "/c"}], {"b": {"x/y": 1}, "c": [1, 2]}),
        ([{"op": "replace", "path": "/a/1", "value": 9}], {"a": [1, 9], "b": {"x/y": 1}}),
        ([{"op": "test", "path": "/a", "value": [1, 2]}], {"a": [1, 2], "b": {"x/y": 1}}),
    ],
    ids=["append", "insert", "escaped-remove", "move", "replace-index", "test"],
)
def test_json_patch_ops(ops: list[dict[str, Any]], result: Any) -> None:
    assert json_patch({"a": [1, 2], "b": {"x/y": 1}}, ops) == result


@pytest.mark.parametrize(
    ("ops", "code"),
    [
        ([{"op": "test", "path": "/a", "value": 1}], 422),
        ([{"op": "replace", "path": "/zz", "value": 1}], 422),
        ([{"op": "add", "path": "/a/9", "value": 1}], 422),
        ([{"op": "jump", "path": "/a"}], 400),
        ({"op": "add"}, 400),
    ],
    ids=["test-fails", "replace-missing", "index-out-of-range", "unknown-op", "not-a-list"],
)
def test_json_patch_errors(ops: Any, code: int) -> None:
    with pytest.raises(ApiError) as err:
        json_patch({"a": [1]}, ops)
    assert err.value.code == code


POD = {
    "spec": {
        "containers": [
            {
                "name": "a",
                "image": "i1",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                "volumeMounts": [{"name": "v", "mountPath": "/m1"}],
            },
            {"name": "b", "image": "i2"},
        ],
        "volumes": [{"name": "v", "emptyDir": {}}],
        "tolerations": [{"key": "t1"}],
    }
}


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}],
                        }
                    ]
                }
            },
            lambda s: (
                [(e["name"], e["value"]) for e in s["containers"][0]["env"]]
                == [("X", "1"), ("Y", "3"), ("Z", "4")]
                and len(s["containers"]) == 2
            ),
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "a", "volumeMounts": [{"name": "w", "mountPath": "/m2"}]}
                    ],
                    "volumes": [{"name": "w", "hostPath": {"path": "/d"}}],
                }
            },
            lambda s: (
                # New items from the patch go first (as a real kube-apiserver 1.36 answers).
                [m["mountPath"] for m in s["containers"][0]["volumeMounts"]] == ["/m2", "/m1"]
                and [v["name"] for v in s["volumes"]] == ["w", "v"]
            ),
        ),
        (
            {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}},
            lambda s: [c["name"] for c in s["containers"]] == ["a"],
        ),
        (
            {"spec": {"volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]}},
            lambda s: [v["name"] for v in s["volumes"]] == ["only"],
        ),
        ({"spec": {"tolerations": [{"key": "t2"}]}}, lambda s: s["tolerations"] == [{"key": "t2"}]),
        (
            {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                    "containers": [{"name": "c", "image": "i3"}],
                }
            },
            lambda s: [c["name"] for c in s["containers"]] == ["b", "a", "c"],
        ),
        (
            {"spec": {"containers": [{"name": "c", "image": "i3"}]}},
            lambda s: [c["name"] for c in s["containers"]] == ["c", "a", "b"],
        ),
        (
            {"spec": {"containers": [{"name": "a", "env": None}]}},
            lambda s: "env" not in s["containers"][0],
        ),
    ],
    ids=[
        "env-by-name",
        "mounts-by-path-volumes-by-name",
        "patch-delete",
        "patch-replace",
        "no-merge-key-replaces",
        "set-element-order",
        "new-item-first",
        "null-removes-field",
    ],
)
def test_strategic_merge_lists(patch: dict[str, Any], check: Any) -> None:
    assert check(strategic_merge(POD, patch)["spec"])


def test_strategic_finalizers_union_and_delete_from_primitive_list() -> None:
    doc = {"metadata": {"finalizers": ["a", "b"]}}
    merged = strategic_merge(doc, {"metadata": {"finalizers": ["b", "c"]}})
    assert merged["metadata"]["finalizers"] == ["a", "b", "c"]
    removed = strategic_merge(merged, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"]["finalizers"] == ["b", "c"]


@pytest.mark.parametrize(
    ("ctype", "code"),
    [
        ("application/json", 415),
        ("application/apply-patch+yaml", 415),
        ("", 415),
        (f"{MERGE}; charset=utf-8", 0),
        (JSON_PATCH, 400),
        (STRATEGIC, 0),
    ],
    ids=["json", "apply", "none", "merge-with-charset", "jsonpatch-needs-list", "strategic"],
)
def test_content_type_selects_patch(ctype: str, code: int) -> None:
    body = json.dumps({"a": 1}).encode()
    if code == 0:
        assert apply_patch({}, ctype, body) == {"a": 1}
        return
    with pytest.raises(ApiError) as err:
        apply_patch({}, ctype, body)
    assert err.value.code == code
