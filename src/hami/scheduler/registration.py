"""Node registration and health (spec §1.5, vendors §0.2): node objects -> devices in
:class:`ClusterState`, for every registered device backend.

Every replica reads each node's devices of every vendor (``node_devices``: a register annotation,
JSON or legacy colon form, or the node's capacity) on node events and on a periodic pass, applies
the vendor's health rule (its ``health_kind``) and adds/updates/removes that vendor's devices of
the node; a node keeps the devices of its healthy vendors. Health kinds:

- ``always``: healthy;
- ``capacity``: healthy iff ``allocatable[<count resource>] > 0``. With a
  ``handshake_annotation`` (NVIDIA's v2.10 rule) a ``Requesting`` stamp younger than 60 s also
  counts, the leader stamps ``Requesting_<ts>`` where the value is not ``Requesting`` yet and
  deletes the stamp of an unhealthy node;
- ``handshake``: the generic handshake (:func:`hami.device.common.handshake_verdict`): the leader
  stamps ``Requesting_<ts>`` when the verdict says so, and deletes the annotation of a vendor
  found unhealthy.

A vendor's inventory that cannot be read is logged once (node, annotation, vendor, problem) and
recorded in :attr:`NodeRegistrar.bad_nodes`; the vendor keeps the devices last read well while
healthy (HAMi's register loop), other vendors of the node are not affected. Only the leader
writes annotations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from hami.api.errors import DecodeError
from hami.api.handshake import REQUESTING, format_requesting, parse_handshake
from hami.api.quantity import quantity_to_int
from hami.api.types import DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.base import SHARED_LOCK, DeviceBackend
from hami.device.common import handshake_verdict
from hami.engine.state import ClusterState
from hami.engine.usage import MigAllocation
from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient
from hami.webhook.backends import device_backends

log = logging.getLogger(__name__)

HANDSHAKE_GRACE = timedelta(seconds=60)
_MISSING = object()
#: Node metadata every write changes.
_EVERY_WRITE = frozenset({"resourceVersion", "managedFields", "annotations"})
UNKNOWN_NODE = "node is not in the scheduler's cache and has no usable device annotation"
NO_GPUS = "node has no usable GPUs in the scheduler's cache"

#: vendor cw -> that vendor's devices of one node
VendorDevices = Mapping[str, Sequence[DeviceInfo]]
#: vendor cw -> (MiB, cores) limits of one namespace; None = unlimited
VendorQuota = Mapping[str, tuple[int | None, int | None]]


class Reservation(Protocol):
    """One pod's reservation as the service tracks it (what the dry run needs of it)."""

    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def devices(self) -> Mapping[str, PodSingleDevice]: ...
    @property
    def init_count(self) -> int: ...
    @property
    def mig(self) -> tuple[MigAllocation, ...]: ...


@dataclass(frozen=True, slots=True)
class NodeHealth:
    healthy: bool
    reason: str
    needs_stamp: bool = False
    needs_cleanup: bool = False


def _annotations(node: Mapping[str, Any]) -> Mapping[str, str]:
    meta = node.get("metadata") or {}
    anns = meta.get("annotations") if isinstance(meta, Mapping) else None
    return anns if isinstance(anns, Mapping) else {}


def _name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name") or "")


@dataclass(slots=True)
class _Inventory:
    """One vendor's devices of one node as last read: ``source`` is the register annotation's
    value (None for a capacity-derived inventory, which is read every time), ``devices`` the
    devices last read well (kept while the source is unreadable), ``error`` the current
    problem."""

    source: str | None
    devices: list[DeviceInfo] | None
    error: str | None = None


def _allocatable(node: Mapping[str, Any], resource: str) -> int:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    raw = allocatable.get(resource) if isinstance(allocatable, Mapping) else None
    try:
        return 0 if raw is None else quantity_to_int(raw, "status.allocatable")
    except DecodeError:
        return 0


def _source_name(backend: DeviceBackend) -> str:
    return backend.register_annotation or "status.capacity"


