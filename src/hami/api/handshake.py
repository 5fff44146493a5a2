"""Values of the node health annotation ``hami.io/node-handshake`` (spec §1.5).

The scheduler writes ``Requesting_<YYYY-MM-DD HH:MM:SS>`` (Go ``time.DateTime``, local wall
time, so times here are naive). Legacy plugins (<= v2.7) wrote ``Reported <Go time.String()>``
and the scheduler marked dead nodes ``Deleted_<ts>``; both still decode.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hami.api.annotations import NODE_HANDSHAKE
from hami.api.errors import DecodeError

REQUESTING: Final = "Requesting"
REPORTED: Final = "Reported"
DELETED: Final = "Deleted"

_DATETIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class Handshake:
    """A decoded handshake value; ``time`` is None when a legacy stamp had no readable time."""

    state: str
    time: datetime | None


def format_requesting(now: datetime) -> str:
    """The value the scheduler writes: ``Requesting_2026-01-02 15:04:05``."""
    return f"{REQUESTING}_{now.strftime(_DATETIME)}"


def format_deleted(now: datetime) -> str:
    """The legacy value for a node found dead: ``Deleted_2026-01-02 15:04:05``."""
    return f"{DELETED}_{now.strftime(_DATETIME)}"


def _parse_stamp(value: str, stamp: str) -> datetime:
    try:
        return datetime.strptime(stamp[:19], _DATETIME)
    except ValueError:
        raise DecodeError(NODE_HANDSHAKE, value, "time is not 'YYYY-MM-DD HH:MM:SS'") from None


@functools.lru_cache(maxsize=1024)
def parse_handshake(value: str) -> Handshake:
    """Decode ``Requesting_<ts>``, ``Deleted_<ts>`` or legacy ``Reported <go time>`` (the last
    values decoded are remembered: a node's stamp is read again on each of its events)."""
    for state in (REQUESTING, DELETED):
        if value.startswith(state + "_"):
            return Handshake(state, _parse_stamp(value, value[len(state) + 1 :]))
    if value.startswith(REPORTED):
        rest = value[len(REPORTED) :].lstrip(" _")
        try:
            return Handshake(REPORTED, _parse_stamp(value, rest))
        except DecodeError:
            return Handshake(REPORTED, None)
    raise DecodeError(NODE_HANDSHAKE, value, "expected Requesting_, Deleted_ or Reported prefix")
