"""ThrottledClient takes one token per apiserver request, and none when unlimited."""

from __future__ import annotations

import pytest

from hami.k8s.fake import FakeKube
from hami.k8s.port import Kind
from hami.scheduler.ratelimit import TokenBucket, from_settings
from hami.scheduler.throttled import ThrottledClient, throttle
from tests.component.scheduler.objects import make_node, make_pod


class CountingBucket(TokenBucket):
    def __init__(self) -> None:
        super().__init__(1000.0, 1000)
        self.taken = 0

    def reserve(self) -> float:
        self.taken += 1
        return super().reserve()


async def test_every_request_takes_a_token() -> None:
    kube = FakeKube()
    kube.add("nodes", make_node("n1"))
    kube.add("pods", make_pod("p1"))
    bucket = CountingBucket()
    client = ThrottledClient(kube, bucket)
    await client.get_node("n1")
    await client.get_pod("default", "p1")
    await client.patch_node_metadata("n1", annotations={"a": "b"})
    await client.patch_pod_metadata("default", "p1", labels={"x": "y"})
    await client.bind_pod("default", "p1", "n1")
    listed = await client.list_objects(Kind.NODES)
    assert bucket.taken == 6
    async for _ in client.watch(Kind.NODES, resource_version=listed.resource_version, timeout_s=0):
        pass
    assert bucket.taken == 7  # a watch costs one token when it starts
    assert kube.get("pods", "default", "p1")["spec"]["nodeName"] == "n1"


@pytest.mark.parametrize(("qps", "burst", "wrapped"), [(0, 0, False), (5, 10, True)])
def test_throttle_wraps_only_when_limited(qps: float, burst: int, wrapped: bool) -> None:
    kube = FakeKube()
    client = throttle(kube, from_settings(qps, burst))
    assert isinstance(client, ThrottledClient) is wrapped
    assert (client is kube) is not wrapped


async def test_events_take_a_token_each() -> None:
    kube = FakeKube()
    bucket = CountingBucket()
    client = ThrottledClient(kube, bucket)
    event = {"metadata": {"name": "e1", "namespace": "default"}, "count": 1}
    await client.create_event(event)
    patched = await client.patch_event("default", "e1", {"count": 2})
    assert bucket.taken == 2 and patched["count"] == 2
