"""The scheduler's in-memory cluster view and its Filter decision (spec §1.3 step 4, §4).

:class:`ClusterState` is what the extender service drives: nodes come from register annotations,
reservations from pods' ``-allocated`` annotations or from accepted Filter outcomes. ``filter``
never reserves (the caller calls :meth:`ClusterState.add_pod` with the outcome) and ignores the
pod's own earlier reservation, so a retried Filter is safe. Pure: no I/O, no clock (``now`` is
passed in), no asyncio.

Speed: nodes are pruned by per-node summaries kept up to date on every change, ranked by the
node policy's pre-placement score, and fitted in detail best-first until one fits; only when no
node fits is every node fitted in detail to give each its reason (equal scores: name order).
On success ``failed_nodes`` therefore lists only the nodes fitted in detail that failed
(kube-scheduler ignores it then); on failure it names every candidate, unknown ones included.

Busy nodes: ``filter(..., avoid=...)`` names nodes whose lock another pod holds right now (a bind
in flight). A pod placed there would only fail its Bind on lock contention and be retried, so the
best fitting node that is not busy wins, however many nodes are busy; a busy node is chosen only
when no free node fits. The ``avoid`` test is cheap and comes before the detailed fit: busy nodes
whose summary may fit are set aside unfitted and fitted, best first, only when no free node fits,
so busy nodes add no detailed fits to a decision that a free node answers.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hami.api.annotations import (
    DEVICE_CORDON,
    DEVICES_ALLOCATED,
    DEVICES_TO_ALLOCATE,
    MIG_ALLOCATIONS,
    NODE_NVIDIA_SCORE,
    NVIDIA_TYPE,
    VGPU_NODE,
    VGPU_TIME,
)
from hami.api.errors import DecodeError
from hami.api.poddevices import decode_pod_devices, encode_pod_devices
from hami.api.types import DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.nvidia.fit import DeviceUsage
from hami.engine.fit import NodeFit, fit_pod
from hami.engine.plan import PodPlan, plan_pod
from hami.engine.policy import topology
from hami.engine.score import WeightsError
from hami.engine.usage import DeviceCharge, MigAllocation, NodeUsage, ScoreIndex, pod_charges

NODE_UNREGISTERED = "node unregistered"
REASON_CACHE_PLANS = 32


@dataclass(frozen=True, slots=True)
class FilterOutcome:
    """The Filter decision for one pod."""

    node: str | None
    devices: dict[str, PodSingleDevice] = field(default_factory=dict)
    """Vendor keyword (``NVIDIA``) -> per-container device lists, init containers first."""
    annotations: dict[str, str] = field(default_factory=dict)
    """Exactly the pod annotations the extender patches on success."""
    failed_nodes: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    managed: bool = True
    """False when the pod asks for no managed resource (return candidates unchanged)."""
    mig: tuple[MigAllocation, ...] = ()
    init_count: int = 0
    ignored_policies: tuple[tuple[str, str], ...] = ()
    """(annotation, value) of unknown policy names the filter ignored (see ``PodPlan``)."""


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """One GPU's inventory and usage, for metrics and ``hami simulate``."""

    uuid: str
    type: str
    index: int
    numa: int
    mode: str
    health: bool
    count: int
    used: int
    totalmem: int
    usedmem: int
    totalcore: int
    usedcores: int


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    name: str
    gpus: tuple[GpuSnapshot, ...]


@dataclass(slots=True)
class _PodRecord:
    uid: str
    namespace: str
    name: str
    node: str
    charges: dict[str, DeviceCharge]
    mig: tuple[MigAllocation, ...]
    mem: int = 0
    cores: int = 0

    def __post_init__(self) -> None:
        self.mem = sum(c.mem for c in self.charges.values())
        self.cores = sum(c.cores for c in self.charges.values())


def _cordoned(value: str | None) -> list[str]:
    return [u.strip() for u in (value or "").split(",") if u.strip()]


