"""Kubernetes resource quantities (``"3000"``, ``"3Gi"``, ``"500m"``, ``"1e3"``) as exact numbers.

Resource values in pod specs arrive as strings (or as YAML ints/floats in hand-written manifests).
We parse them exactly with :class:`fractions.Fraction`; :func:`quantity_to_int` rounds up like
``resource.Quantity.Value()`` in Go, which is what HAMi reads.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from hami.api.errors import DecodeError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_RE = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)


#: Strings parsed before -> their value. Pods repeat a handful of quantities ("1", "3000",
#: "500m"); every filter and bind reads them again. Bounded: cleared when full.
_PARSED: dict[str, Fraction] = {}
_PARSED_MAX = 4096


def parse_quantity(value: str | int | float, field: str = "quantity") -> Fraction:
    """Parse a Kubernetes quantity exactly; raises :class:`DecodeError` naming ``field``."""
    if type(value) is str:
        known = _PARSED.get(value)
        if known is not None:
            return known
        parsed = _parse(value, field)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[value] = parsed
        return parsed
    return _parse(value, field)


def _parse(value: str | int | float, field: str) -> Fraction:
    if isinstance(value, bool):
        raise DecodeError(field, value, "not a quantity")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DecodeError(field, value, "not a finite quantity")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise DecodeError(field, value, "not a quantity")
    match = _RE.match(value.strip())
    if match is None:
        raise DecodeError(field, value, "not a Kubernetes quantity")
    number = Fraction(match["num"])
    if match["exp"]:
        exponent = int(match["exp"][1:])
        if abs(exponent) > 64:
            raise DecodeError(field, value, "exponent out of range")
        number *= Fraction(10) ** exponent
    suffix = match["suffix"] or ""
    number *= _BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix]
    return -number if match["sign"] == "-" else number


def quantity_to_int(value: str | int | float, field: str = "quantity") -> int:
    """The quantity's integer value, rounded up (Go ``Quantity.Value()``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)  # a plain number, what the apiserver writes for counts: no Fraction
    return math.ceil(parse_quantity(value, field))


def quantity_suffix(value: str | int | float) -> str:
    """The unit suffix a quantity was written with (``"Gi"``, ``"M"``, ``"m"``), else ``""``
    (plain numbers, exponents and anything that does not parse)."""
    if not isinstance(value, str):
        return ""
    match = _RE.match(value.strip())
    return (match["suffix"] or "") if match else ""
