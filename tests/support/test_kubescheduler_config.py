"""The kube-scheduler stand-in reads extender configuration, computes fits and builds extender
JSON exactly as kube-scheduler does (golden strings for the wire formats)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.support.kubescheduler import (
    ConfigError,
    ExtenderError,
    binding_args,
    filter_args,
    fit_error_message,
    node_failures,
    parse_duration,
    parse_extender,
    parse_filter_result,
    parse_quantity,
    parse_scheduler_config,
    pod_requests,
)

HAMI_CONFIG = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: hami-scheduler
extenders:
- urlPrefix: "https://127.0.0.1:443"
  filterVerb: filter
  bindVerb: bind
  enableHTTPS: true
  weight: 1
  nodeCacheCapable: true
  httpTimeout: 30s
  tlsConfig:
    insecure: true
  managedResources:
  - name: nvidia.com/gpu
    ignoredByScheduler: true
  - name: nvidia.com/gpumem
    ignoredByScheduler: true
"""


def test_parse_hami_chart_config() -> None:
    cfg = parse_scheduler_config(HAMI_CONFIG)
    assert cfg.scheduler_name == "hami-scheduler"
    (ext,) = cfg.extenders
    assert ext.url("filter") == "https://127.0.0.1:443/filter"
    assert (ext.filter_verb, ext.bind_verb) == ("filter", "bind")
    assert ext.node_cache_capable and ext.enable_https
    assert ext.tls is not None and ext.tls.insecure
    assert ext.http_timeout_s == 30.0
    assert ext.ignored_resources == {"nvidia.com/gpu", "nvidia.com/gpumem"}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        (30000000000, 30.0),
        ("0", 0.0),
    ],
    ids=["30s", "1m30s", "500ms", "fraction-hours", "int-nanos", "zero"],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["30", "s", "1x", "", True, "1s2"], ids=str)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ConfigError, match="x: invalid duration"):
        parse_duration(value, "x")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"urlPrefix": "127.0.0.1:80"}, r"extenders\[0\].urlPrefix: must be an http\(s\) URL"),
        ({"urlPrefix": "http://x", "filterVerbs": "f"}, "unknown field 'filterVerbs'"),
        ({"urlPrefix": "http://x", "nodeCacheCapable": "yes"}, "nodeCacheCapable: expected bool"),
        ({"urlPrefix": "http://x", "httpTimeout": "soon"}, "httpTimeout: invalid duration"),
        ({"urlPrefix": "http://x", "managedResources": [{}]}, r"managedResources\[0\].name"),
        ({"urlPrefix": "http://x", "prioritizeVerb": "p"}, "must have a positive weight"),
        ({"urlPrefix": "http://x", "tlsConfig": {"insecur": True}}, "unknown field 'insecur'"),
    ],
    ids=[
        "no-scheme",
        "unknown-field",
        "bool-type",
        "duration",
        "resource-name",
        "weight",
        "tls-field",
    ],
)
def test_bad_extender_entries(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_extender(entry)


def test_only_one_binder() -> None:
    doc = {
        "extenders": [
            {"urlPrefix": "http://a", "bindVerb": "bind"},
            {"urlPrefix": "http://b", "bindVerb": "bind"},
        ]
    }
    with pytest.raises(ConfigError, match="only one extender can implement bind"):
        parse_scheduler_config(doc)


def _pod(limits: dict[str, str], init: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"limits": limits}}]}
    if init is not None:
        spec["initContainers"] = [{"name": "i", "resources": {"requests": init}}]
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": spec}


@pytest.mark.parametrize(
    ("managed", "pod", "interested"),
    [
        ([], _pod({}), True),
        ([{"name": "nvidia.com/gpu"}], _pod({"nvidia.com/gpu": "1"}), True),
        ([{"name": "nvidia.com/gpu"}], _pod({"cpu": "1"}), False),
        ([{"name": "nvidia.com/gpu"}], _pod({}, init={"nvidia.com/gpu": "1"}), True),
    ],
    ids=["no-managed-means-all", "limit", "other-resource", "init-request"],
)
def test_is_interested(
    managed: list[dict[str, Any]], pod: dict[str, Any], interested: bool
) -> None:
    ext = parse_extender({"urlPrefix": "http://x", "managedResources": managed})
    assert ext.is_interested(pod) is interested


def test_filter_args_golden_cache_capable() -> None:
    pod = {"metadata": {"name": "p"}}
    nodes = [{"metadata": {"name": "n1"}}, {"metadata": {"name": "n2"}}]
    got = json.dumps(filter_args(pod, nodes, True), separators=(",", ":"))
    assert got == '{"Pod":{"metadata":{"name":"p"}},"Nodes":null,"NodeNames":["n1","n2"]}'


def test_filter_args_golden_full_nodes() -> None:
    got = json.dumps(filter_args({}, [{"metadata": {"name": "n1"}}], False), separators=(",", ":"))
    assert (
        got == '{"Pod":{},"Nodes":{"metadata":{},"items":[{"metadata":{"name":"n1"}}]},'
        '"NodeNames":null}'
    )


