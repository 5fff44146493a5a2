"""The kube-apiserver stand-in: an async server object and a thread runner for any test.

``ApiServer`` runs inside an event loop; ``ApiServerThread`` runs one in a private thread and
loop so sync and async tests alike can use it::

    with ApiServerThread(history=50) as api:
        client = lightkube.AsyncClient(KubeConfig.from_file(api.kubeconfig_path))
        api.store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        api.fail_next("POST", r"/pods/[^/]+/binding$", 500)
        api.restart(keep_store=True)     # same port; every connection (and watch) is closed

``restart(keep_store=False)`` models a wiped backend: the store starts empty (default namespaces
only), resourceVersions keep increasing, and the history is cut so that any watch or exact list
from an earlier resourceVersion gets 410 Expired, forcing clients to relist.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from ..kubeconfig import write_kubeconfig
from . import resources
from .app import App
from .faults import Faults
from .http import HttpServer
from .patch import MERGE
from .resources import ResourceType
from .selectors import parse
from .store import Store
from .tls import ServingCert, make_serving_cert
from .watch import with_type


class ApiServer:
    """The stand-in server bound to 127.0.0.1 (random port unless given), optionally over TLS."""

    def __init__(
        self,
        *,
        port: int = 0,
        tls: bool = False,
        history: int = 1000,
        bookmark_interval: float = 1.0,
        token: str | None = None,
    ) -> None:
        self._history = history
        self._store = Store(history=history)
        self.faults = Faults()
        self.cert: ServingCert | None = make_serving_cert() if tls else None
        self.token = token
        self.app = App(lambda: self._store, self.faults, bookmark_interval, token)
        self._http = HttpServer(
            self.app, "127.0.0.1", port, self.cert.server_context() if self.cert else None
        )

    @property
    def store(self) -> Store:
        return self._store

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return f"{'https' if self.cert else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self._http.start()

    async def stop(self) -> None:
        self._store.end_all_watches()
        await self._http.stop()

    async def restart(self, keep_store: bool = True) -> None:
        """Close everything, optionally lose all objects, and listen again on the same port."""
        await self.stop()
        if not keep_store:
            fresh = Store(history=self._history, start_rv=self._store.resource_version)
            fresh.forget_history()
            self._store = fresh
        await self._http.start()

    def drop_watches(self, abrupt: bool = True) -> int:
        """End every open watch (abort the connection, or end the chunked body cleanly)."""
        return self.app.drop_watches(abrupt)


class StoreAccess:
    """Thread-safe plain-dict helpers over the server's current store, by resource name.

    ``resource`` is a plural (``"pods"``), a qualified name (``"leases.coordination.k8s.io"``,
    ``"events.events.k8s.io"``) or a Kind (``"Pod"``); objects read back carry kind/apiVersion.
    """

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store

    @staticmethod
    def resolve(resource: str) -> ResourceType:
        for rt in resources.RESOURCES:
            if resource in (rt.group_resource, rt.kind):
                return rt
        raise KeyError(f"stand-in serves no resource {resource!r}")

    def _rt_of(self, obj: dict[str, Any]) -> ResourceType:
        rt = resources.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise KeyError(f"stand-in serves no {obj.get('apiVersion')}/{obj.get('kind')}")
        return rt

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        rt = self._rt_of(obj)
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if rt.namespaced else "")
        return with_type(rt, self._store().create(rt, ns, copy.deepcopy(obj)))

    def get(self, resource: str, name: str, namespace: str = "default") -> dict[str, Any]:
        rt = self.resolve(resource)
        return with_type(rt, self._store().get(rt, namespace if rt.namespaced else "", name))

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        rt = self.resolve(resource)
        selector = parse(label_selector, field_selector, rt)
        result = self._store().list(rt, namespace if rt.namespaced else None, selector)
        return [with_type(rt, o) for o in result.items]

    def update(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        rt = self._rt_of(obj)
        meta = obj["metadata"]
        ns = meta.get("namespace", "default") if rt.namespaced else ""
        return with_type(rt, self._store().update(rt, ns, meta["name"], obj, subresource))

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        namespace: str = "default",
        content_type: str = MERGE,
        subresource: str = "",
    ) -> dict[str, Any]:
        import json

        rt = self.resolve(resource)
        body = patch if isinstance(patch, bytes) else json.dumps(patch).encode()
        ns = namespace if rt.namespaced else ""
        return with_type(rt, self._store().patch(rt, ns, name, content_type, body, subresource))

    def delete(self, resource: str, name: str, namespace: str = "default") -> dict[str, Any]:
        rt = self.resolve(resource)
        obj, _ = self._store().delete(rt, namespace if rt.namespaced else "", name)
        return with_type(rt, obj)

    def bind(self, name: str, node: str, namespace: str = "default") -> None:
        self._store().bind(namespace, name, {"target": {"kind": "Node", "name": node}})

    @property
    def resource_version(self) -> int:
        return self._store().resource_version


class ApiServerThread:
    """Runs an :class:`ApiServer` in a background thread; a context manager for any test."""

    def __init__(self, *, tmp_dir: Path | None = None, **options: Any) -> None:
        self._options = options
        self._tmp = (
            tempfile.TemporaryDirectory(prefix="hami-apiserver-") if tmp_dir is None else None
        )
        self._dir = Path(self._tmp.name) if self._tmp else tmp_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="apiserver-standin", daemon=True
        )
        self.server: ApiServer | None = None
        self.store = StoreAccess(lambda: self._srv().store)
        self.kubeconfig_path = Path(self._dir or ".") / "kubeconfig"

    def _call(self, coro: Any) -> Any:
        fut: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout=30)

    def start(self) -> ApiServerThread:
        self._thread.start()

        async def make() -> ApiServer:
            server = ApiServer(**self._options)
            await server.start()
            return server

        self.server = self._call(make())
        assert self.server is not None
        write_kubeconfig(
            self.kubeconfig_path,
            self.server.url,
            ca_pem=self.server.cert.ca_pem if self.server.cert else None,
            token=self.server.token,
        )
        return self

    def stop(self) -> None:
        if self.server is not None:
            self._call(self.server.stop())
            self.server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ApiServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ conveniences

    def _srv(self) -> ApiServer:
        assert self.server is not None, "stand-in not started"
        return self.server

    @property
    def url(self) -> str:
        return self._srv().url

    @property
    def port(self) -> int:
        return self._srv().port

    @property
    def ca_pem(self) -> bytes | None:
        cert = self._srv().cert
        return cert.ca_pem if cert else None

    def fail_next(
        self, method: str, path_regex: str, status: int, count: int = 1, message: str | None = None
    ) -> None:
        self._srv().faults.fail_next(method, path_regex, status, count, message)

    def delay(self, path_regex: str, seconds: float, method: str = "*") -> None:
        self._srv().faults.delay(path_regex, seconds, method)

    def clear_faults(self) -> None:
        self._srv().faults.clear()

    def drop_watches(self, abrupt: bool = True) -> int:
        server = self._srv()

        async def drop() -> int:
            return server.drop_watches(abrupt)

        return int(self._call(drop()))

    def restart(self, keep_store: bool = True) -> None:
        self._call(self._srv().restart(keep_store))

    def open_watches(self) -> int:
        return len(self._srv().app.streams)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request served so far (for assertions on client behaviour)."""
        return list(self._srv().app.requests)
