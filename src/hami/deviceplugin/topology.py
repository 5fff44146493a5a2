"""GPU pair scores for ``hami.io/node-nvidia-score`` (spec §1.2, §4.5 ``topology-aware``).

The scheduler's topology-aware policy keeps well-linked GPUs together; it reads one score per
ordered GPU pair from this annotation. Scores follow HAMi's weights: NVLink ``100 x links``, else
by the closest common PCIe ancestor (same board 60, single switch 50, multiple switches 40,
host bridge 30, same CPU 20, cross CPU 10). Asymmetric link data gives 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hami.deviceplugin.gpus import GpuLink

#: NVML_TOPOLOGY_* level -> score.
LEVEL_SCORES: Mapping[int, int] = {0: 60, 10: 50, 20: 40, 30: 30, 40: 20, 50: 10}
NVLINK_SCORE = 100


def pair_score(link: GpuLink) -> int:
    """Score of one direction of a GPU pair."""
    if link.nvlinks > 0:
        return NVLINK_SCORE * link.nvlinks
    if link.level is None:
        return 0
    return LEVEL_SCORES.get(link.level, 0)


def score_matrix(
    uuids: Sequence[str], links: Mapping[tuple[str, str], GpuLink]
) -> dict[str, dict[str, int]]:
    """``{uuid: {other: score}}`` over ``uuids``; a pair whose two directions disagree scores 0."""
    out: dict[str, dict[str, int]] = {}
    for a in uuids:
        row: dict[str, int] = {}
        for b in uuids:
            if a == b:
                continue
            there = pair_score(links.get((a, b), GpuLink(None)))
            back = pair_score(links.get((b, a), GpuLink(None)))
            row[b] = there if there == back else 0
        out[a] = row
    return out


def asymmetric_pairs(
    uuids: Sequence[str], links: Mapping[tuple[str, str], GpuLink]
) -> list[tuple[str, str]]:
    """Pairs (a < b) whose link data differs by direction (worth a warning)."""
    return [
        (a, b)
        for i, a in enumerate(uuids)
        for b in uuids[i + 1 :]
        if pair_score(links.get((a, b), GpuLink(None)))
        != pair_score(links.get((b, a), GpuLink(None)))
    ]
