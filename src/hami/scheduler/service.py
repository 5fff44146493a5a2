"""The extender's orchestration: informer caches -> :class:`ClusterState`, Filter and Bind.

Every replica keeps the engine's state in sync from the pod, node and ResourceQuota informers
(usage is rebuilt from ``-allocated`` annotations, so a restarted scheduler loses nothing).
ResourceQuota limits are read for every registered device backend (``limits.<memory resource>``
x ``memory_factor``, ``limits.<core resource>``): the webhook checks all of them, the engine's fit
those of backends whose ``fit_checks_quota`` is True (HAMi: NVIDIA and Cambricon).
Filter decides and reserves synchronously (no ``await`` between the decision and the reservation),
so concurrent filters always see each other; then it writes the decision onto the pod. Bind takes
the node lock and creates the binding, which carries the ``bind-phase``/``bind-time`` stamp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from hami.api.annotations import MIG_ALLOCATIONS, NVIDIA_TYPE, VGPU_NODE
from hami.api.errors import DecodeError
from hami.api.extender import (
    BINDING_ARGS_FIELDS,
    FILTER_ARGS_FIELDS,
    ExtenderBindingResult,
    ExtenderFilterResult,
    filter_result,
    go_fields,
)
from hami.api.quantity import quantity_to_int
from hami.api.types import PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.base import DeviceBackend
from hami.engine.plan import GPU_POLICY_ANNOTATION
from hami.engine.policy import GPU_POLICIES, NODE_POLICIES
from hami.engine.state import ClusterState, held_devices, pod_mig_from_annotations
from hami.engine.usage import MigAllocation
from hami.k8s import errors
from hami.k8s.informer import Informer
from hami.k8s.port import JsonObj, Kind, KubeClient, obj_key
from hami.scheduler import events
from hami.scheduler.bind import Binder
from hami.scheduler.inflight import InFlightBinds
from hami.scheduler.metrics import DurationHistogram
from hami.scheduler.nodelock import NodeLocker
from hami.scheduler.registration import NodeRegistrar, set_vendor_quota
from hami.webhook.backends import device_backends

log = logging.getLogger(__name__)

_TERMINAL = ("Succeeded", "Failed")
#: Event reason when a pod's policy annotation names no policy (HAMi ignores it silently).
POLICY_IGNORED = "UnknownSchedulerPolicy"

#: (MiB, cores) limits of one vendor; None = not limited
Limits = tuple[int | None, int | None]


class BadRequest(ValueError):
    """The extender request itself is malformed (wrong types, missing fields)."""


@dataclass(frozen=True, slots=True)
class PodUsage:
    """One pod's reservation as the service tracks it (metrics, quota)."""

    namespace: str
    name: str
    node: str
    devices: Mapping[str, PodSingleDevice]
    init_count: int = 0
    mig: tuple[MigAllocation, ...] = ()

    @property
    def mem(self) -> int:
        return self._effective(lambda d: d.usedmem)

    @property
    def cores(self) -> int:
        return self._effective(lambda d: d.usedcores)

    def usage(self, vendor: str) -> tuple[int, int]:
        """(MiB, cores) the pod holds of ``vendor``'s devices, in the quota view."""
        per_vendor = self.devices.get(vendor)
        if not per_vendor:
            return 0, 0
        return (self._vendor_effective(per_vendor, lambda d: d.usedmem),
                self._vendor_effective(per_vendor, lambda d: d.usedcores))  # fmt: skip

    def _effective(self, value: Callable[[Any], int]) -> int:
        """Quota view of the pod: max(sum over app containers, max over init containers)."""
        return sum(self._vendor_effective(pv, value) for pv in self.devices.values())

    def _vendor_effective(self, per_vendor: PodSingleDevice, value: Callable[[Any], int]) -> int:
        init = [sum(value(d) for d in c) for c in per_vendor[: self.init_count]]
        app = sum(value(d) for c in per_vendor[self.init_count :] for d in c)
        return max([app, *init])


