"""One storage, two APIs: ``events.k8s.io/v1`` Events are core ``v1`` Events underneath.

As in the real server, an Event written through either API is read through both; the stand-in
stores the core form and converts ``events.k8s.io/v1`` objects at the edges.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceType

# core v1 field -> events.k8s.io/v1 field; the other fields share their names.
_EVENT_FIELDS = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
)


def _rename(obj: dict[str, Any], pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out = dict(obj)
    for src, dst in pairs:
        if src in out:
            out[dst] = out.pop(src)
    return out


def _is_new_events(rt: ResourceType) -> bool:
    return rt.group == "events.k8s.io" and rt.plural == "events"


def to_storage(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The stored (core) form of an object written through ``rt``."""
    if not _is_new_events(rt):
        return obj
    return _rename(obj, tuple((b, a) for a, b in _EVENT_FIELDS))


def from_storage(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as ``rt`` presents it."""
    if not _is_new_events(rt):
        return obj
    return _rename(obj, _EVENT_FIELDS)
