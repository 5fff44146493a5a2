"""Label and field selectors parsed and matched as kube-apiserver does.

Label selectors support ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key`` (exists), ``!key``,
``>`` and ``<``; field selectors support ``=``, ``==`` and ``!=`` on the fields each resource
declares (anything else is refused with 400 like the real server). A missing field reads as ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .resources import ResourceType

_KEY = re.compile(
    r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,252}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and value in self.values
        if self.op in ("!=", "notin"):
            return not has or value not in self.values
        if not has:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == "gt" else number < bound


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _check_key(key: str, source: str) -> str:
    if not _KEY.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {source!r}")
    return key


def _check_value(value: str, source: str) -> str:
    if not _VALUE.match(value):
        raise bad_request(
            f"unable to parse requirement: invalid label value {value!r} in {source!r}"
        )
    return value


_SET = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(\S*)\s*$")


def parse_labels(selector: str) -> tuple[Requirement, ...]:
    """Parse a ``labelSelector`` string; raises ApiError(400) on bad syntax."""
    reqs: list[Requirement] = []
    if not selector.strip():
        return ()
    for raw in _split_top(selector):
        part = raw.strip()
        if not part:
            raise bad_request(f"unable to parse requirement: empty requirement in {selector!r}")
        if m := _SET.match(part):
            values = tuple(_check_value(v.strip(), selector) for v in m.group(3).split(","))
            reqs.append(Requirement(_check_key(m.group(1), selector), m.group(2), values))
        elif m := _CMP.match(part):
            key, op, value = m.group(1), m.group(2), m.group(3)
            op = {"==": "=", ">": "gt", "<": "lt"}.get(op, op)
            if op in ("gt", "lt") and not re.fullmatch(r"-?\d+", value):
                raise bad_request(f"unable to parse requirement: {value!r} is not an integer")
            reqs.append(
                Requirement(_check_key(key, selector), op, (_check_value(value, selector),))
            )
        elif part.startswith("!"):
            reqs.append(Requirement(_check_key(part[1:].strip(), selector), "!"))
        elif re.fullmatch(r"\S+", part):
            reqs.append(Requirement(_check_key(part, selector), "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {part!r} in {selector!r}")
    return tuple(reqs)


@dataclass(frozen=True)
class FieldRequirement:
    """One field requirement: ``field = value`` or ``field != value``."""

    field: str
    equal: bool
    value: str


def _unescape_split(text: str, sep: str) -> list[str]:
    """Split on an unescaped separator, leaving escapes in place."""
    parts: list[str] = []
    current = ""
    escaped = False
    for ch in text:
        if escaped:
            current += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_fields(selector: str, rt: ResourceType) -> tuple[FieldRequirement, ...]:
    """Parse a ``fieldSelector``; unsupported fields are a 400, as on the real server."""
    out: list[FieldRequirement] = []
    if not selector.strip():
        return ()
    for raw in _unescape_split(selector, ","):
        part = raw.strip()
        m = re.match(r"^([^=!]+?)\s*(==|!=|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
        name = m.group(1).strip()
        if name not in rt.field_labels:
            raise bad_request(f"field label not supported: {name}")
        out.append(FieldRequirement(name, m.group(2) != "!=", _unescape(m.group(3))))
    return tuple(out)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """Read a dotted field of an object as its selector string (missing => "")."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, dict) and path == "source":
        return str(node.get("component", ""))
    return str(node)


@dataclass(frozen=True)
class Selector:
    """A parsed label + field selector pair; the empty selector matches everything."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.labels and not self.fields

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not all(r.matches(labels) for r in self.labels):
            return False
        return all((field_value(obj, f.field) == f.value) == f.equal for f in self.fields)


def parse(label_selector: str, field_selector: str, rt: ResourceType) -> Selector:
    """Build a Selector from the two query parameters."""
    return Selector(parse_labels(label_selector), parse_fields(field_selector, rt))


Matcher = Callable[[Mapping[str, Any]], bool]
