"""PATCH bodies applied as kube-apiserver applies them, chosen by ``Content-Type``.

* ``application/merge-patch+json``: RFC 7386 JSON merge patch.
* ``application/json-patch+json``: RFC 6902 JSON patch (a failing ``test`` or a missing path is
  422 Invalid, a malformed document 400, like the real server).
* ``application/strategic-merge-patch+json``: strategic merge patch for the fields hami touches:
  lists keyed by merge key (``containers``/``initContainers``/``env``/``volumes``/... by ``name``,
  ``volumeMounts`` by ``mountPath``, ``conditions``/``addresses`` by ``type``, ``ownerReferences``
  by ``uid``, ``finalizers`` merged as a set); every other list is replaced, as for fields without
  a ``patchMergeKey``. Directives ``$patch: replace|delete``, ``$deleteFromPrimitiveList/<f>``,
  ``$setElementOrder/<f>`` and ``$retainKeys`` are understood.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ApiError, bad_request
from .jsondata import clone

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE, APPLY, STRATEGIC)

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
PRIMITIVE_SETS = frozenset({"finalizers"})


def unsupported_media_type() -> ApiError:
    accepted = ", ".join(SUPPORTED)
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + accepted,
    )


def apply_patch(
    doc: dict[str, Any], content_type: str, body: bytes, *, share: bool = False
) -> dict[str, Any]:
    """Return a patched deep copy of ``doc``; raises ApiError (400/415/422).

    ``share``: a merge patch copies only the objects on the paths it changes and shares the
    rest with ``doc`` (for a caller that never mutates either)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (MERGE, JSON_PATCH, STRATEGIC):
        raise unsupported_media_type()
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc
    if media == MERGE:
        result = _merge_shared(doc, patch) if share else merge_patch(doc, patch)
    elif media == JSON_PATCH:
        result = json_patch(doc, patch)
    else:
        if not isinstance(patch, dict):
            raise bad_request(
                "unable to find api field in struct: strategic merge patch is not a map"
            )
        result = strategic_merge(doc, patch)
    if not isinstance(result, dict):
        raise bad_request("patched document is not a JSON object")
    return result


# ---------------------------------------------------------------------------- RFC 7386


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(result: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge ``patch`` into ``result`` (a private copy) in place: one copy, not one per level."""
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            if not isinstance(current, dict):
                current = result[key] = {}
            _merge_into(current, value)
        else:
            result[key] = clone(value)


def _merge_shared(target: Any, patch: Any) -> Any:
    """RFC 7386 without copying what the patch leaves alone (``patch`` is freshly decoded)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_shared(result.get(key), value)
    return result


# ---------------------------------------------------------------------------- RFC 6902


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message, {})


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise _unprocessable(f"invalid array index {token!r} in {path}")
    idx = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if idx > limit:
        raise _unprocessable(f"array index {idx} out of bounds in {path}")
    return idx


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, False)]
        else:
            raise _unprocessable(f"doc is missing path: {path!r}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, False)]
    raise _unprocessable(f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, True), value)
    else:
        raise _unprocessable(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise _unprocessable("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, path, False)]
    else:
        raise _unprocessable(f"Unable to remove nonexistent key: {last}: missing value")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 operations applied in order to a deep copy of ``doc``."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise bad_request("json patch must be a list of operation objects")
    result = clone(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"json patch {kind} operation does not have a value")
        if kind == "add":
            result = _add(result, path, clone(op["value"]))
        elif kind == "remove":
            result = _remove(result, path)
        elif kind == "replace":
            _get(result, path)
            result = _add(_remove(result, path), path, clone(op["value"]))
        elif kind in ("move", "copy"):
            value = clone(_get(result, op.get("from")))
            if kind == "move":
                result = _remove(result, op.get("from"))
            result = _add(result, path, value)
        elif kind == "test":
            if _get(result, path) != op["value"]:
                raise _unprocessable(f"testing value {path} failed: test failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return result


# ---------------------------------------------------------------------------- strategic


def _interleave(
    server_only: list[Any], patched: list[Any], server: list[Any], ident: Any
) -> list[Any]:
    """Order a merged list as kube-apiserver does (apimachinery's ``mergeSortedSlice``): patched
    items keep the patch's order, server-only items the live order, and a server-only item goes
    before a patched item only when both are in the live list and it came first there. So a new
    item from the patch lands before the server-only items that follow it: live ``[a]`` patched
    with ``[b]`` gives ``[b, a]``."""
    live = [ident(v) for v in server]

    def pos(v: Any) -> int:
        k = ident(v)
        return live.index(k) if k in live else -1

    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patched):
        if j >= len(patched):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(patched[j])
            j += 1
        else:
            li, ri = pos(server_only[i]), pos(patched[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patched[j])
                j += 1
    return out


def _with_order(present: list[Any], touched: list[Any], order: Any, ident: Any) -> list[Any]:
    """The keys that count as patched, in order: with ``$setElementOrder`` every listed item
    present in the result, in the listed order (server items too: the directive reorders
    them), then patch items it does not list; without it, the patch's own order."""
    if not isinstance(order, list):
        return touched
    listed = [ident(o) for o in order]
    out = [k for k in listed if k in present]
    return out + [k for k in touched if k not in out]


def _merge_list(
    field: str, current: list[Any], patch: list[Any], order: Any = None
) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if field in PRIMITIVE_SETS:

        def same(v: Any) -> Any:
            return json.dumps(v, sort_keys=True)

        patched: list[Any] = []
        for v in patch:
            if v not in patched:
                patched.append(v)
        present = patched + [v for v in current if v not in patched]
        patched = _with_order(present, patched, order, lambda v: v)
        server_only: list[Any] = []
        for v in current:
            if v not in patched and v not in server_only:
                server_only.append(v)
        return _interleave(server_only, patched, current, same)
    if key is None:
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        return clone(patch)
    out = clone(current)
    touched: list[Any] = []
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"strategic merge patch: list {field} holds a non-object item")
        directive = item.get("$patch")
        if directive == "replace":
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        idx = next(
            (i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == item[key]), None
        )
        if directive == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
        if item[key] not in touched:
            touched.append(item[key])

    def ident(v: Any) -> Any:
        return v.get(key) if isinstance(v, dict) else v

    touched = _with_order([ident(c) for c in out], touched, order, ident)
    patched_items = [next(c for c in out if ident(c) == k) for k in touched]
    server_only = [c for c in out if ident(c) not in touched]
    return _interleave(server_only, patched_items, current, ident)


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Strategic merge of ``patch`` into a copy of ``target`` (see module docstring)."""
    if patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return {}
    result = clone(target)
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [v for v in result[name] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = strategic_merge(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(
                key,
                current if isinstance(current, list) else [],
                value,
                patch.get(f"$setElementOrder/{key}"),
            )
        else:
            result[key] = clone(value)
    if "$retainKeys" in patch and isinstance(patch["$retainKeys"], list):
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    return result
