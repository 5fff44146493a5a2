"""kubelet stand-in: the device-plugin peer a real node would run.

Serves `v1beta1.Registration/Register` on `<dir>/kubelet.sock`, dials each registering plugin
back, keeps its device table from `ListAndWatch`, reports capacity/allocatable into the node status
of an apiserver (when one is given), and admits pods bound to its node the way kubelet's device
manager does: per container and resource, pick healthy unallocated ids (asking
`GetPreferredAllocation` when the plugin offers it), call `Allocate` with one
`ContainerAllocateRequest`, then `PreStartContainer` when the plugin requires it. Synchronous
(gRPC thread pool), so sync and async tests can both drive it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from hami.deviceplugin._proto import api_pb2, api_pb2_grpc

from .endpoint import PluginEndpoint
from .table import AdmissionError, DeviceState, DeviceTable, pick_devices

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("v1beta1",)
KUBELET_SOCKET = "kubelet.sock"
_QUALIFIED = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def is_extended_resource_name(name: str) -> bool:
    """kubelet accepts only domain-qualified names outside the kubernetes.io namespace."""
    if not _QUALIFIED.match(name) or len(name.split("/", 1)[1]) > 63:
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


class RegistrationRejected(Exception):
    """Register was refused; the message is what the plugin sees in the gRPC error."""


@dataclass(slots=True)
class ContainerAllocation:
    """What one container got for one resource."""

    container: str
    resource: str
    device_ids: list[str]
    response: api_pb2.ContainerAllocateResponse
    preferred_asked: bool = False
    pre_started: bool = False


@dataclass(slots=True)
class AdmissionResult:
    """Every allocation made while admitting one pod, in kubelet's order (init containers first)."""

    pod_uid: str
    allocations: list[ContainerAllocation] = field(default_factory=list)

    def for_container(self, name: str) -> list[ContainerAllocation]:
        return [a for a in self.allocations if a.container == name]

    def envs(self, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for a in self.for_container(name):
            out.update(a.response.envs)
        return out


class _RegistrationServicer(api_pb2_grpc.RegistrationServicer):
    def __init__(self, kubelet: KubeletStandIn) -> None:
        self._kubelet = kubelet

    def Register(
        self, request: api_pb2.RegisterRequest, context: grpc.ServicerContext
    ) -> api_pb2.Empty:
        try:
            self._kubelet.handle_register(request)
        except RegistrationRejected as err:
            context.abort(grpc.StatusCode.UNKNOWN, str(err))
        return api_pb2.Empty()


class KubeletStandIn:
    """Device-manager half of a kubelet for one node, over unix sockets in `socket_dir`."""

    def __init__(
        self,
        socket_dir: Path,
        node_name: str,
        api_url: str | None = None,
        *,
        register_node: bool = True,
        http: httpx.Client | None = None,
    ) -> None:
        self.socket_dir = Path(socket_dir)
        self.node_name = node_name
        self.api_url = api_url.rstrip("/") if api_url else None
        self.register_node = register_node
        self._http = http or (
            httpx.Client(base_url=self.api_url, timeout=10, verify=False) if self.api_url else None
        )
        self.table = DeviceTable()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._endpoints: dict[str, PluginEndpoint] = {}
        self._server: grpc.Server | None = None
        # Observations for tests.
        self.registrations: list[api_pb2.RegisterRequest] = []
        self.rejections: list[str] = []
        self.allocate_calls: list[tuple[str, api_pb2.AllocateRequest]] = []
        self.allocate_latencies_s: list[float] = []
        self.preferred_calls: list[tuple[str, api_pb2.PreferredAllocationRequest]] = []
        self.prestart_calls: list[tuple[str, list[str]]] = []
        self.node_status_patches: list[dict[str, Any]] = []
        self.status_errors: list[str] = []

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        return self.socket_dir / KUBELET_SOCKET

    def start(self) -> KubeletStandIn:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.api_url and self.register_node:
            self._ensure_node()
        self._serve()
        return self

    def _serve(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="kubelet")
        server = grpc.server(pool)
        api_pb2_grpc.add_RegistrationServicer_to_server(  # type: ignore[no-untyped-call]
            _RegistrationServicer(self), server
        )
        server.add_insecure_port(f"unix:{self.socket_path}")
        server.start()
        self._server = server

    def stop(self) -> None:
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
        for ep in endpoints:
            ep.close()
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None
        self.socket_path.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> KubeletStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def restart(self) -> None:
        """Like a kubelet restart: sockets gone, plugins forgotten (devices unhealthy until they
        re-register), allocations kept as from kubelet's checkpoint; a new kubelet.sock appears."""
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
        for ep in endpoints:
            ep.close()
            self.table.mark_all_unhealthy(ep.resource)
            self._report(ep.resource)
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None
        self.socket_path.unlink(missing_ok=True)
        time.sleep(0.05)  # let file watchers see the removal before the new socket appears
        self._serve()

    # ---- registration ------------------------------------------------------------------------
    def handle_register(self, req: api_pb2.RegisterRequest) -> None:
        """Validate like kubelet, then dial the plugin back in the background."""
        if req.version not in SUPPORTED_VERSIONS:
            msg = (
                f"requested API version {req.version!r} is not supported by kubelet. "
                f"Supported versions are {list(SUPPORTED_VERSIONS)!r}"
            )
            self.rejections.append(msg)
            raise RegistrationRejected(msg)
        if not is_extended_resource_name(req.resource_name):
            msg = f"the ResourceName {req.resource_name!r} is invalid"
            self.rejections.append(msg)
            raise RegistrationRejected(msg)
        with self._lock:
            self.registrations.append(req)
        threading.Thread(
            target=self._connect, args=(req,), daemon=True, name=f"kubelet-dial-{req.resource_name}"
        ).start()

    def _connect(self, req: api_pb2.RegisterRequest) -> None:
        ep = PluginEndpoint(
            req.resource_name, self.socket_dir / req.endpoint, self._on_devices, self._on_closed
        )
        try:
            ep.connect()
        except (grpc.RpcError, grpc.FutureTimeoutError) as err:
            log.warning(
                "kubelet: cannot reach plugin %s at %s: %s", req.resource_name, ep.socket_path, err
            )
            ep.close()
            return
        with self._lock:
            old = self._endpoints.get(req.resource_name)
            self._endpoints[req.resource_name] = ep
            self._changed.notify_all()
        if old is not None:
            old.close()
        ep.start_watch()

    def _on_devices(self, ep: PluginEndpoint, devices: list[DeviceState]) -> None:
        with self._lock:
            if self._endpoints.get(ep.resource) is not ep:
                return
            self.table.update(ep.resource, devices)
            self._changed.notify_all()
        self._report(ep.resource)

    def _on_closed(self, ep: PluginEndpoint) -> None:
        with self._lock:
            if self._endpoints.get(ep.resource) is ep:
                del self._endpoints[ep.resource]
            self.table.mark_all_unhealthy(ep.resource)
            self._changed.notify_all()
        self._report(ep.resource)

    def endpoint(self, resource: str) -> PluginEndpoint | None:
        with self._lock:
            return self._endpoints.get(resource)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait until `predicate(self)` holds (re-checked on every registration/device change)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
            return True

    def wait_devices(self, resource: str, healthy: int, timeout: float = 10.0) -> bool:
        return self.wait_for(
            lambda k: k.endpoint(resource) is not None and k.table.capacity(resource)[1] == healthy,
            timeout,
        )

    # ---- node status ---------------------------------------------------------------------------
    def _ensure_node(self) -> None:
        assert self._http is not None
        r = self._http.get(f"/api/v1/nodes/{self.node_name}")
        if r.status_code == 404:
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": self.node_name,
                    "labels": {"kubernetes.io/hostname": self.node_name},
                },
                "status": {
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                },
            }
            r = self._http.post("/api/v1/nodes", json=node)
            if r.status_code not in (200, 201, 409):
                raise RuntimeError(
                    f"kubelet: cannot register node {self.node_name}: {r.status_code} {r.text}"
                )

    def _report(self, resource: str) -> None:
        """PATCH node status like kubelet: capacity = all devices, allocatable = healthy ones."""
        if self._http is None:
            return
        cap, alloc = self.table.capacity(resource)
        patch = {
            "status": {"capacity": {resource: str(cap)}, "allocatable": {resource: str(alloc)}}
        }
        try:
            r = self._http.patch(
                f"/api/v1/nodes/{self.node_name}/status",
                json=patch,
                headers={"Content-Type": "application/strategic-merge-patch+json"},
            )
        except httpx.HTTPError as err:
            self.status_errors.append(f"{resource}: {err}")
            log.warning("kubelet: node %s status patch failed: %s", self.node_name, err)
            return
        if r.status_code != 200:
            self.status_errors.append(f"{resource}: {r.status_code} {r.text}")
            log.warning(
                "kubelet: node %s status patch: %s %s", self.node_name, r.status_code, r.text
            )
            return
        with self._lock:
            self.node_status_patches.append(patch)
            self._changed.notify_all()

    # ---- admission -----------------------------------------------------------------------------
    def admit(self, pod: dict[str, Any]) -> AdmissionResult:
        """Allocate devices for every container of a pod bound to this node (init first)."""
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        node = (pod.get("spec") or {}).get("nodeName")
        if node != self.node_name:
            raise AdmissionError(f"pod {key} is bound to {node!r}, not to node {self.node_name}")
        uid = str(meta.get("uid") or key)
        result = AdmissionResult(uid)
        spec = pod["spec"]
        reusable: dict[str, set[str]] = {}
        for kind in ("initContainers", "containers"):
            for ctr in spec.get(kind) or []:
                for resource, need in self._device_requests(ctr, key).items():
                    alloc = self._allocate(
                        key, uid, ctr["name"], resource, need, reusable.setdefault(resource, set())
                    )
                    if alloc is None:
                        continue
                    result.allocations.append(alloc)
                    if kind == "initContainers":
                        reusable[resource].update(alloc.device_ids)
        return result

    def _device_requests(self, ctr: dict[str, Any], pod_key: str) -> dict[str, int]:
        """Resources served by a registered plugin, from limits (extended resources), else
        requests. Other extended resources are ignored, as kubelet does."""
        res = ctr.get("resources") or {}
        wanted = {**(res.get("requests") or {}), **(res.get("limits") or {})}
        known = set(self.table.resources())
        out: dict[str, int] = {}
        for name, qty in wanted.items():
            if name not in known:
                continue
            try:
                n = int(str(qty))
            except ValueError as err:
                raise AdmissionError(
                    f"pod {pod_key} container {ctr.get('name')}: {name}={qty!r} is not an integer"
                ) from err
            if n > 0:
                out[name] = n
        return out

    def _allocate(
        self, pod_key: str, uid: str, ctr: str, resource: str, need: int, reusable: set[str]
    ) -> ContainerAllocation | None:
        ep = self.endpoint(resource)
        if self.table.owned_by(resource, uid, ctr):
            return None  # already allocated on an earlier admission: kubelet does not re-Allocate
        if ep is None:
            raise AdmissionError(f"pod {pod_key}: device plugin for {resource} is not registered")
        available = self.table.available(resource, uid, reusable)
        if len(available) < need:
            raise AdmissionError(
                f"Requested number of devices unavailable for {resource}. "
                f"Requested: {need}, Available: {len(available)}"
            )
        preferred: list[str] | None = None
        asked = False
        if ep.options.get_preferred_allocation_available:
            asked = True
            preq = api_pb2.PreferredAllocationRequest(
                container_requests=[
                    api_pb2.ContainerPreferredAllocationRequest(
                        available_deviceIDs=available,
                        must_include_deviceIDs=[],
                        allocation_size=need,
                    )
                ]
            )
            self.preferred_calls.append((resource, preq))
            try:
                presp = ep.stub.GetPreferredAllocation(preq, timeout=10)
                if presp.container_responses:
                    preferred = list(presp.container_responses[0].deviceIDs)
            except grpc.RpcError as err:
                raise AdmissionError(_rpc_message("GetPreferredAllocation", err)) from err
        ids = pick_devices(available, [], need, preferred)
        self.table.assign(resource, ids, uid, ctr)
        areq = api_pb2.AllocateRequest(
            container_requests=[api_pb2.ContainerAllocateRequest(devices_ids=ids)]
        )
        self.allocate_calls.append((resource, areq))
        t0 = time.perf_counter()
        try:
            aresp = ep.stub.Allocate(areq, timeout=30)
        except grpc.RpcError as err:
            self.table.release(resource, ids)
            raise AdmissionError(_rpc_message("Allocate", err)) from err
        finally:
            self.allocate_latencies_s.append(time.perf_counter() - t0)
        if len(aresp.container_responses) != 1:
            self.table.release(resource, ids)
            raise AdmissionError(
                f"pod {pod_key}: Allocate for {resource} returned "
                f"{len(aresp.container_responses)} container responses, want 1"
            )
        alloc = ContainerAllocation(
            ctr, resource, ids, aresp.container_responses[0], preferred_asked=asked
        )
        if ep.options.pre_start_required:
            self.prestart_calls.append((resource, ids))
            try:
                ep.stub.PreStartContainer(
                    api_pb2.PreStartContainerRequest(devices_ids=ids), timeout=30
                )
            except grpc.RpcError as err:
                raise AdmissionError(_rpc_message("PreStartContainer", err)) from err
            alloc.pre_started = True
        return alloc

    def release(self, pod: dict[str, Any]) -> int:
        """The pod is gone: free its devices."""
        meta = pod.get("metadata") or {}
        return self.table.release_pod(
            str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        )


def _rpc_message(call: str, err: grpc.RpcError) -> str:
    code = err.code() if isinstance(err, grpc.Call) else None
    details = err.details() if isinstance(err, grpc.Call) else str(err)
    name = code.name.title().replace("_", "") if code is not None else "Unknown"
    return f"{call} failed due to rpc error: code = {name} desc = {details}, which is unexpected"