class ClusterState:
    """Nodes, reservations and quotas, plus the Filter algorithm over them."""

    def __init__(
        self, cfg: DeviceConfig, *, node_policy: str = "binpack", gpu_policy: str = "spread"
    ) -> None:
        self._cfg = cfg
        self._node_policy = node_policy
        self._gpu_policy = gpu_policy
        self._nodes: dict[str, NodeUsage] = {}
        self._node_keys: dict[str, tuple[Any, ...]] = {}
        self._pods: dict[str, _PodRecord] = {}
        self._pods_by_node: dict[str, set[str]] = {}
        self._quota: dict[str, tuple[int | None, int | None]] = {}
        self._ns_usage: dict[str, list[int]] = {}
        """Namespace -> [MiB, cores] reserved by its pods (for quota checks)."""
        self._index = ScoreIndex()
        self._reasons: OrderedDict[Hashable, dict[str, tuple[NodeUsage, int, str]]] = OrderedDict()
        self._lock = threading.RLock()

    # --- nodes --------------------------------------------------------------------------------
    def upsert_node(
        self, name: str, devices: Sequence[DeviceInfo], annotations: Mapping[str, str] = {}
    ) -> None:
        """Register or refresh a node's GPUs; reservations on it are re-applied."""
        cordon = annotations.get(DEVICE_CORDON)
        scores = annotations.get(NODE_NVIDIA_SCORE)
        key = (tuple(devices), cordon, scores)
        with self._lock:
            if self._node_keys.get(name) == key:
                return
            node = NodeUsage(
                name,
                devices,
                cordoned=_cordoned(cordon),
                pair_scores=topology.parse_scores(name, scores),
            )
            for uid in self._pods_by_node.get(name, ()):
                rec = self._pods[uid]
                node.charge(rec.charges, 1, rec.mig)
            self._nodes[name] = node
            self._node_keys[name] = key
            self._index.set(name, node.score)

    def remove_node(self, name: str) -> None:
        """Forget a node's GPUs (its pods stay recorded and count again if it returns)."""
        with self._lock:
            self._nodes.pop(name, None)
            self._node_keys.pop(name, None)
            self._index.discard(name)

    def node_names(self) -> list[str]:
        with self._lock:
            return list(self._nodes)

    # --- pods ---------------------------------------------------------------------------------
    def add_pod(
        self,
        uid: str,
        namespace: str,
        name: str,
        node: str,
        devices: Mapping[str, PodSingleDevice],
        *,
        init_count: int = 0,
        mig: Iterable[MigAllocation] = (),
    ) -> None:
        """Record a pod's reservation on ``node``; re-adding the same uid replaces it."""
        rec = _PodRecord(uid, namespace, name, node, pod_charges(devices, init_count), tuple(mig))
        with self._lock:
            self.remove_pod(uid)
            self._attach(rec)

    def remove_pod(self, uid: str) -> None:
        """Release a pod's reservation (no-op for an unknown uid)."""
        with self._lock:
            rec = self._pods.pop(uid, None)
            if rec is None:
                return
            self._pods_by_node.get(rec.node, set()).discard(uid)
            self._charge(rec, -1)

    def _attach(self, rec: _PodRecord) -> None:
        self._pods[rec.uid] = rec
        self._pods_by_node.setdefault(rec.node, set()).add(rec.uid)
        self._charge(rec, 1)

    def _charge(self, rec: _PodRecord, sign: int) -> None:
        used = self._ns_usage.setdefault(rec.namespace, [0, 0])
        used[0] += sign * rec.mem
        used[1] += sign * rec.cores
        target = self._nodes.get(rec.node)
        if target is not None:
            target.charge(rec.charges, sign, rec.mig)
            self._index.set(rec.node, target.score)

    def has_pod(self, uid: str) -> bool:
        with self._lock:
            return uid in self._pods

    # --- quota --------------------------------------------------------------------------------
    def set_quota(self, namespace: str, mem: int | None, cores: int | None) -> None:
        """Namespace limits in MiB (memoryFactor-scaled) and cores; None = unlimited, 0 blocks."""
        with self._lock:
            if mem is None and cores is None:
                self._quota.pop(namespace, None)
            else:
                self._quota[namespace] = (mem, cores)

    def _quota_room(self, namespace: str) -> tuple[int | None, int | None] | None:
        limits = self._quota.get(namespace)
        if limits is None:
            return None
        used_mem, used_cores = self._ns_usage.get(namespace, (0, 0))
        mem, cores = limits
        return (
            None if mem is None else mem - used_mem,
            None if cores is None else cores - used_cores,
        )

    # --- filter -------------------------------------------------------------------------------
    def filter(
        self,
        pod: Mapping[str, Any],
        candidates: Sequence[str] | None = None,
        *,
        now: datetime,
        avoid: Container[str] = (),
    ) -> FilterOutcome:
        """Choose one node and devices for ``pod`` among ``candidates`` (all nodes if None),
        preferring nodes not in ``avoid`` (see the module docstring)."""
        meta = pod.get("metadata") or {}
        try:
            plan = plan_pod(
                pod,
                self._cfg.nvidia,
                node_policy=self._node_policy,
                gpu_policy=self._gpu_policy,
            )
        except (DecodeError, WeightsError) as exc:
            return FilterOutcome(None, error=str(exc))
        if not plan.managed:
            return FilterOutcome(None, managed=False)
        with self._lock:
            own = self._pods.get(str(meta.get("uid") or ""))
            if own is not None:
                self.remove_pod(own.uid)
            try:
                outcome = self._decide(
                    plan, str(meta.get("namespace") or "default"), candidates, now, avoid
                )
                return replace(outcome, ignored_policies=plan.ignored) if plan.ignored else outcome
            finally:
                if own is not None:
                    self._attach(own)

    def _decide(
        self,
        plan: PodPlan,
        namespace: str,
        candidates: Sequence[str] | None,
        now: datetime,
        avoid: Container[str] = (),
    ) -> FilterOutcome:
        reqs = [r for r in plan.requests if r is not None and r.nums > 0]
        quota = self._quota_room(namespace)
        nodes = self._nodes
        cand = None if candidates is None else set(candidates)
        failed: dict[str, str] = {}
        pruned: list[str] = []
        busy: list[str] = []  # busy nodes that may fit, best first: fitted only if no free one fits
        sel = plan.selection
        for _, name in self._index.ordered(plan.node_prefers_high):
            if cand is not None and name not in cand:
                continue
            node = nodes[name]
            if not all(node.may_fit(r, sel) for r in reqs):
                pruned.append(name)
                continue
            if name in avoid:
                busy.append(name)
                continue
            fit = fit_pod(node, plan, quota)
            if fit.devices is not None:
                return self._success(name, fit, plan, failed, now)
            failed[name] = fit.reason
        for name in busy:  # no free node fits: the best busy node that fits
            fit = fit_pod(nodes[name], plan, quota)
            if fit.devices is not None:
                return self._success(name, fit, plan, failed, now)
            failed[name] = fit.reason
        if cand is not None:
            failed.update(dict.fromkeys(cand.difference(nodes), NODE_UNREGISTERED))
        failed.update(self._pruned_reasons(plan, quota, pruned))
        return FilterOutcome(None, failed_nodes=failed, init_count=plan.init_count)

    def _pruned_reasons(
        self, plan: PodPlan, quota: tuple[int | None, int | None] | None, names: list[str]
    ) -> dict[str, str]:
        """Detailed reasons for pruned nodes, cached per (plan, quota) and node version.

        A pending pod is retried by kube-scheduler again and again; only nodes whose usage
        changed since the last try are fitted again.
        """
        key = (plan, quota)
        cache = self._reasons.get(key)
        if cache is None:
            cache = self._reasons[key] = {}
            if len(self._reasons) > REASON_CACHE_PLANS:
                self._reasons.popitem(last=False)
        else:
            self._reasons.move_to_end(key)
        out: dict[str, str] = {}
        for name in names:
            node = self._nodes[name]
            hit = cache.get(name)
            if hit is not None and hit[0] is node and hit[1] == node.version:
                out[name] = hit[2]
                continue
            fit = fit_pod(node, plan, quota, reason_only=True)
            reason = fit.reason if fit.devices is None else fit_pod(node, plan, quota).reason
            cache[name] = (node, node.version, reason)
            out[name] = reason
        return out

    @staticmethod
    def _success(
        name: str, fit: NodeFit, plan: PodPlan, failed: dict[str, str], now: datetime
    ) -> FilterOutcome:
        assert fit.devices is not None
        encoded = encode_pod_devices(fit.devices)
        annotations = {
            VGPU_NODE: name,
            VGPU_TIME: str(int(now.timestamp())),
            DEVICES_TO_ALLOCATE: encoded,
            DEVICES_ALLOCATED: encoded,
        }
        if fit.mig:
            annotations[MIG_ALLOCATIONS] = encode_mig_allocations(fit.mig)
        return FilterOutcome(
            name,
            {NVIDIA_TYPE: fit.devices},
            annotations,
            failed,
            mig=fit.mig,
            init_count=plan.init_count,
        )

    # --- snapshots ----------------------------------------------------------------------------
    def nodes(self) -> list[NodeSnapshot]:
        """Per node, per GPU inventory and usage (for metrics and reports)."""
        with self._lock:
            return [
                NodeSnapshot(
                    n.name,
                    tuple(_snapshot(d) for d in n.devices),
                )
                for n in self._nodes.values()
            ]


