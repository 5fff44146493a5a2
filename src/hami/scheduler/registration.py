"""Node registration and health (spec §1.5): node objects -> GPUs in :class:`ClusterState`.

Every replica decodes each node's ``hami.io/node-nvidia-register`` annotation (JSON or legacy
colon form) on node events and on a periodic pass, applies the v2.10 health rule (healthy iff
``allocatable[nvidia.com/gpu] > 0``, or a ``Requesting`` handshake younger than 60 s) and
adds/updates/removes the node's GPUs. Only the leader writes: it stamps
``hami.io/node-handshake=Requesting_<ts>`` and deletes the handshake of unhealthy nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from hami.api.annotations import NODE_HANDSHAKE, NODE_NVIDIA_REGISTER
from hami.api.errors import DecodeError
from hami.api.handshake import REQUESTING, format_requesting, parse_handshake
from hami.api.noderegister import decode_node_devices
from hami.api.quantity import quantity_to_int
from hami.api.types import DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.engine.state import ClusterState
from hami.engine.usage import MigAllocation
from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient

log = logging.getLogger(__name__)

HANDSHAKE_GRACE = timedelta(seconds=60)
UNKNOWN_NODE = (
    f"node is not in the scheduler's cache and has no usable {NODE_NVIDIA_REGISTER} annotation"
)
NO_GPUS = "node has no usable GPUs in the scheduler's cache"


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


class NodeRegistrar:
    """Keeps GPU inventory of nodes in :class:`ClusterState`; writes handshakes when leading."""

    def __init__(
        self,
        client: KubeClient,
        state: ClusterState,
        config: DeviceConfig,
        *,
        node_policy: str = "binpack",
        gpu_policy: str = "spread",
        local_clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self._client = client
        self._state = state
        self._config = config
        self._node_policy = node_policy
        self._gpu_policy = gpu_policy
        self._clock = local_clock
        self._decoded: dict[str, tuple[str, list[DeviceInfo] | None]] = {}
        self._nodes: dict[str, JsonObj] = {}
        self._wake = asyncio.Event()
        self.bad_nodes: dict[str, str] = {}
        self.passes = 0

    # -- decoding -------------------------------------------------------------------------------
    def devices_of(self, node: Mapping[str, Any]) -> list[DeviceInfo] | None:
        """Decoded register annotation (cached by value); None when absent or garbage."""
        name = _name(node)
        value = _annotations(node).get(NODE_NVIDIA_REGISTER)
        if value is None:
            self.bad_nodes.pop(name, None)
            return None
        cached = self._decoded.get(name)
        if cached is not None and cached[0] == value:
            return cached[1]
        devices: list[DeviceInfo] | None
        try:
            devices = decode_node_devices(value)
            self.bad_nodes.pop(name, None)
        except DecodeError as exc:
            log.warning("node %s: ignoring its GPUs, bad register annotation: %s", name, exc)
            self.bad_nodes[name] = str(exc)
            devices = None
        self._decoded[name] = (value, devices)
        return devices

    def health(self, node: Mapping[str, Any]) -> NodeHealth:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        raw = allocatable.get(self._config.nvidia.resource_count_name) if isinstance(
            allocatable, Mapping) else None  # fmt: skip
        try:
            count = 0 if raw is None else quantity_to_int(raw, "status.allocatable")
        except DecodeError:
            count = 0
        stamp = _annotations(node).get(NODE_HANDSHAKE)
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
        """Informer handler: refresh one node's GPUs in the state."""
        obj = new if new is not None else old
        if obj is None:
            return
        name = _name(obj)
        if event_type == "DELETED" or new is None:
            self._nodes.pop(name, None)
            self._decoded.pop(name, None)
            self.bad_nodes.pop(name, None)
            self._state.remove_node(name)
            return
        self._nodes[name] = new
        self.refresh(new)
        if event_type == "ADDED":
            self._wake.set()

    def refresh(self, node: Mapping[str, Any]) -> bool:
        """Apply health + inventory of one node to the state; True if it has usable GPUs."""
        name = _name(node)
        devices = self.devices_of(node)
        if not devices or not self.health(node).healthy:
            self._state.remove_node(name)
            return False
        self._state.upsert_node(name, devices, _annotations(node))
        return True

    def scratch_state(
        self,
        nodes: Iterable[Mapping[str, Any]],
        reservations: Iterable[tuple[str, Reservation]] = (),
        quota: tuple[str, int | None, int | None] | None = None,
    ) -> tuple[ClusterState, dict[str, str]]:
        """A throwaway state for the dry-run filter with full Node objects (spec §2.1).

        The objects only choose the candidates: a node this registrar knows keeps the cached
        GPUs and gets every reservation on it, so the dry run sees current usage. A node it does
        not know (an autoscaler template) contributes the GPUs of its own register annotation,
        unused. Returns the state and the reasons of candidates left out of it. ``quota`` is
        ``(namespace, mem, cores)`` of the pod's namespace; its reservations are all added
        too, so the namespace usage is right.
        """
        scratch = ClusterState(
            self._config, node_policy=self._node_policy, gpu_policy=self._gpu_policy
        )
        left_out: dict[str, str] = {}
        names: set[str] = set()
        for node in nodes:
            name = _name(node)
            names.add(name)
            source = self._nodes.get(name, node)
            devices, reason = self._usable(source, cached=name in self._nodes)
            if devices:
                scratch.upsert_node(name, devices, _annotations(source))
            else:
                left_out[name] = reason
        quota_ns = quota[0] if quota is not None else None
        for uid, r in reservations:
            if r.node in names or r.namespace == quota_ns:
                scratch.add_pod(uid, r.namespace, r.name, r.node, r.devices,
                                init_count=r.init_count, mig=r.mig)  # fmt: skip
        if quota is not None:
            scratch.set_quota(*quota)
        return scratch, left_out

    def _usable(self, node: Mapping[str, Any], *, cached: bool) -> tuple[list[DeviceInfo], str]:
        """GPUs of a node for the dry run, or why it has none."""
        if not cached:
            try:
                value = _annotations(node).get(NODE_NVIDIA_REGISTER)
                if value is None:
                    return [], UNKNOWN_NODE
                return decode_node_devices(value), UNKNOWN_NODE
            except DecodeError as exc:
                return [], f"{UNKNOWN_NODE}: {exc}"
        devices = self.devices_of(node)
        if not devices:
            bad = self.bad_nodes.get(_name(node))
            return [], f"{NO_GPUS}: {bad or 'no GPUs registered'}"
        health = self.health(node)
        return (devices, "") if health.healthy else ([], f"{NO_GPUS}: {health.reason}")

    # -- the loop -------------------------------------------------------------------------------
    async def run(self, is_leader: Callable[[], bool], interval_s: float = 15.0) -> None:
        """Every ``interval_s`` (and soon after a node is added): re-check health of all nodes;
        the leader also writes handshake stamps and cleans up unhealthy nodes."""
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
            if leader and self.devices_of(node) is not None:
                await self._write_handshake(node)

    async def _write_handshake(self, node: Mapping[str, Any]) -> None:
        name = _name(node)
        health = self.health(node)
        change: dict[str, str | None] | None = None
        if health.needs_stamp:
            change = {NODE_HANDSHAKE: format_requesting(self._clock())}
        elif health.needs_cleanup:
            change = {NODE_HANDSHAKE: None}
        if change is None:
            return
        try:
            await self._client.patch_node_metadata(name, annotations=change)
        except errors.ApiError as exc:
            log.warning("node %s: writing handshake failed: %s", name, exc)
