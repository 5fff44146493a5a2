"""kube-scheduler's own filter plugins, reduced to what the stand-in needs.

NodeUnschedulable, NodeAffinity (`nodeSelector` only), TaintToleration (NoSchedule/NoExecute) and
NodeResourcesFit (cpu, memory, pods, extended resources; resources an extender declares
`ignoredByScheduler` are skipped). Reasons use kube-scheduler's wording so the FailedScheduling
message matches: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable.".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QTY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)

UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
TOO_MANY_PODS = "Too many pods"


class QuantityError(ValueError):
    """A resource quantity string Kubernetes would not accept."""


def parse_quantity(value: object) -> Decimal:
    """Kubernetes resource.Quantity text ("500m", "1Gi", "2", "1e3") -> exact decimal value."""
    if isinstance(value, bool):
        raise QuantityError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    m = _QTY.match(str(value).strip())
    if not m:
        raise QuantityError(f"invalid quantity {value!r}")
    try:
        num = Decimal(m.group(1))
    except InvalidOperation as err:
        raise QuantityError(f"invalid quantity {value!r}") from err
    if m.group(2):
        return num * Decimal(10) ** int(m.group(2)[1:])
    return num * _SUFFIX[m.group(3) or ""]


def _add(into: dict[str, Decimal], res: dict[str, Any]) -> None:
    for k, v in res.items():
        into[k] = into.get(k, Decimal(0)) + parse_quantity(v)


def pod_requests(pod: dict[str, Any]) -> dict[str, Decimal]:
    """Effective requests: max(sum of app containers, each init container) + overhead.
    Extended resources given only as limits count as requested (the apiserver defaults them)."""
    spec = pod.get("spec") or {}

    def ctr_req(ctr: dict[str, Any]) -> dict[str, Any]:
        res = ctr.get("resources") or {}
        return {**(res.get("limits") or {}), **(res.get("requests") or {})}

    total: dict[str, Decimal] = {}
    for ctr in spec.get("containers") or []:
        _add(total, ctr_req(ctr))
    for ctr in spec.get("initContainers") or []:
        one: dict[str, Decimal] = {}
        _add(one, ctr_req(ctr))
        for k, v in one.items():
            total[k] = max(total.get(k, Decimal(0)), v)
    _add(total, spec.get("overhead") or {})
    return total


def _tolerates(tolerations: Iterable[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        if op == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def node_failures(
    pod: dict[str, Any],
    node: dict[str, Any],
    pods_on_node: Iterable[dict[str, Any]],
    ignored: frozenset[str] = frozenset(),
) -> list[str]:
    """Why `pod` cannot go to `node` (empty list = fits), in kube-scheduler's words."""
    spec = pod.get("spec") or {}
    nspec = node.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    if nspec.get("unschedulable"):
        tolerated = _tolerates(
            spec.get("tolerations") or [],
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
        )
        if not tolerated:
            return [UNSCHEDULABLE]
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return [SELECTOR_MISMATCH]
    for taint in nspec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            spec.get("tolerations") or [], taint
        ):
            value = f": {taint['value']}" if taint.get("value") else ""
            return [f"node(s) had untolerated taint {{{taint.get('key')}{value}}}"]
    alloc = {
        k: parse_quantity(v)
        for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()
    }
    used: dict[str, Decimal] = {}
    count = 0
    for other in pods_on_node:
        count += 1
        for k, v in pod_requests(other).items():
            used[k] = used.get(k, Decimal(0)) + v
    reasons = []
    if "pods" in alloc and count + 1 > alloc["pods"]:
        reasons.append(TOO_MANY_PODS)
    for name, want in sorted(pod_requests(pod).items()):
        if name in ignored or want <= 0:
            continue
        if name not in ("cpu", "memory", "ephemeral-storage") and "/" not in name:
            continue
        if name == "ephemeral-storage" and name not in alloc:
            continue
        if want > alloc.get(name, Decimal(0)) - used.get(name, Decimal(0)):
            reasons.append(f"Insufficient {name}")
    return reasons


def fit_error_message(total_nodes: int, reasons: dict[str, list[str]]) -> str:
    """kube-scheduler's FitError text: "0/N nodes are available: <count> <reason>, ...."."""
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    hist: Counter[str] = Counter(r for rs in reasons.values() for r in rs)
    parts = sorted(f"{n} {r}" for r, n in hist.items())
    return f"0/{total_nodes} nodes are available: {', '.join(parts)}."
