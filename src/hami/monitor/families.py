"""The one list of metric families ``hami monitor`` exports (spec control-plane §7.2).

Names and label sets are HAMi v2.10's vGPU monitor ones, so HAMi's dashboards and alerts work
unchanged. The collector, the docs (``docs/monitor.md``), the Grafana dashboard
(``charts/hami/dashboards/hami.json``) and the tests all check against this list; the scheduler's
families (spec §7.1) that the dashboard also queries are listed in :data:`SCHEDULER_FAMILIES`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Family:
    """One exported metric family: a gauge with a fixed label set."""

    name: str
    labels: tuple[str, ...]
    help: str
    legacy: bool = False
    """Only exported with ``--legacy-metrics`` (HAMi's pre-v2.9 names)."""


HOST = ("node", "device_index", "device_uuid", "device_type")
HOST_MEMCTL = ("device_index", "device_uuid", "device_type")
CONTAINER = ("namespace", "pod", "container", "vdevice_index", "device_uuid")
MIG = (*CONTAINER, "mig_uuid", "profile", "gpu_instance_id", "compute_instance_id")
BUILD = ("version", "revision", "build_date", "go_version", "compiler", "platform")
REGION_ERROR = ("node", "file", "reason")

LEGACY_HOST = ("deviceidx", "deviceuuid", "devicetype")
LEGACY_CONTAINER = ("podnamespace", "podname", "ctrname", "vdeviceid", "deviceuuid")
LEGACY_MEMORY_DESC = (*LEGACY_CONTAINER, "context", "module", "data", "offset")
LEGACY_MIG = (*LEGACY_CONTAINER, "migname")

FAMILIES: tuple[Family, ...] = (
    Family("hami_host_gpu_memory_used_bytes", HOST, "GPU device memory used (NVML), bytes"),
    Family("hami_host_gpu_utilization_ratio", HOST, "GPU utilization (NVML), percent 0-100"),
    Family(
        "hami_host_gpu_memory_controller_utilization_ratio",
        HOST_MEMCTL,
        "GPU memory controller utilization (NVML), percent 0-100",
    ),
    Family("hami_vgpu_memory_used_bytes", CONTAINER, "Device memory a container uses, bytes"),
    Family("hami_vgpu_memory_limit_bytes", CONTAINER, "Device memory cap of a container, bytes"),
    Family(
        "hami_container_device_memory_bytes", CONTAINER, "Device memory a container uses, bytes"
    ),
    Family(
        "hami_container_device_utilization_ratio",
        CONTAINER,
        "SM utilization of a container's processes, percent 0-100",
    ),
    Family(
        "hami_container_last_kernel_elapsed_seconds",
        CONTAINER,
        "Seconds since the container last launched a kernel",
    ),
    Family("hami_vgpu_memory_context_bytes", CONTAINER, "Context memory of a container, bytes"),
    Family("hami_vgpu_memory_module_bytes", CONTAINER, "Module memory of a container, bytes"),
    Family("hami_vgpu_memory_buffer_bytes", CONTAINER, "Buffer memory of a container, bytes"),
    Family("hami_mig_device_info", MIG, "MIG instance a container holds (always 1)"),
    Family("hami_build_info", BUILD, "Build information of hami monitor (always 1)"),
    # ours: region files that could not be read (truncated, foreign, corrupt)
    Family(
        "hami_monitor_region_errors",
        REGION_ERROR,
        "Shared-region files skipped at the last scan because they could not be decoded (1)",
    ),
    # HAMi's pre-v2.9 names, --legacy-metrics only
    Family("HostGPUMemoryUsage", LEGACY_HOST, "GPU device memory usage", legacy=True),
    Family("HostCoreUtilization", LEGACY_HOST, "GPU core utilization", legacy=True),
    Family("vGPU_device_memory_usage_in_bytes", LEGACY_CONTAINER, "vGPU device usage", legacy=True),
    Family("vGPU_device_memory_limit_in_bytes", LEGACY_CONTAINER, "vGPU device limit", legacy=True),
    Family(
        "Device_memory_desc_of_container",
        LEGACY_MEMORY_DESC,
        "Container device memory description",
        legacy=True,
    ),
    Family(
        "Device_utilization_desc_of_container",
        LEGACY_CONTAINER,
        "Container device utilization description",
        legacy=True,
    ),
    Family(
        "Device_last_kernel_of_container",
        LEGACY_CONTAINER,
        "Container device last kernel description",
        legacy=True,
    ),
    Family("MigInfo", LEGACY_MIG, "MIG device information of a container", legacy=True),
)

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}

#: Scheduler families (spec §7.1, served by ``hami scheduler`` on :9395) the dashboard queries.
SCHEDULER_FAMILIES: tuple[Family, ...] = (
    Family(
        "hami_gpu_memory_limit_bytes",
        ("node", "device_uuid", "device_index", "device_type", "zone"),
        "device total memory",
    ),
    Family(
        "hami_gpu_core_limit_ratio",
        ("node", "device_uuid", "device_index", "device_type", "zone"),
        "device total cores",
    ),
    Family(
        "hami_gpu_memory_allocated_bytes",
        ("node", "device_uuid", "device_index", "device_cores", "device_type", "zone"),
        "allocated memory",
    ),
    Family(
        "hami_gpu_core_allocated_ratio",
        ("node", "device_uuid", "device_index", "device_type", "zone"),
        "allocated cores",
    ),
    Family(
        "hami_gpu_shared_count",
        ("node", "device_uuid", "device_index", "device_type", "zone"),
        "tasks on the GPU",
    ),
    Family(
        "hami_vgpu_memory_allocated_bytes",
        ("namespace", "node", "pod", "container_index", "device_uuid", "zone"),
        "per-container allocation",
    ),
    Family(
        "hami_vgpu_core_allocated_ratio",
        ("namespace", "node", "pod", "container_index", "device_uuid", "zone"),
        "per-container cores",
    ),
)

#: Every family the dashboard may use, by name.
ALL_BY_NAME: dict[str, Family] = {f.name: f for f in (*FAMILIES, *SCHEDULER_FAMILIES)}

#: Labels Prometheus adds to every scraped series (usable in queries).
TARGET_LABELS = ("instance", "job")
