"""``hami top``'s model and table from plain objects."""

from __future__ import annotations

import logging

import pytest

from hami.api.noderegister import encode_node_devices
from hami.api.types import DeviceInfo
from hami.monitor import top


def node(name: str, register: str) -> dict[str, object]:
    return {"metadata": {"name": name, "annotations": {"hami.io/node-nvidia-register": register}}}


def pod(name: str, node: str, value: str, phase: str = "Running") -> dict[str, object]:
    return {
        "metadata": {"name": name, "namespace": "ns", "annotations": {
            "hami.io/vgpu-node": node, "hami.io/vgpu-devices-allocated": value}},
        "spec": {"containers": [{"name": "main"}]},
        "status": {"phase": phase},
    }  # fmt: skip


REG = encode_node_devices([DeviceInfo("GPU-1", 10, 24000, 100, "NVIDIA-A10", 0)])


def test_allocations_sum_per_gpu_and_finished_pods_do_not_count() -> None:
    views = top.build(
        [node("n", REG)],
        [pod("a", "n", "GPU-1,NVIDIA,1000,20:;"), pod("b", "n", "GPU-1,NVIDIA,500,0:;"),
         pod("done", "n", "GPU-1,NVIDIA,9000,50:;", phase="Succeeded")],
    )  # fmt: skip
    (g,) = views[0].gpus
    assert (g.used_slots, g.used_memory_mib, g.used_cores) == (2, 1500, 20)


def test_bad_annotations_are_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        views = top.build(
            [node("bad", "garbage{"), node("n", REG)],
            [pod("p", "n", "GPU-1,NVIDIA,notanumber,0:;"), pod("q", "n", "GPU-9,NVIDIA,1,0:;")],
        )
    assert [v.name for v in views] == ["n"]
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 3
    assert "node bad" in msgs[0] and "pod ns/p" in msgs[1] and "GPU-9" in msgs[2]
    assert not any(r.exc_info for r in caplog.records)


def test_long_names_fit_80_columns() -> None:
    long = "gpu-node-with-a-very-long-name-in-a-big-cluster-zone-a-rack-17"
    reg = encode_node_devices(
        [DeviceInfo("GPU-1", 10, 81920, 100, "NVIDIA H100 80GB HBM3 PCIe x", 0)]
    )
    views = top.build([node(long, reg)], [pod("p" * 60, long, "GPU-1,NVIDIA,81920,100:;")])
    for usage in (False, True):
        text = top.render(views, usage=usage)
        assert all(len(line) <= 80 for line in text.splitlines()), text
        assert "…" in text
