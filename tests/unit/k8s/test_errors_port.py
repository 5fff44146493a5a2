"""The typed error tree and the small helpers of the client port."""

from __future__ import annotations

import pytest

from hami.k8s import errors
from hami.k8s.fake import match_fields, match_labels
from hami.k8s.port import metadata_patch, obj_key


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            404,
            {"kind": "Status", "code": 404, "reason": "NotFound", "message": "x"},
            errors.NotFound,
        ),
        (409, {"kind": "Status", "code": 409, "reason": "Conflict"}, errors.Conflict),
        (409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}, errors.AlreadyExists),
        (410, {"kind": "Status", "code": 410, "reason": "Expired"}, errors.Gone),
        (500, None, errors.ServerError),
        (503, None, errors.ServerError),
        (429, None, errors.TooManyRequests),
        (418, None, errors.ApiError),
        (200, {"kind": "Status", "code": 410, "reason": "Expired"}, errors.Gone),
    ],
    ids=["404", "409", "exists", "410", "500", "503", "429", "teapot", "status-body-wins"],
)
def test_from_status(status: int, body: object, kind: type[errors.ApiError]) -> None:
    exc = errors.from_status(status, body, what="get pod default/p")
    assert type(exc) is kind
    assert "get pod default/p" in str(exc)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [(errors.ServerError("x"), True), (errors.Conflict("x"), True),
     (errors.TransportError("x"), True), (errors.NotFound("x"), False),
     (errors.Forbidden("x"), False)],
    ids=["5xx", "conflict", "transport", "404", "403"],
)  # fmt: skip
def test_retryable(exc: errors.ApiError, retryable: bool) -> None:
    assert errors.is_retryable(exc) is retryable


def test_metadata_patch_shapes() -> None:
    assert metadata_patch({"a": "1", "b": None}, None, "42") == {
        "metadata": {"annotations": {"a": "1", "b": None}, "resourceVersion": "42"}
    }
    assert metadata_patch(None, {"l": "v"}, None) == {"metadata": {"labels": {"l": "v"}}}


def test_obj_key() -> None:
    assert obj_key({"metadata": {"namespace": "ns", "name": "p"}}) == "ns/p"
    assert obj_key({"metadata": {"name": "node"}}) == "node"


@pytest.mark.parametrize(
    ("selector", "matches"),
    [("a=1", True), ("a==1", True), ("a!=1", False), ("b", False), ("!b", True), ("a,!c", True),
     ("", True)],
    ids=["eq", "eqeq", "neq", "exists", "not-exists", "combo", "empty"],
)  # fmt: skip
def test_fake_label_selector(selector: str, matches: bool) -> None:
    assert match_labels({"a": "1"}, selector) is matches


def test_fake_field_selector() -> None:
    pod = {"spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}}
    assert match_fields(pod, "spec.nodeName=n1,status.phase!=Failed")
    assert not match_fields(pod, "spec.nodeName=n2")
