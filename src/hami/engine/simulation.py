"""Offline scheduling of a list of pods onto a list of nodes: the engine behind ``hami simulate``.

Pure: takes already-parsed YAML documents (v1 Node and Pod objects, ``kind: List`` wrappers
allowed), reads each node's devices through every registered backend's inventory (one node may
carry several vendors), passes each pod through the admission mutation exactly as the webhook
would, then through :meth:`ClusterState.filter`, reserving each success before the next pod
(file order). Usage is reported per device with its vendor (cw) and totalled per vendor.
Bad input raises :class:`InputError` naming the source file and the object: what the apiserver
itself would refuse (non-string annotation values, fractional extended resources, odd shapes) and
inventories no node can have (negative counts or memory, duplicate device UUIDs or node names).
Suspicious but valid input (a misspelt HAMi resource or annotation, a device type without its
vendor's cw, which HAMi never matches) gives warnings. The output is deterministic: the clock is
fixed.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from hami.api import annotations as keys
from hami.api.errors import DecodeError
from hami.api.quantity import parse_quantity
from hami.api.types import DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.registry import DeviceRegistry
from hami.engine.state import ClusterState, FilterOutcome, GpuSnapshot, NodeDevices, vendor_devices
from hami.webhook.mutate import AdmissionContext, mutate_pod

NOT_MANAGED = "asks for no HAMi-managed resource (left to kube-scheduler)"
SIMULATED_NOW: Final = datetime(2026, 1, 1, tzinfo=UTC)
"""The clock of every simulation (``hami.io/vgpu-time``): the same input gives the same output."""
STATUSES: Final = ("scheduled", "pending", "denied", "unmanaged")
POD_ANNOTATIONS: Final = (
    keys.USE_GPUTYPE, keys.NOUSE_GPUTYPE, keys.USE_GPUUUID, keys.NOUSE_GPUUUID, keys.NUMA_BIND,
    keys.VGPU_MODE, keys.NODE_SCHEDULER_POLICY, keys.GPU_SCHEDULER_POLICY,
    keys.DEVICE_SCORING_WEIGHTS,
)  # fmt: skip
"""The annotations a user writes on a pod to steer HAMi (misspellings of these get a warning)."""


class InputError(ValueError):
    """A nodes or pods file holds something we cannot use; the message names file and object."""


@dataclass(frozen=True, slots=True)
class NodeInput:
    name: str
    devices: NodeDevices
    """cw -> that vendor's devices (a plain sequence = NVIDIA's)."""
    annotations: Mapping[str, str]

    @property
    def by_vendor(self) -> dict[str, tuple[DeviceInfo, ...]]:
        return vendor_devices(self.devices)


@dataclass(frozen=True, slots=True)
class PodResult:
    namespace: str
    name: str
    node: str | None
    reason: str | None
    annotations: dict[str, str] = field(default_factory=dict)
    containers: PodSingleDevice = ()
    """Per container (init first) the devices of every vendor, vendors in cw order."""
    denied: bool = False
    """True when the admission webhook refused the pod (``reason`` holds its message)."""
    managed: bool = True

    @property
    def status(self) -> str:
        """``scheduled``, ``pending``, ``denied`` or ``unmanaged`` (left to kube-scheduler)."""
        if self.node:
            return "scheduled"
        if self.denied:
            return "denied"
        return "pending" if self.managed else "unmanaged"


@dataclass(frozen=True, slots=True)
class SimulationResult:
    pods: tuple[PodResult, ...]
    gpus: tuple[tuple[str, GpuSnapshot], ...]
    warnings: tuple[str, ...] = ()

    @property
    def vendors(self) -> tuple[str, ...]:
        """The cws of the cluster's devices, sorted."""
        return tuple(sorted({g.vendor for _, g in self.gpus}))

    @property
    def mixed(self) -> bool:
        """True when the cluster holds devices of more than one vendor: the reports then carry
        the vendor of each device and per-vendor totals (one-vendor reports keep their shape)."""
        return len(self.vendors) > 1

    def usage(self, vendor: str | None = None) -> dict[str, Any]:
        """Device count, memory, cores and slots used/total, of one vendor or of all."""
        gpus = [g for _, g in self.gpus if vendor is None or g.vendor == vendor]

        def pair(used: int, total: int) -> dict[str, int]:
            return {"used": used, "total": total}

        return {
            "gpus": len(gpus),
            "memory": pair(sum(g.usedmem for g in gpus), sum(g.totalmem for g in gpus)),
            "cores": pair(sum(g.usedcores for g in gpus), sum(g.totalcore for g in gpus)),
            "slots": pair(sum(g.used for g in gpus), sum(g.count for g in gpus)),
        }

    def totals(self) -> dict[str, Any]:
        """Pods by status and the cluster's device usage (plus ``vendors``: cw -> usage, when
        the cluster is mixed)."""
        statuses = Counter(p.status for p in self.pods)
        out: dict[str, Any] = {
            "pods": len(self.pods),
            **{status: statuses.get(status, 0) for status in STATUSES},
            **self.usage(),
        }
        if self.mixed:
            out["vendors"] = {cw: self.usage(cw) for cw in self.vendors}
        return out

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented for ``hami simulate --output json`` (a mixed
        cluster adds ``totals.vendors`` and a ``vendor`` key to each device)."""
        mixed = self.mixed
        return {
            "totals": self.totals(),
            "warnings": list(self.warnings),
            "pods": [
                {
                    "namespace": p.namespace,
                    "name": p.name,
                    "status": p.status,
                    "node": p.node,
                    "reason": p.reason,
                    "annotations": dict(p.annotations),
                    "containers": [
                        [
                            {
                                "uuid": d.uuid,
                                "type": d.type,
                                "usedmem": d.usedmem,
                                "usedcores": d.usedcores,
                            }
                            for d in c
                        ]
                        for c in p.containers
                    ],
                }
                for p in self.pods
            ],
            "gpus": [
                {
                    "node": node,
                    "uuid": g.uuid,
                    "type": g.type,
                    "count": g.count,
                    "used": g.used,
                    "totalmem": g.totalmem,
                    "usedmem": g.usedmem,
                    "totalcores": g.totalcore,
                    "usedcores": g.usedcores,
                    **({"vendor": g.vendor} if mixed else {}),
                }
                for node, g in self.gpus
            ],
        }


def flatten(docs: Iterable[Any], source: str, kind: str) -> list[dict[str, Any]]:
    """Objects of ``kind`` from a YAML stream whose documents may be ``kind: List`` wrappers."""
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InputError(
                f"{source}: document {i + 1}: expected a mapping, got {type(doc).__name__}"
            )
        if doc.get("kind") in ("List", f"{kind}List"):
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise InputError(f"{source}: document {i + 1}: 'items' is not a list")
            out.extend(flatten(items, source, kind))
            continue
        if doc.get("kind") != kind:
            raise InputError(
                f"{source}: {_describe(doc, i)}: expected kind {kind}, got {doc.get('kind')!r}"
            )
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
            raise InputError(f"{source}: {_describe(doc, i)}: metadata.name is missing")
        out.append(doc)
    return out


def _describe(doc: Mapping[str, Any], i: int) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{doc.get('kind') or 'object'} {name}" if name else f"object {i + 1}"


def load_nodes(docs: Iterable[Any], source: str, registry: DeviceRegistry) -> list[NodeInput]:
    """Nodes and their devices, read through every backend's inventory (e.g.
    ``hami.io/node-nvidia-register``, JSON or legacy form; node capacity for some vendors).

    Refuses what no real cluster can hold: two nodes of one name, one device UUID twice, a
    negative slot count, memory or core total."""
    nodes: list[NodeInput] = []
    seen_nodes: set[str] = set()
    seen_gpus: dict[str, str] = {}
    for obj in flatten(docs, source, "Node"):
        name = obj["metadata"]["name"]
        if name in seen_nodes:
            raise InputError(f"{source}: Node {name}: a second node with this name")
        seen_nodes.add(name)
        annotations = _string_map(obj["metadata"], "annotations", f"{source}: Node {name}")
        devices: dict[str, tuple[DeviceInfo, ...]] = {}
        for cw, inventory in registry.inventories.items():
            try:
                found = inventory.node_devices(obj)
            except DecodeError as exc:
                raise InputError(f"{source}: Node {name}: {exc}") from exc
            if found:
                devices[cw] = tuple(found)
        for dev in (d for found in devices.values() for d in found):
            where = f"{source}: Node {name}: GPU {dev.id}"
            for what, amount in (("count", dev.count), ("memory", dev.devmem),
                                 ("cores", dev.devcore)):  # fmt: skip
                if amount < 0:
                    raise InputError(f"{where}: negative {what} ({amount})")
            if dev.id in seen_gpus:
                raise InputError(f"{where}: this UUID is also on node {seen_gpus[dev.id]}")
            seen_gpus[dev.id] = name
        nodes.append(NodeInput(name, devices, annotations))
    return nodes


def _string_map(meta: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    """``metadata.<key>`` as the apiserver accepts it: a mapping of strings to strings."""
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: metadata.{key} must be a mapping, not {_kind(value)}")
    for k, v in value.items():
        if not isinstance(v, str):
            hint = f' (quote it: "{_yaml_scalar(v)}")' if isinstance(v, bool | int | float) else ""
            raise InputError(
                f"{where}: metadata.{key}[{str(k)!r}] must be a string, not {_kind(v)}{hint}"
            )
    return {str(k): v for k, v in value.items()}


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list",
             dict: "a mapping", str: "a string", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _yaml_scalar(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _is_extended(resource: str) -> bool:
    """Extended resources: a domain-prefixed name outside ``kubernetes.io`` (whole units only)."""
    domain, slash, _ = resource.partition("/")
    return bool(slash) and not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def _check_container(c: Any, where: str) -> None:
    if not isinstance(c, dict):
        raise InputError(f"{where} must be a mapping, not {_kind(c)}")
    resources = c.get("resources")
    if resources is None:
        return
    if not isinstance(resources, dict):
        raise InputError(f"{where}.resources must be a mapping, not {_kind(resources)}")
    for part in ("limits", "requests"):
        values = resources.get(part)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise InputError(f"{where}.resources.{part} must be a mapping, not {_kind(values)}")
        for resource, raw in values.items():
            field_ = f"{where}.resources.{part}[{resource}]"
            try:
                amount = parse_quantity(raw, field_)
            except DecodeError as exc:
                raise InputError(str(exc)) from exc
            if _is_extended(str(resource)) and amount.denominator != 1:
                raise InputError(f"{field_}: Invalid value: {raw!r}: must be an integer")
            if amount < 0:
                raise InputError(f"{field_}: Invalid value: {raw!r}: must be >= 0")


def load_pods(docs: Iterable[Any], source: str) -> list[dict[str, Any]]:
    """Pod manifests in file order (namespace defaults to ``default``), checked as the apiserver
    checks them: string annotations and labels, container lists of mappings, whole-unit
    extended resources."""
    pods = flatten(docs, source, "Pod")
    for p in pods:
        meta = p["metadata"]
        where = f"{source}: Pod {meta.get('namespace') or 'default'}/{meta['name']}"
        if not isinstance(p.get("spec"), dict):
            raise InputError(f"{where}: spec is missing")
        _string_map(meta, "annotations", where)
        _string_map(meta, "labels", where)
        for part in ("initContainers", "containers"):
            containers = p["spec"].get(part)
            if containers is None and part == "initContainers":
                continue
            if not isinstance(containers, list) or (part == "containers" and not containers):
                raise InputError(f"{where}: spec.{part} must be a non-empty list of containers")
            for k, c in enumerate(containers):
                _check_container(c, f"{where}: spec.{part}[{k}]")
    return pods


def lint_pods(
    pods: Iterable[Mapping[str, Any]], cfg: DeviceRegistry | DeviceConfig, source: str
) -> list[str]:
    """Warnings for what the apiserver accepts but HAMi would silently ignore: a resource under a
    managed prefix that is no managed resource, an annotation that looks like HAMi's but is not."""
    registry = cfg if isinstance(cfg, DeviceRegistry) else DeviceRegistry.from_config(cfg)
    managed = set(registry.managed_resources)
    prefixes = {name.partition("/")[0] for name in managed if "/" in name}
    known_annotations = set(POD_ANNOTATIONS)
    out: list[str] = []
    for p in pods:
        meta = p["metadata"]
        where = f"{source}: Pod {meta.get('namespace') or 'default'}/{meta['name']}"
        for ann in meta.get("annotations") or {}:
            prefix = str(ann).partition("/")[0]
            if ann in known_annotations or prefix not in prefixes | {"hami.io"}:
                continue
            close = difflib.get_close_matches(ann, POD_ANNOTATIONS, n=1, cutoff=0.85)
            if close:
                out.append(f"{where}: annotation {ann!r} is not HAMi's; did you mean {close[0]!r}?")
        spec = p["spec"]
        for part in ("initContainers", "containers"):
            for c in spec.get(part) or []:
                for section in ("limits", "requests"):
                    for resource in (c.get("resources") or {}).get(section) or {}:
                        if resource in managed or str(resource).partition("/")[0] not in prefixes:
                            continue
                        close = difflib.get_close_matches(resource, sorted(managed), n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else ""
                        out.append(
                            f"{where}: container {c.get('name')!r}: {resource!r} is no resource "
                            f"HAMi manages, so it is ignored{hint}"
                        )
    return list(dict.fromkeys(out))


def _off_type(cw: str, dev: DeviceInfo) -> bool:
    """HAMi hands a request of vendor ``cw`` only devices whose type contains ``cw`` (any case)."""
    return cw.lower() not in dev.type.lower()


def lint_nodes(nodes: Iterable[NodeInput], source: str) -> list[str]:
    """Warnings for devices no request of their vendor ever matches (the type must contain the
    vendor's cw, e.g. ``NVIDIA``)."""
    return [
        f"{source}: Node {n.name}: GPU {d.id} type {d.type!r} has no {cw!r} in it, "
        f"so no {cw} request ever matches it (CardTypeMismatch)"
        for n in nodes
        for cw, devs in n.by_vendor.items()
        for d in devs
        if _off_type(cw, d)
    ]


def _pending_reason(out: FilterOutcome, total: int, off_type: Mapping[str, tuple[str, str]]) -> str:
    if out.error:
        return out.error
    parts = []
    for n, r in sorted(out.failed_nodes.items()):
        if n in off_type and "CardTypeMismatch" in r:
            cw, kind = off_type[n]
            r += f" (GPU type {kind!r} has no {cw!r} in it, so it never matches)"
        parts.append(f"{n}: {r}")
    detail = "; ".join(parts)
    return f"0/{total} nodes fit: {detail}" if detail else f"0/{total} nodes fit"


def simulate(
    nodes: Iterable[NodeInput],
    pods: Iterable[Mapping[str, Any]],
    cfg: DeviceRegistry | DeviceConfig,
    *,
    node_policy: str = "binpack",
    gpu_policy: str = "spread",
    now: datetime = SIMULATED_NOW,
    warnings: Iterable[str] = (),
) -> SimulationResult:
    """Schedule ``pods`` in order onto ``nodes``; each success is reserved before the next pod.
    ``cfg``: the registry, or a device config (its default registry)."""
    registry = cfg if isinstance(cfg, DeviceRegistry) else DeviceRegistry.from_config(cfg)
    state = ClusterState(registry, node_policy=node_policy, gpu_policy=gpu_policy)
    names: list[str] = []
    off_type: dict[str, tuple[str, str]] = {}
    for n in nodes:
        names.append(n.name)
        by_vendor = n.by_vendor
        if by_vendor:
            state.upsert_node(n.name, by_vendor, n.annotations)
        for cw, devs in by_vendor.items():
            for d in devs:
                if _off_type(cw, d):
                    off_type.setdefault(n.name, (cw, d.type))
    ctx = AdmissionContext(registry.config, backends=registry.backends)
    candidates = frozenset(names)
    results: list[PodResult] = []
    for i, raw in enumerate(pods):
        results.append(_schedule_one(state, ctx, raw, i, candidates, now, off_type))
    gpus = tuple((snap.name, g) for snap in state.nodes() for g in snap.gpus)
    return SimulationResult(tuple(results), gpus, tuple(warnings))


def _schedule_one(
    state: ClusterState,
    ctx: AdmissionContext,
    raw: Mapping[str, Any],
    i: int,
    names: frozenset[str],
    now: datetime,
    off_type: Mapping[str, tuple[str, str]],
) -> PodResult:
    meta = raw.get("metadata") or {}
    ns, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
    admitted = mutate_pod(raw, ctx)
    if not admitted.allowed:
        reason = f"denied by admission webhook: {admitted.message}"
        return PodResult(ns, name, None, reason, denied=True)
    pod = admitted.pod
    pod_meta = pod.setdefault("metadata", {})
    pod_meta.setdefault("namespace", ns)
    uid = str(pod_meta.setdefault("uid", f"simulated-{i}-{ns}-{name}"))
    out = state.filter(pod, names, now=now)
    if not out.managed:
        return PodResult(ns, name, None, NOT_MANAGED, managed=False)
    if out.node is None:
        return PodResult(ns, name, None, _pending_reason(out, len(names), off_type))
    state.add_pod(uid, ns, name, out.node, out.devices, init_count=out.init_count, mig=out.mig)
    containers = tuple(
        tuple(d for per_vendor in out.devices.values() for d in per_vendor[i])
        for i in range(max((len(v) for v in out.devices.values()), default=0))
    )
    return PodResult(ns, name, out.node, None, dict(out.annotations), containers)
