"""``hami monitor``'s moving parts: pod cache, region files, feedback loop, cleanup, /metrics.

I/O sits behind small ports: :class:`RegionFiles` (the ``<hook>/containers`` tree),
:class:`~hami.monitor.nvml.HostGpus` (NVML) and a :class:`~hami.k8s.port.KubeClient` (pods with
label ``hami.io/vgpu-node=<node>``, through an :class:`~hami.k8s.informer.Informer`). Decisions
are the pure functions of :mod:`~hami.monitor.feedback`, :mod:`~hami.monitor.cleanup` and
:mod:`~hami.monitor.samples`. Everything runs on one asyncio loop; a scrape computes the samples
inline from the files as they are at that moment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hami import __version__
from hami.api.annotations import VGPU_NODE
from hami.api.sharedregion import RegionSnapshot, SharedRegionError
from hami.k8s.informer import Informer
from hami.k8s.port import JsonObj, Kind, KubeClient
from hami.monitor import cleanup, feedback, region
from hami.monitor.families import BY_NAME
from hami.monitor.nvml import HostGpus
from hami.monitor.pods import PodInfo, pod_info, split_dir_name
from hami.monitor.samples import Build, ContainerRegion, RegionProblem, Samples, compute

log = logging.getLogger(__name__)

DEFAULT_HOOK_PATH = Path("/usr/local/vgpu")
DEFAULT_MIG_LOCK = Path("/tmp/vgpulock/mig-apply.lock")


@dataclass(frozen=True)
class MonitorSettings:
    node_name: str
    hook_path: Path = DEFAULT_HOOK_PATH
    metrics_bind_address: str = ":9394"
    legacy_metrics: bool = False
    resync_interval: float = 300.0
    feedback_interval: float = 5.0
    mig_lock_file: Path | None = DEFAULT_MIG_LOCK

    @property
    def containers_dir(self) -> Path:
        return self.hook_path / "containers"


@dataclass(frozen=True, slots=True)
class CacheDir:
    """One ``<podUID>_<container>`` directory and its region file (``None`` until created)."""

    name: str
    pod_uid: str
    container: str
    path: str
    cache_file: str | None
    mtime: float


class RegionFiles(Protocol):
    """The per-container directory tree on the host."""

    def scan(self) -> list[CacheDir]: ...

    def read(self, path: str) -> RegionSnapshot: ...

    def write(
        self, path: str, *, recent_kernel: int | None, utilization_switch: int | None
    ) -> None: ...

    def remove(self, name: str) -> None: ...

    def exists(self, path: Path) -> bool: ...


class FsRegionFiles:
    """:class:`RegionFiles` over a real directory (``<hook path>/containers``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def scan(self) -> list[CacheDir]:
        out: list[CacheDir] = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return out
        for entry in entries:
            parts = split_dir_name(entry.name)
            if parts is None or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
                caches = [
                    f for f in os.scandir(entry.path)
                    if f.name.endswith(".cache") and f.is_file(follow_symlinks=False)
                ]  # fmt: skip
                newest = max(caches, key=lambda f: f.stat().st_mtime).path if caches else None
            except OSError:  # removed while scanning
                continue
            out.append(CacheDir(entry.name, parts[0], parts[1], entry.path, newest, mtime))
        return out

    def read(self, path: str) -> RegionSnapshot:
        return region.read(path)

    def write(
        self, path: str, *, recent_kernel: int | None, utilization_switch: int | None
    ) -> None:
        region.write_feedback(
            path, recent_kernel=recent_kernel, utilization_switch=utilization_switch
        )

    def remove(self, name: str) -> None:
        target = self.root / name
        if target.parent != self.root or split_dir_name(name) is None:
            raise ValueError(f"refusing to remove {target}")
        shutil.rmtree(target)

    def exists(self, path: Path) -> bool:
        return path.exists()


def build_info() -> Build:
    return Build(
        version=__version__,
        revision=os.environ.get("HAMI_REVISION", ""),
        build_date="",
        go_version=f"python{platform.python_version()}",
        compiler=sys.implementation.name,
        platform=f"{sys.platform}/{platform.machine()}",
    )


@dataclass
class Gathered:
    """One pass over the region files."""

    regions: list[tuple[CacheDir, RegionSnapshot]] = field(default_factory=list)
    problems: list[RegionProblem] = field(default_factory=list)


class Monitor:
    """The node monitor: build it, then ``await run()`` (or drive the ``*_once`` methods)."""

    def __init__(
        self,
        settings: MonitorSettings,
        client: KubeClient | None,
        hosts: HostGpus,
        files: RegionFiles | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.hosts = hosts
        self.files: RegionFiles = files or FsRegionFiles(settings.containers_dir)
        self.clock = clock
        self.pods: dict[str, PodInfo] = {}
        self.informer: Informer | None = None
        if client is not None:
            self.informer = Informer(
                client, Kind.PODS, label_selector=f"{VGPU_NODE}={settings.node_name}"
            )
            self.informer.add_handler(self._on_pod)
        self._reported: set[tuple[str, str]] = set()
        self._missing_since: dict[str, float] = {}
        self._mig_paused = False
        self.build = build_info()
        self.feedback_passes = 0

    # -- pods ---------------------------------------------------------------------------------
    def _on_pod(self, event: str, old: JsonObj | None, new: JsonObj | None) -> None:
        if event == "DELETED":
            info = pod_info(old or {})
            if info is not None:
                self.pods.pop(info.uid, None)
            return
        info = pod_info(new or {})
        if info is not None:
            self.pods[info.uid] = info

    @property
    def synced(self) -> bool:
        return self.informer is None or self.informer.synced

    # -- region files -------------------------------------------------------------------------
    def gather(self) -> Gathered:
        out = Gathered()
        seen: set[tuple[str, str]] = set()
        for d in self.files.scan():
            if d.cache_file is None:
                continue
            try:
                snap = self.files.read(d.cache_file)
            except SharedRegionError as exc:
                reason = exc.field
                out.problems.append(RegionProblem(d.cache_file, reason))
                seen.add((d.cache_file, reason))
                if (d.cache_file, reason) not in self._reported:
                    log.warning("skipping %s: %s", self._describe(d), exc)
                continue
            out.regions.append((d, snap))
        self._reported = seen
        return out

    def _describe(self, d: CacheDir) -> str:
        pod = self.pods.get(d.pod_uid)
        who = pod.ref if pod is not None else f"pod uid {d.pod_uid}"
        return f"region of {who} container {d.container}"

    def containers(self, gathered: Gathered) -> list[ContainerRegion]:
        out = []
        for d, snap in gathered.regions:
            pod = self.pods.get(d.pod_uid)
            if pod is None or d.container not in pod.containers:
                continue
            index = pod.containers.index(d.container)
            mig = tuple(m for m in pod.mig if m.container_index == index)
            out.append(ContainerRegion(pod.namespace, pod.name, d.container, snap, mig))
        return out

    def samples(self) -> Samples:
        gathered = self.gather()
        return compute(
            node=self.settings.node_name,
            hosts=self.hosts.devices(),
            containers=self.containers(gathered),
            problems=gathered.problems,
            now=self.clock(),
            build=self.build,
            legacy=self.settings.legacy_metrics,
        )

    # -- feedback -----------------------------------------------------------------------------
    def mig_locked(self) -> bool:
        lock = self.settings.mig_lock_file
        return lock is not None and self.files.exists(lock)

    def feedback_once(self) -> list[feedback.Decision]:
        """One pass of the priority feedback loop; the only code that writes region fields."""
        if self.mig_locked():
            if not self._mig_paused:
                log.info("feedback paused: MIG apply lock %s exists", self.settings.mig_lock_file)
            self._mig_paused = True
            return []
        if self._mig_paused:
            log.info("feedback resumed: MIG apply lock gone")
            self._mig_paused = False
        gathered = self.gather()
        states = []
        paths = {}
        for d, snap in gathered.regions:
            uuids = tuple(u for u in snap.uuids[: snap.device_num] if u)
            assert d.cache_file is not None
            paths[d.name] = (d, d.cache_file)
            states.append(
                feedback.ContainerState(
                    key=d.name,
                    priority=snap.priority,
                    recent_kernel=snap.recent_kernel,
                    utilization_switch=snap.utilization_switch,
                    uuids=uuids,
                )
            )
        decisions = feedback.decide(states)
        for dec in decisions:
            if not dec.changes:
                continue
            d, path = paths[dec.key]
            try:
                self.files.write(
                    path,
                    recent_kernel=dec.write_recent_kernel,
                    utilization_switch=dec.write_utilization_switch,
                )
            except SharedRegionError as exc:
                log.warning("feedback not written to %s: %s", self._describe(d), exc)
                continue
            if dec.write_utilization_switch is not None or (
                dec.write_recent_kernel is not None and dec.blocked != (dec.recent_kernel < 0)
            ):
                log.debug(
                    "%s: switch=%d blocked=%s",
                    self._describe(d),
                    dec.utilization_switch,
                    dec.blocked,
                )
        self.feedback_passes += 1
        return decisions

    # -- cleanup ------------------------------------------------------------------------------
    def cleanup_once(self) -> tuple[str, ...]:
        dirs = [cleanup.DirState(d.name, d.pod_uid, d.mtime) for d in self.files.scan()]
        result = cleanup.plan(
            dirs,
            self.pods.keys(),
            self._missing_since,
            now=self.clock(),
            grace=self.settings.resync_interval,
            synced=self.synced,
        )
        self._missing_since = result.missing_since
        removed = []
        for name in result.delete:
            try:
                self.files.remove(name)
            except (OSError, ValueError) as exc:
                log.warning("cache directory %s not removed: %s", name, exc)
                continue
            log.info("removed cache directory %s (pod gone)", name)
            removed.append(name)
        return tuple(removed)

    # -- running ------------------------------------------------------------------------------
    async def loop(self) -> None:
        """Feedback every ``feedback_interval`` seconds, cleanup at every pass."""
        while True:
            try:
                self.feedback_once()
                self.cleanup_once()
            except Exception as exc:  # one bad pass must not stop the loop
                log.error("monitor pass failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.settings.feedback_interval)

    async def run(self, serve: Callable[[], Any] | None = None) -> None:
        tasks: list[asyncio.Task[Any]] = []
        loop = asyncio.get_running_loop()
        if self.informer is not None:
            tasks.append(loop.create_task(self.informer.run()))
        tasks.append(loop.create_task(self.loop()))
        if serve is not None:
            tasks.append(loop.create_task(serve()))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class MonitorCollector(Collector):
    """Prometheus collector: every scrape computes the samples afresh."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        samples = self.monitor.samples()
        for name, rows in samples.items():
            fam = BY_NAME[name]
            gauge = GaugeMetricFamily(name, fam.help, labels=list(fam.labels))
            for labels, value in rows:
                gauge.add_metric(list(labels), value)
            yield gauge


def build_registry(monitor: Monitor) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitor))
    return registry


def split_bind(address: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``"host:port"`` / ``":port"`` -> (host, port)."""
    host, _, port = address.rpartition(":")
    try:
        return (host.strip("[]") or default_host), int(port)
    except ValueError:
        raise ValueError(f"bad bind address {address!r}: expected host:port") from None


def parse_duration(value: str) -> float:
    """Go duration (``5m``, ``1h30m``, ``300s``, ``1.5s``) or plain seconds -> seconds."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, num, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not num:
            raise ValueError(f"bad duration {value!r}")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    if num or not text:
        raise ValueError(f"bad duration {value!r}")
    return total


def serve_metrics(monitor: Monitor, bind: str) -> Any:
    """A uvicorn server for ``/metrics`` (built, not started)."""
    import uvicorn

    from hami.monitor.exposition import asgi_app

    host, port = split_bind(bind)
    config = uvicorn.Config(
        asgi_app(monitor.samples), host=host, port=port, log_level="warning",
        lifespan="off", access_log=False, server_header=False,
    )  # fmt: skip
    return uvicorn.Server(config)
