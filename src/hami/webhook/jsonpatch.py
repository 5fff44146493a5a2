"""A small, pure RFC 6902 diff and apply for the webhook's patches.

The diff walks objects key by key and lists element by element; a list that grew by appending
gets ``add .../-`` operations, any other list change replaces the list. Keys are escaped
(``~`` -> ``~0``, ``/`` -> ``~1``) so resource names like ``nvidia.com/gpu`` are safe.
``apply_patch`` exists for tests and for callers that want to check a patch.
"""

from __future__ import annotations

import copy
from typing import Any

from hami.api.admission import JsonPatchOp


def escape(key: str) -> str:
    """Escape one JSON Pointer reference token."""
    return key.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Undo :func:`escape`."""
    return token.replace("~1", "/").replace("~0", "~")


def diff(old: Any, new: Any, path: str = "") -> list[JsonPatchOp]:
    """Operations turning ``old`` into ``new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_dict(old, new, path)
    if isinstance(old, list) and isinstance(new, list):
        return _diff_list(old, new, path)
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": path, "value": copy.deepcopy(new)}]


def _diff_dict(old: dict[str, Any], new: dict[str, Any], path: str) -> list[JsonPatchOp]:
    ops: list[JsonPatchOp] = []
    for key in old:
        if key not in new:
            ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
    for key, value in new.items():
        sub = f"{path}/{escape(key)}"
        if key not in old:
            ops.append({"op": "add", "path": sub, "value": copy.deepcopy(value)})
        else:
            ops.extend(diff(old[key], value, sub))
    return ops


def _diff_list(old: list[Any], new: list[Any], path: str) -> list[JsonPatchOp]:
    if len(new) < len(old):
        return [{"op": "replace", "path": path, "value": copy.deepcopy(new)}]
    ops: list[JsonPatchOp] = []
    for i, item in enumerate(old):
        ops.extend(diff(item, new[i], f"{path}/{i}"))
    for item in new[len(old) :]:
        ops.append({"op": "add", "path": f"{path}/-", "value": copy.deepcopy(item)})
    return ops


def _parent(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def apply_patch(doc: Any, ops: list[JsonPatchOp]) -> Any:
    """Apply ``add``/``remove``/``replace`` operations to a copy of ``doc``."""
    doc = copy.deepcopy(doc)
    for op in ops:
        tokens = [unescape(t) for t in op["path"].split("/")[1:]]
        if not tokens:
            doc = copy.deepcopy(op.get("value"))
            continue
        parent = _parent(doc, tokens[:-1])
        last = tokens[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif op["op"] == "remove":
                del parent[index]
            else:
                parent[index] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(op["value"])
    return doc
