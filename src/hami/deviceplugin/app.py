"""Wire the device plugin's parts together and run them until cancelled.

One place builds the health state, the XID watcher, the servicers (``nvidia.com/gpu`` plus one per
MIG profile under the mixed strategy), the kubelet session and the node registrar. Both the CLI and
the component tests use :class:`DevicePluginApp`, so tests run exactly what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from hami.api.annotations import NODE_NVIDIA_SCORE
from hami.api.noderegister import encode_node_scores
from hami.api.types import DeviceInfo
from hami.deviceplugin.health import HealthState, XidWatcher
from hami.deviceplugin.install import current_library
from hami.deviceplugin.inventory import mig_resources, node_devices
from hami.deviceplugin.kubelet import Endpoint, KubeletSession, socket_name_for
from hami.deviceplugin.nvml import Nvml
from hami.deviceplugin.pending import sweep_locks
from hami.deviceplugin.register import Registrar, register_annotations
from hami.deviceplugin.service import GpuPlugin, MigPlugin, random_cache_name
from hami.deviceplugin.settings import PluginSettings
from hami.deviceplugin.topology import asymmetric_pairs, score_matrix
from hami.k8s.port import KubeClient

log = logging.getLogger(__name__)


class DevicePluginApp:
    """The running plugin: build with settings and ports, then ``await run()`` (cancel to stop)."""

    def __init__(
        self,
        settings: PluginSettings,
        nvml: Nvml,
        kube: KubeClient,
        *,
        cache_name: Callable[[], str] = random_cache_name,
        poll_s: float = 0.5,
        xid_poll_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.poll_s = poll_s
        self.nvml = nvml
        self.kube = kube
        self.gpus = nvml.devices()
        self.health = HealthState(asyncio.get_running_loop(), (g.uuid for g in self.gpus))
        self.gpu_plugin = GpuPlugin(
            settings=settings,
            gpus=self.gpus,
            health=self.health,
            kube=kube,
            library=lambda: current_library(settings.vgpu_dir),
            cache_name=cache_name,
            license_present=lambda: (settings.vgpu_dir / "license").exists(),
        )
        endpoints = [
            Endpoint(
                self.gpu_plugin,
                settings.socket_name,
                settings.resource_name,
                settings.enable_preferred_allocation,
            )
        ]
        for resource, devs in mig_resources(self.gpus, settings, {}).items():
            endpoints.append(
                Endpoint(
                    MigPlugin(resource, devs, self.health, settings.list_resend_s),
                    socket_name_for(resource),
                    resource,
                )
            )
        self.session = KubeletSession(settings.plugin_dir, endpoints, poll_s=poll_s)
        self.registrar = Registrar(
            kube,
            settings.node_name,
            register_annotations(self.inventory, self._score_annotation()),
            self.health,
            interval_s=settings.register_interval_s,
            error_interval_s=settings.register_error_interval_s,
        )
        self.xid_watcher = (
            XidWatcher(nvml, self.health, settings.ignored_xids, poll_s=xid_poll_s)
            if settings.health_checks
            else None
        )

    def _score_annotation(self) -> dict[str, str]:
        """``hami.io/node-nvidia-score`` when enabled (topology is static: computed once)."""
        if not self.settings.topology_score:
            return {}
        uuids = [d.id for d in self.inventory()]
        links = self.nvml.links()
        for a, b in asymmetric_pairs(uuids, links):
            log.warning("node %s: asymmetric GPU P2P link %s <-> %s", self.settings.node_name, a, b)
        return {NODE_NVIDIA_SCORE: encode_node_scores(score_matrix(uuids, links))}

    def inventory(self) -> list[DeviceInfo]:
        return node_devices(self.gpus, self.settings, self.health.snapshot())

    async def run(self) -> None:
        log.info("device plugin settings: %s", self.settings.dump())
        if self.xid_watcher is not None:
            self.xid_watcher.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._kubelet_presence(), name="kubelet-presence")
                tg.create_task(self.session.run(), name="kubelet-session")
                tg.create_task(self.registrar.run(), name="node-registrar")
                tg.create_task(
                    sweep_locks(self.kube, self.settings.node_name,
                                self.settings.lock_sweep_interval_s),
                    name="node-lock-sweeper",
                )  # fmt: skip
        finally:
            if self.xid_watcher is not None:
                await asyncio.to_thread(self.xid_watcher.stop)

    async def _kubelet_presence(self) -> None:
        """Say when kubelet's socket is missing (at start, or after kubelet went away): the
        plugin waits for it and registers as soon as it appears."""
        sock = self.settings.kubelet_socket
        present: bool | None = None
        while True:
            now = sock.exists()
            if now != present:
                if not now:
                    log.info("waiting for kubelet: %s does not exist yet", sock)
                elif present is not None:
                    log.info("kubelet socket %s appeared", sock)
                present = now
            await asyncio.sleep(self.poll_s)


@contextlib.asynccontextmanager
async def running(app: DevicePluginApp) -> AsyncIterator[None]:
    """Run ``app`` in the background for the duration of the block (tests)."""
    task = asyncio.create_task(app.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
