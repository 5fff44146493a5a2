"""Reading the Grafana dashboard's queries and the metric names/labels they use (test helper)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "charts" / "hami" / "dashboards" / "hami.json"

PROMQL_WORDS = {
    "sum", "count", "avg", "min", "max", "by", "without", "on", "ignoring", "group_left",
    "group_right", "or", "and", "unless", "vector", "label_values", "rate", "increase",
    "bool", "topk", "bottomk", "time", "abs", "clamp_min", "clamp_max", "scalar",
}  # fmt: skip
_GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    legend: str = ""


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def queries(dash: dict[str, Any] | None = None) -> Iterator[Query]:
    dash = dash or load()
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            q = var["query"]
            yield Query(f"variable {var['name']}", q["query"] if isinstance(q, dict) else q)
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            yield Query(f"{panel['title']} / {t['refId']}", t["expr"], t.get("legendFormat", ""))


def names_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """Metric names and label names an expression uses (enough PromQL for our dashboard)."""
    text = re.sub(r'"[^"]*"', '""', expr)
    labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", text))
    for group in re.findall(_GROUPING, text):
        labels |= {g.strip() for g in group.split(",") if g.strip()}
    # label_values(metric, label)
    for _, label in re.findall(r"label_values\(([^,]*),\s*(\w+)\)", text):
        labels.add(label)
    bare = re.sub(r"\{[^}]*\}", "", text)
    bare = re.sub(_GROUPING, "", bare)
    bare = re.sub(r"label_values\(([^,]*),\s*\w+\)", r"(\1)", bare)
    idents = set(re.findall(r"[a-zA-Z_:][\w:]*", bare))
    return idents - PROMQL_WORDS, labels


def substitute(expr: str) -> str:
    """Grafana's "All" for every template variable."""
    return re.sub(r"\$\{?(node|namespace|pod)\}?", ".*", expr)
