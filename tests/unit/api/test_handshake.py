"""Handshake values (spec §1.5): ``Requesting_<ts>``, ``Deleted_<ts>``, legacy ``Reported``."""

from __future__ import annotations

from datetime import datetime

import pytest

from hami.api.annotations import NODE_HANDSHAKE
from hami.api.errors import DecodeError
from hami.api.handshake import (
    DELETED,
    REPORTED,
    REQUESTING,
    Handshake,
    format_deleted,
    format_requesting,
    parse_handshake,
)

T = datetime(2026, 3, 4, 5, 6, 7)


def test_format_requesting_golden() -> None:
    assert format_requesting(T) == "Requesting_2026-03-04 05:06:07"
    assert format_requesting(T.replace(microsecond=5)) == "Requesting_2026-03-04 05:06:07"


def test_format_deleted_golden() -> None:
    assert format_deleted(T) == "Deleted_2026-03-04 05:06:07"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Requesting_2026-03-04 05:06:07", Handshake(REQUESTING, T)),
        ("Deleted_2026-03-04 05:06:07", Handshake(DELETED, T)),
        ("Reported 2026-03-04 05:06:07.123456789 +0800 CST m=+12.5", Handshake(REPORTED, T)),
        ("Reported_2026-03-04 05:06:07", Handshake(REPORTED, T)),
        ("Reported garbage", Handshake(REPORTED, None)),
    ],
    ids=["requesting", "deleted", "reported-go-string", "reported-underscore", "reported-no-time"],
)
def test_parse(value: str, expected: Handshake) -> None:
    assert parse_handshake(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Requesting",
        "Requesting_",
        "Requesting_2026-13-04 05:06:07",
        "Hello_2026-03-04 05:06:07",
    ],
    ids=["empty", "no-time", "empty-time", "bad-month", "unknown-state"],
)
def test_parse_malformed(value: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_handshake(value)
    assert info.value.field == NODE_HANDSHAKE


def test_round_trip() -> None:
    assert parse_handshake(format_requesting(T)) == Handshake(REQUESTING, T)
