"""Wires the scheduler service together and serves it: informers, registration loop, leader
election, the extender/webhook app and the metrics app, each on its own uvicorn server.

:class:`SchedulerRunner` is what ``hami scheduler`` runs and what integration tests start (in a
thread, via :class:`SchedulerThread`) against the apiserver stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from hami.api.annotations import SCHEDULER_ROLE, SCHEDULER_ROLE_FOLLOWER, SCHEDULER_ROLE_LEADER
from hami.config.devices import DeviceConfig, load_device_config
from hami.device.registry import DeviceRegistry
from hami.engine.state import ClusterState
from hami.k8s import errors
from hami.k8s.port import KubeClient
from hami.scheduler import debug
from hami.scheduler.app import build_app
from hami.scheduler.coalesce import CoalescingHttpToolsProtocol
from hami.scheduler.events import EventRecorder
from hami.scheduler.leader import LeaderElector
from hami.scheduler.metrics import build_registry
from hami.scheduler.namespaces import NamespaceLabels
from hami.scheduler.nodelock import NodeLocker
from hami.scheduler.ratelimit import from_settings
from hami.scheduler.registration import NodeRegistrar
from hami.scheduler.service import SchedulerService
from hami.scheduler.settings import SchedulerSettings, parse_bind
from hami.scheduler.throttled import throttle
from hami.webhook.mutate import AdmissionContext, review

log = logging.getLogger(__name__)


def split_bind(address: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``"host:port"`` / ``":port"`` -> (host, port)."""
    return parse_bind(address, default_host)


class ServeError(RuntimeError):
    """A server or background task of the scheduler could not start or stopped with an error;
    the message names the server and its address (or the file it could not load)."""


class _BindErrors(logging.Filter):
    """Keeps uvicorn's own bind error (it logs the OSError, then calls ``sys.exit``) so that
    :class:`_Server` can raise it as a :class:`ServeError`; the record itself is dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.messages.append(record.getMessage())
            return False
        return True


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals alone: ``hami scheduler`` handles SIGTERM itself
    (cancel, then shut down in order: servers, election with the Lease released, informers).
    uvicorn would take SIGTERM for one server only and re-raise it after that server stopped,
    cutting the orderly shutdown short. A failed start raises :class:`ServeError` instead of
    uvicorn's ``sys.exit(1)``."""

    def __init__(self, config: uvicorn.Config, what: str, bind: str) -> None:
        super().__init__(config)
        self.what = what
        self.bind = bind

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        errors_seen = _BindErrors()
        logger = logging.getLogger("uvicorn.error")
        logger.addFilter(errors_seen)
        try:
            await super().startup(sockets)
        except SystemExit:
            why = "; ".join(errors_seen.messages) or "start-up failed"
            raise ServeError(f"{self.what}: cannot listen on {self.bind}: {why}") from None
        finally:
            logger.removeFilter(errors_seen)


