"""Pair scores for the topology annotation: HAMi's link weights, asymmetry gives 0."""

from __future__ import annotations

import pytest

from hami.api.noderegister import encode_node_scores
from hami.deviceplugin.nvml import GpuLink
from hami.deviceplugin.topology import asymmetric_pairs, pair_score, score_matrix


@pytest.mark.parametrize(
    ("link", "score"),
    [
        (GpuLink(50), 10),
        (GpuLink(40), 20),
        (GpuLink(30), 30),
        (GpuLink(20), 40),
        (GpuLink(10), 50),
        (GpuLink(0), 60),
        (GpuLink(30, nvlinks=2), 200),
        (GpuLink(None), 0),
        (GpuLink(99), 0),
    ],
    ids=["cross-cpu", "same-cpu", "hostbridge", "multi-switch", "switch", "board", "nvlink2",
         "unknown", "odd-level"],
)  # fmt: skip
def test_pair_score(link: GpuLink, score: int) -> None:
    assert pair_score(link) == score


def test_matrix_golden_and_asymmetry() -> None:
    links = {
        ("A", "B"): GpuLink(10, nvlinks=4),
        ("B", "A"): GpuLink(10, nvlinks=4),
        ("A", "C"): GpuLink(50),
        ("C", "A"): GpuLink(50),
        ("B", "C"): GpuLink(40, nvlinks=1),
        ("C", "B"): GpuLink(40),
    }
    matrix = score_matrix(["A", "B", "C"], links)
    assert encode_node_scores(matrix) == (
        '[{"uuid":"A","score":{"B":400,"C":10}},'
        '{"uuid":"B","score":{"A":400,"C":0}},'
        '{"uuid":"C","score":{"A":10,"B":0}}]'
    )
    assert asymmetric_pairs(["A", "B", "C"], links) == [("B", "C")]
