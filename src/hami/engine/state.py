"""The scheduler's in-memory cluster view and its Filter decision (spec §1.3 step 4, §4).

:class:`ClusterState` is what the extender service drives. It sees vendors only through a
:class:`~hami.device.registry.DeviceRegistry`: a node's devices are held per vendor (cw), as each
backend's inventory returned them; reservations come from every vendor's ``-allocated``
annotation or from accepted Filter outcomes; quota is kept per namespace and vendor. ``filter``
never reserves (the caller calls :meth:`ClusterState.add_pod` with the outcome) and ignores the
pod's own earlier reservation, so a retried Filter is safe. Pure: no I/O, no clock (``now`` is
passed in), no asyncio.

Node choice: nodes are ranked by the node policy's pre-placement score (HAMi's
ComputeDefaultScore over every device of every vendor; equal scores: name order) and the first
that fits wins. When a vendor the pod asks for has ``scores_nodes`` (e.g. Ascend's NetworkID
bonus), every candidate is fitted and the best ``score + sum(score_node)`` wins (binpack: the
highest, spread: the lowest; ties: the ranking order).

Speed: a :class:`~hami.engine.index.NodeIndex` keeps, per vendor, the nodes holding its devices
by capacity class (e.g. NVIDIA's largest free memory), each class sorted by node score; a pod
walks only the classes of its vendor that may hold it, merged best-first, so full and too-small
nodes are skipped without being visited. The nodes walked are pruned by per-node, per-vendor
summaries kept up to date on every change and fitted in detail best-first until one fits; only
when no node fits is every candidate given its reason (fitted in detail, cached per plan and
node version). On success ``failed_nodes`` therefore lists only the nodes fitted in detail that
failed (kube-scheduler ignores it then); on failure it names every candidate, unknown ones
included. A ``set``/``frozenset`` of candidates is used as it is; a list equal to the previous
one reuses its set.

Busy nodes: ``filter(..., avoid=...)`` names nodes whose lock another pod holds right now (a bind
in flight). A pod placed there would only fail its Bind on lock contention and be retried, so the
best fitting node that is not busy wins, however many nodes are busy; a busy node is chosen only
when no free node fits. The ``avoid`` test is cheap and comes before the detailed fit: busy nodes
whose summary may fit are set aside unfitted and fitted, best first, only when no free node fits,
so busy nodes add no detailed fits to a decision that a free node answers.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Collection, Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from hami.api.annotations import (
    DEVICE_CORDON,
    MIG_ALLOCATIONS,
    NODE_NVIDIA_SCORE,
    NVIDIA_TYPE,
    VGPU_NODE,
    VGPU_TIME,
)
from hami.api.errors import DecodeError
from hami.api.poddevices import decode_pod_devices
from hami.api.types import DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.base import DeviceUsage, ScoreBound
from hami.device.registry import DeviceRegistry
from hami.engine.fit import NodeFit, VendorQuota, fit_pod
from hami.engine.index import NodeIndex
from hami.engine.plan import PodPlan, plan_pod
from hami.engine.policy import topology
from hami.engine.score import WeightsError
from hami.engine.usage import DeviceCharge, MigAllocation, NodeUsage, pod_charges

NODE_UNREGISTERED = "node unregistered"
REASON_CACHE_PLANS = 32
PLAN_CACHE = 1024


@dataclass(frozen=True, slots=True)
class FilterOutcome:
    """The Filter decision for one pod."""

    node: str | None
    devices: dict[str, PodSingleDevice] = field(default_factory=dict)
    """cw (``NVIDIA``, ``MLU``, ...) -> per-container device lists, init containers first, for
    every vendor the pod asks."""
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
    """One device's inventory and usage, for metrics and ``hami simulate``."""

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
    vendor: str = NVIDIA_TYPE
    """The cw of the backend whose inventory holds the device."""


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    name: str
    gpus: tuple[GpuSnapshot, ...]
    """Every device of every vendor, vendors in cw order."""


Charges = tuple[str | int, ...]
"""(device id, slots, MiB, cores) a pod holds per device, flat: four items per device."""


