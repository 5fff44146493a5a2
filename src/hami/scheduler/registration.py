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
from typing import Any

from hami.api.annotations import NODE_HANDSHAKE, NODE_NVIDIA_REGISTER
from hami.api.errors import DecodeError
from hami.api.handshake import REQUESTING, format_requesting, parse_handshake
from hami.api.noderegister import decode_node_devices
from hami.api.quantity import quantity_to_int
from hami.api.types import DeviceInfo
from hami.config.devices import DeviceConfig
from hami.k8s import errors
from hami.k8s.port import JsonObj, KubeClient
from hami.scheduler.state import ClusterState

log = logging.getLogger(__name__)

HANDSHAKE_GRACE = timedelta(seconds=60)


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

    def scratch_state(self, nodes: Iterable[Mapping[str, Any]]) -> ClusterState:
        """A throwaway state holding only ``nodes`` (dry-run filter with full Node objects)."""
        scratch = ClusterState(
            self._config, node_policy=self._node_policy, gpu_policy=self._gpu_policy
        )
        for node in nodes:
            try:
                devices = decode_node_devices(_annotations(node).get(NODE_NVIDIA_REGISTER, ""))
            except DecodeError:
                continue
            scratch.upsert_node(_name(node), devices, _annotations(node))
        return scratch

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