def test_binding_args_golden() -> None:
    got = json.dumps(binding_args(_pod({}), "node-1"), separators=(",", ":"))
    assert got == '{"PodName":"p","PodNamespace":"ns","PodUID":"u-1","Node":"node-1"}'


@pytest.mark.parametrize(
    ("body", "cache_capable", "passed"),
    [
        ({"nodenames": ["n2"], "failedNodes": {"n1": "no gpu"}}, True, ["n2"]),
        ({"nodenames": None, "nodes": {"items": [{"metadata": {"name": "n1"}}]}}, True, ["n1"]),
        ({"nodes": {"items": [{"metadata": {"name": "n1"}}]}, "nodenames": ["n9"]}, False, ["n1"]),
        ({"failedNodes": {"n1": "x"}}, True, []),
        ({"NodeNames": ["n2"], "FailedNodes": {"n1": "no gpu"}, "Error": ""}, True, ["n2"]),
        ({"NODENAMES": ["n3"]}, True, ["n3"]),
        ({"nodenames": ["n1"], "NodeNames": ["n2"]}, True, ["n2"]),
    ],
    ids=["names", "names-null-uses-nodes", "not-cache-capable-uses-nodes", "none-pass",
         "go-encoded", "any-case", "last-key-wins"],
)
def test_filter_result_passed(body: dict[str, Any], cache_capable: bool, passed: list[str]) -> None:
    assert parse_filter_result(body).passed(cache_capable) == passed


@pytest.mark.parametrize(
    "body",
    [[], {"nodenames": "n1"}, {"failedNodes": {"n1": 3}}, {"error": 5}, {"nodes": []}],
    ids=["not-object", "names-not-list", "failed-not-strings", "error-not-string", "nodes-list"],
)
def test_filter_result_rejects_bad_json(body: object) -> None:
    with pytest.raises(ExtenderError, match="extender result"):
        parse_filter_result(body)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1Gi", Decimal(2**30)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("1.5Mi", Decimal(1.5 * 2**20)),
    ],
    ids=["milli", "int", "Gi", "k", "exp", "fraction-Mi"],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_pod_requests_init_max_and_limits_default() -> None:
    pod = _pod({"cpu": "1", "example.com/x": "2"}, init={"cpu": "3"})
    assert pod_requests(pod) == {"cpu": Decimal(3), "example.com/x": Decimal(2)}


NODE = {
    "metadata": {"name": "n1", "labels": {"zone": "a"}},
    "spec": {},
    "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "2", "nvidia.com/gpu": "1"}},
}


@pytest.mark.parametrize(
    ("pod", "node_patch", "others", "ignored", "reasons"),
    [
        (_pod({"cpu": "1"}), {}, [], frozenset(), []),
        (_pod({"cpu": "3"}), {}, [], frozenset(), ["Insufficient cpu"]),
        (_pod({"cpu": "1"}), {}, [_pod({"cpu": "1500m"})], frozenset(), ["Insufficient cpu"]),
        (_pod({}), {}, [_pod({}), _pod({})], frozenset(), ["Too many pods"]),
        (_pod({"nvidia.com/gpu": "2"}), {}, [], frozenset(), ["Insufficient nvidia.com/gpu"]),
        (_pod({"nvidia.com/gpu": "2"}), {}, [], frozenset({"nvidia.com/gpu"}), []),
        (
            _pod({"nvidia.com/gpumem": "1000"}),
            {},
            [],
            frozenset(),
            ["Insufficient nvidia.com/gpumem"],
        ),
        (
            _pod({}),
            {"spec": {"unschedulable": True}},
            [],
            frozenset(),
            ["node(s) were unschedulable"],
        ),
        (
            _pod({}),
            {"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}},
            [],
            frozenset(),
            ["node(s) had untolerated taint {k: v}"],
        ),
    ],
    ids=[
        "fits",
        "cpu",
        "cpu-used",
        "pods",
        "extended",
        "ignored-by-scheduler",
        "unknown-extended",
        "unschedulable",
        "taint",
    ],
)
def test_node_failures(
    pod: dict[str, Any],
    node_patch: dict[str, Any],
    others: list[dict[str, Any]],
    ignored: frozenset[str],
    reasons: list[str],
) -> None:
    node = {**NODE, **node_patch}
    assert node_failures(pod, node, others, ignored) == reasons


def test_node_selector_and_toleration() -> None:
    pod = _pod({})
    pod["spec"]["nodeSelector"] = {"zone": "b"}
    assert node_failures(pod, NODE, []) == ["node(s) didn't match Pod's node affinity/selector"]
    tainted = {**NODE, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}
    pod = _pod({})
    pod["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    assert node_failures(pod, tainted, []) == []


def test_fit_error_message() -> None:
    msg = fit_error_message(
        3,
        {"a": ["Insufficient cpu"], "b": ["node(s) were unschedulable"], "c": ["Insufficient cpu"]},
    )
    assert msg == "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu."
    assert fit_error_message(0, {}) == "no nodes available to schedule pods"
