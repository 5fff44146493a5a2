"""NetworkID node bonus (vendors spec §5.5): per container largest group / devices, x 10."""

# ruff: noqa: E501  (case tables and wire strings read best on one line)

from __future__ import annotations

from typing import Any

import pytest

from hami.api.types import ContainerDevice, PodSingleDevice

from ._npu import backend, npu

B3 = "Ascend910B3"


def pod(*containers: tuple[str, ...]) -> PodSingleDevice:
    return tuple(tuple(ContainerDevice(u, B3, 100, 0) for u in ctr) for ctr in containers)


NODE = [npu(0, net=0.0), npu(1, net=0.0), npu(2, net=1.0), npu(3, net=1.0), npu(4, net=1.0)]

# fmt: off
CASES: list[tuple[str, Any, PodSingleDevice, float]] = [
    ("one device", NODE, pod(("npu-0",)), 10.0),
    ("same network", NODE, pod(("npu-0", "npu-1")), 10.0),
    ("split one and one", NODE, pod(("npu-0", "npu-2")), 5.0),
    ("two of three", NODE, pod(("npu-0", "npu-2", "npu-3")), 10 * 2 / 3),
    ("two containers add up", NODE, pod(("npu-0",), ("npu-2", "npu-3")), 20.0),
    ("empty containers are skipped", NODE, pod((), ("npu-2", "npu-0")), 5.0),
    ("nothing picked", NODE, pod(), 0.0),
    ("any device without NetworkID: 0", [*NODE, npu(5, net=())], pod(("npu-0",), ("npu-5",)), 0.0),
    ("unknown device: 0", NODE, pod(("npu-0",), ("npu-9",)), 0.0),
    ("non-numeric NetworkID is not tallied", [npu(0, net="a"), npu(1, net=1.0)], pod(("npu-0", "npu-1")), 10.0),
    ("only non-numeric: container skipped", [npu(0, net="a")], pod(("npu-0",)), 0.0),
    ("float ids truncate", [npu(0, net=1.2), npu(1, net=1.9)], pod(("npu-0", "npu-1")), 10.0),
]
# fmt: on


@pytest.mark.parametrize(("name", "devices", "picked", "want"), CASES, ids=[c[0] for c in CASES])
def test_network_score(name: str, devices: Any, picked: PodSingleDevice, want: float) -> None:
    assert backend(B3).score_node(devices, picked) == pytest.approx(want)


@pytest.mark.parametrize(
    "cw", ["Ascend910A", "Ascend910B2", "Ascend910B4", "Ascend910B4-1", "Ascend910C"]
)
def test_every_910_model_scores(cw: str) -> None:
    b = backend(cw)
    assert b.scores_nodes
    assert b.score_node(NODE, pod(("npu-0", "npu-2"))) == 5.0


def test_310p_never_scores() -> None:
    b = backend("Ascend310P")
    assert not b.scores_nodes
    assert b.score_node(NODE, pod(("npu-0", "npu-1"))) == 0.0
