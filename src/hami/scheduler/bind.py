"""Extender Bind (spec §1.3 step 5): node lock, ``bind-phase``/``bind-time`` stamp, binding.

For a pod our filter placed, Bind takes the node lock (``hami.io/mutex.lock``), then creates
``pods/binding`` carrying ``hami.io/bind-phase=allocating`` and ``hami.io/bind-time`` as Binding
annotations, which the apiserver applies to the pod in the same write.
Any failure releases the lock and is answered in ``Error`` (HTTP 200), with a ``BindingFailed``
event; success records ``BindingSucceed``. PodGroup members wait out lock contention up to
``--node-lock-retry-timeout``; other pods fail fast and kube-scheduler retries them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hami.api.annotations import (
    BIND_PHASE,
    BIND_PHASE_ALLOCATING,
    BIND_TIME,
    POD_GROUP_LABEL,
    VGPU_NODE,
)
from hami.api.extender import BINDING_ARGS_FIELDS, ExtenderBindingResult, binding_result, go_fields
from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient
from hami.scheduler import events
from hami.scheduler.nodelock import NodeLocker, NodeLockError

log = logging.getLogger(__name__)


class BindArgsError(ValueError):
    """The ``ExtenderBindingArgs`` body is malformed."""


@dataclass
class BindStats:
    """Counters exported as metrics."""

    ok: int = 0
    failed: int = 0


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


class Binder:
    """Binds pods for the extender through a :class:`~hami.k8s.port.KubeClient`."""

    def __init__(
        self,
        client: KubeClient,
        locker: NodeLocker,
        recorder: events.EventRecorder,
        *,
        cached_pod: Callable[[str], JsonObj | None],
        cached_node: Callable[[str], JsonObj | None],
        reserved: Callable[[str], bool],
        clock: Callable[[], datetime],
        lock_retry_timeout_s: float = 28.0,
    ) -> None:
        self.client = client
        self.locker = locker
        self.recorder = recorder
        self._cached_pod = cached_pod
        self._cached_node = cached_node
        self._reserved = reserved
        self.clock = clock
        self.lock_retry_timeout_s = lock_retry_timeout_s
        self.stats = BindStats()

    async def bind(self, args: Any) -> ExtenderBindingResult:
        """Answer an ``ExtenderBindingArgs``: lock, stamp, bind; ``Error`` on any failure."""
        try:
            ns, name, uid, node = parse_bind_args(args)
        except BindArgsError as exc:
            self.stats.failed += 1
            return binding_result(str(exc))
        ref = f"{ns}/{name}"
        pod = self._cached_pod(ref)
        if pod is None or (uid and _meta(pod).get("uid") != uid):
            try:
                pod = await self.client.get_pod(ns, name)
            except errors.ApiError as exc:
                self.stats.failed += 1
                return binding_result(f"bind pod {ref}: {exc}")
        if uid and _meta(pod).get("uid") != uid:
            self.stats.failed += 1
            return binding_result(f"bind pod {ref}: uid {uid} does not match the pod")
        # Reserved by our filter (the cached pod may predate the annotation patch) or annotated.
        managed = self._reserved(str(_meta(pod).get("uid") or "")) or bool(
            (_meta(pod).get("annotations") or {}).get(VGPU_NODE)
        )
        if managed:
            try:
                await self._lock(pod, node, ns, name)
            except NodeLockError as exc:
                return self._failed(pod, ref, node, str(exc))
        try:
            # The stamp rides on the Binding: the apiserver writes it and spec.nodeName in one
            # update, so the device plugin never sees a stamped pod without its node (or the
            # reverse), and bind costs one request less than a separate PATCH.
            stamp = (
                {BIND_PHASE: BIND_PHASE_ALLOCATING, BIND_TIME: str(int(self.clock().timestamp()))}
                if managed
                else None
            )
            await self.client.bind_pod(ns, name, node, uid=uid or None, annotations=stamp)
        except errors.ApiError as exc:
            if managed:
                await self.locker.release(node, ns, name)
            return self._failed(pod, ref, node, str(exc))
        self.stats.ok += 1
        self.recorder.record(
            pod, "Normal", events.BINDING_SUCCEED, f"Successfully binding node [{node}] to {ref}"
        )
        return binding_result()

    async def _lock(self, pod: Mapping[str, Any], node: str, ns: str, name: str) -> None:
        deadline = time.monotonic() + self.lock_retry_timeout_s
        while True:
            try:
                await self.locker.acquire(node, ns, name, cached=self._cached_node(node))
                return
            except NodeLockError as exc:
                if not exc.contention or not in_pod_group(pod):
                    raise
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.1)

    def _failed(self, pod: JsonObj, ref: str, node: str, why: str) -> ExtenderBindingResult:
        self.stats.failed += 1
        msg = f"bind pod {ref} to node {node}: {why}"
        log.warning("%s", msg)
        self.recorder.record(pod, "Warning", events.BINDING_FAILED, msg)
        return binding_result(msg)


def in_pod_group(pod: Mapping[str, Any]) -> bool:
    """PodGroup member: label ``scheduling.x-k8s.io/pod-group`` or ``spec.schedulingGroup``."""
    labels = _meta(pod).get("labels") or {}
    group = ((pod.get("spec") or {}).get("schedulingGroup") or {}).get("podGroupName")
    return bool(labels.get(POD_GROUP_LABEL) or group)


def parse_bind_args(args: Any) -> tuple[str, str, str, str]:
    """(namespace, name, uid, node) from an ``ExtenderBindingArgs``, keys matched as Go
    matches them (kube-scheduler writes ``PodName``...; any case is accepted)."""
    if not isinstance(args, Mapping):
        raise BindArgsError("binding args must be a JSON object")
    fields = go_fields(args, BINDING_ARGS_FIELDS)
    values = []
    for key in ("PodNamespace", "PodName", "PodUID", "Node"):
        value = fields.get(key, "")
        if not isinstance(value, str):
            raise BindArgsError(f"binding args: '{key}' must be a string")
        if key != "PodUID" and not value:
            raise BindArgsError(f"binding args: '{key}' is required")
        values.append(value)
    return values[0], values[1], values[2], values[3]
