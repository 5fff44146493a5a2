"""Device usage score and ``hami.io/device-scoring-weights`` parsing (spec §3.1, §4.5)."""

from __future__ import annotations

import pytest

from hami.device.nvidia.fit import DeviceUsage
from hami.engine.score import ScoringWeights, WeightsError, device_score, parse_weights


def dev(used: int = 0, usedmem: int = 0, usedcores: int = 0, **kw: int) -> DeviceUsage:
    base = {"count": 10, "totalmem": 1000, "totalcore": 100}
    base.update(kw)
    return DeviceUsage("GPU-x", 0, "NVIDIA T4", 0, "hami-core", True, base["count"],
                       base["totalmem"], base["totalcore"], used, usedmem, usedcores)  # fmt: skip


GOOD = [
    ("absent", None, ScoringWeights(1, 1, 1)),
    ("blank", "  ", ScoringWeights(1, 1, 1)),
    ("spec-example", "slot=1,core=1,memory=3", ScoringWeights(1, 1, 3)),
    ("spaces-any-order", " memory = 2 , slot=0,core=5", ScoringWeights(0, 5, 2)),
]
BAD = [
    ("missing-key", "slot=1,core=1", "missing memory"),
    ("unknown-key", "slot=1,core=1,mem=1", "bad entry"),
    ("not-int", "slot=1,core=x,memory=1", "core is not an integer"),
    ("negative", "slot=-1,core=1,memory=1", "slot is negative"),
    ("all-zero", "slot=0,core=0,memory=0", "all weights are zero"),
    ("duplicate", "slot=1,slot=1,core=1,memory=1", "bad entry"),
    ("no-equals", "slot,core=1,memory=1", "bad entry"),
]


@pytest.mark.parametrize(("value", "expected"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_parse_weights(value: str | None, expected: ScoringWeights) -> None:
    assert parse_weights(value) == expected


@pytest.mark.parametrize(("value", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_parse_weights_rejects(value: str, message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        parse_weights(value)


SCORES = [
    ("idle", dev(), ScoringWeights(), 0.0),
    ("half-everything", dev(5, 500, 50), ScoringWeights(), 15.0),
    ("memory-weighted", dev(5, 500, 50), ScoringWeights(0, 0, 3), 15.0),
    ("slots-only", dev(2, 900, 90), ScoringWeights(1, 0, 0), 2.0),
    ("zero-capacity-safe", dev(0, 0, 0, count=0, totalmem=0, totalcore=0), ScoringWeights(), 0.0),
]


@pytest.mark.parametrize(("d", "w", "score"), [s[1:] for s in SCORES], ids=[s[0] for s in SCORES])
def test_device_score(d: DeviceUsage, w: ScoringWeights, score: float) -> None:
    assert device_score(d, w) == pytest.approx(score)
