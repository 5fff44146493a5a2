"""The AdmissionReview envelope: malformed reviews become errored responses, never exceptions;
non-CREATE operations pass; v1beta1 is echoed; golden fixture round trip."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from hami.config.devices import DeviceConfig
from hami.webhook.mutate import AdmissionContext, review

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "admission"
CTX = AdmissionContext(config=DeviceConfig())


@pytest.mark.parametrize(
    ("body", "uid"),
    [
        ([], ""),
        ({}, ""),
        ({"request": "x"}, ""),
        ({"request": {"uid": "u"}}, "u"),
        ({"request": {"uid": "u", "object": None}}, "u"),
        ({"request": {"uid": 7, "object": []}}, ""),
    ],
    ids=["list", "empty", "request-string", "no-object", "null-object", "bad-uid"],
)
def test_malformed_reviews_are_errored_400(body: Any, uid: str) -> None:
    out = review(body, CTX)
    assert out["response"]["allowed"] is False
    assert out["response"]["status"]["code"] == 400
    assert out["response"]["uid"] == uid


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "CONNECT"])
def test_non_create_is_allowed_untouched(operation: str) -> None:
    body = {"request": {"uid": "u", "operation": operation, "object": {"spec": {}}}}
    assert review(body, CTX)["response"] == {"uid": "u", "allowed": True}


def test_v1beta1_is_echoed() -> None:
    body = {
        "apiVersion": "admission.k8s.io/v1beta1",
        "kind": "AdmissionReview",
        "request": {"uid": "u", "object": {"spec": {"containers": [{"name": "c"}]}}},
    }
    assert review(body, CTX)["apiVersion"] == "admission.k8s.io/v1beta1"


def test_golden_fixture() -> None:
    request = json.loads((FIXTURES / "review-gpu-pod.json").read_text())
    expected = json.loads((FIXTURES / "response-gpu-pod.json").read_text())
    out = review(request, CTX)
    patch = json.loads(base64.b64decode(out["response"].pop("patch")))
    assert patch == expected.pop("patch")
    assert out == expected["review"]


_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ml"},
            "spec": {"ports": [{"port": 80}]}}  # fmt: skip
_GPU_CTR = {"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}}
_GPU_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"},
            "spec": {"containers": [_GPU_CTR]}}  # fmt: skip


@pytest.mark.parametrize(
    ("request_extra", "obj"),
    [
        ({"kind": {"group": "", "version": "v1", "kind": "Service"}}, _SERVICE),
        ({}, _SERVICE),
        ({"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}}, {"spec": {}}),
        (
            {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "subResource": "binding"},
            _GPU_POD,
        ),
    ],
    ids=["service-by-request-kind", "service-by-object-kind", "deployment", "pod-subresource"],
)
def test_only_pods_are_mutated(request_extra: dict[str, Any], obj: dict[str, Any]) -> None:
    """Issue 13.11: another kind (or a subresource) is allowed untouched, not denied."""
    req = {"uid": "u", "operation": "CREATE", "object": obj, **request_extra}
    out = review({"apiVersion": "admission.k8s.io/v1", "request": req}, CTX)
    assert out["response"] == {"uid": "u", "allowed": True}


def test_pod_by_request_kind_is_still_mutated() -> None:
    req = {"uid": "u", "operation": "CREATE", "object": _GPU_POD,
           "kind": {"group": "", "version": "v1", "kind": "Pod"}}  # fmt: skip
    out = review({"apiVersion": "admission.k8s.io/v1", "request": req}, CTX)
    assert out["response"]["allowed"] is True
    assert "patch" in out["response"]
