"""``hami.io/webhook=ignore`` on the pod's namespace, found through the lookup passed in.

The chart's namespaceSelector normally keeps such pods away; without it the webhook asks the
namespace cache. Unknown namespace or failing lookup: the pod is judged by its own labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from hami.config.devices import DeviceConfig
from hami.scheduler.namespaces import NamespaceLabels
from hami.webhook.mutate import AdmissionContext, NamespaceLookup, review

IGNORE = {"hami.io/webhook": "ignore"}


def _gpu_pod(namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p"}
    if namespace is not None:
        meta["namespace"] = namespace
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
    }


def _review(pod: dict[str, Any], request_ns: str | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {"uid": "u", "operation": "CREATE", "object": pod}
    if request_ns is not None:
        req["namespace"] = request_ns
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def _table(known: Mapping[str, Mapping[str, str]]) -> NamespaceLookup:
    return known.get


def _boom(namespace: str) -> Mapping[str, str] | None:
    raise RuntimeError(f"cache of {namespace} unavailable")


@pytest.mark.parametrize(
    ("lookup", "pod_ns", "request_ns", "mutated"),
    [
        pytest.param(_table({"skip": IGNORE}), "skip", None, False, id="namespace-ignored"),
        pytest.param(_table({"skip": IGNORE}), None, "skip", False, id="ns-from-request"),
        pytest.param(_table({"ml": {"team": "a"}}), "ml", None, True, id="other-labels"),
        pytest.param(_table({"skip": {"hami.io/webhook": "on"}}), "skip", None, True,
                     id="other-value"),
        pytest.param(_table({}), "unknown", None, True, id="unknown-namespace-falls-back"),
        pytest.param(_boom, "skip", None, True, id="failing-lookup-falls-back"),
        pytest.param(None, "skip", None, True, id="no-lookup"),
        pytest.param(_table({"default": IGNORE}), None, None, False, id="default-namespace"),
    ],
)  # fmt: skip
def test_namespace_ignore_label(
    lookup: NamespaceLookup | None, pod_ns: str | None, request_ns: str | None, mutated: bool
) -> None:
    ctx = AdmissionContext(config=DeviceConfig(), namespace_lookup=lookup)
    resp = review(_review(_gpu_pod(pod_ns), request_ns), ctx)["response"]
    assert resp["allowed"] is True
    assert ("patch" in resp) is mutated


def test_failing_lookup_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    ctx = AdmissionContext(config=DeviceConfig(), namespace_lookup=_boom)
    with caplog.at_level(logging.WARNING, logger="hami.webhook.mutate"):
        review(_review(_gpu_pod("team-x")), ctx)
    assert "namespace team-x: label lookup failed" in caplog.text


def test_request_namespace_feeds_the_quota_check() -> None:
    seen: list[str] = []

    def quota(ns: str, mem: int, cores: int, vendor: str) -> str | None:
        seen.append(ns)
        return None

    ctx = AdmissionContext(config=DeviceConfig(), quota_check=quota)
    review(_review(_gpu_pod(None), "team-y"), ctx)
    assert seen == ["team-y"]


NS = "v1"


def _ns(name: Any, labels: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": NS, "kind": "Namespace", "metadata": meta}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([("ADDED", None, _ns("a", IGNORE))], {"a": IGNORE}, id="added"),
        pytest.param([("ADDED", None, _ns("a")), ("MODIFIED", _ns("a"), _ns("a", IGNORE))],
                     {"a": IGNORE}, id="label-added-later"),
        pytest.param([("ADDED", None, _ns("a", IGNORE)), ("DELETED", _ns("a", IGNORE), None)],
                     {"a": None}, id="deleted"),
        pytest.param([("ADDED", None, _ns("a"))], {"a": {}, "b": None}, id="no-labels"),
        pytest.param([("ADDED", None, _ns("a", ["x"]))], {"a": {}}, id="garbage-labels"),
        pytest.param([("ADDED", None, _ns(None, IGNORE)), ("ADDED", None, None)], {}, id="no-name"),
    ],
)  # fmt: skip
def test_namespace_cache(
    events: list[tuple[str, Any, Any]], expected: dict[str, Mapping[str, str] | None]
) -> None:
    cache = NamespaceLabels()
    for event in events:
        cache.on_event(*event)
    for name, labels in expected.items():
        assert cache.get(name) == labels
    if not expected:
        assert len(cache) == 0


def test_cache_drives_the_webhook() -> None:
    cache = NamespaceLabels()
    ctx = AdmissionContext(config=DeviceConfig(), namespace_lookup=cache.get)
    pod = _gpu_pod("batch")
    assert "patch" in review(_review(pod), ctx)["response"]
    cache.on_event("ADDED", None, _ns("batch", IGNORE))
    assert "patch" not in review(_review(pod), ctx)["response"]
