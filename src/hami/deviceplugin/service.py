"""The kubelet-facing gRPC servicers (device plugin API ``v1beta1``, grpc.aio).

:class:`GpuPlugin` serves ``nvidia.com/gpu``: it advertises split-count virtual devices, streams
health changes, and answers Allocate from the pod's ``hami.io/vgpu-devices-to-allocate``
annotation (kubelet's virtual IDs are ignored: the scheduler already chose the GPUs).
:class:`MigPlugin` serves one ``nvidia.com/mig-<profile>`` resource and passes devices through.
Handlers only decode, call the pure modules, and encode; failures abort the call with a message
that kubelet shows in the pod's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from hami.api import annotations as ann
from hami.api.errors import DecodeError
from hami.api.poddevices import decode_pod_devices, has_pending, pop_next_container
from hami.deviceplugin import pending
from hami.deviceplugin._proto import api_pb2 as pb
from hami.deviceplugin.allocate import (
    AllocateError,
    ContainerAllocation,
    build_allocation,
    check_count,
    container_env,
    ordered_containers,
    passthrough_allocation,
)
from hami.deviceplugin.gpus import GpuInfo
from hami.deviceplugin.health import HealthState
from hami.deviceplugin.inventory import VirtualDevice, preferred, virtual_devices
from hami.deviceplugin.settings import PluginSettings
from hami.k8s.errors import ApiError
from hami.k8s.port import JsonObj, KubeClient, obj_key

log = logging.getLogger(__name__)

_PRECOND = grpc.StatusCode.FAILED_PRECONDITION
HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"


def device_pb(dev: VirtualDevice) -> Any:
    topology = pb.TopologyInfo(nodes=[pb.NUMANode(ID=dev.numa)]) if dev.numa is not None else None
    return pb.Device(ID=dev.id, health=HEALTHY if dev.healthy else UNHEALTHY, topology=topology)


def allocation_pb(alloc: ContainerAllocation) -> Any:
    return pb.ContainerAllocateResponse(
        envs=alloc.envs,
        mounts=[
            pb.Mount(container_path=m.container_path, host_path=m.host_path, read_only=m.read_only)
            for m in alloc.mounts
        ],
    )


def make_host_dirs(paths: Sequence[str]) -> None:
    """(Re)create per-container host directories with mode 0777, as HAMi does."""
    for path in paths:
        Path(path).mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)


class _Plugin:
    """ListAndWatch/options/PreStart shared by both servicers."""

    def __init__(
        self,
        resource_name: str,
        health: HealthState,
        preferred_available: bool,
        resend_s: float | None = None,
    ) -> None:
        self.resource_name = resource_name
        self.resend_s = resend_s
        self.health = health
        self.preferred_available = preferred_available

    def devices(self) -> list[VirtualDevice]:
        raise NotImplementedError

    async def GetDevicePluginOptions(self, request: Any, context: Any) -> Any:
        return pb.DevicePluginOptions(
            pre_start_required=False,
            get_preferred_allocation_available=self.preferred_available,
        )

    async def ListAndWatch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """Send the full list now, on every health change, and every ``resend_s`` seconds
        (a full list is idempotent for kubelet and heals a missed update)."""
        seen = self.health.generation
        while True:
            yield pb.ListAndWatchResponse(devices=[device_pb(d) for d in self.devices()])
            seen = await self.health.wait_change(seen, timeout_s=self.resend_s)

    async def PreStartContainer(self, request: Any, context: Any) -> Any:
        return pb.PreStartContainerResponse()

    async def GetPreferredAllocation(self, request: Any, context: Any) -> Any:
        return pb.PreferredAllocationResponse(
            container_responses=[
                pb.ContainerPreferredAllocationResponse(
                    deviceIDs=preferred(
                        r.available_deviceIDs, r.must_include_deviceIDs, r.allocation_size, []
                    )
                )
                for r in request.container_requests
            ]
        )


class MigPlugin(_Plugin):
    """One ``nvidia.com/mig-<profile>`` resource (mixed strategy): devices pass through."""

    def __init__(
        self,
        resource_name: str,
        devices: list[VirtualDevice],
        health: HealthState,
        resend_s: float | None = None,
    ) -> None:
        super().__init__(resource_name, health, preferred_available=False, resend_s=resend_s)
        self._devices = devices

    def devices(self) -> list[VirtualDevice]:
        snap = self.health.snapshot()
        return [VirtualDevice(d.id, d.uuid, snap.get(d.uuid, True), d.numa) for d in self._devices]

    async def Allocate(self, request: Any, context: Any) -> Any:
        return pb.AllocateResponse(
            container_responses=[
                allocation_pb(passthrough_allocation(list(r.devices_ids)))
                for r in request.container_requests
            ]
        )


def random_cache_name() -> str:
    return f"{uuid.uuid4()}.cache"


class GpuPlugin(_Plugin):
    """``nvidia.com/gpu``: split-count virtual devices, Allocate from the pod annotation."""

    def __init__(
        self,
        *,
        settings: PluginSettings,
        gpus: Sequence[GpuInfo],
        health: HealthState,
        kube: KubeClient,
        library: Callable[[], Path],
        cache_name: Callable[[], str] = random_cache_name,
        license_present: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(
            settings.resource_name,
            health,
            settings.enable_preferred_allocation,
            settings.list_resend_s,
        )
        self.settings = settings
        self.gpus = list(gpus)
        self.kube = kube
        self._library = library
        self._cache_name = cache_name
        self._license = license_present
        self._lock = asyncio.Lock()

    def devices(self) -> list[VirtualDevice]:
        return virtual_devices(self.gpus, self.settings, self.health.snapshot())

    async def GetPreferredAllocation(self, request: Any, context: Any) -> Any:
        wanted: list[str] = []
        try:
            pod = await pending.find_pending_pod(self.kube, self.settings.node_name)
            blocks = decode_pod_devices(pending.annotations_of(pod)[ann.DEVICES_TO_ALLOCATE])
            wanted = [d.uuid for d in next((b for b in blocks if b), ())]
        except (AllocateError, DecodeError, ApiError, KeyError) as exc:
            log.info("node %s: no preference (%s)", self.settings.node_name, exc)
        return pb.PreferredAllocationResponse(
            container_responses=[
                pb.ContainerPreferredAllocationResponse(
                    deviceIDs=preferred(
                        r.available_deviceIDs, r.must_include_deviceIDs, r.allocation_size, wanted
                    )
                )
                for r in request.container_requests
            ]
        )

    async def Allocate(self, request: Any, context: Any) -> Any:
        sizes = [len(r.devices_ids) for r in request.container_requests]
        async with self._lock:
            node = self.settings.node_name
            try:
                pod = await pending.find_with_retry(
                    self.kube, node, self.settings.pod_lookup_retries,
                    resource=self.settings.resource_name,
                )  # fmt: skip
            except (AllocateError, ApiError) as exc:
                log.error("node %s: Allocate %s: %s", node, sizes, exc)
                if not isinstance(exc, ApiError):  # admission fails: a stale lock must not stay
                    with contextlib.suppress(ApiError):
                        await pending.release_stale_lock(self.kube, node)
                code = grpc.StatusCode.UNAVAILABLE if isinstance(exc, ApiError) else _PRECOND
                await context.abort(code, str(exc))
                raise AssertionError("unreachable") from exc
            try:
                allocs = await self._serve(pod, sizes)
            except (AllocateError, DecodeError, OSError, ApiError) as exc:
                message = f"pod {obj_key(pod)}: {exc}"
                await pending.fail(self.kube, node, pod, message)
                await context.abort(_PRECOND, message)
                raise AssertionError("unreachable") from exc
        return pb.AllocateResponse(container_responses=[allocation_pb(a) for a in allocs])

    async def _serve(self, pod: JsonObj, sizes: Sequence[int]) -> list[ContainerAllocation]:
        """Pop one container block per kubelet request, build answers, write the annotation."""
        value = pending.annotations_of(pod).get(ann.DEVICES_TO_ALLOCATE, "")
        containers = ordered_containers(pod)
        uid = str(pod.get("metadata", {}).get("uid", ""))
        allocs: list[ContainerAllocation] = []
        for size in sizes:
            devs, index, value = pop_next_container(value)
            if index >= len(containers):
                raise AllocateError(f"annotation block {index} has no matching container")
            ctr = containers[index]
            name = str(ctr.get("name", index))
            check_count(devs, size, f"container {name}")
            alloc = build_allocation(
                devs,
                pod_uid=uid,
                container=name,
                container_env=container_env(ctr),
                settings=self.settings,
                cache_name=self._cache_name(),
                lib_host_path=self._library(),
                license_present=self._license(),
            )
            make_host_dirs(alloc.host_dirs)
            allocs.append(alloc)
            log.info(
                "pod %s container %s: allocated %s", obj_key(pod), name, [d.uuid for d in devs]
            )
        done = not has_pending(value, ann.NVIDIA_TYPE)
        await pending.finish(self.kube, self.settings.node_name, pod, value, done)
        return allocs
