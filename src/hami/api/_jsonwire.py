"""JSON helpers that reproduce Go's ``encoding/json`` output byte for byte.

Go writes compact JSON, keeps non-ASCII as UTF-8 and escapes ``<``, ``>``, ``&``, U+2028 and
U+2029. Those characters can only appear inside JSON strings, so a textual replace is safe.
"""

from __future__ import annotations

import json
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


def get_int(field: str, obj: dict[str, Any], key: str, default: int = 0) -> int:
    """Read an integer member; JSON numbers with a fraction or of another type are rejected."""
    raw = obj.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise DecodeError(f"{field}.{key}", raw, "expected an integer")
    return raw


def get_str(field: str, obj: dict[str, Any], key: str, default: str = "") -> str:
    """Read a string member."""
    raw = obj.get(key, default)
    if not isinstance(raw, str):
        raise DecodeError(f"{field}.{key}", raw, "expected a string")
    return raw


def get_bool(field: str, obj: dict[str, Any], key: str, default: bool = False) -> bool:
    """Read a boolean member."""
    raw = obj.get(key, default)
    if not isinstance(raw, bool):
        raise DecodeError(f"{field}.{key}", raw, "expected a boolean")
    return raw


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
