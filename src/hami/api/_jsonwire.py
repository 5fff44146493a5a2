"""JSON helpers that reproduce Go's ``encoding/json``: its output byte for byte, and what its
decoder accepts (``null`` is the zero value, keys match case-insensitively, integers must fit
the field's Go type).

Go writes compact JSON, keeps non-ASCII as UTF-8 and escapes ``<``, ``>``, ``&``, U+2028 and
U+2029. Those characters can only appear inside JSON strings, so a textual replace is safe.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hami.api.errors import DecodeError

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_dumps(obj: Any) -> str:
    """Serialise ``obj`` the way Go's ``json.Marshal`` would (insertion order kept)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def loads(field: str, value: str) -> Any:
    """Parse JSON text, raising :class:`DecodeError` naming ``field`` on failure."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(field, value, f"invalid JSON: {exc}") from exc


INT32 = (-(2**31), 2**31 - 1)
"""Range of Go's ``int32``; a larger JSON number is an ``UnmarshalTypeError`` in Go."""
INT64 = (-(2**63), 2**63 - 1)
"""Range of Go's ``int`` on the 64-bit platforms HAMi ships for."""
UINT64 = (0, 2**64 - 1)
"""Range of Go's ``uint``: a negative number does not decode."""


def get_int(
    field: str,
    obj: Mapping[str, Any],
    key: str,
    default: int = 0,
    *,
    bounds: tuple[int, int] = INT64,
) -> int:
    """Read an integer member; ``null`` or absent is ``default`` (Go keeps the zero value).

    JSON numbers with a fraction, other types and numbers outside ``bounds`` (the Go field's
    type) are rejected, as ``encoding/json`` rejects them.
    """
    raw = obj.get(key)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise DecodeError(f"{field}.{key}", raw, "expected an integer")
    low, high = bounds
    if not low <= raw <= high:
        raise DecodeError(f"{field}.{key}", raw, f"integer outside [{low}, {high}]")
    return raw


def get_str(field: str, obj: Mapping[str, Any], key: str, default: str = "") -> str:
    """Read a string member; ``null`` or absent is ``default``."""
    raw = obj.get(key)
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise DecodeError(f"{field}.{key}", raw, "expected a string")
    return raw


def get_bool(field: str, obj: Mapping[str, Any], key: str, default: bool = False) -> bool:
    """Read a boolean member; ``null`` or absent is ``default``."""
    raw = obj.get(key)
    if raw is None:
        return default
    if not isinstance(raw, bool):
        raise DecodeError(f"{field}.{key}", raw, "expected a boolean")
    return raw


def go_fold(key: str) -> str:
    """Go's key folding: ASCII letters by case, other runes by their simple case mappings
    (so long s, U+017F, matches ``s`` and the Kelvin sign, U+212A, matches ``k``)."""
    out = []
    for ch in key:
        lower = ch.lower()
        folded = lower.upper() if len(lower) == 1 else ch
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


@functools.lru_cache(maxsize=64)
def _folded_fields(fields: tuple[str, ...]) -> dict[str, str]:
    return {go_fold(f): f for f in fields}


def go_fields(obj: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The values of Go struct ``fields`` in a decoded JSON object, matched as ``encoding/json``
    matches them: each key goes to the field of the same name, else to the field whose name
    equals it case-insensitively; keys of no field are ignored; a later key overwrites an
    earlier one (document order). Fields absent from ``obj`` are absent from the result.

    ``fields`` are the JSON names (the ``json:"..."`` tag, else the Go field name)."""
    exact = fields if isinstance(fields, (set, frozenset)) else set(fields)
    folded = _folded_fields(tuple(fields))
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = key if key in exact else folded.get(go_fold(key))
        if name is not None:
            out[name] = value
    return out


def as_object(field: str, raw: Any) -> dict[str, Any]:
    """Check ``raw`` is a JSON object."""
    if not isinstance(raw, dict):
        raise DecodeError(field, raw, "expected a JSON object")
    return raw


def as_list(field: str, raw: Any) -> list[Any]:
    """Check ``raw`` is a JSON array."""
    if not isinstance(raw, list):
        raise DecodeError(field, raw, "expected a JSON array")
    return raw