@dataclass(slots=True)
class _PodRecord:
    uid: str
    namespace: str
    node: str
    charges: Charges
    mig: tuple[MigAllocation, ...]
    usage: str | tuple[tuple[str, int, int], ...]
    """(cw, MiB, cores) the pod holds of each vendor (for quota); a pod of one vendor: its cw
    alone (the sums are those of ``charges``)."""

    def vendor_usage(self) -> tuple[tuple[str, int, int], ...]:
        usage = self.usage
        if isinstance(usage, str):
            charges = self.charges
            mem = sum(cast(int, m) for m in charges[2::4])
            return ((usage, mem, sum(cast(int, c) for c in charges[3::4])),)
        return usage


def _flat(charges: Mapping[str, DeviceCharge]) -> Charges:
    return tuple(x for uuid, c in charges.items() for x in (uuid, c.used, c.mem, c.cores))


def _record(
    uid: str,
    namespace: str,
    node: str,
    devices: Mapping[str, PodSingleDevice],
    init_count: int,
    mig: tuple[MigAllocation, ...],
) -> _PodRecord:
    if len(devices) == 1:  # the common case: one vendor
        cw = next(iter(devices))
        charges = _flat(pod_charges(devices, init_count))
        return _PodRecord(uid, namespace, node, charges, mig, sys.intern(cw))
    merged: dict[str, DeviceCharge] = {}
    usages = []
    for cw, per_container in devices.items():
        mine = pod_charges({cw: per_container}, init_count)
        usages.append((cw, sum(c.mem for c in mine.values()), sum(c.cores for c in mine.values())))
        for uuid, c in mine.items():  # one device id under two vendors: add both
            total = merged.setdefault(uuid, DeviceCharge())
            total.used, total.mem, total.cores = (total.used + c.used, total.mem + c.mem,
                                                  total.cores + c.cores)  # fmt: skip
    return _PodRecord(uid, namespace, node, _flat(merged), mig, tuple(usages))


def _cordoned(value: str | None) -> list[str]:
    return [u.strip() for u in (value or "").split(",") if u.strip()]


NodeDevices = Sequence[DeviceInfo] | Mapping[str, Sequence[DeviceInfo]]
"""A node's devices: cw -> that vendor's devices, or a plain sequence (= NVIDIA's devices)."""


def vendor_devices(devices: NodeDevices) -> dict[str, tuple[DeviceInfo, ...]]:
    """``devices`` as cw -> devices, vendors sorted, empty vendors dropped."""
    if isinstance(devices, Mapping):
        return {cw: tuple(d) for cw, d in sorted(devices.items()) if d}
    return {NVIDIA_TYPE: tuple(devices)} if devices else {}