class NodeRegistrar:
    """Keeps the devices of nodes in :class:`ClusterState`; writes handshakes when leading."""

    def __init__(
        self,
        client: KubeClient,
        state: ClusterState,
        config: DeviceConfig,
        *,
        backends: Mapping[str, DeviceBackend] | None = None,
        new_state: Callable[[], ClusterState] | None = None,
        node_policy: str = "binpack",
        gpu_policy: str = "spread",
        local_clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        """``new_state`` makes the dry run's scratch state (the same engine set-up as
        ``state``; default: one from ``config`` with the policies)."""
        self._client = client
        self._state = state
        self._config = config
        self._backends = dict(sorted((backends or device_backends(config)).items()))
        self._new_state = new_state or (
            lambda: ClusterState(config, node_policy=node_policy, gpu_policy=gpu_policy)
        )
        self._clock = local_clock
        self._inventory: dict[str, dict[str, _Inventory]] = {}
        """node -> cw -> what was last read."""
        self._nodes: dict[str, JsonObj] = {}
        self._found: dict[str, dict[str, list[DeviceInfo]]] = {}
        """node -> the usable devices per vendor the last :meth:`refresh` put in the state."""
        self._locks = frozenset(
            {SHARED_LOCK, *(b.lock_annotation for b in self._backends.values())}
        )
        """Every node lock annotation: a change of only these leaves the devices alone."""
        self._wake = asyncio.Event()
        self.bad_nodes: dict[str, str] = {}
        """node -> why some vendor's devices of it cannot be read (one line)."""
        self.passes = 0

    # -- decoding -------------------------------------------------------------------------------
    def devices_of(self, node: Mapping[str, Any], cw: str) -> list[DeviceInfo] | None:
        """Vendor ``cw``'s devices of ``node`` (register annotations cached by value); None when
        the node has none of them, or only an unreadable source and no earlier good read."""
        name = _name(node)
        backend = self._backends[cw]
        per_node = self._inventory.setdefault(name, {})
        cached = per_node.get(cw)
        source: str | None = None
        if backend.register_annotation is not None:
            source = _annotations(node).get(backend.register_annotation)
            if source is None:
                if per_node.pop(cw, None) is not None:
                    self._note_errors(name)
                return None
            if cached is not None and cached.source == source:
                return cached.devices
        try:
            devices: list[DeviceInfo] | None = backend.node_devices(node) or None
            error = None
        except DecodeError as exc:
            error = str(exc)
            devices = cached.devices if cached is not None else None
            if cached is None or cached.error != error:
                kept = f"keeping its {len(devices)} devices read before" if devices else "none used"
                log.warning("node %s: %s devices in %s unreadable (%s): %s", name, cw,
                            _source_name(backend), kept, exc)  # fmt: skip
        changed = cached is None or cached.error != error
        per_node[cw] = _Inventory(source, devices, error)
        if changed:
            self._note_errors(name)
        return devices

    def _note_errors(self, name: str) -> None:
        problems = [
            f"{cw} ({_source_name(self._backends[cw])}): {inv.error}"
            for cw, inv in self._inventory.get(name, {}).items()
            if inv.error is not None
        ]
        if problems:
            self.bad_nodes[name] = "; ".join(problems)
        else:
            self.bad_nodes.pop(name, None)

    def _forget_devices(self, name: str, cw: str) -> None:
        """An unhealthy vendor loses its devices, also those kept from an earlier read."""
        inv = self._inventory.get(name, {}).get(cw)
        if inv is not None:
            inv.devices = None if inv.error is not None else inv.devices

    def health(self, node: Mapping[str, Any], cw: str) -> NodeHealth:
        """Vendor ``cw``'s health on ``node`` and what the leader should write."""
        backend = self._backends[cw]
        kind = backend.health_kind
        if kind == "always":
            return NodeHealth(True, "always healthy")
        count = _allocatable(node, backend.count_resource)
        stamp_key = backend.handshake_annotation
        stamp = _annotations(node).get(stamp_key) if stamp_key else None
        if kind == "handshake":
            verdict = handshake_verdict(stamp, self._clock(), count)
            if verdict.healthy:
                return NodeHealth(True, "handshake ok", needs_stamp=verdict.write_requesting)
            return NodeHealth(False, f"{stamp_key} is {stamp!r} and allocatable is 0",
                              needs_cleanup=stamp_key is not None
                              and clears_stale_handshake(backend))  # fmt: skip
        if stamp_key is None:
            return NodeHealth(count > 0, "allocatable > 0" if count > 0 else "allocatable is 0")
        requesting_at: datetime | None = None
        if stamp:
            try:
                hs = parse_handshake(stamp)
                if hs.state == REQUESTING:
                    requesting_at = hs.time
            except DecodeError:
                pass
        if count > 0:
            return NodeHealth(True, "allocatable > 0", needs_stamp=requesting_at is None)
        if requesting_at is not None and self._clock() - requesting_at < HANDSHAKE_GRACE:
            return NodeHealth(True, "handshake requested recently")
        return NodeHealth(False, "allocatable is 0", needs_cleanup=stamp is not None)

    # -- cache updates --------------------------------------------------------------------------
    def on_node_event(self, event_type: str, old: JsonObj | None, new: JsonObj | None) -> None:
        """Informer handler: refresh one node's devices in the state."""
        obj = new if new is not None else old
        if obj is None:
            return
        name = _name(obj)
        if event_type == "DELETED" or new is None:
            self._nodes.pop(name, None)
            self._found.pop(name, None)
            self._inventory.pop(name, None)
            self.bad_nodes.pop(name, None)
            self._state.remove_node(name)
            return
        self._nodes[name] = new
        if old is not None and self._only_locks_changed(old, new):
            # A bind's lock or the device plugin's unlock (two events per pod): the devices and
            # their health read the same as a moment ago; only the recorded annotations change.
            # (Health that changes with time alone is the periodic pass's, as for a quiet node.)
            found = self._found.get(name)
            if found is not None:
                upsert_devices(self._state, name, found, _annotations(new))
            return
        self.refresh(new)
        if event_type == "ADDED":
            self._wake.set()

    def _only_locks_changed(self, old: JsonObj, new: JsonObj) -> bool:
        """Whether ``new`` differs from ``old`` only in node lock annotations (and in what
        every write changes: resourceVersion, managedFields)."""
        if len(old) != len(new):
            return False
        for key, value in new.items():
            if key != "metadata" and old.get(key, _MISSING) != value:
                return False
        om, nm = old.get("metadata"), new.get("metadata")
        if not isinstance(om, Mapping) or not isinstance(nm, Mapping) or len(om) != len(nm):
            return False
        for key, value in nm.items():
            if key not in _EVERY_WRITE and om.get(key, _MISSING) != value:
                return False
        oa, na = om.get("annotations") or {}, nm.get("annotations") or {}
        if not isinstance(oa, Mapping) or not isinstance(na, Mapping):
            return False
        changed = {k for k in oa.keys() | na.keys() if oa.get(k) != na.get(k)}
        return bool(changed) and changed <= self._locks

    def usable(self, node: Mapping[str, Any]) -> tuple[dict[str, list[DeviceInfo]], list[str]]:
        """Devices of the node's healthy vendors, and why each other vendor with devices is
        left out."""
        name = _name(node)
        found: dict[str, list[DeviceInfo]] = {}
        unhealthy: list[str] = []
        for cw in self._backends:
            devices = self.devices_of(node, cw)
            if not devices:
                continue
            health = self.health(node, cw)
            if health.healthy:
                found[cw] = devices
            else:
                self._forget_devices(name, cw)
                unhealthy.append(f"{cw}: {health.reason}")
        return found, unhealthy

    def refresh(self, node: Mapping[str, Any]) -> bool:
        """Apply health + inventory of one node to the state; True if it has usable devices."""
        name = _name(node)
        found, _ = self.usable(node)
        if not found:
            self._found.pop(name, None)
            self._state.remove_node(name)
            return False
        self._found[name] = found
        upsert_devices(self._state, name, found, _annotations(node))
        return True

    def scratch_state(
        self,
        nodes: Iterable[Mapping[str, Any]],
        reservations: Iterable[tuple[str, Reservation]] = (),
        quota: tuple[str, VendorQuota] | None = None,
    ) -> tuple[ClusterState, dict[str, str]]:
        """A throwaway state for the dry-run filter with full Node objects (spec §2.1).

        The objects only choose the candidates: a node this registrar knows keeps the cached
        devices and gets every reservation on it, so the dry run sees current usage. A node it
        does not know (an autoscaler template) contributes the devices of its own annotations (or
        capacity), unused. Returns the state and the reasons of candidates left out of it.
        ``quota`` is ``(namespace, {cw: (mem, cores)})`` of the pod's namespace; its reservations
        are all added too, so the namespace usage is right.
        """
        scratch = self._new_state()
        left_out: dict[str, str] = {}
        names: set[str] = set()
        for node in nodes:
            name = _name(node)
            names.add(name)
            source = self._nodes.get(name, node)
            devices, reason = self._usable(source, cached=name in self._nodes)
            if devices:
                upsert_devices(scratch, name, devices, _annotations(source))
            else:
                left_out[name] = reason
        quota_ns = quota[0] if quota is not None else None
        for uid, r in reservations:
            if r.node in names or r.namespace == quota_ns:
                scratch.add_pod(uid, r.namespace, r.name, r.node, r.devices,
                                init_count=r.init_count, mig=r.mig)  # fmt: skip
        if quota is not None:
            for cw, (mem, cores) in quota[1].items():
                set_vendor_quota(scratch, quota[0], mem, cores, cw)
        return scratch, left_out

    def _usable(
        self, node: Mapping[str, Any], *, cached: bool
    ) -> tuple[dict[str, list[DeviceInfo]], str]:
        """Devices of a node for the dry run, or why it has none."""
        if not cached:
            found: dict[str, list[DeviceInfo]] = {}
            problems: list[str] = []
            for cw, backend in self._backends.items():
                try:
                    devices = backend.node_devices(node)
                except DecodeError as exc:
                    problems.append(str(exc))
                    continue
                if devices:
                    found[cw] = devices
            why = f"{UNKNOWN_NODE}: {'; '.join(problems)}" if problems else UNKNOWN_NODE
            return found, why
        found, unhealthy = self.usable(node)
        if found:
            return found, ""
        bad = self.bad_nodes.get(_name(node))
        return {}, f"{NO_GPUS}: {'; '.join(unhealthy) or bad or 'no devices registered'}"

    # -- the loop -------------------------------------------------------------------------------
    async def run(self, is_leader: Callable[[], bool], interval_s: float = 15.0) -> None:
        """Every ``interval_s`` (and soon after a node is added): re-check health of all nodes;
        the leader also writes handshake stamps and cleans up unhealthy vendors."""
        while True:
            try:
                await self.run_pass(leader=is_leader())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node registration pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)

    def wake(self) -> None:
        self._wake.set()

    async def run_pass(self, *, leader: bool) -> None:
        self.passes += 1
        for node in list(self._nodes.values()):
            self.refresh(node)
            if leader:
                await self._write_handshakes(node)

    async def _write_handshakes(self, node: Mapping[str, Any]) -> None:
        """One patch per node with the stamp or cleanup of every vendor it has devices of."""
        name = _name(node)
        change: dict[str, str | None] = {}
        for cw, backend in self._backends.items():
            key = backend.handshake_annotation
            if key is None or backend.health_kind == "always" or not self.devices_of(node, cw):
                continue
            health = self.health(node, cw)
            if health.needs_stamp:
                change[key] = format_requesting(self._clock())
            elif health.needs_cleanup:
                change[key] = None
        if not change:
            return
        try:
            await self._client.patch_node_metadata(name, annotations=change)
        except errors.ApiError as exc:
            log.warning("node %s: writing handshake %s failed: %s", name, sorted(change), exc)


def clears_stale_handshake(backend: DeviceBackend) -> bool:
    """Whether the leader deletes a ``handshake`` vendor's stamp when it finds the node
    unhealthy (HAMi's ``NodeCleanUp``: Hygon and Ascend yes; Iluvatar no, so its node stays
    unhealthy instead of being re-requested and healthy again for 60 s)."""
    return backend.clears_stale_handshake


def upsert_devices(
    state: ClusterState, name: str, devices: VendorDevices, annotations: Mapping[str, str]
) -> None:
    """``state.upsert_node`` with the node's devices per vendor."""
    state.upsert_node(name, devices, annotations)


def set_vendor_quota(
    state: ClusterState, namespace: str, mem: int | None, cores: int | None, cw: str
) -> None:
    """``state.set_quota`` for vendor ``cw``."""
    state.set_quota(namespace, mem, cores, vendor=cw)
