"""Least-privilege RBAC: the chart grants each component exactly the (group, resource, verb)
triples its code uses, no more and no fewer.

The scheduler's and the node pod's needs are read from the code: every call of a
:class:`hami.k8s.port.KubeClient` method (and every ``Informer(client, Kind.X)``, which lists
and watches X) under the component's packages, mapped through :data:`VERBS`. A new KubeClient
method without an entry here fails :func:`test_every_kubeclient_method_has_a_verb`. ``hami
certs`` is checked by running it against the apiserver stand-in and recording its requests.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hami.k8s.port import KubeClient
from tests.chart.helmsdk import find, render
from tests.chart.values_sets import VALUE_SETS

SRC = Path(__file__).resolve().parents[2] / "src" / "hami"

Triple = tuple[str, str, str]  # apiGroup, resource, verb

#: KubeClient method -> the API requests it makes.
VERBS: dict[str, set[Triple]] = {
    "list_objects": set(),  # by kind, see _kind_calls
    "watch": set(),  # by kind, see _kind_calls
    "get_pod": {("", "pods", "get")},
    "list_pods": {("", "pods", "list")},
    "patch_pod_metadata": {("", "pods", "patch")},
    "create_pod": {("", "pods", "create")},
    "bind_pod": {("", "pods/binding", "create")},
    "get_node": {("", "nodes", "get")},
    "patch_node_metadata": {("", "nodes", "patch")},
    "create_event": {("", "events", "create")},
    "patch_event": {("", "events", "patch")},
    "get_lease": {("coordination.k8s.io", "leases", "get")},
    "create_lease": {("coordination.k8s.io", "leases", "create")},
    "replace_lease": {("coordination.k8s.io", "leases", "update")},
    "close": set(),
}

COMPONENTS = {
    # ServiceAccount -> the code running under it
    "hami-scheduler": [SRC / "scheduler"],
    "hami-device-plugin": [SRC / "deviceplugin", SRC / "monitor", SRC / "cmd" / "monitor.py"],
}


def _py_files(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_file():
            yield p
        elif p.is_dir():
            yield from sorted(p.rglob("*.py"))


def _receiver(node: ast.expr) -> str:
    return ast.unparse(node)


def _kind_of(args: list[ast.expr]) -> str | None:
    for a in args:
        if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == "Kind":
            return a.attr.lower().replace("_", "")
    return None


def used(paths: list[Path]) -> dict[Triple, list[str]]:
    """Triples the code under ``paths`` needs -> where (file:line)."""
    methods = set(VERBS)
    out: dict[Triple, list[str]] = {}
    for path in _py_files(paths):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.as_posix().split('/src/', 1)[-1]}:{node.lineno}"
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            triples: set[Triple] = set()
            if name == "Informer":
                kind = _kind_of(list(node.args))
                assert kind, f"{where}: Informer without a Kind.X argument"
                triples = {("", kind, "list"), ("", kind, "watch")}
            elif isinstance(func, ast.Attribute) and name in methods:
                # a wrapper forwarding to another client (self.inner.x) adds nothing of its own
                if _receiver(func.value).endswith(".inner"):
                    continue
                if name in ("list_objects", "watch"):
                    kind = _kind_of(list(node.args))
                    assert kind, f"{where}: {name} without a Kind.X argument"
                    triples = {("", kind, "list" if name == "list_objects" else "watch")}
                else:
                    triples = VERBS[name]
            for t in triples:
                out.setdefault(t, []).append(where)
    return out


def granted(rules: list[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _chart_rules(objs: list[dict[str, Any]], name: str) -> set[Triple]:
    rules = find(objs, "ClusterRole", name)["rules"]
    roles = [o for o in objs if o["kind"] == "Role" and o["metadata"]["name"] == name]
    for role in roles:
        rules = rules + role["rules"]
    return granted(rules)


def test_every_kubeclient_method_has_a_verb() -> None:
    protocol = {n for n, v in vars(KubeClient).items() if callable(v) and not n.startswith("_")}
    assert protocol - set(VERBS) == set(), "map the new KubeClient methods in VERBS"


@pytest.mark.parametrize("sa", list(COMPONENTS))
@pytest.mark.parametrize("values", ["defaults", "everything"])
def test_chart_grants_exactly_what_the_code_uses(sa: str, values: str) -> None:
    need = used(COMPONENTS[sa])
    have = _chart_rules(render(VALUE_SETS[values]), sa)
    missing = {t: need[t] for t in set(need) - have}
    extra = have - set(need)
    assert not missing, f"{sa}: code uses but the chart does not grant: {missing}"
    assert not extra, f"{sa}: the chart grants what no code uses: {sorted(extra)}"


def test_the_scan_sees_real_calls() -> None:
    """The scan can fail: it finds the scheduler's binding and the plugin's node patch."""
    assert ("", "pods/binding", "create") in used(COMPONENTS["hami-scheduler"])
    assert ("", "nodes", "patch") in used(COMPONENTS["hami-device-plugin"])
    assert ("", "namespaces", "watch") in used(COMPONENTS["hami-scheduler"])


def test_lease_and_secret_grants_are_limited_by_name() -> None:
    objs = render()
    for name, names in [
        ("hami-scheduler", ["hami-scheduler", "hami-scheduler-extender"]),
        ("hami-certs", ["hami-scheduler-tls", "hami-scheduler-tls-ca"]),
    ]:
        role = find(objs, "Role", name)
        for rule in role["rules"]:
            if set(rule["verbs"]) - {"create"}:
                assert sorted(rule["resourceNames"]) == sorted(names), rule
    for rule in find(objs, "ClusterRole", "hami-certs")["rules"]:
        assert rule["resourceNames"] == ["hami-webhook"]


_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/[^/]+)?/(?P<res>[^/]+)(?P<name>/[^/]+)?$"
)


def _verb(method: str, path: str) -> Triple:
    m = _PATH.match(path.split("?")[0])
    assert m, path
    group, res, named = m.group("group") or "", m.group("res"), m.group("name")
    verb = {"GET": "get" if named else "list", "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete"}[method]  # fmt: skip
    return group, res, verb


def test_certs_job_grants_exactly_what_hami_certs_does(apiserver: Any, tmp_path: Path) -> None:
    from tests.chart.test_certs import run_certs, webhook_config

    seen: set[Triple] = set()
    faults = apiserver.server.faults
    original = faults.check

    def record(method: str, path: str) -> Any:
        seen.add(_verb(method, path))
        return original(method, path)

    faults.check = record
    try:
        run_certs(apiserver)  # fresh, no webhook configuration yet
        apiserver.store.create(webhook_config())
        run_certs(apiserver)  # patches caBundle
        run_certs(apiserver, "--validity=87601h", "--renew-before=87600h")  # renews: updates
    finally:
        faults.check = original
    have = _chart_rules(render(), "hami-certs")
    assert seen == have
