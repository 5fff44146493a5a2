"""Scheduler metric names and labels exactly as HAMi v2.10's (issue 13 point 2, spec §7.1).

The expected label sets below are written out from HAMi v2.10's collector, independently of our
catalogue, and every scraped family must match both.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hami.api.types import ContainerDevice
from hami.config.devices import DeviceConfig
from hami.engine.state import GpuSnapshot, NodeSnapshot
from hami.engine.usage import MigAllocation
from hami.scheduler.bind import BindStats
from hami.scheduler.metric_catalog import BY_NAME, SCHEDULER_METRICS
from hami.scheduler.metrics import build_registry
from hami.scheduler.nodelock import LockStats
from hami.scheduler.service import PodUsage, ServiceStats
from hami.webhook.backends import device_backends

HAMI_LABELS = {
    "hami_gpu_memory_limit_bytes": {"node", "device_uuid", "device_index", "device_type", "zone"},
    "hami_gpu_core_limit_ratio": {"node", "device_uuid", "device_index", "device_type", "zone"},
    "hami_gpu_memory_allocated_bytes": {"node", "device_uuid", "device_index", "device_cores",
                                        "device_type", "zone"},
    "hami_gpu_shared_count": {"node", "device_uuid", "device_index", "device_type", "zone"},
    "hami_gpu_core_allocated_ratio": {"node", "device_uuid", "device_index", "device_type",
                                      "zone"},
    "hami_node_gpu_overview": {"node", "device_uuid", "device_index", "device_cores",
                               "device_memory_limit", "device_type", "zone"},
    "hami_node_gpu_memory_allocated_ratio": {"node", "device_uuid", "device_index",
                                             "device_type", "zone"},
    "hami_node_gpu_mig_instance_info": {"node", "device_uuid", "device_index", "mig_uuid",
                                        "profile", "gpu_instance_id", "compute_instance_id",
                                        "placement_start", "placement_size", "zone"},
    "hami_resource_quota_used": {"namespace", "quota_name", "limit", "zone"},
    "hami_resource_quota_limit": {"namespace", "quota_name", "zone"},
    "hami_vgpu_memory_allocated_bytes": {"namespace", "node", "pod", "container_index",
                                         "device_uuid", "zone"},
    "hami_vgpu_core_allocated_ratio": {"namespace", "node", "pod", "container_index",
                                       "device_uuid", "zone"},
    "GPUDeviceMemoryLimit": {"nodeid", "deviceuuid", "deviceidx", "devicetype", "zone"},
    "GPUDeviceCoreLimit": {"nodeid", "deviceuuid", "deviceidx", "devicetype", "zone"},
    "GPUDeviceMemoryAllocated": {"nodeid", "deviceuuid", "deviceidx", "devicecores", "devicetype",
                                 "zone"},
    "GPUDeviceSharedNum": {"nodeid", "deviceuuid", "deviceidx", "devicetype", "zone"},
    "GPUDeviceCoreAllocated": {"nodeid", "deviceuuid", "deviceidx", "devicetype", "zone"},
    "nodeGPUOverview": {"nodeid", "deviceuuid", "deviceidx", "devicecores", "devicememorylimit",
                        "devicetype", "zone"},
    "nodeGPUMemoryPercentage": {"nodeid", "deviceuuid", "deviceidx", "zone"},
    "nodeGPUMigInstance": {"nodeid", "deviceuuid", "deviceidx", "migname", "zone"},
    "QuotaUsed": {"quotanamespace", "quotaName", "limit", "zone"},
    "vGPUMemoryAllocated": {"podnamespace", "nodename", "podname", "containeridx", "deviceuuid",
                            "zone"},
    "vGPUCoreAllocated": {"podnamespace", "nodename", "podname", "containeridx", "deviceuuid",
                          "zone"},
}  # fmt: skip


def gpu(uuid: str, index: int, *, mem: int = 40960, used_mem: int = 0, mode: str = "hami-core"
        ) -> GpuSnapshot:  # fmt: skip
    return GpuSnapshot(uuid, "NVIDIA A100", index, 0, mode, True, 10, 1 if used_mem else 0, mem,
                       used_mem, 100, 10 if used_mem else 0)  # fmt: skip


def service(**overrides: Any) -> Any:
    nodes = [NodeSnapshot("n1", (gpu("GPU-a", 0, used_mem=4096), gpu("GPU-mig", 3, mode="mig"),
                                 gpu("GPU-nomem", 5, mem=0)))]  # fmt: skip
    cd = ContainerDevice("GPU-a", "NVIDIA", 4096, 10)
    no_uuid = ContainerDevice("", "NVIDIA", 1, 1)
    mig_dev = ContainerDevice("GPU-mig", "NVIDIA", 10240, 42)
    ready = MigAllocation(0, 0, "GPU-mig", "2g.10gb", 2, 2, "MIG-ready", 4, 0)
    pending = MigAllocation(0, 1, "GPU-mig", "1g.5gb", 0, 1)  # no runtime identity yet
    pods = {
        "u1": PodUsage("team", "p1", "n1", {"NVIDIA": ((cd,),)}),
        "u2": PodUsage("free", "p2", "n1", {"NVIDIA": ((cd, no_uuid),)}),
        "u3": PodUsage("team", "m1", "n1", {"NVIDIA": ((mig_dev,),)}, mig=(ready, pending)),
    }
    fields: dict[str, Any] = {
        "state": SimpleNamespace(nodes=lambda: nodes),
        "pods": pods,
        # limits as the service stores them (per vendor): memory already x memoryFactor (2)
        "quotas": {
            "team": {"gpu-quota": {"NVIDIA": (2 * 8192, None)}},
            "idle": {"q": {"NVIDIA": (None, 50)}},
        },
        "backends": device_backends(DeviceConfig.model_validate({"nvidia": {"memoryFactor": 2}})),
        "stats": ServiceStats(),
        "binder": SimpleNamespace(stats=BindStats()),
        "locker": SimpleNamespace(stats=LockStats()),
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def scrape(legacy: bool) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = generate_latest(build_registry(service(), legacy=legacy)).decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


@pytest.mark.parametrize("legacy", [False, True])
def test_every_family_has_hamis_labels(legacy: bool) -> None:
    got = scrape(legacy)
    for name, samples in got.items():
        expected = HAMI_LABELS.get(name)
        if expected is None:
            continue  # ours (hami_filter_*, hami_bind_*, hami_node_lock_*) and hami_build_info
        for labels, _ in samples:
            assert set(labels) == expected, name
    assert set(HAMI_LABELS) - set(got) == (set() if legacy else {
        n for n in HAMI_LABELS if not n.startswith("hami_")})  # fmt: skip


def test_catalogue_is_the_single_source() -> None:
    for spec in SCHEDULER_METRICS:
        if spec.name in HAMI_LABELS:
            assert {*spec.labels, "zone"} == HAMI_LABELS[spec.name], spec.name
        if spec.legacy:
            assert {*spec.legacy_labels, "zone"} == HAMI_LABELS[spec.legacy], spec.legacy
    names = {s.name for s in SCHEDULER_METRICS} | {s.legacy for s in SCHEDULER_METRICS}
    assert set(HAMI_LABELS) <= names


def test_quota_series_as_hami() -> None:
    got = scrape(legacy=True)
    used = {(s["namespace"], s["quota_name"], s["limit"]): v
            for s, v in got["hami_resource_quota_used"]}  # fmt: skip
    assert used == {
        ("team", "nvidia.com/gpumem", "8192"): 4096 + 10240,  # raw limit, not x memoryFactor
        ("team", "nvidia.com/gpucores", "0"): 10 + 42,  # no limit set: still emitted
        ("free", "nvidia.com/gpumem", "0"): 4097,
        ("free", "nvidia.com/gpucores", "0"): 11,
        ("idle", "nvidia.com/gpucores", "50"): 0,
    }
    limits = {(s["namespace"], s["quota_name"]): v for s, v in got["hami_resource_quota_limit"]}
    assert limits == {("team", "nvidia.com/gpumem"): 8192, ("idle", "nvidia.com/gpucores"): 50}
    assert ({"quotanamespace": "team", "quotaName": "nvidia.com/gpumem", "limit": "8192",
             "zone": "vGPU"}, 14336.0) in got["QuotaUsed"]  # fmt: skip


def test_device_series_as_hami() -> None:
    got = scrape(legacy=True)
    overview = {
        s["device_uuid"]: s["device_memory_limit"] for s, _ in got["hami_node_gpu_overview"]
    }
    assert overview == {"GPU-a": "40960", "GPU-mig": "40960", "GPU-nomem": "0"}  # MiB
    ratio = {s["device_uuid"] for s, _ in got["hami_node_gpu_memory_allocated_ratio"]}
    assert ratio == {"GPU-a", "GPU-mig"}  # skipped where total memory is 0
    assert {s["deviceuuid"] for s, _ in got["nodeGPUMemoryPercentage"]} == ratio
    vgpu = got["hami_vgpu_memory_allocated_bytes"]
    assert all(s["device_uuid"] for s, _ in vgpu) and len(vgpu) == 3  # "" UUID omitted


def test_mig_instance_only_once_realised_with_the_gpu_index() -> None:
    got = scrape(legacy=True)
    assert got["hami_node_gpu_mig_instance_info"] == [({
        "node": "n1", "device_uuid": "GPU-mig", "device_index": "3", "mig_uuid": "MIG-ready",
        "profile": "2g.10gb", "gpu_instance_id": "4", "compute_instance_id": "0",
        "placement_start": "2", "placement_size": "2", "zone": "vGPU"}, 1.0)]  # fmt: skip
    assert got["nodeGPUMigInstance"] == [({
        "nodeid": "n1", "deviceuuid": "GPU-mig", "deviceidx": "3", "migname": "2g.10gb-4",
        "zone": "vGPU"}, 1.0)]  # fmt: skip


def test_catalogue_names_are_unique_and_typed() -> None:
    assert len(BY_NAME) == len(SCHEDULER_METRICS)
    assert {s.kind for s in SCHEDULER_METRICS} <= {"gauge", "counter", "histogram"}
