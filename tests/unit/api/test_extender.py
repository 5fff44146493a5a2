"""Extender and admission payload shapes: the JSON member names are kube-scheduler's and
apiserver's (gotcha 12: binding args have capitalised keys, filter args lowercase)."""

from __future__ import annotations

import pytest

from hami.api import admission, extender


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        (extender.ExtenderArgs, {"pod", "nodes", "nodenames"}),
        (
            extender.ExtenderFilterResult,
            {"nodes", "nodenames", "failedNodes", "failedAndUnresolvableNodes", "error"},
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


def test_constants() -> None:
    assert admission.API_VERSION == "admission.k8s.io/v1"
    assert admission.PATCH_TYPE_JSON == "JSONPatch"