class ClusterState:
    """Nodes, reservations and quotas, plus the Filter algorithm over them."""

    def __init__(
        self,
        devices: DeviceRegistry | DeviceConfig,
        *,
        node_policy: str = "binpack",
        gpu_policy: str = "spread",
    ) -> None:
        """``devices``: the vendor registry, or a device config (its default registry: no Ascend,
        no Iluvatar)."""
        if isinstance(devices, DeviceConfig):
            devices = DeviceRegistry.from_config(devices)
        self.registry = devices
        self._backends = devices.backends
        self._summarizers = devices.summarizers
        self._scoring = frozenset(cw for cw, b in devices.backends.items() if b.scores_nodes)
        self._node_policy = node_policy
        self._gpu_policy = gpu_policy
        self._nodes: dict[str, NodeUsage] = {}
        self._pods: dict[str, _PodRecord] = {}
        self._pods_by_node: dict[str, list[str]] = {}
        self._quota: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        """(namespace, cw) -> limits (MiB, cores)."""
        self._ns_usage: dict[tuple[str, str], list[int]] = {}
        """(namespace, cw) -> [MiB, cores] reserved by its pods (for quota checks)."""
        self._index = NodeIndex()
        self._plans: dict[Hashable, PodPlan] = {}
        self._shapes: dict[Any, Any] = {}
        """One object per distinct value of a per-node tuple that few values take (memory)."""
        self._last_candidates: tuple[list[str] | tuple[str, ...], frozenset[str]] | None = None
        self._reasons: OrderedDict[Hashable, dict[str, tuple[NodeUsage, int, str]]] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def config(self) -> DeviceConfig:
        return self.registry.config

    # --- nodes --------------------------------------------------------------------------------
    def upsert_node(
        self, name: str, devices: NodeDevices, annotations: Mapping[str, str] = {}
    ) -> None:
        """Register or refresh a node's devices (cw -> devices, or a plain sequence = NVIDIA's);
        reservations on it are re-applied. Only device, cordon or topology changes rebuild the
        node; other annotation changes are just recorded (backends may read them in the fit)."""
        by_vendor = vendor_devices(devices)
        cordon = annotations.get(DEVICE_CORDON)
        scores = annotations.get(NODE_NVIDIA_SCORE)
        key = (cordon, scores) if cordon or scores else None
        with self._lock:
            node = self._nodes.get(name)
            if node is not None and node.key == key and node.same_devices(by_vendor):
                if node.annotations != annotations:
                    node.annotations = dict(annotations)
                return
            node = NodeUsage(
                name,
                by_vendor,
                summarizers=self._summarizers,
                cordoned=_cordoned(cordon),
                pair_scores=topology.parse_scores(name, scores),
                annotations=dict(annotations) if annotations else None,
            )
            node.summarizers = self._shapes.setdefault(node.summarizers, node.summarizers)
            for uid in self._pods_by_node.get(name, ()):
                rec = self._pods[uid]
                node.charge(rec.charges, 1, rec.mig)
            self._nodes[name] = node
            node.key = key
            self._index.set(name, node.score, node.placement(), node.summaries)

    def upsert_node_object(self, node: Mapping[str, Any]) -> dict[str, str]:
        """Register a v1 Node from every backend's inventory (no health check: the caller's).

        A node with no device of any vendor is removed. Returns cw -> error for vendors whose
        inventory could not be read (left out of the node)."""
        meta = node.get("metadata") or {}
        name = str(meta.get("name") or "")
        devices: dict[str, list[DeviceInfo]] = {}
        errors: dict[str, str] = {}
        for cw, inventory in self._backends.items():
            try:
                found = inventory.node_devices(node)
            except DecodeError as exc:
                errors[cw] = str(exc)
                continue
            if found:
                devices[cw] = found
        if devices:
            self.upsert_node(name, devices, meta.get("annotations") or {})
        else:
            self.remove_node(name)
        return errors

    def remove_node(self, name: str) -> None:
        """Forget a node's devices (its pods stay recorded and count again if it returns)."""
        with self._lock:
            self._nodes.pop(name, None)
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
        """Record a pod's reservation (cw -> per-container devices) on ``node``; re-adding the
        same uid replaces it."""
        with self._lock:
            known = self._nodes.get(node)  # one string object per node and namespace
            node = known.name if known is not None else node
            rec = _record(uid, sys.intern(namespace), node, devices, init_count, tuple(mig))
            self.remove_pod(uid)
            self._attach(rec)

    def remove_pod(self, uid: str) -> None:
        """Release a pod's reservation (no-op for an unknown uid)."""
        with self._lock:
            rec = self._pods.pop(uid, None)
            if rec is None:
                return
            on_node = self._pods_by_node.get(rec.node)
            if on_node is not None:
                on_node.remove(uid)
                if not on_node:
                    del self._pods_by_node[rec.node]
            self._charge(rec, -1)

    def _attach(self, rec: _PodRecord) -> None:
        self._pods[rec.uid] = rec
        self._pods_by_node.setdefault(rec.node, []).append(rec.uid)
        self._charge(rec, 1)

    def _charge(self, rec: _PodRecord, sign: int) -> None:
        for cw, mem, cores in rec.vendor_usage():
            used = self._ns_usage.setdefault((rec.namespace, cw), [0, 0])
            used[0] += sign * mem
            used[1] += sign * cores
        target = self._nodes.get(rec.node)
        if target is not None:
            target.charge(rec.charges, sign, rec.mig)
            self._index.set(rec.node, target.score, target.placement(), target.summaries)

    def has_pod(self, uid: str) -> bool:
        with self._lock:
            return uid in self._pods

    # --- quota --------------------------------------------------------------------------------
    def set_quota(
        self, namespace: str, mem: int | None, cores: int | None, *, vendor: str = NVIDIA_TYPE
    ) -> None:
        """Namespace limits of one vendor (cw) in MiB (memoryFactor-scaled) and cores; None =
        unlimited, 0 blocks. Only vendors whose backend checks quota in its fit use them."""
        with self._lock:
            if mem is None and cores is None:
                self._quota.pop((namespace, vendor), None)
            else:
                self._quota[(namespace, vendor)] = (mem, cores)

    def _quota_room(self, namespace: str, plan: PodPlan) -> VendorQuota | None:
        if not self._quota:
            return None
        out = []
        for cw in plan.vendors:
            limits = self._quota.get((namespace, cw))
            if limits is None or not self._backends[cw].fit_checks_quota:
                continue
            used_mem, used_cores = self._ns_usage.get((namespace, cw), (0, 0))
            mem, cores = limits
            out.append((
                cw,
                None if mem is None else mem - used_mem,
                None if cores is None else cores - used_cores,
            ))  # fmt: skip
        return tuple(out) or None

    # --- filter -------------------------------------------------------------------------------
    def filter(
        self,
        pod: Mapping[str, Any],
        candidates: Collection[str] | None = None,
        *,
        now: datetime,
        avoid: Container[str] = (),
    ) -> FilterOutcome:
        """Choose one node and devices for ``pod`` among ``candidates`` (all nodes if None; a
        ``set``/``frozenset`` is used as it is), preferring nodes not in ``avoid`` (see the
        module docstring)."""
        meta = pod.get("metadata") or {}
        try:
            plan = self._plan(pod, meta)
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

    def _plan(self, pod: Mapping[str, Any], meta: Mapping[str, Any]) -> PodPlan:
        """:func:`plan_pod`, remembered per pod shape: a plan reads only the containers'
        resources and the pod's annotations (names appear only in the errors, which are not
        remembered), and most pods of a workload share them."""
        spec = pod.get("spec") or {}
        annotations = meta.get("annotations") or {}
        try:
            key: Hashable = (
                tuple(repr(c.get("resources")) for c in spec.get("initContainers") or ()),
                tuple(repr(c.get("resources")) for c in spec.get("containers") or ()),
                tuple(annotations.items()),
            )
            plan = self._plans.get(key)
        except (AttributeError, TypeError):  # odd shapes: no cache, plan_pod says what is wrong
            key, plan = None, None
        if plan is None:
            plan = plan_pod(
                pod, self.registry, node_policy=self._node_policy, gpu_policy=self._gpu_policy
            )
            if key is not None:
                if len(self._plans) >= PLAN_CACHE:
                    self._plans.clear()
                self._plans[key] = plan
        return plan

    def _decide(
        self,
        plan: PodPlan,
        namespace: str,
        candidates: Collection[str] | None,
        now: datetime,
        avoid: Container[str] = (),
    ) -> FilterOutcome:
        checks = plan.checks
        mutex = plan.mutex
        quota = self._quota_room(namespace, plan)
        nodes = self._nodes
        fitters = self._backends
        cand = self._candidate_set(candidates)
        scoring = [cw for cw, _ in plan.selections if cw in self._scoring] if self._scoring else []
        failed: dict[str, str] = {}
        busy: list[str] = []  # busy nodes that may fit, best first: fitted only if no free one fits
        best: tuple[float, str, NodeFit] | None = None
        bound = self._score_bound(plan, scoring)
        high = plan.node_prefers_high
        for entry in self._index.walk(checks, mutex, high):
            name = entry[1]
            if cand is not None and name not in cand:
                continue
            node = nodes[name]
            if best is not None and bound is not None and (
                node.score + bound <= best[0] if high else node.score >= best[0]
            ):
                break  # the walk is in node-score order: no later node can beat (or tie) best
            if not node.may_fit_all(checks, mutex):
                continue
            if name in avoid:
                busy.append(name)
                continue
            fit = fit_pod(node, plan, fitters, quota)
            if fit.devices is None:
                failed[name] = fit.reason
            elif not scoring:
                return self._success(name, fit, plan, failed, now)
            else:
                best = self._better(best, name, fit, plan, scoring)
        if best is not None:
            return self._success(best[1], best[2], plan, failed, now)
        for name in busy:  # no free node fits: the best busy node that fits
            fit = fit_pod(nodes[name], plan, fitters, quota)
            if fit.devices is None:
                failed[name] = fit.reason
            elif not scoring:
                return self._success(name, fit, plan, failed, now)
            else:
                best = self._better(best, name, fit, plan, scoring)
        if best is not None:
            return self._success(best[1], best[2], plan, failed, now)
        # No node fits: every candidate gets its reason, the ones the walk skipped or pruned
        # in node-policy order (the failure path alone visits the whole cluster).
        if cand is not None:
            failed.update(dict.fromkeys(cand.difference(nodes), NODE_UNREGISTERED))
            rest = [n for n in nodes if n in cand and n not in failed]
        else:
            rest = [n for n in nodes if n not in failed]
        if plan.node_prefers_high:
            rest.sort(key=lambda n: (-nodes[n].score, n))
        else:
            rest.sort(key=lambda n: (nodes[n].score, n))
        failed.update(self._pruned_reasons(plan, quota, rest))
        return FilterOutcome(None, failed_nodes=failed, init_count=plan.init_count)

    def _score_bound(self, plan: PodPlan, scoring: Sequence[str]) -> float | None:
        """Upper bound of the vendors' ``score_node`` sum for this pod (bonuses are >= 0), or
        None when some scoring vendor gives none (then every fitting node is fitted)."""
        total = 0.0
        for cw in scoring:
            backend = self._backends[cw]
            if not isinstance(backend, ScoreBound):
                return None
            bound = backend.score_node_bound([r for ask in plan.requests for r in ask
                                              if r.type == cw])  # fmt: skip
            if bound is None:
                return None
            total += bound
        return total

    def _candidate_set(
        self, candidates: Collection[str] | None
    ) -> set[str] | frozenset[str] | None:
        """``candidates`` as a set: a set as it is; a list (or other collection) equal to the
        previous one reuses that one's set (kube-scheduler sends the same list of feasible
        nodes again and again; comparing two lists of the same strings costs a pointer
        compare per name, far less than building a set)."""
        if candidates is None or isinstance(candidates, set | frozenset):
            return candidates
        seq = candidates if isinstance(candidates, list | tuple) else list(candidates)
        last = self._last_candidates
        if last is not None and len(last[0]) == len(seq) and type(last[0]) is type(seq) \
                and last[0] == seq:  # fmt: skip
            return last[1]
        frozen = frozenset(seq)
        self._last_candidates = (seq.copy() if isinstance(seq, list) else seq, frozen)
        return frozen

    def _better(
        self,
        best: tuple[float, str, NodeFit] | None,
        name: str,
        fit: NodeFit,
        plan: PodPlan,
        scoring: Sequence[str],
    ) -> tuple[float, str, NodeFit]:
        """The better of ``best`` and this fit by node score plus the vendors' ``score_node``
        (binpack: higher wins, spread: lower); on a tie the earlier one (node-policy order)."""
        assert fit.devices is not None
        node = self._nodes[name]
        total = node.score + sum(
            self._backends[cw].score_node(node.vendors[cw], fit.devices[cw]) for cw in scoring
        )
        if best is None:
            return (total, name, fit)
        better = total > best[0] if plan.node_prefers_high else total < best[0]
        return (total, name, fit) if better else best

    def _pruned_reasons(
        self, plan: PodPlan, quota: VendorQuota | None, names: list[str]
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
        fitters = self._backends
        for name in names:
            node = self._nodes[name]
            hit = cache.get(name)
            if hit is not None and hit[0] is node and hit[1] == node.version:
                out[name] = hit[2]
                continue
            # a node the summaries rule out: the reason counts alone (no policy order); one the
            # index skipped but its summaries do not rule out: fitted as the walk would have
            pruned = not node.may_fit_all(plan.checks, plan.mutex)
            fit = fit_pod(node, plan, fitters, quota, reason_only=pruned)
            if fit.devices is not None and pruned:
                fit = fit_pod(node, plan, fitters, quota)
            reason = fit.reason
            cache[name] = (node, node.version, reason)
            out[name] = reason
        return out

    def _success(
        self, name: str, fit: NodeFit, plan: PodPlan, failed: dict[str, str], now: datetime
    ) -> FilterOutcome:
        """``hami.io/vgpu-node``, ``hami.io/vgpu-time``, then each vendor's own annotations for
        the vendors the pod got devices of (cw order), then the MIG allocations if any."""
        assert fit.devices is not None
        annotations = {VGPU_NODE: name, VGPU_TIME: str(int(now.timestamp()))}
        for cw, selection in plan.selections:
            devices = fit.devices[cw]
            if any(devices):
                annotations.update(self._backends[cw].pod_annotations(devices, selection, now=now))
        if fit.mig:
            annotations[MIG_ALLOCATIONS] = encode_mig_allocations(fit.mig)
        return FilterOutcome(
            name,
            fit.devices,
            annotations,
            failed,
            mig=fit.mig,
            init_count=plan.init_count,
        )

    # --- snapshots ----------------------------------------------------------------------------
    def nodes(self) -> list[NodeSnapshot]:
        """Per node, per device inventory and usage (for metrics and reports)."""
        with self._lock:
            return [
                NodeSnapshot(
                    n.name,
                    tuple(_snapshot(d, cw) for cw, devs in n.vendors.items() for d in devs),
                )
                for n in self._nodes.values()
            ]


def _snapshot(d: DeviceUsage, vendor: str) -> GpuSnapshot:
    return GpuSnapshot(
        d.id, d.type, d.index, d.numa, d.mode, d.health, d.count, d.used,
        d.totalmem, d.usedmem, d.totalcore, d.usedcores, vendor,
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


AllocatedKeys = DeviceRegistry | Mapping[str, str]
"""Where usage is read from: the registry, or cw -> allocated annotation name."""


def _allocated_keys(allocated: AllocatedKeys) -> Mapping[str, str]:
    return allocated.allocated_annotations if isinstance(allocated, DeviceRegistry) else allocated


def pod_devices_from_annotations(
    pod: Mapping[str, Any], allocated: AllocatedKeys
) -> dict[str, PodSingleDevice] | None:
    """A pod's reservation (cw -> per-container devices) from every vendor's allocated
    annotation (``hami.io/vgpu-devices-allocated``, ...), None when it has none.

    Raises :class:`DecodeError` when an annotation is malformed.
    """
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    out: dict[str, PodSingleDevice] = {}
    for cw, key in _allocated_keys(allocated).items():
        value = annotations.get(key)
        if value is not None:
            out[cw] = decode_pod_devices(value, key)
    return out or None


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


def held_devices(
    pod: Mapping[str, Any], allocated: AllocatedKeys
) -> tuple[dict[str, PodSingleDevice], int] | None:
    """What a pod holds as usage accounting reads it: its allocated devices of every vendor
    (see :func:`pod_devices_from_annotations`), the init containers' blocks emptied once they
    all finished, and its init container count; None when it holds nothing. Raises
    :class:`DecodeError` on a malformed annotation."""
    devices = pod_devices_from_annotations(pod, allocated)
    if devices is None:
        return None
    init_count = init_container_count(pod)
    if init_count and _init_done(pod):
        devices = {k: ((),) * init_count + tuple(v[init_count:]) for k, v in devices.items()}
    return devices, init_count
