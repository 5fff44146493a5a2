"""End-to-end smoke test of the three stand-ins together, with trivial in-test peers.

apiserver stand-in <- kube-scheduler stand-in -> in-test extender (filter: every node passes,
bind: POST pods/binding); kubelet stand-in <-> in-test device plugin (2 devices, Allocate returns
an env var). Proves the loop: pod created -> filter and bind called -> pod bound -> Allocate called
with as many device ids as the pod asked for.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from hami.deviceplugin._proto import api_pb2, api_pb2_grpc
from tests.support.apiserver import ApiServerThread
from tests.support.kubelet import KubeletStandIn
from tests.support.kubescheduler import KubeSchedulerStandIn, parse_scheduler_config
from tests.support.kubescheduler.fakeextender import FakeExtender

RES = "example.com/gpu"
NODE = "node-1"
SCHED = "hami-scheduler"


class TinyPlugin(api_pb2_grpc.DevicePluginServicer):
    """Two healthy devices; Allocate answers with the ids in an env var."""

    def __init__(self) -> None:
        self.allocations: list[list[str]] = []
        self.done = threading.Event()

    def GetDevicePluginOptions(self, request: Any, context: Any) -> api_pb2.DevicePluginOptions:
        return api_pb2.DevicePluginOptions()

    def ListAndWatch(self, request: Any, context: Any) -> Iterator[api_pb2.ListAndWatchResponse]:
        yield api_pb2.ListAndWatchResponse(
            devices=[api_pb2.Device(ID=f"dev-{i}", health="Healthy") for i in range(2)]
        )
        while context.is_active() and not self.done.wait(0.1):
            pass

    def Allocate(self, request: api_pb2.AllocateRequest, context: Any) -> api_pb2.AllocateResponse:
        self.allocations.extend(list(c.devices_ids) for c in request.container_requests)
        return api_pb2.AllocateResponse(
            container_responses=[
                api_pb2.ContainerAllocateResponse(envs={"TINY_DEVICES": ",".join(c.devices_ids)})
                for c in request.container_requests
            ]
        )


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="e2e-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def api(apiserver: ApiServerThread) -> ApiServerThread:
    return apiserver


@pytest.fixture
def plugin(sockdir: Path) -> Iterator[TinyPlugin]:
    p = TinyPlugin()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api_pb2_grpc.add_DevicePluginServicer_to_server(p, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix:{sockdir / 'tiny.sock'}")
    server.start()
    yield p
    p.done.set()
    server.stop(grace=None).wait(5)


def extender_binding_through(api: ApiServerThread) -> FakeExtender:
    """Filter passes every node; bind creates the pods/binding subresource, as HAMi's does."""

    def bind(args: dict[str, Any]) -> dict[str, Any]:
        ns, name = args["PodNamespace"], args["PodName"]
        r = httpx.post(
            f"{api.url}/api/v1/namespaces/{ns}/pods/{name}/binding",
            json={
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": args["PodUID"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": args["Node"]},
            },
        )
        return {"Error": "" if r.is_success else r.text}

    return FakeExtender(bind_handler=bind)


async def test_pod_flows_from_create_to_allocate(
    api: ApiServerThread, sockdir: Path, plugin: TinyPlugin
) -> None:
    with KubeletStandIn(sockdir, NODE, api.url) as kubelet, extender_binding_through(api) as ext:
        # The plugin (already serving) registers; kubelet reports its 2 devices on the node.
        with grpc.insecure_channel(f"unix:{kubelet.socket_path}") as ch:
            api_pb2_grpc.RegistrationStub(ch).Register(  # type: ignore[no-untyped-call]
                api_pb2.RegisterRequest(version="v1beta1", endpoint="tiny.sock", resource_name=RES),
                timeout=5,
            )
        assert await asyncio.to_thread(
            kubelet.wait_for,
            lambda k: api.store.get("nodes", NODE)["status"]["allocatable"].get(RES) == "2",
        )

        cfg = parse_scheduler_config(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "profiles": [{"schedulerName": SCHED}],
                "extenders": [
                    {
                        "urlPrefix": ext.url,
                        "filterVerb": "filter",
                        "bindVerb": "bind",
                        "nodeCacheCapable": True,
                        "httpTimeout": "5s",
                        "managedResources": [{"name": RES, "ignoredByScheduler": True}],
                    }
                ],
            }
        )
        async with KubeSchedulerStandIn(api.url, cfg) as sched:
            api.store.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "job", "namespace": "default"},
                    "spec": {
                        "schedulerName": SCHED,
                        "containers": [
                            {
                                "name": "main",
                                "image": "cuda:12",
                                "resources": {"limits": {RES: "2"}},
                            }
                        ],
                    },
                }
            )
            assert await sched.wait_until(lambda s: "default/job" in s.bound)
        assert [b["NodeNames"] for b in ext.bodies("filter")] == [[NODE]]
        assert [(b["PodName"], b["Node"]) for b in ext.bodies("bind")] == [("job", NODE)]
        assert sched.self_binds == []

        bound = api.store.get("pods", "job")
        assert bound["spec"]["nodeName"] == NODE
        result = await asyncio.to_thread(kubelet.admit, bound)
        assert plugin.allocations == [["dev-0", "dev-1"]]
        assert result.envs("main") == {"TINY_DEVICES": "dev-0,dev-1"}
        assert len(kubelet.allocate_latencies_s) == 1
