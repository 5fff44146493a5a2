"""Kubernetes quantities as they appear in pod resources."""

from __future__ import annotations

from fractions import Fraction

import pytest

from hami.api.errors import DecodeError
from hami.api.quantity import parse_quantity, quantity_to_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3000", Fraction(3000)),
        ("3Gi", Fraction(3 * 2**30)),
        ("1Ki", Fraction(1024)),
        ("500m", Fraction(1, 2)),
        ("1e3", Fraction(1000)),
        ("1E-2", Fraction(1, 100)),
        ("1.5k", Fraction(1500)),
        (".5", Fraction(1, 2)),
        ("+2", Fraction(2)),
        ("-2M", Fraction(-2_000_000)),
        ("  7 ", Fraction(7)),
        ("100n", Fraction(1, 10**7)),
        (42, Fraction(42)),
        (0.25, Fraction(1, 4)),
    ],
    ids=["plain", "gibi", "kibi", "milli", "exp", "neg-exp", "decimal-kilo", "leading-dot",
         "plus", "mega-neg", "spaces", "nano", "int", "float"],
)  # fmt: skip
def test_parse(value: str | int | float, expected: Fraction) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3000", 3000),
        ("500m", 1),
        ("1001m", 2),
        ("-500m", 0),
        ("2", 2),
        ("1e3", 1000),
        ("007", 7),
        (" 12 ", 12),
        ("+5", 5),
    ],
    ids=[
        "plain",
        "round-up",
        "round-up-2",
        "neg-round-up",
        "small",
        "exp",
        "leading-zeros",
        "spaces",
        "plus",
    ],
)
def test_to_int_rounds_up_like_go_value(value: str, expected: int) -> None:
    assert quantity_to_int(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "abc", "3GB", "1e", "1.2.3", "Gi", "1e999", True, None, float("inf"), [1], "²"],
    ids=["empty", "word", "bad-suffix", "bare-e", "two-dots", "suffix-only", "huge-exp",
         "bool", "none", "inf", "list", "superscript-digit"],
)  # fmt: skip
def test_garbage_raises_decode_error_with_field(value: object) -> None:
    with pytest.raises(DecodeError) as info:
        quantity_to_int(value, "limits[nvidia.com/gpumem]")  # type: ignore[arg-type]
    assert info.value.field == "limits[nvidia.com/gpumem]"


def test_repeated_strings_parse_the_same_and_bad_ones_still_fail() -> None:
    """Parsed strings are remembered: a repeat answers the same value, and a bad string
    raises every time, naming the field of each call."""
    assert parse_quantity("3Gi") == parse_quantity("3Gi") == Fraction(3 * 2**30)
    for field in ("a", "b"):
        with pytest.raises(DecodeError, match=field):
            parse_quantity("3 apples", field)
