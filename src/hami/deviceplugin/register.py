"""Publish the node's GPU inventory in ``hami.io/node-nvidia-register`` (spec §1.2, §3.3, §5.2).

The scheduler learns what a node has only from this annotation. The loop re-encodes the
inventory every ``register_interval_s`` seconds and immediately after a health change, and patches
the node only when the encoded string differs from what the node already carries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from hami.api.annotations import NODE_NVIDIA_REGISTER
from hami.api.noderegister import encode_node_devices
from hami.api.types import DeviceInfo
from hami.deviceplugin.health import HealthState
from hami.k8s.errors import ApiError
from hami.k8s.port import KubeClient

log = logging.getLogger(__name__)


class Registrar:
    """Keeps the node's register annotation equal to the encoded inventory."""

    def __init__(
        self,
        kube: KubeClient,
        node: str,
        inventory: Callable[[], Sequence[DeviceInfo]],
        health: HealthState,
        *,
        interval_s: float = 30.0,
        error_interval_s: float = 5.0,
    ) -> None:
        self.kube = kube
        self.node = node
        self.inventory = inventory
        self.health = health
        self.interval_s = interval_s
        self.error_interval_s = error_interval_s
        self.patches = 0
        self._last: str | None = None

    async def sync_once(self) -> bool:
        """Patch the annotation if it changed; True when a patch was sent."""
        value = encode_node_devices(list(self.inventory()))
        if self._last is None:
            node = await self.kube.get_node(self.node)
            self._last = ((node.get("metadata") or {}).get("annotations") or {}).get(
                NODE_NVIDIA_REGISTER
            )
        if value == self._last:
            return False
        await self.kube.patch_node_metadata(self.node, annotations={NODE_NVIDIA_REGISTER: value})
        self._last = value
        self.patches += 1
        log.info("node %s: registered %s", self.node, value)
        return True

    async def run(self) -> None:
        """Loop until cancelled."""
        seen = self.health.generation
        while True:
            try:
                await self.sync_once()
                wait = self.interval_s
            except ApiError as exc:
                log.error("node %s: register annotation patch failed: %s", self.node, exc)
                self._last = None
                wait = self.error_interval_s
            seen = await self.health.wait_change(seen, timeout_s=wait)
            await asyncio.sleep(0)