class SchedulerRunner:
    """Everything ``hami scheduler`` runs, built from settings and a client."""

    def __init__(
        self,
        settings: SchedulerSettings,
        client: KubeClient,
        *,
        device_config: DeviceConfig | None = None,
        identity: str | None = None,
    ) -> None:
        self.settings = settings
        client = throttle(client, from_settings(settings.kube_qps, settings.kube_burst))
        self.client = client
        self.config = device_config or load_device_config(settings.device_config_file)
        self.registry = DeviceRegistry.from_config(
            self.config,
            enable_ascend=settings.enable_ascend,
            enable_iluvatar=settings.enable_iluvatar,
        )
        self.backends = self.registry.backends
        self.identity = identity or settings.pod_name or f"{socket.gethostname()}-{os.getpid()}"
        self.state = self.new_state()
        self.registrar = NodeRegistrar(
            client, self.state, self.config, backends=self.backends, new_state=self.new_state
        )
        self.locker = NodeLocker(client, timeout=timedelta(seconds=settings.node_lock_timeout))
        self.service = SchedulerService(
            client,
            self.config,
            state=self.state,
            locker=self.locker,
            recorder=EventRecorder(
                client, host=self.identity, record_normal=settings.success_events
            ),
            registrar=self.registrar,
            node_label_selector=settings.node_label_selector,
            sync_timeout_s=settings.kube_timeout,
            lock_retry_timeout_s=settings.node_lock_retry_timeout,
            backends=self.backends,
        )
        self.elector: LeaderElector | None = None
        if settings.leader_elect:
            self.elector = LeaderElector(
                client,
                namespace=settings.lease_namespace,
                name=settings.leader_elect_resource_name,
                identity=self.identity,
                lease_duration=settings.lease_duration,
                renew_deadline=settings.renew_deadline,
                retry_period=settings.retry_period,
                on_transition=self._on_transition,
            )
        self.namespaces = NamespaceLabels()
        self.admission = AdmissionContext(
            self.config,
            scheduler_name=settings.scheduler_name,
            force_overwrite_default_scheduler=settings.force_overwrite_default_scheduler,
            quota_check=self.service.quota_check,
            namespace_lookup=self.namespaces.get,
            backends=self.backends,
        )
        self.service.namespace_informer.add_handler(self.namespaces.on_event)
        self.app = build_app(
            self.service,
            reviewer=self._review,
            is_leader=self.is_leader,
            extra_routes=debug.routes() if settings.profiling else None,
        )
        self.metrics_registry = build_registry(self.service, legacy=settings.legacy_metrics)
        self.servers: list[_Server] = []

    def new_state(self) -> ClusterState:
        """An empty engine state with this scheduler's devices and policies."""
        return ClusterState(
            self.registry,
            node_policy=self.settings.node_scheduler_policy,
            gpu_policy=self.settings.gpu_scheduler_policy,
        )

    def is_leader(self) -> bool:
        return self.elector.is_leader if self.elector is not None else True

    def _review(self, payload: Any) -> dict[str, Any]:
        return review(payload, self.admission)

    async def _on_transition(self, leader: bool) -> None:
        if leader:
            self.registrar.wake()
        await self._label_self(leader)

    async def _label_self(self, leader: bool) -> None:
        name, ns = self.settings.pod_name, self.settings.pod_namespace
        if not name:
            return
        role = SCHEDULER_ROLE_LEADER if leader else SCHEDULER_ROLE_FOLLOWER
        try:
            await self.client.patch_pod_metadata(ns, name, labels={SCHEDULER_ROLE: role})
        except errors.ApiError as exc:
            log.warning("labelling own pod %s/%s %s=%s failed: %s", ns, name, SCHEDULER_ROLE,
                        role, exc)  # fmt: skip

    def _server(self, app: Any, bind: str, *, tls: bool, what: str) -> _Server:
        """A server for ``app`` on ``bind``, its configuration (TLS files included) loaded now:
        a file that cannot be read is a :class:`ServeError` before anything starts."""
        try:
            host, port = split_bind(bind)
        except ValueError as exc:
            raise ServeError(f"{what}: {exc}") from None
        kwargs: dict[str, Any] = {}
        cert, key = self.settings.cert_file, self.settings.key_file
        if tls and cert and key:
            for role, path in (("certificate", cert), ("key", key)):
                if not path.is_file():
                    problem = "is not a file" if path.exists() else "not found"
                    raise ServeError(f"{what} on {bind}: TLS {role} file {path} {problem}")
            kwargs = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", log_config=None,
            access_log=False, proxy_headers=False, server_header=False,
            http=CoalescingHttpToolsProtocol, **kwargs,
        )  # fmt: skip
        try:
            config.load()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ServeError(
                f"{what} on {bind}: cannot load TLS certificate {cert} and key {key}: {detail}"
                if kwargs
                else f"{what} on {bind}: {detail}"
            ) from None
        return _Server(config, what, bind)

    async def serve(self, *, started: Callable[[SchedulerRunner], None] | None = None) -> None:
        """Run until cancelled (or until the servers exit).

        Raises :class:`ServeError` when a server cannot start (TLS files, bind address) or any
        task stops with an error; everything started is shut down first.
        """
        from prometheus_client import make_asgi_app

        log.info("hami scheduler %s starting with %s", self.identity, self.settings.summary())
        main = self._server(self.app, self.settings.http_bind, tls=True,
                            what="extender/webhook server")  # fmt: skip
        metrics = self._server(
            make_asgi_app(registry=self.metrics_registry), self.settings.metrics_bind_address,
            tls=False, what="metrics server",
        )  # fmt: skip
        self.service.start()
        tasks: list[asyncio.Task[Any]] = []
        loop = asyncio.get_running_loop()
        if self.elector is not None:
            tasks.append(loop.create_task(self.elector.run(), name="leader election"))
        else:
            await self._label_self(True)
        tasks.append(
            loop.create_task(
                self.registrar.run(self.is_leader, self.settings.register_interval),
                name="node registration",
            )
        )
        self.servers = [main, metrics]
        if self.settings.cert_file and self.settings.key_file:
            tasks.append(loop.create_task(self._watch_certs(main), name="TLS reload"))
        tasks += [loop.create_task(s.serve(), name=f"{s.what} on {s.bind}") for s in self.servers]
        failure: ServeError | None = None
        try:
            while not all(s.started for s in self.servers):
                if any(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.01)
            if started is not None and all(s.started for s in self.servers):
                started(self)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            failure = _first_failure(done)
        finally:
            for s in self.servers:
                s.should_exit = True
            serving = [t for t in tasks[-len(self.servers) :] if not t.done()]
            if serving:
                await asyncio.wait(serving, timeout=5)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.elector is not None:
                await self.elector.release()
            await self.service.stop()
        if failure is not None:
            raise failure

    def port(self, index: int = 0) -> int:
        """Bound port of server ``index`` (0: extender, 1: metrics), after start."""
        server = self.servers[index]
        for srv in server.servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("server not started")

    async def _watch_certs(self, server: uvicorn.Server, interval: float = 1.0) -> None:
        cert, key = self.settings.cert_file, self.settings.key_file
        assert cert is not None and key is not None
        last = _mtimes(cert, key)
        while True:
            await asyncio.sleep(interval)
            now = _mtimes(cert, key)
            if now == last:
                continue
            last = now
            ctx = server.config.ssl
            if ctx is None:
                continue
            try:
                ctx.load_cert_chain(str(cert), str(key))
                log.info("reloaded TLS certificate %s", cert)
            except (OSError, ValueError) as exc:
                log.warning("TLS certificate %s not reloaded: %s", cert, exc)


