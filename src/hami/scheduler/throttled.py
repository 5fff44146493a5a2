"""A :class:`~hami.k8s.port.KubeClient` that takes a token before every apiserver request.

``--kube-qps`` / ``--kube-burst`` (client-go's client-side rate limit, which HAMi exposes) wrap
the scheduler's client in :class:`ThrottledClient` around a :class:`TokenBucket`; with the
default (0: unlimited) the runner does not wrap at all. A watch takes one token when it starts,
as in client-go; the events it streams afterwards are free.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from hami.k8s.port import JsonObj, Kind, KubeClient, MetaChanges, ObjectList, WatchEvent
from hami.scheduler.ratelimit import TokenBucket


class ThrottledClient:
    """Delegates to ``inner`` after :meth:`TokenBucket.acquire` on every request."""

    def __init__(self, inner: KubeClient, bucket: TokenBucket) -> None:
        self.inner = inner
        self.bucket = bucket

    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        await self.bucket.acquire()
        return await self.inner.list_objects(
            kind, namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )

    async def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        await self.bucket.acquire()
        async for event in self.inner.watch(
            kind,
            resource_version=resource_version,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            timeout_s=timeout_s,
        ):
            yield event

    async def get_pod(self, namespace: str, name: str) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.get_pod(namespace, name)

    async def list_pods(
        self,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonObj]:
        await self.bucket.acquire()
        return await self.inner.list_pods(
            namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )

    async def patch_pod_metadata(
        self,
        namespace: str,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.patch_pod_metadata(
            namespace,
            name,
            annotations=annotations,
            labels=labels,
            resource_version=resource_version,
        )

    async def create_pod(self, pod: JsonObj) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.create_pod(pod)

    async def bind_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        uid: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        await self.bucket.acquire()
        await self.inner.bind_pod(namespace, name, node, uid=uid, annotations=annotations)

    async def get_node(self, name: str) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.get_node(name)

    async def patch_node_metadata(
        self,
        name: str,
        *,
        annotations: MetaChanges | None = None,
        labels: MetaChanges | None = None,
        resource_version: str | None = None,
    ) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.patch_node_metadata(
            name, annotations=annotations, labels=labels, resource_version=resource_version
        )

    async def create_event(self, event: JsonObj) -> None:
        await self.bucket.acquire()
        await self.inner.create_event(event)

    async def patch_event(self, namespace: str, name: str, changes: JsonObj) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.patch_event(namespace, name, changes)

    async def get_lease(self, namespace: str, name: str) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.get_lease(namespace, name)

    async def create_lease(self, lease: JsonObj) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.create_lease(lease)

    async def replace_lease(self, lease: JsonObj) -> JsonObj:
        await self.bucket.acquire()
        return await self.inner.replace_lease(lease)

    async def close(self) -> None:
        await self.inner.close()


def throttle(client: KubeClient, bucket: TokenBucket | None) -> KubeClient:
    """``client`` itself when unlimited, else wrapped."""
    return client if bucket is None else ThrottledClient(client, bucket)
