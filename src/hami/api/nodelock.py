"""Format of the per-node lock annotations (spec §1.4, vendors §2.7).

The shared lock ``hami.io/mutex.lock`` ("owner" style): value ``<RFC3339 time>,<namespace>,<pod
name>``; the legacy form is a bare RFC3339 time (owner unknown). :func:`stale_owner` says when the
owner no longer needs the lock. A vendor's own lock in "bare-time" style (Cambricon's
``cambricon.com/dsmlu.lock``) holds only a bare RFC3339 time and is refused while younger than
:data:`BARE_LOCK_HOLD` (:func:`bare_lock_held`). Pure functions only: acquiring and releasing
through the API server live elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hami.api.annotations import (
    BIND_PHASE,
    BIND_PHASE_FAILED,
    BIND_PHASE_SUCCESS,
    NODE_LOCK,
    VGPU_NODE,
)
from hami.api.errors import DecodeError

#: HAMi's default ``--node-lock-timeout``.
DEFAULT_LOCK_TIMEOUT = timedelta(minutes=5)
#: A "bare-time" lock younger than this refuses the bind (HAMi's Cambricon lock: 2 minutes).
BARE_LOCK_HOLD = timedelta(minutes=2)
_PENDING_PREFIX = "hami.io/"
_PENDING_SUFFIX = "-devices-to-allocate"


@dataclass(frozen=True, slots=True)
class NodeLock:
    """A decoded lock value. ``namespace``/``name`` are None for the legacy form."""

    time: datetime
    namespace: str | None = None
    name: str | None = None

    def owned_by(self, namespace: str, name: str) -> bool:
        """Whether this lock was taken for pod ``namespace/name``."""
        return self.namespace == namespace and self.name == name


def format_rfc3339(now: datetime) -> str:
    """Go ``time.RFC3339`` (second precision; ``Z`` for UTC; naive times are taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    offset = now.utcoffset() or timedelta(0)
    base = now.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return base + "Z"
    total = int(offset.total_seconds())
    sign = "+" if total > 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"{base}{sign}{hours:02d}:{minutes:02d}"


def parse_rfc3339(value: str, field: str = NODE_LOCK) -> datetime:
    """Parse an RFC3339 (or RFC3339Nano) timestamp into an aware datetime."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DecodeError(field, value, "time is not RFC3339") from None
    if "T" not in text.upper() or parsed.tzinfo is None:
        raise DecodeError(field, value, "time is not RFC3339 (needs date, 'T' and zone)")
    return parsed


def format_lock(now: datetime, namespace: str, name: str) -> str:
    """Build the lock value for pod ``namespace/name`` taken at ``now``."""
    return f"{format_rfc3339(now)},{namespace},{name}"


def parse_lock(value: str) -> NodeLock:
    """Decode a lock value in the current or the legacy form."""
    parts = value.split(",")
    if len(parts) == 1:
        return NodeLock(time=parse_rfc3339(parts[0]))
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise DecodeError(NODE_LOCK, value, "expected '<RFC3339>,<namespace>,<name>'")
    return NodeLock(time=parse_rfc3339(parts[0]), namespace=parts[1], name=parts[2])


def is_expired(lock: NodeLock, now: datetime, timeout: timedelta = DEFAULT_LOCK_TIMEOUT) -> bool:
    """Whether the lock is older than ``timeout`` at ``now`` (naive ``now`` is UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now - lock.time > timeout


def bare_lock_held(value: str, now: datetime, field: str) -> bool:
    """Whether a "bare-time" lock ``value`` still holds at ``now`` (younger than
    :data:`BARE_LOCK_HOLD`; naive ``now`` is UTC). Raises :class:`DecodeError` (naming ``field``)
    when the value is not an RFC3339 time."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now - parse_rfc3339(value, field) < BARE_LOCK_HOLD


def pending_allocation(annotations: Mapping[str, Any]) -> bool:
    """Whether any vendor's to-allocate annotation (``hami.io/<...>-devices-to-allocate``:
    NVIDIA's ``hami.io/vgpu-devices-to-allocate``, ``hami.io/dcu-devices-to-allocate``,
    ``hami.io/Ascend910B3-devices-to-allocate``...) still lists a device."""
    for key, value in annotations.items():
        if not (isinstance(key, str) and key.startswith(_PENDING_PREFIX)):
            continue
        if not key.endswith(_PENDING_SUFFIX):
            continue
        if str(value or "").replace(";", "").replace(":", "").strip():
            return True
    return False


def stale_owner(pod: Mapping[str, Any], node: str) -> str | None:
    """Why pod ``pod``, which holds ``node``'s lock, no longer needs it; None while it may still
    be between Bind and Allocate on ``node``.

    The lock serialises Bind and Allocate, so it is stale once its owner is being deleted, has
    finished (``Succeeded``/``Failed``, e.g. kubelet's admission failed), is bound to another node,
    has ``bind-phase`` ``success`` or ``failed``, or has no allocation pending for ``node`` (its
    ``vgpu-node`` names another node, or nothing is left in any vendor's to-allocate annotation,
    :func:`pending_allocation`: the device plugins empty theirs as they hand devices out).
    """
    meta = pod.get("metadata") or {}
    annos = meta.get("annotations") or {}
    if meta.get("deletionTimestamp"):
        return "is being deleted"
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return f"has phase {phase}"
    bound = (pod.get("spec") or {}).get("nodeName")
    if bound and bound != node:
        return f"is bound to node {bound}"
    bind_phase = annos.get(BIND_PHASE)
    if bind_phase in (BIND_PHASE_SUCCESS, BIND_PHASE_FAILED):
        return f"has {BIND_PHASE}={bind_phase}"
    placed = annos.get(VGPU_NODE)
    if placed != node:
        return f"is placed on node {placed}" if placed else f"has no {VGPU_NODE}"
    if not pending_allocation(annos):
        return f"has nothing left in any {_PENDING_PREFIX}*{_PENDING_SUFFIX}"
    return None
