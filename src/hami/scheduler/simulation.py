"""Offline scheduling of a list of pods onto a list of nodes: the engine behind ``hami simulate``.

Pure: takes already-parsed YAML documents (v1 Node and Pod objects, ``kind: List`` wrappers
allowed), passes each pod through the admission mutation exactly as the webhook would, then
through :meth:`ClusterState.filter`, reserving each success before the next pod (file order).
Bad input raises :class:`InputError` naming the source file and the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hami.api.annotations import NODE_NVIDIA_REGISTER
from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_devices
from hami.api.types import DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.scheduler.state import ClusterState, FilterOutcome, GpuSnapshot
from hami.webhook.mutate import AdmissionContext, mutate_pod

NOT_MANAGED = "asks for no HAMi-managed resource (left to kube-scheduler)"


class InputError(ValueError):
    """A nodes or pods file holds something we cannot use; the message names file and object."""


@dataclass(frozen=True, slots=True)
class NodeInput:
    name: str
    devices: tuple[DeviceInfo, ...]
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PodResult:
    namespace: str
    name: str
    node: str | None
    reason: str | None
    annotations: dict[str, str] = field(default_factory=dict)
    containers: PodSingleDevice = ()
    denied: bool = False
    """True when the admission webhook refused the pod (``reason`` holds its message)."""


@dataclass(frozen=True, slots=True)
class SimulationResult:
    pods: tuple[PodResult, ...]
    gpus: tuple[tuple[str, GpuSnapshot], ...]

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented for ``hami simulate --output json``."""
        return {
            "pods": [
                {
                    "namespace": p.namespace,
                    "name": p.name,
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


def load_nodes(docs: Iterable[Any], source: str) -> list[NodeInput]:
    """Nodes and their devices (from ``hami.io/node-nvidia-register``, JSON or legacy form)."""
    nodes: list[NodeInput] = []
    for obj in flatten(docs, source, "Node"):
        name = obj["metadata"]["name"]
        annotations = obj["metadata"].get("annotations") or {}
        if not isinstance(annotations, dict):
            raise InputError(f"{source}: Node {name}: metadata.annotations is not a mapping")
        value = annotations.get(NODE_NVIDIA_REGISTER)
        devices: list[DeviceInfo] = []
        if value is not None:
            try:
                devices = decode_node_devices(str(value))
            except DecodeError as exc:
                raise InputError(f"{source}: Node {name}: {exc}") from exc
        nodes.append(
            NodeInput(name, tuple(devices), {str(k): str(v) for k, v in annotations.items()})
        )
    return nodes


def load_pods(docs: Iterable[Any], source: str) -> list[dict[str, Any]]:
    """Pod manifests in file order (namespace defaults to ``default``)."""
    pods = flatten(docs, source, "Pod")
    for p in pods:
        if not isinstance(p.get("spec"), dict):
            raise InputError(f"{source}: Pod {p['metadata']['name']}: spec is missing")
    return pods


def _pending_reason(out: FilterOutcome, total: int) -> str:
    if out.error:
        return out.error
    detail = "; ".join(f"{n}: {r}" for n, r in sorted(out.failed_nodes.items()))
    return f"0/{total} nodes fit: {detail}" if detail else f"0/{total} nodes fit"


def simulate(
    nodes: Iterable[NodeInput],
    pods: Iterable[Mapping[str, Any]],
    cfg: DeviceConfig,
    *,
    node_policy: str = "binpack",
    gpu_policy: str = "spread",
    now: datetime,
) -> SimulationResult:
    """Schedule ``pods`` in order onto ``nodes``; each success is reserved before the next pod."""
    state = ClusterState(cfg, node_policy=node_policy, gpu_policy=gpu_policy)
    names: list[str] = []
    for n in nodes:
        names.append(n.name)
        if n.devices:
            state.upsert_node(n.name, n.devices, n.annotations)
    ctx = AdmissionContext(cfg)
    results: list[PodResult] = []
    for i, raw in enumerate(pods):
        results.append(_schedule_one(state, ctx, raw, i, names, now))
    gpus = tuple((snap.name, g) for snap in state.nodes() for g in snap.gpus)
    return SimulationResult(tuple(results), gpus)


def _schedule_one(
    state: ClusterState,
    ctx: AdmissionContext,
    raw: Mapping[str, Any],
    i: int,
    names: list[str],
    now: datetime,
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
        return PodResult(ns, name, None, NOT_MANAGED)
    if out.node is None:
        return PodResult(ns, name, None, _pending_reason(out, len(names)))
    state.add_pod(uid, ns, name, out.node, out.devices, init_count=out.init_count, mig=out.mig)
    return PodResult(ns, name, out.node, None, dict(out.annotations), out.devices.get("NVIDIA", ()))
