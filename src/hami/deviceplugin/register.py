"""Publish the node's GPU inventory in ``hami.io/node-nvidia-register`` (spec §1.2, §3.3, §5.2).

The scheduler learns what a node has only from node annotations. The loop re-encodes them every
``register_interval_s`` seconds and immediately after a health change, and patches the node only
with the keys whose value differs from what the node already carries. Besides the register
annotation it can carry the topology score annotation (``ENABLE_TOPOLOGY_SCORE``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from hami.api.annotations import NODE_NVIDIA_REGISTER
from hami.api.noderegister import encode_node_devices
from hami.api.types import DeviceInfo
from hami.deviceplugin.health import HealthState
from hami.k8s.errors import ApiError
from hami.k8s.port import KubeClient

log = logging.getLogger(__name__)


def register_annotations(
    inventory: Callable[[], Sequence[DeviceInfo]], extra: Mapping[str, str] | None = None
) -> Callable[[], dict[str, str]]:
    """The annotation builder: encoded inventory plus static ``extra`` annotations."""

    def build() -> dict[str, str]:
        return {NODE_NVIDIA_REGISTER: encode_node_devices(list(inventory())), **(extra or {})}

    return build


class Registrar:
    """Keeps the node's annotations equal to what ``annotations()`` returns."""

    def __init__(
        self,
        kube: KubeClient,
        node: str,
        annotations: Callable[[], dict[str, str]],
        health: HealthState,
        *,
        interval_s: float = 30.0,
        error_interval_s: float = 5.0,
    ) -> None:
        self.kube = kube
        self.node = node
        self.annotations = annotations
        self.health = health
        self.interval_s = interval_s
        self.error_interval_s = error_interval_s
        self.patches = 0
        self._last: dict[str, str | None] | None = None

    async def sync_once(self) -> bool:
        """Patch the annotations that changed; True when a patch was sent."""
        wanted = self.annotations()
        if self._last is None:
            node = await self.kube.get_node(self.node)
            current = (node.get("metadata") or {}).get("annotations") or {}
            self._last = {k: current.get(k) for k in wanted}
        changed: dict[str, str | None] = {k: v for k, v in wanted.items() if self._last.get(k) != v}
        if not changed:
            return False
        await self.kube.patch_node_metadata(self.node, annotations=changed)
        self._last.update(changed)
        self.patches += 1
        log.info("node %s: registered %s", self.node, changed)
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
