"""Prometheus metrics of the scheduler, computed at scrape time (spec §7.1).

A custom collector reads the engine's usage snapshot and the service's pod/quota caches when
Prometheus scrapes, so nothing is double-bookkept. Names and labels come from the one list in
:mod:`hami.scheduler.metric_catalog` and are HAMi v2.10's exactly (constant label
``zone="vGPU"``, memory in bytes); ours are ``hami_filter_duration_seconds`` and the
filter/bind/lock counters. The collector lives in its own registry (no globals).
"""

from __future__ import annotations

import platform
import sys
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hami import __version__ as _VERSION
from hami.scheduler.metric_catalog import BY_NAME, SCHEDULER_METRICS, ZONE, MetricSpec

if TYPE_CHECKING:
    from hami.engine.state import NodeSnapshot
    from hami.scheduler.service import SchedulerService

MIB = 1024 * 1024
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


class _Family:
    """One catalogue metric and, with ``--legacy-metrics``, its pre-v2.9 twin."""

    def __init__(self, spec: MetricSpec, legacy: bool) -> None:
        zone = ["zone"] if spec.zone else []
        self.spec = spec
        self.metric = GaugeMetricFamily(spec.name, spec.help, labels=[*spec.labels, *zone])
        self.twin = (
            GaugeMetricFamily(spec.legacy, spec.help, labels=[*spec.legacy_labels, *zone])
            if legacy and spec.legacy
            else None
        )

    def add(
        self,
        values: Sequence[str],
        value: float,
        legacy_values: Sequence[str] | None = None,
    ) -> None:
        zone = [ZONE] if self.spec.zone else []
        self.metric.add_metric([*values, *zone], value)
        if self.twin is not None:
            old = legacy_values if legacy_values is not None else values
            self.twin.add_metric([*old[: len(self.spec.legacy_labels)], *zone], value)

    def families(self) -> Iterator[Metric]:
        yield self.metric
        if self.twin is not None:
            yield self.twin


def _holds(per_vendor: Sequence[Sequence[Any]] | None) -> bool:
    """Whether a pod's containers hold any device of one vendor."""
    return bool(per_vendor) and any(c for c in per_vendor or ())


def legacy_names() -> dict[str, str]:
    """``--legacy-metrics``: new name -> pre-v2.9 name (spec §7.1), from the catalogue."""
    return {m.name: m.legacy for m in SCHEDULER_METRICS if m.legacy}


