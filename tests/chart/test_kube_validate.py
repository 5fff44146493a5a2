"""Every rendered object validates against the Kubernetes OpenAPI schema of each version
(kubernetes-validate ships them offline), strictly: unknown fields are errors."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.chart.helmsdk import render
from tests.chart.values_sets import CASE_IDS, CASES, VALUE_SETS

#: Custom resources of other projects: no schema in kubernetes-validate.
CRD_KINDS = {"ServiceMonitor", "Certificate", "Issuer"}


@pytest.mark.parametrize(("name", "kube"), CASES, ids=CASE_IDS)
def test_objects_validate_against_the_kubernetes_schema(name: str, kube: str) -> None:
    version = kube.lstrip("v")
    problems = []
    for obj in render(VALUE_SETS[name], kube_version=kube):
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(
                f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
            )
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: no schema ({exc})")
    assert not problems, "\n".join(problems)


def test_the_validator_catches_a_bad_object() -> None:
    """The check above can fail: a misspelt field is refused."""
    dep = next(o for o in render() if o["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, "1.32.0", strict=True)
