"""kube-scheduler extender wire payloads (spec §2.1, gotcha 12), as TypedDicts.

Filter payloads use lowercase JSON tags (``pod``, ``nodes``, ``nodenames``, ``failedNodes``,
``failedAndUnresolvableNodes``, ``error``); the binding payloads come from Go structs without
JSON tags, so their keys are capitalised (``PodName``, ``PodNamespace``, ``PodUID``, ``Node``,
``Error``).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class NodeList(TypedDict):
    """A v1 ``NodeList`` as carried in ``nodes`` (only ``items`` matters to us)."""

    items: list[dict[str, Any]]


class ExtenderArgs(TypedDict):
    """Body of ``POST /filter``."""

    pod: dict[str, Any]
    nodes: NotRequired[NodeList | None]
    nodenames: NotRequired[list[str] | None]


class ExtenderFilterResult(TypedDict):
    """Answer of ``POST /filter``; errors travel in ``error`` with HTTP 200."""

    nodes: NotRequired[NodeList | None]
    nodenames: NotRequired[list[str] | None]
    failedNodes: dict[str, str]
    failedAndUnresolvableNodes: NotRequired[dict[str, str]]
    error: str


class ExtenderBindingArgs(TypedDict):
    """Body of ``POST /bind``."""

    PodName: str
    PodNamespace: str
    PodUID: str
    Node: str


class ExtenderBindingResult(TypedDict):
    """Answer of ``POST /bind``; empty ``Error`` means success."""

    Error: str
