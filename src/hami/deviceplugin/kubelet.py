"""Serve the plugins on unix sockets and keep them registered with kubelet.

kubelet forgets every plugin when it restarts: it re-creates ``kubelet.sock`` and wipes the
plugin sockets in its directory. :class:`KubeletSession` watches both files (cheap ``stat``
polling, no inotify dependency) and, whenever kubelet's socket is new or ours has vanished (or
on request, e.g. SIGHUP), restarts the gRPC servers and registers again, backing off while
kubelet is not answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from hami.deviceplugin._proto import api_pb2 as pb
from hami.deviceplugin._proto import api_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

API_VERSION = "v1beta1"


@dataclass
class Endpoint:
    """One resource: its servicer and the socket file name it is served on."""

    servicer: Any
    socket_name: str
    resource_name: str
    preferred_allocation: bool = False


def socket_name_for(resource: str) -> str:
    """``nvidia.com/mig-1g.10gb`` -> ``nvidia-mig-1g.10gb.sock`` (NVIDIA's naming)."""
    return resource.replace("nvidia.com/", "nvidia-").replace("/", "-") + ".sock"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


async def register(kubelet_socket: Path, ep: Endpoint, timeout_s: float = 5.0) -> None:
    """One ``Registration.Register`` call to kubelet."""
    async with grpc.aio.insecure_channel(f"unix://{kubelet_socket}") as channel:
        stub = pb_grpc.RegistrationStub(channel)  # type: ignore[no-untyped-call]
        await stub.Register(
            pb.RegisterRequest(
                version=API_VERSION,
                endpoint=ep.socket_name,
                resource_name=ep.resource_name,
                options=pb.DevicePluginOptions(
                    get_preferred_allocation_available=ep.preferred_allocation
                ),
            ),
            timeout=timeout_s,
        )


class KubeletSession:
    """Runs the plugin servers and (re-)registers them whenever kubelet restarts."""

    def __init__(
        self,
        plugin_dir: Path,
        endpoints: list[Endpoint],
        *,
        poll_s: float = 0.5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.plugin_dir = plugin_dir
        self.endpoints = endpoints
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.registrations = 0
        self.registered = asyncio.Event()
        self._servers: list[grpc.aio.Server] = []
        self._force = False

    def request_reregister(self) -> None:
        """Restart the servers and register again at the next poll (SIGHUP)."""
        self._force = True

    @property
    def kubelet_socket(self) -> Path:
        return self.plugin_dir / "kubelet.sock"

    async def _start_servers(self) -> None:
        await self._stop_servers()
        for ep in self.endpoints:
            path = self.plugin_dir / ep.socket_name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            server = grpc.aio.server()
            pb_grpc.add_DevicePluginServicer_to_server(  # type: ignore[no-untyped-call]
                ep.servicer, server
            )
            server.add_insecure_port(f"unix://{path}")
            await server.start()
            self._servers.append(server)
            log.info("serving %s on %s", ep.resource_name, path)

    async def _stop_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            await server.stop(grace=0.5)

    def _ours_present(self) -> bool:
        return all(os.path.exists(self.plugin_dir / ep.socket_name) for ep in self.endpoints)

    async def _register_all(self) -> bool:
        try:
            for ep in self.endpoints:
                await register(self.kubelet_socket, ep)
        except grpc.aio.AioRpcError as exc:
            log.warning("kubelet registration failed: %s %s", exc.code(), exc.details())
            return False
        self.registrations += 1
        self.registered.set()
        log.info("registered %s with kubelet", [ep.resource_name for ep in self.endpoints])
        return True

    async def run(self) -> None:
        """Serve and keep registered until cancelled."""
        seen: tuple[int, int] | None = None
        backoff = self.backoff_s
        try:
            while True:
                current = _identity(self.kubelet_socket)
                stale = current != seen or not self._ours_present() or self._force
                if current is not None and stale:
                    self._force = False
                    self.registered.clear()
                    await self._start_servers()
                    if await self._register_all():
                        seen, backoff = current, self.backoff_s
                    else:
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, self.max_backoff_s)
                        continue
                await asyncio.sleep(self.poll_s)
        finally:
            await asyncio.shield(self._stop_servers())
