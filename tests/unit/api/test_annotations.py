"""Annotation keys are wire contracts: pin every value to the spec's table (§1.2, §3.1)."""

from __future__ import annotations

import pytest

from hami.api import annotations as a

EXPECTED = {
    "NODE_NVIDIA_REGISTER": "hami.io/node-nvidia-register",
    "NODE_NVIDIA_SCORE": "hami.io/node-nvidia-score",
    "NODE_HANDSHAKE": "hami.io/node-handshake",
    "NODE_LOCK": "hami.io/mutex.lock",
    "DEVICE_CORDON": "hami.io/device-cordon",
    "VGPU_NODE": "hami.io/vgpu-node",
    "VGPU_TIME": "hami.io/vgpu-time",
    "DEVICES_TO_ALLOCATE": "hami.io/vgpu-devices-to-allocate",
    "DEVICES_ALLOCATED": "hami.io/vgpu-devices-allocated",
    "MIG_ALLOCATIONS": "hami.io/vgpu-mig-allocations",
    "BIND_PHASE": "hami.io/bind-phase",
    "BIND_TIME": "hami.io/bind-time",
    "SCHEDULER_ROLE": "hami.io/scheduler-role",
    "WEBHOOK_IGNORE_LABEL": "hami.io/webhook",
    "USE_GPUTYPE": "nvidia.com/use-gputype",
    "NOUSE_GPUTYPE": "nvidia.com/nouse-gputype",
    "USE_GPUUUID": "nvidia.com/use-gpuuuid",
    "NOUSE_GPUUUID": "nvidia.com/nouse-gpuuuid",
    "NUMA_BIND": "nvidia.com/numa-bind",
    "VGPU_MODE": "nvidia.com/vgpu-mode",
    "NODE_SCHEDULER_POLICY": "hami.io/node-scheduler-policy",
    "GPU_SCHEDULER_POLICY": "hami.io/gpu-scheduler-policy",
    "DEVICE_SCORING_WEIGHTS": "hami.io/device-scoring-weights",
}


@pytest.mark.parametrize(("name", "value"), EXPECTED.items(), ids=list(EXPECTED))
def test_key_value(name: str, value: str) -> None:
    assert getattr(a, name) == value
