"""Real Helm (v4, embedded by the PyPI package ``helm-python-sdk``): lint and render the chart.

``Chart.render`` of the package does not expose the Kubernetes version or API versions; its
native ``helm_render`` takes them as ``kube_version`` / ``api_versions`` render options (the same
JSON object its ``name``/``namespace`` travel in), so :func:`render` passes them that way.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native

CHART = Path(__file__).resolve().parents[2] / "charts" / "hami"
RELEASE = "hami"
NAMESPACE = "kube-system"
KUBE_VERSIONS = ("v1.29.0", "v1.32.0", "v1.35.0")


@cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render_files(
    values: dict[str, Any] | None = None,
    *,
    kube_version: str = "v1.32.0",
    api_versions: tuple[str, ...] = (),
    namespace: str = NAMESPACE,
    name: str = RELEASE,
) -> dict[str, str]:
    """Template path -> rendered text, as ``helm template`` renders it."""
    opts: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "is_install": True,
        "kube_version": kube_version,
    }
    if api_versions:
        opts["api_versions"] = list(api_versions)
    raw = _native.call_string(
        "helm_render", _chart()._raw(), json.dumps(values or {}), json.dumps(opts)
    )
    files: dict[str, str] = json.loads(raw)
    return files


def render(values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """Every rendered object (NOTES.txt left out), in template order."""
    objs: list[dict[str, Any]] = []
    for path, text in sorted(render_files(values, **kwargs).items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.append(doc)
    return objs


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of ``kind`` (and ``name``); fails naming what exists."""
    hits = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    if len(hits) != 1:
        have = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objs)
        raise AssertionError(f"expected one {kind} {name or ''}, got {len(hits)}; rendered: {have}")
    return hits[0]


def kinds(objs: list[dict[str, Any]]) -> set[str]:
    return {f"{o['kind']}/{o['metadata']['name']}" for o in objs}


def lint(values: dict[str, Any] | None = None, kube_version: str = "v1.32.0") -> dict[str, Any]:
    report: dict[str, Any] = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=kube_version
    )
    return report


def validate_values(values: dict[str, Any]) -> None:
    """values.schema.json; raises ``helm.HelmValuesError`` naming the key."""
    _chart().validate_schema(values)


def container(pod_spec_owner: dict[str, Any], name: str) -> dict[str, Any]:
    ctrs = pod_spec_owner["spec"]["template"]["spec"]["containers"]
    for c in ctrs:
        if c["name"] == name:
            return dict(c)
    raise AssertionError(f"no container {name}; have {[c['name'] for c in ctrs]}")


def yaml_dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=True)
