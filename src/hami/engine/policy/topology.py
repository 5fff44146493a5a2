"""``topology-aware``: choose GPUs by the pairwise link scores the device plugin publishes.

The node annotation ``hami.io/node-nvidia-score`` holds ``[{"uuid": u, "score": {other: n}}]``.
For one GPU we take the candidate least linked to the others (keeping well-linked GPUs together
for later multi-GPU pods); for N GPUs the N-combination with the highest summed pair score.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from math import comb

from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_scores
from hami.device.base import Chooser, DeviceUsage
from hami.engine.policy.base import GpuPolicy

log = logging.getLogger(__name__)

NAME = "topology-aware"
ANNOTATION = "hami.io/node-nvidia-score"
MAX_COMBINATIONS = 20000

PairScores = Mapping[str, Mapping[str, int]]


def _key(dev: DeviceUsage, score: float) -> float:
    return -score  # HAMi orders a lone ``topology-aware`` like spread


GPU = GpuPolicy(NAME, _key, ordering=True)


def parse_scores(node: str, value: str | None) -> dict[str, dict[str, int]]:
    """Decode the score annotation; a malformed one is logged and treated as empty."""
    if not value:
        return {}
    try:
        return decode_node_scores(value)
    except DecodeError as exc:
        log.warning("node %s: ignoring malformed %s: %s", node, ANNOTATION, exc)
        return {}


def _pair(scores: PairScores, a: str, b: str) -> int:
    return scores.get(a, {}).get(b, 0)


def chooser(scores: PairScores) -> Chooser:
    """A :data:`Chooser` over the given pair scores (ties: earlier in policy order)."""

    def choose(devs: list[DeviceUsage], n: int) -> list[DeviceUsage]:
        if n == 1:
            ids = [d.id for d in devs]
            best = min(devs, key=lambda d: sum(_pair(scores, d.id, o) for o in ids if o != d.id))
            return [best]
        if comb(len(devs), n) > MAX_COMBINATIONS:
            return devs[:n]
        best_set: tuple[DeviceUsage, ...] = tuple(devs[:n])
        best_val = -1
        for combo in itertools.combinations(devs, n):
            val = sum(_pair(scores, a.id, b.id) for a, b in itertools.combinations(combo, 2))
            if val > best_val:
                best_set, best_val = combo, val
        return list(best_set)

    return choose
