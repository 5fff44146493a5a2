"""Leader election over a ``coordination.k8s.io/v1`` Lease, as client-go does it.

A candidate takes the lease when it is free or its holder has not renewed it for
``lease_duration`` (measured on our own monotonic clock from when we last saw the record change,
so clock skew between replicas cannot make two leaders). The leader renews every
``retry_period``; it considers itself leader only until ``renew_deadline`` after its last
successful renewal, which is shorter than ``lease_duration``, so it steps down before anyone else
may take over. All writes go through the lease's resourceVersion (Conflict = someone else won).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient

log = logging.getLogger(__name__)

#: Called with True when we become leader, False when we stop being leader.
Transition = Callable[[bool], Awaitable[None]]


def _micro_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for one Lease; :attr:`is_leader` is safe to read at any time."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_transition: Transition | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        self._client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._duration = lease_duration
        self._deadline = renew_deadline
        self._retry = retry_period
        self._on_transition = on_transition
        self._now = monotonic
        self._renewed_at: float | None = None
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._was_leader = False
        self.transitions = 0

    @property
    def is_leader(self) -> bool:
        return self._renewed_at is not None and self._now() - self._renewed_at < self._deadline

    async def run(self) -> None:
        """Campaign and renew until cancelled; steps down (callback False) on cancellation."""
        try:
            while True:
                try:
                    await self.try_acquire_or_renew()
                except errors.ApiError as exc:
                    log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
                await self._notify()
                await asyncio.sleep(self._retry)
        finally:
            self._renewed_at = None
            if self._was_leader:
                self._was_leader = False
                if self._on_transition is not None:
                    await asyncio.shield(self._on_transition(False))

    async def _notify(self) -> None:
        leader = self.is_leader
        if leader != self._was_leader:
            self._was_leader = leader
            self.transitions += 1
            verb = "became" if leader else "stopped being"
            log.info("%s %s leader of %s/%s", self.identity, verb, self.namespace, self.name)
            if self._on_transition is not None:
                await self._on_transition(leader)

    def _spec(self, transitions: int, acquired: str | None) -> dict[str, Any]:
        now = _micro_time(datetime.now(UTC))
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self._duration)),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One round; True when we hold the lease afterwards."""
        started = self._now()
        try:
            lease = await self._client.get_lease(self.namespace, self.name)
        except errors.NotFound:
            body: JsonObj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(0, None),
            }
            try:
                await self._client.create_lease(body)
            except errors.Conflict:
                return False
            self._observed = (self.identity, str(body["spec"]["renewTime"]))
            self._observed_at = started
            self._renewed_at = started
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed = record
            self._observed_at = started
        duration = float(spec.get("leaseDurationSeconds") or self._duration)
        mine = holder == self.identity
        if not mine and holder and started - self._observed_at < duration:
            return False  # someone else holds a live lease
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease["spec"] = self._spec(transitions, str(spec.get("acquireTime")) if mine else None)
        try:
            updated = await self._client.replace_lease(lease)
        except errors.Conflict:
            return False
        new_spec = updated.get("spec") or {}
        self._observed = (self.identity, str(new_spec.get("renewTime") or ""))
        self._observed_at = started
        self._renewed_at = started
        return True

    async def release(self) -> bool:
        """Give the lease up (clean shutdown, e.g. SIGTERM) so another replica takes over at
        once instead of waiting out ``lease_duration``: like client-go's ``ReleaseOnCancel``,
        clear ``holderIdentity`` and shorten the lease to 1 s. Only a lease we still hold is
        touched (the resourceVersion guards the write). Returns whether it was released."""
        self._renewed_at = None
        if self._observed is None or self._observed[0] != self.identity:
            return False  # we never held it (or saw someone else take it)
        try:
            lease = await self._client.get_lease(self.namespace, self.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return False
            now = _micro_time(datetime.now(UTC))
            lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1,
                             "acquireTime": now, "renewTime": now}  # fmt: skip
            await self._client.replace_lease(lease)
        except errors.ApiError as exc:
            log.warning("lease %s/%s: release failed: %s", self.namespace, self.name, exc)
            return False
        log.info("%s released the lease %s/%s", self.identity, self.namespace, self.name)
        return True
