"""Every metric the scheduler exports: names, labels and legacy twins, in one list (spec §7.1).

Dashboards and alerts join on these names and labels, so they are HAMi v2.10's exactly. The
collector (:mod:`hami.scheduler.metrics`) builds its families from this list, the tests check
a scrape against it, and the chart's dashboard can be generated from it. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

ZONE = "vGPU"
"""Value of the constant ``zone`` label HAMi adds to every collector metric."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported metric family."""

    name: str
    labels: tuple[str, ...]
    """Label names in the order values are given (the ``zone`` label is not listed here)."""
    help: str
    kind: str = "gauge"
    zone: bool = True
    """True when the family also carries ``zone="vGPU"`` (HAMi's collector metrics)."""
    legacy: str = ""
    """The pre-v2.9 name emitted with ``--legacy-metrics`` ("" = none)."""
    legacy_labels: tuple[str, ...] = ()
    """The legacy family's labels, in the same order as the values they carry."""
    ours: bool = False
    """True for hami's own metrics (HAMi has no counterpart)."""


_DEV = ("node", "device_uuid", "device_index", "device_type")
_LDEV = ("nodeid", "deviceuuid", "deviceidx", "devicetype")
_POD = ("namespace", "node", "pod", "container_index", "device_uuid")
_LPOD = ("podnamespace", "nodename", "podname", "containeridx", "deviceuuid")

SCHEDULER_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("hami_gpu_memory_limit_bytes", _DEV, "Device memory limit for a certain GPU",
               legacy="GPUDeviceMemoryLimit", legacy_labels=_LDEV),
    MetricSpec("hami_gpu_core_limit_ratio", _DEV, "Device core limit for a certain GPU",
               legacy="GPUDeviceCoreLimit", legacy_labels=_LDEV),
    MetricSpec("hami_gpu_memory_allocated_bytes",
               ("node", "device_uuid", "device_index", "device_cores", "device_type"),
               "Device memory allocated for a certain GPU", legacy="GPUDeviceMemoryAllocated",
               legacy_labels=("nodeid", "deviceuuid", "deviceidx", "devicecores", "devicetype")),
    MetricSpec("hami_gpu_shared_count", _DEV, "Number of containers sharing this GPU",
               legacy="GPUDeviceSharedNum", legacy_labels=_LDEV),
    MetricSpec("hami_gpu_core_allocated_ratio", _DEV, "Device core allocated for a certain GPU",
               legacy="GPUDeviceCoreAllocated", legacy_labels=_LDEV),
    MetricSpec("hami_node_gpu_overview",
               ("node", "device_uuid", "device_index", "device_cores", "device_memory_limit",
                "device_type"),
               "GPU overview on a certain node", legacy="nodeGPUOverview",
               legacy_labels=("nodeid", "deviceuuid", "deviceidx", "devicecores",
                              "devicememorylimit", "devicetype")),
    MetricSpec("hami_node_gpu_memory_allocated_ratio", _DEV,
               "GPU memory allocated ratio on a certain GPU (0-1)",
               legacy="nodeGPUMemoryPercentage",
               legacy_labels=("nodeid", "deviceuuid", "deviceidx")),
    MetricSpec("hami_node_gpu_mig_instance_info",
               ("node", "device_uuid", "device_index", "mig_uuid", "profile", "gpu_instance_id",
                "compute_instance_id", "placement_start", "placement_size"),
               "Realized MIG instance identity and scheduler placement",
               legacy="nodeGPUMigInstance",
               legacy_labels=("nodeid", "deviceuuid", "deviceidx", "migname")),
    MetricSpec("hami_resource_quota_used", ("namespace", "quota_name", "limit"),
               "resourcequota usage for a certain device", legacy="QuotaUsed",
               legacy_labels=("quotanamespace", "quotaName", "limit")),
    MetricSpec("hami_resource_quota_limit", ("namespace", "quota_name"),
               "resourcequota limit for a certain device"),
    MetricSpec("hami_vgpu_memory_allocated_bytes", _POD, "vGPU memory allocated from a container",
               legacy="vGPUMemoryAllocated", legacy_labels=_LPOD),
    MetricSpec("hami_vgpu_core_allocated_ratio", _POD, "vGPU core allocated from a container",
               legacy="vGPUCoreAllocated", legacy_labels=_LPOD),
    MetricSpec("hami_build_info",
               ("version", "revision", "build_date", "go_version", "compiler", "platform"),
               "Build information of the hami scheduler.", zone=False),
    MetricSpec("hami_filter_duration_seconds", (), "Time to answer one /filter call.",
               kind="histogram", zone=False, ours=True),
    MetricSpec("hami_filter", ("result",), "Filter calls by result.", kind="counter", zone=False,
               ours=True),
    MetricSpec("hami_bind", ("result",), "Bind calls by result.", kind="counter", zone=False,
               ours=True),
    MetricSpec("hami_node_lock", ("op",), "Node lock operations.", kind="counter", zone=False,
               ours=True),
    MetricSpec("hami_bind_recheck", ("source",),
               "Bind re-checks under the node lock by what they read: cache (the pod informer had "
               "seen the lock write) or api (GET and LIST).", kind="counter", zone=False,
               ours=True),
)  # fmt: skip

BY_NAME: dict[str, MetricSpec] = {m.name: m for m in SCHEDULER_METRICS}