def _snapshot(d: DeviceUsage) -> GpuSnapshot:
    return GpuSnapshot(
        d.id, d.type, d.index, d.numa, d.mode, d.health, d.count, d.used,
        d.totalmem, d.usedmem, d.totalcore, d.usedcores,
    )  # fmt: skip


def encode_mig_allocations(allocs: Iterable[MigAllocation]) -> str:
    """``hami.io/vgpu-mig-allocations``: JSON list of reservations (no runtime ids yet)."""
    return json.dumps(
        [
            {
                "containerIndex": a.container_index,
                "deviceIndex": a.device_index,
                "gpuUUID": a.uuid,
                "profile": a.profile,
                "placement": {"start": a.start, "size": a.size},
            }
            for a in allocs
        ],
        separators=(",", ":"),
    )


def decode_mig_allocations(value: str) -> tuple[MigAllocation, ...]:
    """Inverse of :func:`encode_mig_allocations`, plus the runtime keys the device plugin adds
    once the instance exists (``migUUID``, ``gpuInstanceID``, ``computeInstanceID``)."""
    try:
        data = json.loads(value)
        return tuple(
            MigAllocation(
                int(e["containerIndex"]),
                int(e["deviceIndex"]),
                str(e["gpuUUID"]),
                str(e["profile"]),
                int(e["placement"]["start"]),
                int(e["placement"]["size"]),
                mig_uuid=str(e.get("migUUID") or ""),
                gpu_instance_id=int(e.get("gpuInstanceID", -1)),
                compute_instance_id=int(e.get("computeInstanceID", -1)),
            )
            for e in data
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise DecodeError(MIG_ALLOCATIONS, value, f"malformed: {exc}") from None


def pod_devices_from_annotations(pod: Mapping[str, Any]) -> dict[str, PodSingleDevice] | None:
    """A pod's reservation from its ``hami.io/vgpu-devices-allocated`` annotation, if any.

    Raises :class:`DecodeError` when the annotation is malformed.
    """
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DEVICES_ALLOCATED)
    if value is None:
        return None
    return {NVIDIA_TYPE: decode_pod_devices(value, DEVICES_ALLOCATED)}


