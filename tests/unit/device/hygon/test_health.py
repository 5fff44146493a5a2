"""DCU health: the generic handshake (vendors spec §0.2) on ``hami.io/node-handshake-dcu``
with ``hygon.com/dcunum`` as the count resource, read through the backend's names."""

# ruff: noqa: E501  (case tables read best one case per line)
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from hami.api.handshake import format_deleted, format_requesting
from hami.device.common import HandshakeVerdict, handshake_verdict
from hami.device.hygon import HygonBackend

from ._data import CONFIG

BACKEND = HygonBackend(CONFIG.hygon)
NOW = datetime(2026, 3, 4, 12, 0, 0)


def node(handshake: str | None, allocatable: str | None) -> dict[str, Any]:
    annotations = {} if handshake is None else {"hami.io/node-handshake-dcu": handshake}
    status = {} if allocatable is None else {"allocatable": {"hygon.com/dcunum": allocatable}}
    return {"metadata": {"name": "n", "annotations": annotations}, "status": status}


def verdict(n: dict[str, Any]) -> HandshakeVerdict:
    """What the registration loop does with a node, using only the backend's names."""
    assert BACKEND.health_kind == "handshake" and BACKEND.handshake_annotation is not None
    value = n["metadata"]["annotations"].get(BACKEND.handshake_annotation)
    raw = (n["status"].get("allocatable") or {}).get(BACKEND.count_resource, "0")
    return handshake_verdict(value, NOW, int(raw))


CASES = [
    ("absent: stamp Requesting, healthy", None, "4", HandshakeVerdict(True, True)),
    ("plugin reported: stamp again", "Reported_2026.03.04 11:59:30", "4", HandshakeVerdict(True, True)),
    ("legacy deleted mark: stamp again", format_deleted(NOW - timedelta(hours=1)), "0", HandshakeVerdict(True, True)),
    ("fresh request: healthy, no refresh", format_requesting(NOW - timedelta(seconds=59)), "0", HandshakeVerdict(True, False)),
    ("old request, still allocatable", format_requesting(NOW - timedelta(seconds=61)), "4", HandshakeVerdict(True, False)),
    ("old request, nothing allocatable", format_requesting(NOW - timedelta(seconds=61)), "0", HandshakeVerdict(False, False)),
    ("old request, count resource gone", format_requesting(NOW - timedelta(minutes=5)), None, HandshakeVerdict(False, False)),
    ("unreadable request time: healthy", "Requesting_yesterday", "0", HandshakeVerdict(True, False)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("handshake", "allocatable", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_dcu_handshake(
    handshake: str | None, allocatable: str | None, want: HandshakeVerdict
) -> None:
    assert verdict(node(handshake, allocatable)) == want


def test_other_vendors_handshake_is_not_read() -> None:
    n = node(None, "0")
    n["metadata"]["annotations"]["hami.io/node-handshake"] = format_requesting(
        NOW - timedelta(minutes=5)
    )
    assert verdict(n) == HandshakeVerdict(True, True)