@dataclass
class ServiceStats:
    """Counters exported as metrics."""

    filter_ok: int = 0
    filter_failed: int = 0
    filter_errors: int = 0
    filter_seconds: DurationHistogram = field(default_factory=DurationHistogram)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _holding(pod: Mapping[str, Any], allocated: Iterable[str]) -> tuple[Any, ...]:
    """Everything of a pod that :func:`held_devices` and the reservation read (``allocated``:
    every backend's allocated annotation)."""
    meta = _meta(pod)
    annotations = meta.get("annotations") or {}
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (
        meta.get("uid"), meta.get("namespace"), meta.get("name"), status.get("phase"),
        annotations.get(VGPU_NODE), *(annotations.get(key) for key in allocated),
        annotations.get(MIG_ALLOCATIONS), len(spec.get("initContainers") or ()),
        status.get("initContainerStatuses"),
    )  # fmt: skip


def _node_name(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec")
    return str(spec.get("nodeName") or "") if isinstance(spec, Mapping) else ""


class SchedulerService:
    """Filter/Bind over a :class:`ClusterState` kept in sync by informers."""

    def __init__(
        self,
        client: KubeClient,
        device_config: DeviceConfig,
        *,
        state: ClusterState,
        locker: NodeLocker,
        recorder: events.EventRecorder,
        registrar: NodeRegistrar,
        node_label_selector: str = "",
        clock: Callable[[], datetime] = _utcnow,
        sync_timeout_s: float = 30.0,
        lock_retry_timeout_s: float = 28.0,
        backends: Mapping[str, DeviceBackend] | None = None,
    ) -> None:
        self.client = client
        self.config = device_config
        self.backends = dict(sorted((backends or device_backends(device_config)).items()))
        """The registered device backends by cw (sorted)."""
        self.state = state
        self.locker = locker
        self.recorder = recorder
        self.registrar = registrar
        self.clock = clock
        self.sync_timeout_s = sync_timeout_s
        self.lock_retry_timeout_s = lock_retry_timeout_s
        self.stats = ServiceStats()
        self.inflight = InFlightBinds()
        self.pods: dict[str, PodUsage] = {}
        self.quotas: dict[str, dict[str, dict[str, Limits]]] = {}
        """namespace -> ResourceQuota name -> vendor cw -> its limits there."""
        self.pod_informer = Informer(client, Kind.PODS)
        self.node_informer = Informer(
            client, Kind.NODES, label_selector=node_label_selector or None
        )
        self.quota_informer = Informer(client, Kind.RESOURCE_QUOTAS)
        # Namespace labels only refine the webhook (hami.io/webhook=ignore): not needed for
        # readiness, and a cluster role without namespaces access leaves the webhook as before.
        self.namespace_informer = Informer(client, Kind.NAMESPACES)
        self.node_informer.add_handler(registrar.on_node_event)
        self.node_informer.add_handler(locker.on_node_event)
        self.pod_informer.add_handler(self.on_pod_event)
        self._on_node: dict[str, dict[str, JsonObj]] = {}
        """node name -> {namespace/name: pod} of the cached pods bound there (spec.nodeName)."""
        self.pod_informer.add_handler(self._index_pod)
        self.quota_informer.add_handler(self.on_quota_event)
        self._tasks: list[asyncio.Task[None]] = []
        self.binder = Binder(
            client,
            locker,
            recorder,
            cached_pod=self.pod_informer.get,
            cached_node=self.node_informer.get,
            clock=clock,
            forget=self._forget,
            registry=state.registry,
            lock_retry_timeout_s=lock_retry_timeout_s,
            cache_seen=self.pod_informer.wait_seen,
            cached_on_node=self.cached_pods_on,
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the informers on the running loop (node informer first)."""
        informers = (self.node_informer, self.pod_informer, self.quota_informer,
                     self.namespace_informer)  # fmt: skip
        for inf in informers:
            self._tasks.append(asyncio.get_running_loop().create_task(inf.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.recorder.flush()

    @property
    def synced(self) -> bool:
        return all(i.synced for i in (self.node_informer, self.pod_informer, self.quota_informer))

    async def wait_synced(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (self.sync_timeout_s if timeout is None else timeout)
        for inf in (self.node_informer, self.pod_informer, self.quota_informer):
            if not await inf.wait_synced(max(0.0, deadline - time.monotonic())):
                return False
        return True

    # -- cache handlers -------------------------------------------------------------------------
    def on_pod_event(self, event_type: str, old: JsonObj | None, new: JsonObj | None) -> None:
        obj = new if new is not None else old
        if obj is None:
            return
        meta = _meta(obj)
        uid = str(meta.get("uid") or "")
        if not uid:
            return
        phase = (obj.get("status") or {}).get("phase")
        if event_type == "DELETED" or phase in _TERMINAL:
            self._forget(uid)
            return
        node = (meta.get("annotations") or {}).get(VGPU_NODE)
        if not node:
            return  # not (yet) scheduled by us: keep any in-flight reservation
        keys = self.state.registry.allocated_annotations.values()
        if old is not None and new is not None and _holding(old, keys) == _holding(new, keys):
            usage = self.pods.get(uid)
            if usage is not None and usage.node == node:
                return  # e.g. the binding: what the pod holds did not change, nor its reservation
        try:
            held = held_devices(obj, self.state.registry)
            mig = pod_mig_from_annotations(obj)
        except DecodeError as exc:
            log.warning("pod %s/%s: ignoring garbage annotation: %s", meta.get("namespace"),
                        meta.get("name"), exc)  # fmt: skip
            return
        if held is None:
            return
        devices, init_count = held
        usage = self.pods.get(uid)
        if (usage is not None and usage.node == node and usage.init_count == init_count
                and usage.mig == tuple(mig) and usage.devices == devices):  # fmt: skip
            return  # e.g. our own decision coming back: reserved already, just as it says
        self._reserve(uid, str(meta.get("namespace") or "default"), str(meta.get("name") or ""),
                      node, devices, init_count, mig)  # fmt: skip

    def _index_pod(self, event_type: str, old: JsonObj | None, new: JsonObj | None) -> None:
        """Pod informer handler: keep :attr:`_on_node` (pods by ``spec.nodeName``) current."""
        if old is not None:
            node = _node_name(old)
            if node and (new is None or _node_name(new) != node):
                on_node = self._on_node.get(node)
                if on_node is not None:
                    on_node.pop(obj_key(old), None)
                    if not on_node:
                        del self._on_node[node]
        if new is not None and event_type != "DELETED":
            node = _node_name(new)
            if node:
                self._on_node.setdefault(node, {})[obj_key(new)] = new

    def cached_pods_on(self, node: str) -> Iterable[JsonObj]:
        """The cached pods bound to ``node`` (what ``LIST pods?fieldSelector=spec.nodeName=``
        answers, as of the pod informer's resourceVersion)."""
        return list(self._on_node.get(node, {}).values())

    def _reserve(
        self,
        uid: str,
        namespace: str,
        name: str,
        node: str,
        devices: Mapping[str, PodSingleDevice],
        init_count: int,
        mig: Iterable[MigAllocation] = (),
    ) -> None:
        self.state.add_pod(uid, namespace, name, node, devices, init_count=init_count, mig=mig)
        self.pods[uid] = PodUsage(namespace, name, node, devices, init_count, tuple(mig))

    def _forget(self, uid: str) -> None:
        self.state.remove_pod(uid)
        gone = self.pods.pop(uid, None)
        if gone is not None:
            self.inflight.done(f"{gone.namespace}/{gone.name}")

    def on_quota_event(self, event_type: str, old: JsonObj | None, new: JsonObj | None) -> None:
        obj = new if new is not None else old
        if obj is None:
            return
        meta = _meta(obj)
        ns = str(meta.get("namespace") or "default")
        name = str(meta.get("name") or "")
        per_ns = self.quotas.setdefault(ns, {})
        if event_type == "DELETED":
            per_ns.pop(name, None)
        else:
            per_ns[name] = self._quota_limits(obj)
        self._apply_quota(ns)

    def _quota_limits(self, quota: Mapping[str, Any]) -> dict[str, Limits]:
        """The limits one ResourceQuota sets, per vendor (MiB scaled by ``memory_factor``)."""
        hard = (quota.get("spec") or {}).get("hard") or {}
        out: dict[str, Limits] = {}
        for cw, backend in self.backends.items():
            mem = _hard_limit(hard, backend.memory_resource, backend.memory_factor, quota)
            cores = _hard_limit(hard, backend.core_resource, 1, quota)
            if mem is not None or cores is not None:
                out[cw] = (mem, cores)
        return out

    def limits(self, namespace: str, vendor: str) -> Limits:
        """The tightest limits of ``vendor`` over the namespace's ResourceQuotas."""
        per_quota = [q[vendor] for q in self.quotas.get(namespace, {}).values() if vendor in q]
        mems = [m for m, _ in per_quota if m is not None]
        cores = [c for _, c in per_quota if c is not None]
        return min(mems, default=None), min(cores, default=None)

    def _apply_quota(self, namespace: str) -> None:
        for cw, backend in self.backends.items():
            if backend.fit_checks_quota:
                set_vendor_quota(self.state, namespace, *self.limits(namespace, cw), cw)

    def quota_check(
        self, namespace: str, mem: int, cores: int, vendor: str = NVIDIA_TYPE
    ) -> str | None:
        """Webhook pre-check: a denial message when the pod's (MiB, cores) of ``vendor`` would
        exceed a quota."""
        backend = self.backends.get(vendor)
        if backend is None:
            return None
        used = [p.usage(vendor) for p in self.pods.values() if p.namespace == namespace]
        used_mem = sum(m for m, _ in used)
        used_cores = sum(c for _, c in used)
        for qname, per_vendor in self.quotas.get(namespace, {}).items():
            mem_limit, core_limit = per_vendor.get(vendor, (None, None))
            head = f"exceeding resource quota {namespace}/{qname}:"
            if mem_limit is not None and mem > 0 and used_mem + mem > mem_limit:
                what = _short(backend.memory_resource)
                return f"{head} {what} {used_mem}+{mem} > {mem_limit}"
            if core_limit is not None and cores > 0 and used_cores + cores > core_limit:
                what = _short(backend.core_resource)
                return f"{head} {what} {used_cores}+{cores} > {core_limit}"
        return None

    def pending_hint(self, pod: Mapping[str, Any]) -> str | None:
        """The first hint a backend gives for an unschedulable pod (optional backend role)."""
        for backend in self.backends.values():
            hint = getattr(backend, "pending_hint", None)
            found = hint(pod) if callable(hint) else None
            if found:
                return str(found)
        return None

    # -- filter ---------------------------------------------------------------------------------
    async def filter(
        self, args: Any, *, candidates: frozenset[str] | None = None
    ) -> ExtenderFilterResult:
        """Answer an ``ExtenderArgs``; errors come back in ``Error`` (never raised).
        ``candidates``: the set of ``args``' ``NodeNames``, all strings, when the caller has it
        (:class:`~hami.scheduler.app.FilterArgsDecoder` keeps one per distinct list)."""
        started = time.perf_counter()
        try:
            return await self._filter(args, candidates)
        except BadRequest as exc:
            self.stats.filter_errors += 1
            log.warning("filter: bad request: %s", exc, extra={"result": "error"})
            return filter_result(error=str(exc))
        finally:
            self.stats.filter_seconds.observe(time.perf_counter() - started)

    async def _filter(self, args: Any, known: frozenset[str] | None) -> ExtenderFilterResult:
        pod, names, nodes = _parse_filter_args(args, names_checked=known is not None)
        meta = _meta(pod)
        ref = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        if not self.synced and not await self.wait_synced():
            self.stats.filter_errors += 1
            _log_error(ref, "scheduler cache not synced")
            return filter_result(error="scheduler cache not synced")
        if nodes is not None:
            return self._simulate(pod, nodes)
        ns, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
        busy = _BusyNodes(self.locker, self.inflight, self.node_informer.get, ns, name)
        # The engine only tests membership: hand it the caller's set when there is one.
        candidates = names if known is None else cast("Sequence[str]", known)
        outcome = self.state.filter(pod, candidates, now=self.clock(), avoid=busy)
        if not outcome.managed:
            return filter_result(node_names=names)
        if outcome.ignored_policies:
            self.recorder.record(pod, "Warning", POLICY_IGNORED,
                                 _ignored_message(ref, outcome.ignored_policies))  # fmt: skip
        if outcome.error:
            self.stats.filter_errors += 1
            _log_error(ref, outcome.error)
            self.recorder.record(pod, "Warning", events.FILTERING_FAILED,
                                 f"pod {ref}: {outcome.error}")  # fmt: skip
            return filter_result(error=f"pod {ref}: {outcome.error}")
        if outcome.node is None:
            self.stats.filter_failed += 1
            hint = self.pending_hint(pod)
            _log_unschedulable(ref, outcome.failed_nodes, hint)
            self.recorder.record(pod, "Warning", events.FILTERING_FAILED,
                                 _failed_message(ref, outcome.failed_nodes, hint))  # fmt: skip
            return filter_result(node_names=[], failed=outcome.failed_nodes)
        uid = str(meta.get("uid") or "")
        if not uid:  # the reservation is keyed by uid: refuse to guess
            self.stats.filter_errors += 1
            _log_error(ref, "metadata.uid is empty")
            return filter_result(error=f"pod {ref}: metadata.uid is empty")
        had = self.pods.get(uid)
        # Reserve before any await: concurrent filters must see this decision.
        self._reserve(uid, ns, name, outcome.node, outcome.devices, outcome.init_count,
                      outcome.mig)  # fmt: skip
        try:
            await self.client.patch_pod_metadata(
                ns, name, annotations=outcome.annotations, labels={VGPU_NODE: outcome.node}
            )
        except errors.ApiError as exc:
            self._forget(uid)
            if had is not None:
                self._reserve(uid, had.namespace, had.name, had.node, had.devices, had.init_count)
            self.stats.filter_errors += 1
            _log_error(ref, f"writing the decision failed: {exc}")
            msg = f"pod {ref}: writing the decision failed: {exc}"
            self.recorder.record(pod, "Warning", events.FILTERING_FAILED, msg)
            return filter_result(error=msg)
        self.stats.filter_ok += 1
        _log_placed(ref, outcome.node, outcome.devices)
        self.inflight.placed(f"{ns}/{name}", outcome.node)
        self.recorder.record(pod, "Normal", events.FILTERING_SUCCEED,
                             f"Successfully filtered to following nodes: [{outcome.node}] "
                             f"for {ref}")  # fmt: skip
        return filter_result(node_names=[outcome.node], failed=outcome.failed_nodes)

    def _simulate(
        self, pod: Mapping[str, Any], nodes: list[dict[str, Any]]
    ) -> ExtenderFilterResult:
        """``nodes`` given (e.g. autoscaler templates): decide without side effects."""
        by_name = {str(_meta(n).get("name")): n for n in nodes}
        ns = str(_meta(pod).get("namespace") or "default")
        fit_quota = {
            cw: self.limits(ns, cw) for cw, b in self.backends.items() if b.fit_checks_quota
        }
        quota = (ns, fit_quota)
        scratch, left_out = self.registrar.scratch_state(by_name.values(), self.pods.items(), quota)
        outcome = scratch.filter(pod, list(by_name), now=self.clock())
        if not outcome.managed:
            return filter_result(nodes={"items": list(by_name.values())})
        if outcome.error:
            return filter_result(error=outcome.error)
        items = [dict(by_name[outcome.node])] if outcome.node else []
        failed = {n: left_out.get(n, r) for n, r in outcome.failed_nodes.items()}
        return filter_result(nodes={"items": items}, failed=failed)

    # -- bind -----------------------------------------------------------------------------------
    async def bind(self, args: Any) -> ExtenderBindingResult:
        """Answer an ``ExtenderBindingArgs`` (see :class:`~hami.scheduler.bind.Binder`)."""
        try:
            return await self.binder.bind(args)
        finally:
            if isinstance(args, Mapping):
                fields = go_fields(args, BINDING_ARGS_FIELDS)
                self.inflight.done(f"{fields.get('PodNamespace')}/{fields.get('PodName')}")


class _BusyNodes:
    """``node in busy``: another pod is about to take or holds the node lock right now
    (:class:`InFlightBinds`, :meth:`NodeLocker.busy`)."""

    __slots__ = ("_cached", "_locker", "_name", "_ns", "_pending", "_ref")

    def __init__(
        self,
        locker: NodeLocker,
        pending: InFlightBinds,
        cached: Callable[[str], JsonObj | None],
        ns: str,
        name: str,
    ) -> None:
        self._locker, self._pending, self._cached = locker, pending, cached
        self._ns, self._name, self._ref = ns, name, f"{ns}/{name}"

    def __contains__(self, node: object) -> bool:
        if not isinstance(node, str):
            return False
        return self._pending.busy(node, self._ref) or self._locker.busy(
            node, self._ns, self._name, self._cached(node)
        )


def _short(resource: str) -> str:
    """``gpumem`` of ``nvidia.com/gpumem``: the resource named in quota denials."""
    return resource.rpartition("/")[2] or resource


def _hard_limit(
    hard: Mapping[str, Any], resource: str, factor: int, quota: Mapping[str, Any]
) -> int | None:
    """``spec.hard["limits.<resource>"]`` x ``factor``; None when absent or unreadable."""
    raw = hard.get(f"limits.{resource}")
    try:
        return None if raw is None else quantity_to_int(raw) * max(int(factor), 1)
    except DecodeError as exc:
        log.warning("resourcequota %s: %s", _meta(quota).get("name"), exc)
        return None


def _failed_message(ref: str, failed: Mapping[str, str], hint: str | None = None) -> str:
    """The FilteringFailed Event's message (the hint first: the message is cut at 1024)."""
    head = f"pod {ref}: no available node" + (f", {hint}" if hint else "")
    if not failed:
        return f"{head}, no candidate nodes"
    reasons = "; ".join(f"{n}: {r}" for n, r in sorted(failed.items())[:20])
    return f"{head}, {len(failed)} nodes do not meet: {reasons}"


# One line per filter result (INFO; errors at WARNING): what an operator greps to trace a pod.
def _ignored_message(ref: str, ignored: Iterable[tuple[str, str]]) -> str:
    """``pod ns/p: ignored hami.io/gpu-scheduler-policy "bogus" (not a policy: ...); ...``."""
    parts = []
    for annotation, value in ignored:
        known = GPU_POLICIES if annotation == GPU_POLICY_ANNOTATION else NODE_POLICIES
        parts.append(f"ignored {annotation} value {value!r}: not a policy "
                     f"(known: {', '.join(sorted(known))})")  # fmt: skip
    return f"pod {ref}: {'; '.join(parts)}; scheduling with the default"


_SUMMARY_REASONS = 5
_SUMMARY_NODES = 3


def _log_placed(ref: str, node: str, devices: Mapping[str, PodSingleDevice]) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    gpus = [
        {"container": i, "uuid": d.uuid, "mem": d.usedmem, "cores": d.usedcores}
        for per_vendor in devices.values()
        for i, ctr in enumerate(per_vendor)
        for d in ctr
    ]
    text = ", ".join(f"{g['uuid']} ({g['mem']} MiB, {g['cores']}% cores)" for g in gpus)
    log.info("filter %s: placed on %s: %s", ref, node, text,
             extra={"pod": ref, "result": "placed", "node": node, "gpus": gpus})  # fmt: skip


def _log_unschedulable(ref: str, failed: Mapping[str, str], hint: str | None) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    by_reason: dict[str, list[str]] = {}
    for name, reason in failed.items():
        by_reason.setdefault(reason, []).append(name)
    ranked = sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    parts = []
    for reason, names in ranked[:_SUMMARY_REASONS]:
        shown = ", ".join(sorted(names)[:_SUMMARY_NODES])
        more = f", +{len(names) - _SUMMARY_NODES}" if len(names) > _SUMMARY_NODES else ""
        parts.append(f"{len(names)}x {reason!r} ({shown}{more})")
    if len(ranked) > _SUMMARY_REASONS:
        parts.append(f"+{len(ranked) - _SUMMARY_REASONS} other reasons")
    summary = "; ".join(parts) if parts else "no candidate nodes"
    log.info(
        "filter %s: unschedulable%s: %d nodes do not fit: %s", ref,
        f", {hint}" if hint else "", len(failed), summary,
        extra={"pod": ref, "result": "unschedulable", "nodes": len(failed),
               "reasons": {r: len(n) for r, n in ranked}, "hint": hint or ""},
    )  # fmt: skip


def _log_error(ref: str, error: str) -> None:
    log.warning("filter %s: error: %s", ref, error, extra={"pod": ref, "result": "error"})


def _parse_filter_args(
    args: Any, *, names_checked: bool = False
) -> tuple[Mapping[str, Any], list[str] | None, list[dict[str, Any]] | None]:
    """(pod, node names, full nodes) from an ``ExtenderArgs``, keys matched as Go matches them
    (kube-scheduler writes ``Pod``/``Nodes``/``NodeNames``; any case is accepted).
    ``names_checked``: the caller found ``NodeNames`` to be a list of strings already."""
    if not isinstance(args, Mapping):
        raise BadRequest("extender args must be a JSON object")
    fields = go_fields(args, FILTER_ARGS_FIELDS)
    pod = fields.get("Pod")
    if not isinstance(pod, Mapping) or not isinstance(pod.get("metadata"), Mapping):
        raise BadRequest("extender args: 'Pod' must be an object with metadata")
    meta = pod["metadata"]
    if not isinstance(meta.get("name"), str) or not meta.get("name"):
        raise BadRequest("extender args: Pod.metadata.name must be a non-empty string")
    for key in ("namespace", "uid"):
        if meta.get(key) is not None and not isinstance(meta.get(key), str):
            raise BadRequest(f"extender args: Pod.metadata.{key} must be a string")
    for key in ("spec", "status"):
        if pod.get(key) is not None and not isinstance(pod.get(key), Mapping):
            raise BadRequest(f"extender args: Pod.{key} must be an object")
    names = fields.get("NodeNames")
    if (
        names is not None
        and not names_checked
        and (not isinstance(names, list) or not set(map(type, names)) <= {str})
    ):
        raise BadRequest("extender args: 'NodeNames' must be a list of strings")
    nodes = fields.get("Nodes")
    items: list[dict[str, Any]] | None = None
    if nodes is not None and names is None:
        raw = nodes.get("items") if isinstance(nodes, Mapping) else None
        if not isinstance(raw, list) or not all(
            isinstance(n, dict) and isinstance(_meta(n).get("name"), str) for n in raw
        ):
            raise BadRequest("extender args: 'Nodes.items' must be a list of Node objects")
        items = raw
    if names is None and items is None:
        raise BadRequest("extender args: neither 'NodeNames' nor 'Nodes' given")
    return pod, names, items
