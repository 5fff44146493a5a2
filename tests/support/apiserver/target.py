"""Who the conformance suite talks to: the stand-in, or a real kube-apiserver.

With ``HAMI_CONFORMANCE_KUBECONFIG`` set to a kubeconfig path, the fixtures here connect to that
cluster instead of starting the stand-in, so the same assertions check the real server. Each test
gets a fresh namespace (deleted afterwards); tests that need the stand-in's knobs (fault
injection, history size, restart) take ``kube_standin`` and are skipped on a real cluster.
The fixtures are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import AsyncClient, KubeConfig

from ..kubeconfig import httpx_client
from .server import ApiServerThread

CONFORMANCE_ENV = "HAMI_CONFORMANCE_KUBECONFIG"
# Objects a real cluster puts in every namespace by itself (kube-controller-manager's root CA
# publisher). Tests leave them out of what they count; the fixture waits for them first, so
# they never show up in the middle of a test's watch.
SYSTEM_OBJECTS = frozenset({"kube-root-ca.crt"})
# A schedulerName no scheduler serves: the suite's pods stay unbound unless a test binds them.
UNSCHEDULED = "hami-conformance-unscheduled"


def ours(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` without the objects the cluster creates in every namespace."""
    return [i for i in items if i["metadata"].get("name") not in SYSTEM_OBJECTS]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [str(i["metadata"]["name"]) for i in ours(items)]


def real_kubeconfig() -> Path | None:
    value = os.environ.get(CONFORMANCE_ENV, "").strip()
    return Path(value) if value else None


@dataclass
class Target:
    """A server under test: its kubeconfig, a test namespace, and the stand-in if it is one."""

    kubeconfig_path: Path
    namespace: str
    standin: ApiServerThread | None

    @property
    def real(self) -> bool:
        return self.standin is None

    def lightkube(self) -> AsyncClient:
        return AsyncClient(
            config=KubeConfig.from_file(self.kubeconfig_path), namespace=self.namespace
        )

    def http(self) -> httpx.AsyncClient:
        return httpx_client(self.kubeconfig_path, timeout=httpx.Timeout(10.0))


async def _wait_namespace_settled(http: httpx.AsyncClient, ns: str) -> None:
    """Real clusters refuse pods until the namespace's default ServiceAccount exists, and
    publish ``kube-root-ca.crt`` into it shortly after creation; wait for both (at most 10 s
    each, a cluster without controller-manager has neither)."""
    for path in (f"/api/v1/namespaces/{ns}/serviceaccounts/default",
                 f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"):  # fmt: skip
        for _ in range(100):
            if (await http.get(path)).status_code == 200:
                break
            await asyncio.sleep(0.1)


@pytest.fixture
def kube_standin_server() -> Iterator[ApiServerThread | None]:
    """The stand-in serving ``kube`` (None when testing a real cluster)."""
    if real_kubeconfig() is not None:
        yield None
        return
    with ApiServerThread() as api:
        yield api


@pytest.fixture
async def kube(kube_standin_server: ApiServerThread | None) -> AsyncIterator[Target]:
    """The target server with a fresh namespace for this test."""
    ns = f"hami-conf-{uuid.uuid4().hex[:8]}"
    standin = kube_standin_server
    path = real_kubeconfig() or (standin.kubeconfig_path if standin else None)
    assert path is not None
    target = Target(path, ns, standin)
    async with target.http() as http:
        created = await http.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        )
        assert created.status_code == 201, created.text
        if target.real:
            await _wait_namespace_settled(http, ns)
        try:
            yield target
        finally:
            if target.real:
                await http.delete(f"/api/v1/namespaces/{ns}")


@pytest.fixture
async def kube_http(kube: Target) -> AsyncIterator[httpx.AsyncClient]:
    """Raw httpx client to the target."""
    async with kube.http() as client:
        yield client


@pytest.fixture
async def kube_lk(kube: Target) -> AsyncIterator[AsyncClient]:
    """lightkube AsyncClient (unmodified) to the target, defaulting to the test namespace."""
    client = kube.lightkube()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def kube_standin(kube: Target) -> ApiServerThread:
    """The stand-in behind ``kube``; skips the test against a real cluster."""
    if kube.standin is None:
        pytest.skip("needs the stand-in's fault injection / history control")
    return kube.standin


class WatchStream:
    """A raw watch over httpx, read in the background so the test can write meanwhile.
    Events about ``SYSTEM_OBJECTS`` are left out."""

    def __init__(self, http: httpx.AsyncClient, path: str, **params: str) -> None:
        self._http = http
        self._path = path
        self._params = {"watch": "true", **params}
        self.events: asyncio.Queue[dict[str, object] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.status_code = 0

    async def __aenter__(self) -> WatchStream:
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def pump() -> None:
            try:
                async with self._http.stream(
                    "GET", self._path, params=self._params, timeout=httpx.Timeout(10.0, read=None)
                ) as resp:
                    self.status_code = resp.status_code
                    opened.set_result(None)
                    async for line in resp.aiter_lines():
                        if line.strip():
                            import json

                            event = json.loads(line)
                            name = ((event.get("object") or {}).get("metadata") or {}).get("name")
                            if event.get("type") != "ERROR" and name in SYSTEM_OBJECTS:
                                continue  # the cluster's own per-namespace objects
                            await self.events.put(event)
            except (httpx.HTTPError, OSError) as exc:
                self.error = exc
            finally:
                if not opened.done():
                    opened.set_result(None)
                await self.events.put(None)

        self._task = asyncio.create_task(pump())
        await opened
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def next(self, timeout: float = 10.0) -> dict[str, object] | None:
        """The next event, or None once the stream has ended."""
        return await asyncio.wait_for(self.events.get(), timeout)

    async def rest(self, timeout: float = 10.0) -> list[dict[str, object]]:
        """All remaining events until the server ends the stream."""
        out: list[dict[str, object]] = []
        while (event := await self.next(timeout)) is not None:
            out.append(event)
        return out
