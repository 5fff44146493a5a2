"""What the real apiserver does to objects of particular kinds on create and update.

Kept apart from the generic store: pod defaults and status reset, the pod QoS class, the pod spec
immutability rule, namespace finalizers/labels. Only what hami's code paths can observe.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .errors import ApiError, invalid
from .resources import ResourceType

_MUTABLE_POD_SPEC = (
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
    "schedulingGates",
)


def _qos(spec: dict[str, Any]) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests_seen = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            requests_seen = True
        for name in ("cpu", "memory"):
            if name not in lim or req.get(name, lim[name]) != lim[name]:
                guaranteed = False
    if not requests_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


def canonical_quantity(raw: str) -> str:
    """A resource quantity as the apiserver writes it back (``resource.Quantity``'s canonical
    form): the suffix family kept (binary or decimal), the largest suffix with a whole mantissa:
    ``3000`` → ``3k``, ``1024Mi`` → ``1Gi``, ``1.5Gi`` → ``1536Mi``, ``1000m`` → ``1``,
    ``0.5`` → ``500m``, ``1500`` stays. Exponent forms (``1e3``) and anything unparsed stay."""
    m = _QUANTITY.match(raw.strip())
    if m is None:
        return raw
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY and suffix:
        value = number * 1024 ** _BINARY.index(suffix)
        if value.denominator == 1:
            for i in range(len(_BINARY) - 1, -1, -1):
                if value % 1024**i == 0:
                    return f"{int(value // 1024**i)}{_BINARY[i]}"
    if suffix in _BINARY:
        value = number * 1024 ** _BINARY.index(suffix)
    else:
        value = number * Fraction(10) ** _DECIMAL[suffix]
    if value == 0:
        return "0"
    for exp, name in sorted(((e, n) for n, e in _DECIMAL.items()), reverse=True):
        mantissa = value / Fraction(10) ** exp
        if mantissa.denominator == 1:
            return f"{int(mantissa)}{name}"
    return raw


def _default_resources(c: dict[str, Any]) -> None:
    """Requests default to the limits (per resource), and every quantity is canonicalized —
    before admission webhooks see the pod."""
    res = c.get("resources")
    if not isinstance(res, dict):
        return
    limits = res.get("limits")
    if isinstance(limits, dict) and limits:
        requests = res.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, value in limits.items():
                requests.setdefault(name, value)
    for section in ("limits", "requests"):
        values = res.get(section)
        if isinstance(values, dict):
            for name, value in values.items():
                if isinstance(value, str):
                    values[name] = canonical_quantity(value)


def _default_pod(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    containers = spec.get("containers")
    name = obj["metadata"].get("name", "")
    if not isinstance(containers, list) or not containers:
        raise invalid_pod(name, "spec.containers: Required value")
    for c in containers + list(spec.get("initContainers") or []):
        if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
            raise invalid_pod(name, "spec.containers: Invalid value: name and image are required")
        image = str(c["image"])
        tag_latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if tag_latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        _default_resources(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    tolerations = spec.setdefault("tolerations", [])
    keys = {t.get("key") for t in tolerations if isinstance(t, dict)}
    for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if taint not in keys:  # what the DefaultTolerationSeconds admission plugin adds
            tolerations.append(
                {
                    "key": taint,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            )
    obj["status"] = {"phase": "Pending", "qosClass": _qos(spec)}


def invalid_pod(name: str, message: str) -> ApiError:
    from .resources import PODS

    return invalid(PODS, name, message)


def prepare_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Apply kind-specific create behaviour to ``obj`` in place."""
    if rt.group == "" and rt.plural == "pods":
        _default_pod(obj)
    elif rt.group == "" and rt.plural == "namespaces":
        meta = obj["metadata"]
        labels = meta.setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}


def _strip_mutable(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_SPEC}
    for key in ("containers", "initContainers"):
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[key]
            ]
    return out


def check_update(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse updates the real server refuses (pod spec immutability)."""
    if rt.group == "" and rt.plural == "pods":
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if _strip_mutable(old_spec) != _strip_mutable(new_spec):
            raise invalid_pod(
                old["metadata"]["name"],
                "spec: Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                "was previously negative)",
            )
        if new.get("metadata", {}).get("labels") is not None and not isinstance(
            new["metadata"]["labels"], dict
        ):
            raise invalid_pod(old["metadata"]["name"], "metadata.labels: Invalid value")


def bound_pod(
    old: dict[str, Any], node: str, annotations: dict[str, Any], now: str
) -> dict[str, Any]:
    """The pod after a Binding to ``node``: nodeName, the Binding's annotations, and the
    PodScheduled condition. Shares what it does not change with ``old`` (never mutated)."""
    meta = dict(old["metadata"])
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    status = dict(old.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
    )
    status["conditions"] = conditions
    return {**old, "metadata": meta, "spec": {**(old.get("spec") or {}), "nodeName": node},
            "status": status}  # fmt: skip