class SchedulerCollector(Collector):
    """Collects every scheduler metric from a :class:`SchedulerService` at scrape time."""

    def __init__(
        self, service: SchedulerService, *, revision: str = "", legacy: bool = False
    ) -> None:
        self._service = service
        self._revision = revision
        self._legacy = legacy

    def _family(self, name: str) -> _Family:
        return _Family(BY_NAME[name], self._legacy)

    def collect(self) -> Iterator[Metric]:
        nodes = self._service.state.nodes()
        for family in (*self._device_metrics(nodes), *self._pod_metrics(nodes),
                       *self._quota_metrics()):  # fmt: skip
            yield from family.families()
        yield from self._own_metrics()
        spec = BY_NAME["hami_build_info"]
        info = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        info.add_metric(
            [_VERSION, self._revision, "", f"python{platform.python_version()}",
             sys.implementation.name, f"{sys.platform}/{platform.machine()}"],
            1,
        )  # fmt: skip
        yield info

    def _device_metrics(self, nodes: Sequence[NodeSnapshot]) -> Iterator[_Family]:
        mem_limit = self._family("hami_gpu_memory_limit_bytes")
        core_limit = self._family("hami_gpu_core_limit_ratio")
        mem_alloc = self._family("hami_gpu_memory_allocated_bytes")
        shared = self._family("hami_gpu_shared_count")
        core_alloc = self._family("hami_gpu_core_allocated_ratio")
        overview = self._family("hami_node_gpu_overview")
        ratio = self._family("hami_node_gpu_memory_allocated_ratio")
        for node in nodes:
            for gpu in node.gpus:
                labels = [node.name, gpu.uuid, str(gpu.index), gpu.type]
                cores = str(gpu.totalcore)
                mem_limit.add(labels, gpu.totalmem * MIB)
                core_limit.add(labels, gpu.totalcore)
                mem_alloc.add([*labels[:3], cores, gpu.type], gpu.usedmem * MIB)
                shared.add(labels, gpu.used)
                core_alloc.add(labels, gpu.usedcores)
                # device_memory_limit is the total in MiB as a decimal string, as in HAMi
                overview.add([*labels[:3], cores, str(gpu.totalmem), gpu.type], gpu.usedmem * MIB)
                if gpu.totalmem > 0:  # HAMi skips the ratio of a device without memory
                    ratio.add(labels, gpu.usedmem / gpu.totalmem)
        return iter((mem_limit, core_limit, mem_alloc, shared, core_alloc, overview, ratio))

    def _pod_metrics(self, nodes: Sequence[NodeSnapshot]) -> Iterator[_Family]:
        mem = self._family("hami_vgpu_memory_allocated_bytes")
        cores = self._family("hami_vgpu_core_allocated_ratio")
        mig = self._family("hami_node_gpu_mig_instance_info")
        index = {(n.name, g.uuid): g.index for n in nodes for g in n.gpus}
        for usage in list(self._service.pods.values()):
            for per_vendor in usage.devices.values():
                for ctr, container in enumerate(per_vendor):
                    for dev in container:
                        if not dev.uuid:  # HAMi omits devices without a UUID
                            continue
                        values = [usage.namespace, usage.node, usage.name, str(ctr), dev.uuid]
                        mem.add(values, dev.usedmem * MIB)
                        cores.add(values, dev.usedcores)
            for a in usage.mig:
                if not a.mig_uuid:  # only instances the device plugin has created
                    continue
                gpu_index = str(index.get((usage.node, a.uuid), a.device_index))
                mig.add(
                    [usage.node, a.uuid, gpu_index, a.mig_uuid, a.profile,
                     str(a.gpu_instance_id), str(a.compute_instance_id), str(a.start),
                     str(a.size)],
                    1,
                    [usage.node, a.uuid, gpu_index, f"{a.profile}-{a.gpu_instance_id}"],
                )  # fmt: skip
        return iter((mem, cores, mig))

    def _quota_metrics(self) -> Iterator[_Family]:
        """HAMi's quota view: per namespace and device resource, usage and (raw) limit.

        An entry exists, for every registered backend, for its memory and core resources that a
        ResourceQuota limits and, as in HAMi, for both of them in every namespace with pods
        holding that vendor's devices (``limit="0"`` when unset).
        """
        service = self._service
        used = self._family("hami_resource_quota_used")
        limit = self._family("hami_resource_quota_limit")
        pods = list(service.pods.values())
        quotas = {ns: list(q.values()) for ns, q in list(service.quotas.items())}
        namespaces = sorted(set(quotas) | {p.namespace for p in pods})
        for ns in namespaces:
            in_ns = [p for p in pods if p.namespace == ns]
            for cw, backend in service.backends.items():
                holding = [p.usage(cw) for p in in_ns if _holds(p.devices.get(cw))]
                limits = [q[cw] for q in quotas.get(ns, []) if cw in q]
                factor = max(int(backend.memory_factor), 1)
                mems = [m // factor for m, _ in limits if m is not None]
                cores = [c for _, c in limits if c is not None]
                for resource, value, caps in (
                    (backend.memory_resource, sum(m for m, _ in holding), mems),
                    (backend.core_resource, sum(c for _, c in holding), cores),
                ):
                    if not caps and not holding:
                        continue
                    cap = min(caps) if caps else None
                    used.add([ns, resource, str(cap or 0)], value)
                    if cap is not None:
                        limit.add([ns, resource], cap)
        return iter((used, limit))

    def _own_metrics(self) -> Iterator[Metric]:
        stats = self._service.stats
        hist = HistogramMetricFamily(
            "hami_filter_duration_seconds", BY_NAME["hami_filter_duration_seconds"].help
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
        rechecks = CounterMetricFamily("hami_bind_recheck", BY_NAME["hami_bind_recheck"].help,
                                       labels=["source"])  # fmt: skip
        rechecks.add_metric(["cache"], bind_stats.cached_checks)
        rechecks.add_metric(["api"], bind_stats.listed_checks)
        lock = self._service.locker.stats
        locks = CounterMetricFamily("hami_node_lock", "Node lock operations.", labels=["op"])
        for op, value in (("acquired", lock.acquired), ("released", lock.released),
                          ("stolen", lock.stolen), ("conflict", lock.conflicts),
                          ("contention", lock.contention), ("failed", lock.failures),
                          ("waited", lock.waited)):  # fmt: skip
            locks.add_metric([op], value)
        yield from (hist, filters, binds, rechecks, locks)


def build_registry(
    service: SchedulerService, *, revision: str = "", legacy: bool = False
) -> CollectorRegistry:
    """A fresh registry holding only the scheduler collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector(service, revision=revision, legacy=legacy))
    return registry
