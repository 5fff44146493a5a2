"""Prometheus metrics of the scheduler, computed at scrape time (spec §7.1).

A custom collector reads the engine's usage snapshot and the service's pod/quota caches when
Prometheus scrapes, so nothing is double-bookkept. Names and labels are HAMi's v2.9+ ones
(constant label ``zone="vGPU"``, memory in bytes); ours are ``hami_filter_duration_seconds``
and the filter/bind/lock counters. The collector lives in its own registry (no globals).
"""

from __future__ import annotations

import platform
import sys
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hami import __version__ as _VERSION

if TYPE_CHECKING:
    from hami.scheduler.service import SchedulerService

MIB = 1024 * 1024
_ZONE = {"zone": "vGPU"}
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class DurationHistogram:
    """A fixed-bucket latency histogram (seconds) without a global registry."""

    bounds: tuple[float, ...] = _BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((repr(bound), running))
        out.append(("+Inf", self.count))
        return out


#: ``--legacy-metrics``: pre-v2.9 metric names (spec §7.1) and their label spellings.
LEGACY_NAMES = {
    "hami_gpu_memory_limit_bytes": "GPUDeviceMemoryLimit",
    "hami_gpu_core_limit_ratio": "GPUDeviceCoreLimit",
    "hami_gpu_memory_allocated_bytes": "GPUDeviceMemoryAllocated",
    "hami_gpu_shared_count": "GPUDeviceSharedNum",
    "hami_gpu_core_allocated_ratio": "GPUDeviceCoreAllocated",
    "hami_node_gpu_overview": "nodeGPUOverview",
    "hami_node_gpu_memory_allocated_ratio": "nodeGPUMemoryPercentage",
    "hami_resource_quota_used": "QuotaUsed",
    "hami_vgpu_memory_allocated_bytes": "vGPUMemoryAllocated",
    "hami_vgpu_core_allocated_ratio": "vGPUCoreAllocated",
}
_LEGACY_LABELS = {
    "node": "nodeid", "device_uuid": "deviceuuid", "device_index": "deviceidx",
    "device_type": "devicetype", "device_cores": "devicecores",
    "device_memory_limit": "devicememorylimit", "quota_name": "quotaName",
    "container_index": "containeridx", "pod": "podname",
}  # fmt: skip
_LEGACY_POD_LABELS = {"namespace": "podnamespace", "node": "nodename"}
_LEGACY_QUOTA_LABELS = {"namespace": "quotanamespace"}


def legacy_copy(metric: Metric) -> Metric | None:
    """The pre-v2.9 twin of a metric family, or None when it had none."""
    name = LEGACY_NAMES.get(metric.name)
    if name is None:
        return None
    extra = _LEGACY_POD_LABELS if name.startswith("vGPU") else (
        _LEGACY_QUOTA_LABELS if name == "QuotaUsed" else {})  # fmt: skip
    rename = {**_LEGACY_LABELS, **extra}
    twin = Metric(name, metric.documentation, metric.type)
    for sample in metric.samples:
        labels = {rename.get(k, k): v for k, v in sample.labels.items()}
        twin.add_sample(name, labels, sample.value)
    return twin


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[*labels, "zone"])