def pod_mig_from_annotations(pod: Mapping[str, Any]) -> tuple[MigAllocation, ...]:
    """MIG reservations of a pod (empty when it has none)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(MIG_ALLOCATIONS)
    return decode_mig_allocations(value) if value else ()


def init_container_count(pod: Mapping[str, Any]) -> int:
    """Number of init containers (the first blocks of the allocation annotations)."""
    return len((pod.get("spec") or {}).get("initContainers") or [])


def _init_done(pod: Mapping[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    if not statuses:
        return False
    for st in statuses:
        term = (st.get("state") or {}).get("terminated") if isinstance(st, Mapping) else None
        if not isinstance(term, Mapping) or term.get("exitCode") != 0:
            return False
    return True


def held_devices(pod: Mapping[str, Any]) -> tuple[dict[str, PodSingleDevice], int] | None:
    """What a pod holds as usage accounting reads it: its allocated devices, the init
    containers' blocks emptied once they all finished, and its init container count; None when
    it holds nothing. Raises :class:`DecodeError` on a malformed annotation."""
    devices = pod_devices_from_annotations(pod)
    if devices is None:
        return None
    init_count = init_container_count(pod)
    if init_count and _init_done(pod):
        devices = {k: ((),) * init_count + tuple(v[init_count:]) for k, v in devices.items()}
    return devices, init_count
