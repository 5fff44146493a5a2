"""Every annotation and label key of the HAMi protocol (NVIDIA path), in one place.

Spec §1.2 and §3.1. Keys are wire contracts with Go HAMi: never rename a value here.
"""

from __future__ import annotations

from typing import Final

# --- Node annotations -----------------------------------------------------------------------
NODE_NVIDIA_REGISTER: Final = "hami.io/node-nvidia-register"
"""Device inventory written by the device plugin (JSON since v2.8, legacy colon form)."""
NODE_NVIDIA_SCORE: Final = "hami.io/node-nvidia-score"
"""Topology score matrix written by the device plugin when ``ENABLE_TOPOLOGY_SCORE=true``."""
NODE_HANDSHAKE: Final = "hami.io/node-handshake"
"""Scheduler's ``Requesting_<ts>`` stamp (no ``-nvidia`` suffix)."""
NODE_LOCK: Final = "hami.io/mutex.lock"
"""Per-node lock shared by every vendor: ``RFC3339,ns,name``."""
DEVICE_CORDON: Final = "hami.io/device-cordon"
"""Comma list of GPU UUIDs excluded from new allocations (v2.10)."""

# --- Pod annotations written by the scheduler -----------------------------------------------
VGPU_NODE: Final = "hami.io/vgpu-node"
"""Chosen node; also set as a pod label."""
VGPU_TIME: Final = "hami.io/vgpu-time"
"""Unix seconds of the Filter decision."""
DEVICES_TO_ALLOCATE: Final = "hami.io/vgpu-devices-to-allocate"
"""Per-container device blocks, consumed by the device plugin's Allocate."""
DEVICES_ALLOCATED: Final = "hami.io/vgpu-devices-allocated"
"""Same string as to-allocate, never erased; source of truth for usage."""
MIG_ALLOCATIONS: Final = "hami.io/vgpu-mig-allocations"
"""Dynamic-MIG reservations (JSON list)."""
BIND_PHASE: Final = "hami.io/bind-phase"
BIND_TIME: Final = "hami.io/bind-time"

BIND_PHASE_ALLOCATING: Final = "allocating"
BIND_PHASE_SUCCESS: Final = "success"
BIND_PHASE_FAILED: Final = "failed"

# --- Labels -----------------------------------------------------------------------------------
SCHEDULER_ROLE: Final = "hami.io/scheduler-role"
SCHEDULER_ROLE_LEADER: Final = "leader"
SCHEDULER_ROLE_FOLLOWER: Final = "follower"
WEBHOOK_IGNORE_LABEL: Final = "hami.io/webhook"
WEBHOOK_IGNORE_VALUE: Final = "ignore"

# --- Pod annotations set by users -------------------------------------------------------------
USE_GPUTYPE: Final = "nvidia.com/use-gputype"
NOUSE_GPUTYPE: Final = "nvidia.com/nouse-gputype"
USE_GPUUUID: Final = "nvidia.com/use-gpuuuid"
NOUSE_GPUUUID: Final = "nvidia.com/nouse-gpuuuid"
NUMA_BIND: Final = "nvidia.com/numa-bind"
VGPU_MODE: Final = "nvidia.com/vgpu-mode"
NODE_SCHEDULER_POLICY: Final = "hami.io/node-scheduler-policy"
GPU_SCHEDULER_POLICY: Final = "hami.io/gpu-scheduler-policy"
DEVICE_SCORING_WEIGHTS: Final = "hami.io/device-scoring-weights"

# --- PodGroup membership (node lock retry) ----------------------------------------------------
POD_GROUP_LABEL: Final = "scheduling.x-k8s.io/pod-group"

# --- Vendor type keyword used inside pod device annotations ----------------------------------
NVIDIA_TYPE: Final = "NVIDIA"

# --- Container env names honoured or injected -------------------------------------------------
ENV_TASK_PRIORITY: Final = "CUDA_TASK_PRIORITY"
ENV_CORE_POLICY: Final = "GPU_CORE_UTILIZATION_POLICY"
ENV_DISABLE_CONTROL: Final = "CUDA_DISABLE_CONTROL"
ENV_VISIBLE_DEVICES: Final = "NVIDIA_VISIBLE_DEVICES"