def _first_failure(done: set[asyncio.Task[Any]]) -> ServeError | None:
    """The error of the first task that failed, as a :class:`ServeError` naming the task."""
    for task in done:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is None:
            continue
        if isinstance(exc, ServeError):
            return exc
        # not a start-up problem but a bug or an outage: keep its traceback in the log
        log.error("%s stopped", task.get_name(), exc_info=exc)
        return ServeError(f"{task.get_name()} stopped: {type(exc).__name__}: {exc}")
    return None


def _mtimes(*paths: Path) -> tuple[float, ...]:
    out = []
    for p in paths:
        try:
            out.append(p.stat().st_mtime)
        except OSError:
            out.append(0.0)
    return tuple(out)


class SchedulerThread:
    """Runs a :class:`SchedulerRunner` on its own event loop in a thread (for sync tests).

    ``client_factory`` builds the KubeClient inside that loop.
    """

    def __init__(
        self,
        settings: SchedulerSettings,
        client_factory: Callable[[], KubeClient],
        *,
        device_config: DeviceConfig | None = None,
        identity: str | None = None,
    ) -> None:
        self._settings = settings
        self._factory = client_factory
        self._config = device_config
        self._identity = identity
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.runner: SchedulerRunner | None = None

    def start(self, timeout: float = 20.0) -> SchedulerThread:
        self._thread = threading.Thread(target=self._main, name="hami-scheduler", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("scheduler did not start in time")
        if self._error is not None:
            raise RuntimeError(f"scheduler failed to start: {self._error}") from self._error
        if not self.call(lambda r: r.service.wait_synced(timeout), timeout + 1):
            raise RuntimeError("scheduler caches did not sync in time")
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._amain())
        except BaseException as exc:  # reported through start()
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _amain(self) -> None:
        client = self._factory()
        try:
            self.runner = SchedulerRunner(
                self._settings, client, device_config=self._config, identity=self._identity
            )
            self._task = asyncio.current_task()
            with contextlib.suppress(asyncio.CancelledError):
                await self.runner.serve(started=lambda _: self._ready.set())
        finally:
            await client.close()

    @property
    def url(self) -> str:
        assert self.runner is not None
        scheme = "https" if self._settings.cert_file else "http"
        return f"{scheme}://127.0.0.1:{self.runner.port(0)}"

    @property
    def metrics_url(self) -> str:
        assert self.runner is not None
        return f"http://127.0.0.1:{self.runner.port(1)}/metrics"

    def call(self, fn: Callable[[SchedulerRunner], Any], timeout: float = 10.0) -> Any:
        """Run ``fn(runner)`` on the scheduler's loop (coroutines awaited) and return its value."""
        assert self._loop is not None and self.runner is not None
        runner = self.runner

        async def _run() -> Any:
            value = fn(runner)
            if asyncio.iscoroutine(value):
                value = await value
            return value

        return asyncio.run_coroutine_threadsafe(_run(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> SchedulerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
