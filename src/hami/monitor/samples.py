"""The monitor's metric samples computed from plain data (pure; the collector only wraps them).

Inputs are what one scrape gathered: NVML figures per host GPU, decoded regions matched to pods,
and the region files that could not be read. Output is ``{family name: [(labels, value)]}`` with
families and label order from :mod:`hami.monitor.families`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hami.api.sharedregion import RegionSnapshot
from hami.monitor.families import BY_NAME
from hami.monitor.pods import MigEntry

Samples = dict[str, list[tuple[tuple[str, ...], float]]]


@dataclass(frozen=True, slots=True)
class HostGpu:
    """NVML's figures for one physical GPU (``None``: NVML could not say)."""

    index: int
    uuid: str
    name: str
    memory_used: int | None
    utilization: float | None
    memory_utilization: float | None


@dataclass(frozen=True, slots=True)
class ContainerRegion:
    """One container's decoded region, matched to its pod."""

    namespace: str
    pod: str
    container: str
    region: RegionSnapshot
    mig: tuple[MigEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class RegionProblem:
    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class Build:
    version: str
    revision: str
    build_date: str
    go_version: str
    compiler: str
    platform: str


def device_type(name: str) -> str:
    """HAMi's ``device_type`` label: ``NVIDIA-`` + the NVML name (unless it already starts so)."""
    return name if name.startswith("NVIDIA-") else f"NVIDIA-{name}"


def compute(
    *,
    node: str,
    hosts: Sequence[HostGpu],
    containers: Sequence[ContainerRegion],
    problems: Sequence[RegionProblem],
    now: float,
    build: Build,
    legacy: bool = False,
) -> Samples:
    out: Samples = defaultdict(list)

    def add(name: str, labels: tuple[str, ...], value: float) -> None:
        assert len(labels) == len(BY_NAME[name].labels), name
        out[name].append((labels, value))

    for g in hosts:
        dtype = device_type(g.name)
        host = (node, str(g.index), g.uuid, dtype)
        if g.memory_used is not None:
            add("hami_host_gpu_memory_used_bytes", host, g.memory_used)
            if legacy:
                add("HostGPUMemoryUsage", (str(g.index), g.uuid, dtype), g.memory_used)
        if g.utilization is not None:
            add("hami_host_gpu_utilization_ratio", host, g.utilization)
            if legacy:
                add("HostCoreUtilization", (str(g.index), g.uuid, dtype), g.utilization)
        if g.memory_utilization is not None:
            add(
                "hami_host_gpu_memory_controller_utilization_ratio",
                (str(g.index), g.uuid, dtype),
                g.memory_utilization,
            )

    for c in containers:
        r = c.region
        for i in range(min(r.device_num, len(r.uuids))):
            uuid = r.uuids[i][:40]
            labels = (c.namespace, c.pod, c.container, str(i), uuid)
            total = context = module = data = offset_sum = sm = 0
            for p in r.processes:
                d = p.devices[i]
                total += d.total
                context += d.context
                module += d.module
                data += d.data
                sm += d.sm_util
            add("hami_vgpu_memory_used_bytes", labels, total)
            add("hami_vgpu_memory_limit_bytes", labels, r.limits[i])
            add("hami_container_device_memory_bytes", labels, total)
            add("hami_container_device_utilization_ratio", labels, sm)
            add("hami_vgpu_memory_context_bytes", labels, context)
            add("hami_vgpu_memory_module_bytes", labels, module)
            add("hami_vgpu_memory_buffer_bytes", labels, data)
            elapsed = now - r.last_kernel_time if r.last_kernel_time > 0 else None
            if elapsed is not None:
                add("hami_container_last_kernel_elapsed_seconds", labels, max(0.0, elapsed))
            if legacy:
                add("vGPU_device_memory_usage_in_bytes", labels, total)
                add("vGPU_device_memory_limit_in_bytes", labels, r.limits[i])
                desc = (*labels, str(context), str(module), str(data), str(offset_sum))
                add("Device_memory_desc_of_container", desc, total)
                add("Device_utilization_desc_of_container", labels, sm)
                if elapsed is not None:
                    add("Device_last_kernel_of_container", labels, max(0.0, elapsed))
        for m in c.mig:
            labels = (c.namespace, c.pod, c.container, str(m.device_index), m.gpu_uuid)
            add(
                "hami_mig_device_info",
                (*labels, m.mig_uuid, m.profile, m.gpu_instance_id, m.compute_instance_id),
                1,
            )
            if legacy:
                add("MigInfo", (*labels, m.profile), 1)

    for prob in problems:
        add("hami_monitor_region_errors", (node, prob.file, prob.reason), 1)

    b = build
    add(
        "hami_build_info",
        (b.version, b.revision, b.build_date, b.go_version, b.compiler, b.platform),
        1,
    )
    return dict(out)
