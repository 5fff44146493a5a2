"""kube-scheduler stand-in: schedules pods of one `schedulerName` through an extender.

Like kube-scheduler it lists and watches non-terminal pods (field selector
`status.phase!=Succeeded,status.phase!=Failed`) into a cache, queues the unassigned ones of its own
`schedulerName`, runs its own filters (fit.py) on the nodes it lists, then the extender's filter
verb, picks the first feasible node and binds through the extender's bind verb (never itself when
the extender binds; `pods/binding` otherwise). Failures leave the pod Pending with a
`FailedScheduling` event and `PodScheduled=False`, and retry with bounded exponential backoff.
Runs as asyncio tasks (`async with KubeSchedulerStandIn(...)`) or in a thread
(`KubeSchedulerThread` in runner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from .config import SchedulerConfig
from .extender import ExtenderClient, ExtenderError
from .fit import QuantityError, fit_error_message, node_failures

log = logging.getLogger(__name__)

POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed scheduling attempt as kube-scheduler reports it."""

    pod: str
    reason: str  # "Unschedulable" or "SchedulerError"
    message: str


def _key(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubeSchedulerStandIn:
    """One scheduler profile + at most one binding extender, against an apiserver URL."""

    def __init__(
        self,
        api_url: str,
        config: SchedulerConfig,
        *,
        initial_backoff_s: float = 0.1,
        max_backoff_s: float = 1.0,
        api_verify: Any = False,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.config = config
        self.scheduler_name = config.scheduler_name
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self._api_verify = api_verify
        self.extenders = [ExtenderClient(e) for e in config.extenders]
        self._api: httpx.AsyncClient | None = None
        self._pods: dict[str, dict[str, Any]] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._backoff: dict[str, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = asyncio.Event()
        self._changed = asyncio.Condition()
        # Records for tests.
        self.attempts: Counter[str] = Counter()
        self.failures: list[Failure] = []
        self.bound: dict[str, str] = {}
        self.self_binds: list[tuple[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.relists = 0
        self.watches = 0  # watch requests opened (a restart ends one: relist or resume)
        self.retry_delays: dict[str, list[float]] = {}

    @property
    def binder(self) -> ExtenderClient | None:
        return next((e for e in self.extenders if e.cfg.bind_verb), None)

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> KubeSchedulerStandIn:
        self._api = httpx.AsyncClient(base_url=self.api_url, timeout=10, verify=self._api_verify)
        self._tasks = [
            asyncio.create_task(self._watch_pods(), name="kube-scheduler-watch"),
            asyncio.create_task(self._worker(), name="kube-scheduler-worker"),
        ]
        await asyncio.wait_for(self._synced.wait(), 10)
        return self

    async def stop(self) -> None:
        for h in self._backoff.values():
            h.cancel()
        self._backoff.clear()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        for e in self.extenders:
            await e.aclose()
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    async def __aenter__(self) -> KubeSchedulerStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_until(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait until `predicate(self)` holds; re-checked after every scheduling attempt."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- informer ------------------------------------------------------------------------
    async def _watch_pods(self) -> None:
        """Reflector loop: list, then watch from the last resourceVersion seen (events and
        bookmarks); relist only when the watch fails or reports 410 Expired."""
        assert self._api is not None
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    rv = await self._list_pods()
                    self._synced.set()
                rv = await self._watch_from(rv)
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, ValueError, KeyError) as err:
                log.info("kube-scheduler: pod watch ended (%s); relisting", err)
                rv = None
                await asyncio.sleep(0.1)

    async def _list_pods(self) -> str:
        assert self._api is not None
        r = await self._api.get("/api/v1/pods", params={"fieldSelector": POD_FIELD_SELECTOR})
        r.raise_for_status()
        body = r.json()
        self.relists += 1
        fresh = {_key(p): p for p in body.get("items") or []}
        for key in set(self._pods) - set(fresh):
            self._forget(key)
        for p in fresh.values():
            self._observe(p)
        return str(body["metadata"]["resourceVersion"])

    async def _watch_from(self, rv: str) -> str | None:
        """One watch request; returns where to resume, or None to relist."""
        assert self._api is not None
        self.watches += 1
        params = {
            "fieldSelector": POD_FIELD_SELECTOR,
            "watch": "true",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "60",
        }
        async with self._api.stream(
            "GET", "/api/v1/pods", params=params, timeout=httpx.Timeout(10, read=None)
        ) as r:
            if r.status_code == 410:
                return None
            r.raise_for_status()
            async for line in r.aiter_lines():
                if not line.strip():
                    continue
                ev = json.loads(line)
                typ, obj = ev.get("type"), ev.get("object") or {}
                if typ == "ERROR":
                    return None  # e.g. 410 Expired: relist
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                if typ == "BOOKMARK":
                    continue
                if typ == "DELETED":
                    self._forget(_key(obj))
                elif typ in ("ADDED", "MODIFIED"):
                    self._observe(obj)
                await self._notify()
        return rv

    def _observe(self, pod: dict[str, Any]) -> None:
        key = _key(pod)
        self._pods[key] = pod
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            self._drop_pending(key)
            return
        if self._wants(pod) and key not in self._queued and key not in self._backoff:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _forget(self, key: str) -> None:
        self._pods.pop(key, None)
        self._drop_pending(key)

    def _drop_pending(self, key: str) -> None:
        h = self._backoff.pop(key, None)
        if h is not None:
            h.cancel()

    def _wants(self, pod: dict[str, Any]) -> bool:
        spec = pod.get("spec") or {}
        meta = pod.get("metadata") or {}
        return (
            spec.get("schedulerName", "default-scheduler") == self.scheduler_name
            and not spec.get("nodeName")
            and not meta.get("deletionTimestamp")
            and not spec.get("schedulingGates")
        )

    # ---- scheduling ----------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            pod = self._pods.get(key)
            if pod is None or not self._wants(pod):
                continue
            self.attempts[key] += 1
            try:
                failure = await self._schedule_one(pod)
            except (httpx.HTTPError, ValueError) as err:
                failure = Failure(key, "SchedulerError", str(err))
            if failure is not None:
                await self._record_failure(pod, failure)
                self._retry_later(key)
            await self._notify()

    def _retry_later(self, key: str) -> None:
        n = self.attempts[key]
        delay = min(self.initial_backoff_s * 2 ** (n - 1), self.max_backoff_s)
        self.retry_delays.setdefault(key, []).append(delay)

        def fire() -> None:
            self._backoff.pop(key, None)
            pod = self._pods.get(key)
            if pod is not None and self._wants(pod) and key not in self._queued:
                self._queued.add(key)
                self._queue.put_nowait(key)

        self._backoff[key] = asyncio.get_running_loop().call_later(delay, fire)

    async def _list_nodes(self) -> list[dict[str, Any]]:
        assert self._api is not None
        r = await self._api.get("/api/v1/nodes")
        r.raise_for_status()
        return list(r.json().get("items") or [])

    async def _schedule_one(self, pod: dict[str, Any]) -> Failure | None:
        key = _key(pod)
        nodes = await self._list_nodes()
        ignored = frozenset().union(*(e.cfg.ignored_resources for e in self.extenders))
        reasons: dict[str, list[str]] = {}
        feasible = []
        for node in nodes:
            name = node["metadata"]["name"]
            on_node = [
                p for p in self._pods.values() if (p.get("spec") or {}).get("nodeName") == name
            ]
            try:
                why = node_failures(pod, node, on_node, ignored)
            except QuantityError as err:
                return Failure(key, "SchedulerError", f"pod {key} on node {name}: {err}")
            if why:
                reasons[name] = why
            else:
                feasible.append(node)
        for ext in self.extenders:
            if not feasible:
                break
            if not ext.cfg.filter_verb or not ext.cfg.is_interested(pod):
                continue
            try:
                res = await ext.filter(pod, feasible)
            except ExtenderError as err:
                if ext.cfg.ignorable:
                    continue
                return Failure(key, "SchedulerError", str(err))
            if res.error:
                if ext.cfg.ignorable:
                    continue
                return Failure(key, "SchedulerError", res.error)
            for name, msg in {**res.failed, **res.failed_unresolvable}.items():
                reasons[name] = [msg]
            passed = set(res.passed(ext.cfg.node_cache_capable))
            feasible = [n for n in feasible if n["metadata"]["name"] in passed]
        if not feasible:
            return Failure(key, "Unschedulable", fit_error_message(len(nodes), reasons))
        node_name = str(feasible[0]["metadata"]["name"])
        return await self._bind(pod, node_name)

    def is_interested(self, pod: dict[str, Any]) -> bool:
        return any(e.cfg.is_interested(pod) for e in self.extenders)

    async def _bind(self, pod: dict[str, Any], node: str) -> Failure | None:
        key = _key(pod)
        binder = self.binder
        if binder is not None and binder.cfg.is_interested(pod):
            try:
                await binder.bind(pod, node)
            except ExtenderError as err:
                return Failure(key, "SchedulerError", f"binding rejected: {err}")
        else:
            assert self._api is not None
            meta = pod["metadata"]
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta.get("uid", ""),
                },
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            }
            r = await self._api.post(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", json=binding
            )
            self.self_binds.append((key, node))
            if r.status_code not in (200, 201):
                return Failure(key, "SchedulerError", f"binding rejected: {r.status_code} {r.text}")
        self.bound[key] = node
        # "Assume" the pod on its node until the watch confirms it, so the next pod's fit
        # already counts it, as kube-scheduler's cache does.
        if key in self._pods and not (self._pods[key].get("spec") or {}).get("nodeName"):
            assumed = dict(self._pods[key])
            assumed["spec"] = {**(assumed.get("spec") or {}), "nodeName": node}
            self._pods[key] = assumed
        meta = pod["metadata"]
        await self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
        )
        return None

    async def _record_failure(self, pod: dict[str, Any], failure: Failure) -> None:
        self.failures.append(failure)
        log.info("kube-scheduler: %s: %s", failure.pod, failure.message)
        # Like kube-scheduler, an apiserver that is down (a fault test restarting it) costs the
        # Event and the condition, never the scheduling loop.
        try:
            await self._event(pod, "Warning", "FailedScheduling", failure.message)
            await self._set_condition(pod, failure)
        except httpx.HTTPError as exc:
            log.warning("kube-scheduler: recording the failure of %s: %s", failure.pod, exc)

    async def _set_condition(self, pod: dict[str, Any], failure: Failure) -> None:
        assert self._api is not None
        meta = pod["metadata"]
        conditions = [
            c
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": _now(),
                "reason": failure.reason,
                "message": failure.message,
            }
        )
        r = await self._api.patch(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            content=json.dumps({"status": {"conditions": conditions}}),
            headers=MERGE_PATCH,
        )
        if r.status_code != 200:
            log.warning(
                "kube-scheduler: %s: status patch %s %s", failure.pod, r.status_code, r.text
            )

    async def _event(self, pod: dict[str, Any], typ: str, reason: str, note: str) -> None:
        """An events.k8s.io/v1 Event, as kube-scheduler's event recorder writes it."""
        assert self._api is not None
        meta = pod["metadata"]
        ns = meta["namespace"]
        ev = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": ns},
            "eventTime": _micro_now(),
            "reportingController": self.scheduler_name,
            "reportingInstance": f"{self.scheduler_name}-standin",
            "action": "Scheduling",
            "reason": reason,
            "type": typ,
            "note": note,
            "regarding": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": ns,
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        }
        self.events.append(ev)
        r = await self._api.post(f"/apis/events.k8s.io/v1/namespaces/{ns}/events", json=ev)
        if r.status_code not in (200, 201):
            log.warning(
                "kube-scheduler: event for %s/%s: %s %s", ns, meta["name"], r.status_code, r.text
            )
