"""``hami top``'s model and rendering (pure): GPUs per node, what is allocated on each, by whom.

Allocation comes from the API objects: each node's ``hami.io/node-nvidia-register`` (capacity:
slots, MiB, cores per GPU) and each pod's ``hami.io/vgpu-devices-allocated`` (what every
container holds on which GPU), decoded with :mod:`hami.api`'s codecs. Live usage (``--usage``)
comes from the monitors' ``/metrics`` text, parsed here too. The table fits 80 columns.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hami.api.annotations import DEVICES_ALLOCATED, NODE_NVIDIA_REGISTER, VGPU_NODE
from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_devices
from hami.api.poddevices import decode_pod_devices

log = logging.getLogger(__name__)

MiB = 1 << 20
WIDTH = 80


@dataclass
class Usage:
    """Live figures from a monitor (``None``: not reported)."""

    memory_used: int | None = None
    utilization: float | None = None


@dataclass
class PodShare:
    namespace: str
    name: str
    container: str
    memory_mib: int
    cores: int
    usage: Usage | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class GpuView:
    index: int
    uuid: str
    type: str
    slots: int
    memory_mib: int
    cores: int
    health: bool = True
    pods: list[PodShare] = field(default_factory=list)
    usage: Usage | None = None

    @property
    def used_slots(self) -> int:
        return len(self.pods)

    @property
    def used_memory_mib(self) -> int:
        return sum(p.memory_mib for p in self.pods)

    @property
    def used_cores(self) -> int:
        return sum(p.cores for p in self.pods)


@dataclass
class NodeView:
    name: str
    gpus: list[GpuView] = field(default_factory=list)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _gpu_containers(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        str(c.get("name", ""))
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        if isinstance(c, Mapping)
    ]


def build(nodes: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]) -> list[NodeView]:
    """Nodes (sorted by name) with their registered GPUs and the pods allocated on them."""
    views: dict[str, NodeView] = {}
    by_uuid: dict[tuple[str, str], GpuView] = {}
    for node in nodes:
        meta = _meta(node)
        name = str(meta.get("name", ""))
        value = (meta.get("annotations") or {}).get(NODE_NVIDIA_REGISTER)
        if not name or not isinstance(value, str) or not value:
            continue
        try:
            devices = decode_node_devices(value)
        except DecodeError as exc:
            log.warning("node %s: %s ignored: %s", name, NODE_NVIDIA_REGISTER, exc)
            continue
        view = NodeView(name)
        for d in sorted(devices, key=lambda d: (d.index, d.id)):
            gpu = GpuView(d.index, d.id, d.type, d.count, d.devmem, d.devcore, d.health)
            view.gpus.append(gpu)
            by_uuid[(name, d.id)] = gpu
        views[name] = view
    for pod in pods:
        meta = _meta(pod)
        annotations = meta.get("annotations") or {}
        value = annotations.get(DEVICES_ALLOCATED)
        phase = (pod.get("status") or {}).get("phase")
        if not isinstance(value, str) or not value or phase in ("Succeeded", "Failed"):
            continue
        node_name = str(annotations.get(VGPU_NODE) or (pod.get("spec") or {}).get("nodeName") or "")
        ref = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        try:
            blocks = decode_pod_devices(value, DEVICES_ALLOCATED)
        except DecodeError as exc:
            log.warning("pod %s: %s ignored: %s", ref, DEVICES_ALLOCATED, exc)
            continue
        names = _gpu_containers(pod)
        for i, held in enumerate(blocks):
            container = names[i] if i < len(names) else f"#{i}"
            for dev in held:
                target = by_uuid.get((node_name, dev.uuid))
                if target is None:
                    log.warning(
                        "pod %s: GPU %s is not registered on node %s", ref, dev.uuid, node_name
                    )
                    continue
                target.pods.append(
                    PodShare(
                        str(meta.get("namespace", "")),
                        str(meta.get("name", "")),
                        container,
                        dev.usedmem,
                        dev.usedcores,
                    )
                )
    for view in views.values():
        for gpu in view.gpus:
            gpu.pods.sort(key=lambda p: (p.namespace, p.name, p.container))
    return [views[k] for k in sorted(views)]


# -- usage from the monitors' /metrics ----------------------------------------------------------
@dataclass
class MetricsUsage:
    """What the monitors report, keyed by GPU UUID and by (namespace, pod, container, UUID)."""

    gpus: dict[str, Usage] = field(default_factory=dict)
    containers: dict[tuple[str, str, str, str], Usage] = field(default_factory=dict)


def parse_metrics(texts: Iterable[str]) -> MetricsUsage:
    """Merge the Prometheus text of several monitors (unparsable text raises ``ValueError``)."""
    out = MetricsUsage()
    gpus: dict[str, Usage] = defaultdict(Usage)
    ctrs: dict[tuple[str, str, str, str], Usage] = defaultdict(Usage)
    for text in texts:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                lb = s.labels
                if s.name == "hami_host_gpu_memory_used_bytes":
                    gpus[lb["device_uuid"]].memory_used = int(s.value)
                elif s.name == "hami_host_gpu_utilization_ratio":
                    gpus[lb["device_uuid"]].utilization = float(s.value)
                elif s.name in (
                    "hami_vgpu_memory_used_bytes",
                    "hami_container_device_utilization_ratio",
                ):
                    key = (lb["namespace"], lb["pod"], lb["container"], lb["device_uuid"])
                    u = ctrs[key]
                    if s.name == "hami_vgpu_memory_used_bytes":
                        u.memory_used = (u.memory_used or 0) + int(s.value)
                    else:
                        u.utilization = (u.utilization or 0.0) + float(s.value)
    out.gpus, out.containers = dict(gpus), dict(ctrs)
    return out


def apply_usage(views: Sequence[NodeView], usage: MetricsUsage) -> None:
    for view in views:
        for gpu in view.gpus:
            gpu.usage = usage.gpus.get(gpu.uuid, Usage())
            for p in gpu.pods:
                p.usage = usage.containers.get(
                    (p.namespace, p.name, p.container, gpu.uuid), Usage()
                )


# -- rendering ----------------------------------------------------------------------------------
def _mib(n: int | None) -> str:
    return "-" if n is None else str(n // MiB)


def _pct(n: float | None) -> str:
    return "-" if n is None else f"{n:.0f}%"


def _ratio(used: int, total: int) -> str:
    return f"{used}/{total}"


def _share(used: int, total: int) -> str:
    return f"{100 * used / total:.0f}%" if total else "-"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _short_type(t: str) -> str:
    for prefix in ("NVIDIA-", "NVIDIA "):
        if t.startswith(prefix):
            return t[len(prefix) :]
    return t


def render(views: Sequence[NodeView], *, usage: bool = False) -> str:
    """The table: one line per node, per GPU and per container holding a share of it."""
    name_w = 30 if usage else 36
    head = f"{'NODE / GPU / POD':<{name_w}} {'SLOTS':>6} {'MEMORY MiB':>12} {'MEM':>4} {'CORES':>7}"
    if usage:
        head += f" {'USED MiB':>8} {'UTIL':>5}"
    lines = [head]
    total_gpus = total_pods = 0
    for view in views:
        slots = sum(g.used_slots for g in view.gpus), sum(g.slots for g in view.gpus)
        mem = sum(g.used_memory_mib for g in view.gpus), sum(g.memory_mib for g in view.gpus)
        cores = sum(g.used_cores for g in view.gpus), sum(g.cores for g in view.gpus)
        row = (
            f"{_fit(view.name, name_w):<{name_w}} {_ratio(*slots):>6} {_ratio(*mem):>12}"
            f" {_share(*mem):>4} {_ratio(*cores):>7}"
        )
        if usage:
            used = [
                g.usage.memory_used
                for g in view.gpus
                if g.usage and g.usage.memory_used is not None
            ]
            utils = [
                g.usage.utilization
                for g in view.gpus
                if g.usage and g.usage.utilization is not None
            ]
            row += f" {_mib(sum(used) if used else None):>8}"
            row += f" {_pct(sum(utils) / len(utils) if utils else None):>5}"
        lines.append(row)
        for g in view.gpus:
            total_gpus += 1
            flag = "" if g.health else " (unhealthy)"
            label = _fit(f"  {g.index} {_short_type(g.type)}{flag}", name_w)
            row = (
                f"{label:<{name_w}} {_ratio(g.used_slots, g.slots):>6}"
                f" {_ratio(g.used_memory_mib, g.memory_mib):>12}"
                f" {_share(g.used_memory_mib, g.memory_mib):>4} {_ratio(g.used_cores, g.cores):>7}"
            )
            if usage:
                u = g.usage or Usage()
                row += f" {_mib(u.memory_used):>8} {_pct(u.utilization):>5}"
            lines.append(row)
            multi = {p.ref for p in g.pods if sum(q.ref == p.ref for q in g.pods) > 1}
            for p in g.pods:
                total_pods += 1
                who = f"{p.ref}/{p.container}" if p.ref in multi else p.ref
                row = (
                    f"{_fit('      ' + who, name_w):<{name_w}} {'':>6} {p.memory_mib:>12}"
                    f" {'':>4} {p.cores:>7}"
                )
                if usage:
                    u = p.usage or Usage()
                    row += f" {_mib(u.memory_used):>8} {_pct(u.utilization):>5}"
                lines.append(row)
    pods = {p.ref for v in views for g in v.gpus for p in g.pods}
    cap = sum(g.slots for v in views for g in v.gpus)
    lines.append(
        f"{len(views)} nodes, {total_gpus} GPUs, {len(pods)} pods, {total_pods}/{cap} slots"
    )
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _usage_json(u: Usage | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {"memory_used_bytes": u.memory_used, "utilization_percent": u.utilization}


def to_json(views: Sequence[NodeView], *, usage: bool = False) -> dict[str, Any]:
    nodes = []
    for view in views:
        gpus = []
        for g in view.gpus:
            gpu: dict[str, Any] = {
                "index": g.index,
                "uuid": g.uuid,
                "type": g.type,
                "health": g.health,
                "slots": {"allocated": g.used_slots, "capacity": g.slots},
                "memory_mib": {"allocated": g.used_memory_mib, "capacity": g.memory_mib},
                "cores": {"allocated": g.used_cores, "capacity": g.cores},
                "pods": [
                    {
                        "namespace": p.namespace,
                        "name": p.name,
                        "container": p.container,
                        "memory_mib": p.memory_mib,
                        "cores": p.cores,
                        **({"usage": _usage_json(p.usage)} if usage else {}),
                    }
                    for p in g.pods
                ],
            }
            if usage:
                gpu["usage"] = _usage_json(g.usage)
            gpus.append(gpu)
        nodes.append({"name": view.name, "gpus": gpus})
    all_gpus = [g for v in views for g in v.gpus]
    totals = {
        "nodes": len(views),
        "gpus": len(all_gpus),
        "pods": len({p.ref for g in all_gpus for p in g.pods}),
        "slots": {
            "allocated": sum(g.used_slots for g in all_gpus),
            "capacity": sum(g.slots for g in all_gpus),
        },
        "memory_mib": {
            "allocated": sum(g.used_memory_mib for g in all_gpus),
            "capacity": sum(g.memory_mib for g in all_gpus),
        },
        "cores": {
            "allocated": sum(g.used_cores for g in all_gpus),
            "capacity": sum(g.cores for g in all_gpus),
        },
    }
    return {"nodes": nodes, "totals": totals}