class SchedulerCollector(Collector):
    """Collects every scheduler metric from a :class:`SchedulerService` at scrape time."""

    def __init__(
        self, service: SchedulerService, *, revision: str = "", legacy: bool = False
    ) -> None:
        self._service = service
        self._revision = revision
        self._legacy = legacy

    def collect(self) -> Iterator[Metric]:
        for metric in (*self._device_metrics(), *self._pod_metrics(), *self._quota_metrics()):
            yield metric
            twin = legacy_copy(metric) if self._legacy else None
            if twin is not None:
                yield twin
        yield from self._own_metrics()
        info = GaugeMetricFamily(
            "hami_build_info",
            "Build information of the hami scheduler.",
            labels=["version", "revision", "build_date", "go_version", "compiler", "platform"],
        )
        info.add_metric(
            [_VERSION, self._revision, "", f"python{platform.python_version()}",
             sys.implementation.name, f"{sys.platform}/{platform.machine()}"],
            1,
        )  # fmt: skip
        yield info

    def _device_metrics(self) -> Iterator[Metric]:
        base = ["node", "device_uuid", "device_index", "device_type"]
        mem_limit = _gauge("hami_gpu_memory_limit_bytes", "GPU device memory limit.", base)
        core_limit = _gauge("hami_gpu_core_limit_ratio", "GPU device core limit.", base)
        mem_alloc = _gauge(
            "hami_gpu_memory_allocated_bytes",
            "GPU device memory allocated.",
            ["node", "device_uuid", "device_index", "device_cores", "device_type"],
        )
        core_alloc = _gauge("hami_gpu_core_allocated_ratio", "GPU device cores allocated.", base)
        shared = _gauge("hami_gpu_shared_count", "Number of tasks sharing the GPU.", base)
        overview = _gauge(
            "hami_node_gpu_overview",
            "GPU overview on a node: allocated memory.",
            ["node", "device_uuid", "device_index", "device_cores", "device_memory_limit",
             "device_type"],
        )  # fmt: skip
        ratio = _gauge("hami_node_gpu_memory_allocated_ratio", "Allocated/total GPU memory.", base)
        for node in self._service.state.nodes():
            for gpu in node.gpus:
                labels = [node.name, gpu.uuid, str(gpu.index), gpu.type, "vGPU"]
                mem_limit.add_metric(labels, gpu.totalmem * MIB)
                core_limit.add_metric(labels, gpu.totalcore)
                mem_alloc.add_metric(
                    [node.name, gpu.uuid, str(gpu.index), str(gpu.totalcore), gpu.type, "vGPU"],
                    gpu.usedmem * MIB,
                )
                core_alloc.add_metric(labels, gpu.usedcores)
                shared.add_metric(labels, gpu.used)
                overview.add_metric(
                    [node.name, gpu.uuid, str(gpu.index), str(gpu.totalcore),
                     str(gpu.totalmem * MIB), gpu.type, "vGPU"],
                    gpu.usedmem * MIB,
                )  # fmt: skip
                ratio.add_metric(labels, gpu.usedmem / gpu.totalmem if gpu.totalmem else 0.0)
        yield from (mem_limit, core_limit, mem_alloc, core_alloc, shared, overview, ratio)

    def _pod_metrics(self) -> Iterator[Metric]:
        labels = ["namespace", "node", "pod", "container_index", "device_uuid"]
        mem = _gauge("hami_vgpu_memory_allocated_bytes", "vGPU memory per container.", labels)
        cores = _gauge("hami_vgpu_core_allocated_ratio", "vGPU cores per container.", labels)
        for usage in list(self._service.pods.values()):
            for per_vendor in usage.devices.values():
                for index, container in enumerate(per_vendor):
                    for dev in container:
                        values = [usage.namespace, usage.node, usage.name, str(index), dev.uuid,
                                  "vGPU"]  # fmt: skip
                        mem.add_metric(values, dev.usedmem * MIB)
                        cores.add_metric(values, dev.usedcores)
        yield from (mem, cores)
        mig = GaugeMetricFamily(
            "hami_node_gpu_mig_instance_info",
            "Dynamic-MIG instances reserved on GPUs.",
            labels=["node", "device_uuid", "device_index", "mig_uuid", "profile",
                    "gpu_instance_id", "compute_instance_id", "placement_start",
                    "placement_size", "zone"],
        )  # fmt: skip
        for usage in list(self._service.pods.values()):
            for a in usage.mig:
                mig.add_metric(
                    [usage.node, a.uuid, str(a.device_index), "", a.profile, "", "",
                     str(a.start), str(a.size), "vGPU"],
                    1,
                )  # fmt: skip
        yield mig

    def _quota_metrics(self) -> Iterator[Metric]:
        service = self._service
        nv = service.config.nvidia
        used = _gauge(
            "hami_resource_quota_used", "Quota usage.", ["namespace", "quota_name", "limit"]
        )
        limit = _gauge(
            "hami_resource_quota_limit", "Quota limit.", ["namespace", "quota_name", "limit"]
        )
        for ns, quotas in list(service.quotas.items()):
            pods = [p for p in service.pods.values() if p.namespace == ns]
            for qname, (mem_limit, core_limit) in quotas.items():
                for resource, value, cap in (
                    (nv.resource_memory_name, sum(p.mem for p in pods), mem_limit),
                    (nv.resource_core_name, sum(p.cores for p in pods), core_limit),
                ):
                    if cap is None:
                        continue
                    used.add_metric([ns, qname, resource, "vGPU"], value)
                    limit.add_metric([ns, qname, resource, "vGPU"], cap)
        yield from (used, limit)

    def _own_metrics(self) -> Iterator[Metric]:
        stats = self._service.stats
        hist = HistogramMetricFamily(
            "hami_filter_duration_seconds", "Time to answer one /filter call."
        )
        hist.add_metric([], stats.filter_seconds.buckets(), stats.filter_seconds.total)
        filters = CounterMetricFamily("hami_filter", "Filter calls by result.", labels=["result"])
        filters.add_metric(["scheduled"], stats.filter_ok)
        filters.add_metric(["unschedulable"], stats.filter_failed)
        filters.add_metric(["error"], stats.filter_errors)
        binds = CounterMetricFamily("hami_bind", "Bind calls by result.", labels=["result"])
        bind_stats = self._service.binder.stats
        binds.add_metric(["ok"], bind_stats.ok)
        binds.add_metric(["failed"], bind_stats.failed)
        lock = self._service.locker.stats
        locks = CounterMetricFamily("hami_node_lock", "Node lock operations.", labels=["op"])
        for op, value in (("acquired", lock.acquired), ("released", lock.released),
                          ("stolen", lock.stolen), ("conflict", lock.conflicts),
                          ("contention", lock.contention), ("failed", lock.failures),
                          ("waited", lock.waited)):  # fmt: skip
            locks.add_metric([op], value)
        yield from (hist, filters, binds, locks)


def build_registry(
    service: SchedulerService, *, revision: str = "", legacy: bool = False
) -> CollectorRegistry:
    """A fresh registry holding only the scheduler collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector(service, revision=revision, legacy=legacy))
    return registry
