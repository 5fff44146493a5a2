"""A minimal device plugin to drive the kubelet stand-in in tests.

Serves `v1beta1.DevicePlugin` on `<dir>/<endpoint>`, registers with `<dir>/kubelet.sock`,
advertises a settable device list on `ListAndWatch` (each change is pushed to open streams) and
answers `Allocate` with one env var per container (or with a configured gRPC error). Records every
call it gets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc

from hami.deviceplugin._proto import api_pb2, api_pb2_grpc

from .table import HEALTHY


class StubDevicePlugin(api_pb2_grpc.DevicePluginServicer):
    """Configurable plugin: devices, options, Allocate env / failure, preferred choice."""

    def __init__(
        self,
        socket_dir: Path,
        resource: str = "example.com/dev",
        endpoint: str = "stub.sock",
        devices: list[str] | None = None,
        *,
        pre_start_required: bool = False,
        preferred_available: bool = False,
        env_name: str = "STUB_DEVICES",
    ) -> None:
        self.socket_dir = Path(socket_dir)
        self.resource = resource
        self.endpoint = endpoint
        self.options = api_pb2.DevicePluginOptions(
            pre_start_required=pre_start_required,
            get_preferred_allocation_available=preferred_available,
        )
        self.env_name = env_name
        self._cond = threading.Condition()
        self._devices: dict[str, str] = {d: HEALTHY for d in (devices or ["dev-0", "dev-1"])}
        self._generation = 0
        self._stopping = False
        self.fail_allocate: tuple[grpc.StatusCode, str] | None = None
        self.preferred_answer: list[str] | None = None  # None: echo the tail of available
        self.allocate_requests: list[api_pb2.AllocateRequest] = []
        self.preferred_requests: list[api_pb2.PreferredAllocationRequest] = []
        self.prestart_requests: list[api_pb2.PreStartContainerRequest] = []
        self.list_and_watch_opened = 0
        self._server: grpc.Server | None = None

    # ---- control -------------------------------------------------------------------------------
    def start(self) -> StubDevicePlugin:
        path = self.socket_dir / self.endpoint
        path.unlink(missing_ok=True)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        api_pb2_grpc.add_DevicePluginServicer_to_server(self, server)  # type: ignore[no-untyped-call]
        server.add_insecure_port(f"unix:{path}")
        server.start()
        self._server = server
        return self

    def register(self, version: str = "v1beta1", resource: str | None = None) -> None:
        """Call kubelet's Register; raises grpc.RpcError when kubelet refuses."""
        with grpc.insecure_channel(f"unix:{self.socket_dir / 'kubelet.sock'}") as ch:
            stub = api_pb2_grpc.RegistrationStub(ch)  # type: ignore[no-untyped-call]
            stub.Register(
                api_pb2.RegisterRequest(
                    version=version,
                    endpoint=self.endpoint,
                    resource_name=resource or self.resource,
                    options=self.options,
                ),
                timeout=5,
            )

    def set_health(self, device: str, health: str) -> None:
        with self._cond:
            self._devices[device] = health
            self._generation += 1
            self._cond.notify_all()

    def set_devices(self, devices: dict[str, str]) -> None:
        with self._cond:
            self._devices = dict(devices)
            self._generation += 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None
        (self.socket_dir / self.endpoint).unlink(missing_ok=True)

    def __enter__(self) -> StubDevicePlugin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._generation != seen or self._stopping

    def _snapshot(self) -> api_pb2.ListAndWatchResponse:
        return api_pb2.ListAndWatchResponse(
            devices=[api_pb2.Device(ID=i, health=h) for i, h in sorted(self._devices.items())]
        )

    # ---- gRPC ----------------------------------------------------------------------------------
    def GetDevicePluginOptions(
        self, request: api_pb2.Empty, context: grpc.ServicerContext
    ) -> api_pb2.DevicePluginOptions:
        return self.options

    def ListAndWatch(
        self, request: api_pb2.Empty, context: grpc.ServicerContext
    ) -> Iterator[api_pb2.ListAndWatchResponse]:
        with self._cond:
            self.list_and_watch_opened += 1
            seen = self._generation
            first = self._snapshot()
        yield first
        while context.is_active():
            with self._cond:
                self._cond.wait_for(self._changed_since(seen), timeout=0.2)
                if self._stopping:
                    return
                if self._generation == seen:
                    continue
                seen = self._generation
                msg = self._snapshot()
            yield msg

    def GetPreferredAllocation(
        self, request: api_pb2.PreferredAllocationRequest, context: grpc.ServicerContext
    ) -> api_pb2.PreferredAllocationResponse:
        self.preferred_requests.append(request)
        out = []
        for creq in request.container_requests:
            ids = self.preferred_answer
            if ids is None:
                ids = list(creq.available_deviceIDs)[-creq.allocation_size :]
            out.append(api_pb2.ContainerPreferredAllocationResponse(deviceIDs=ids))
        return api_pb2.PreferredAllocationResponse(container_responses=out)

    def Allocate(
        self, request: api_pb2.AllocateRequest, context: grpc.ServicerContext
    ) -> api_pb2.AllocateResponse:
        self.allocate_requests.append(request)
        if self.fail_allocate is not None:
            context.abort(*self.fail_allocate)
        return api_pb2.AllocateResponse(
            container_responses=[
                api_pb2.ContainerAllocateResponse(
                    envs={self.env_name: ",".join(c.devices_ids)},
                )
                for c in request.container_requests
            ]
        )

    def PreStartContainer(
        self, request: api_pb2.PreStartContainerRequest, context: grpc.ServicerContext
    ) -> api_pb2.PreStartContainerResponse:
        self.prestart_requests.append(request)
        return api_pb2.PreStartContainerResponse()
