"""kube-scheduler extender wire payloads (spec §2.1), as TypedDicts, and Go's key matching.

kube-scheduler marshals ``ExtenderArgs``, ``ExtenderFilterResult``, ``ExtenderBindingArgs`` and
``ExtenderBindingResult`` from Go structs *without* JSON tags, so every key is the Go field name,
capitalised: ``{"Pod": {...}, "Nodes": null, "NodeNames": ["node-a"]}``. Go's decoder matches
keys to fields case-insensitively (an exact match is preferred, a case-folded one accepted), so a
peer may send either spelling. :func:`go_fields` (shared with every other Go-decoded payload, in
:mod:`hami.api._jsonwire`) decodes with exactly that rule, for every verb;
:func:`filter_result` and :func:`binding_result` answer with the keys Go itself would write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from hami.api._jsonwire import go_fields

__all__ = [
    "BINDING_ARGS_FIELDS",
    "BINDING_RESULT_FIELDS",
    "FILTER_ARGS_FIELDS",
    "FILTER_RESULT_FIELDS",
    "ExtenderArgs",
    "ExtenderBindingArgs",
    "ExtenderBindingResult",
    "ExtenderFilterResult",
    "NodeList",
    "binding_result",
    "filter_result",
    "go_fields",
]

FILTER_ARGS_FIELDS = ("Pod", "Nodes", "NodeNames")
FILTER_RESULT_FIELDS = ("Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error")
BINDING_ARGS_FIELDS = ("PodName", "PodNamespace", "PodUID", "Node")
BINDING_RESULT_FIELDS = ("Error",)


class NodeList(TypedDict):
    """A v1 ``NodeList`` as carried in ``Nodes`` (only ``items`` matters to us)."""

    items: list[dict[str, Any]]


class ExtenderArgs(TypedDict):
    """Body of ``POST /filter``."""

    Pod: dict[str, Any]
    Nodes: NodeList | None
    NodeNames: list[str] | None


class ExtenderFilterResult(TypedDict):
    """Answer of ``POST /filter``; errors travel in ``Error`` with HTTP 200."""

    Nodes: NodeList | None
    NodeNames: list[str] | None
    FailedNodes: dict[str, str]
    FailedAndUnresolvableNodes: dict[str, str] | None
    Error: str


class ExtenderBindingArgs(TypedDict):
    """Body of ``POST /bind``."""

    PodName: str
    PodNamespace: str
    PodUID: str
    Node: str


class ExtenderBindingResult(TypedDict):
    """Answer of ``POST /bind``; empty ``Error`` means success."""

    Error: str


def filter_result(
    *,
    node_names: list[str] | None = None,
    nodes: NodeList | None = None,
    failed: Mapping[str, str] | None = None,
    error: str = "",
) -> ExtenderFilterResult:
    """An ``ExtenderFilterResult`` with every field, in Go's field order and spelling."""
    return {
        "Nodes": nodes,
        "NodeNames": node_names,
        "FailedNodes": dict(failed or {}),
        "FailedAndUnresolvableNodes": None,
        "Error": error,
    }


def binding_result(error: str = "") -> ExtenderBindingResult:
    """An ``ExtenderBindingResult``."""
    return {"Error": error}
