# ruff: noqa: E501  (one table row per line reads best)
"""``hami simulate`` runs the webhook's admission code, so it shows the same denial reasons
(issue 13 points 9 and 10) and the same no-GPU treatment (point 1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hami.api.types import DeviceInfo
from hami.config.devices import DeviceConfig, parse_device_config
from hami.engine.simulation import NodeInput, simulate
from hami.webhook.mutate import AdmissionContext, mutate_pod

NODE = NodeInput("n1", (DeviceInfo("GPU-1", 10, 16384, 100, "NVIDIA-T4"),), {})
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _pod(limits: dict[str, Any], annotations: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ml"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "resources": {"limits": limits}}]},
    }


@pytest.mark.parametrize(
    ("pod", "needle"),
    [
        (_pod({"nvidia.com/gpu": 1, "nvidia.com/gpumem": "3Gi"}), "write 3072 for 3 GiB"),
        (_pod({"nvidia.com/gpu": 1, "nvidia.com/gpumem": -1}), "must not be negative"),
        (_pod({"nvidia.com/gpu": 1, "nvidia.com/gpucores": 150}), "between 0 and 100"),
        (_pod({"nvidia.com/gpu": 1, "nvidia.com/gpumem-percentage": 0}), "between 1 and 100"),
        (_pod({"nvidia.com/gpu": 1}, {"nvidia.com/numa-bind": True}), 'metadata.annotations["nvidia.com/numa-bind"]'),
        (_pod({"nvidia.com/gpu": 1}, ["x"]), "metadata.annotations: expected an object"),
    ],
    ids=["gpumem-unit", "gpumem-negative", "gpucores-range", "pct-zero", "numa-bind-bool", "annotations-list"],
)  # fmt: skip
def test_simulate_shows_the_webhook_reason(pod: dict[str, Any], needle: str) -> None:
    cfg = DeviceConfig()
    (result,) = simulate([NODE], [pod], cfg, now=NOW).pods
    assert result.denied and result.node is None
    assert result.reason is not None and needle in result.reason
    admitted = mutate_pod(pod, AdmissionContext(cfg))
    assert result.reason == f"denied by admission webhook: {admitted.message}"


def test_simulate_admits_no_gpu_pod_unrouted() -> None:
    cfg = parse_device_config({"nvidia": {"overwriteEnv": True}})
    (result,) = simulate([NODE], [_pod({"cpu": "1"})], cfg, now=NOW).pods
    assert not result.denied and result.node is None
