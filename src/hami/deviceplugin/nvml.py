"""The nvidia-ml-py adapter behind the :class:`~hami.deviceplugin.gpus.Nvml` port.

Only this module imports ``pynvml`` (lazily, at construction), so the pure device-plugin modules
that work on :mod:`hami.deviceplugin.gpus` data never pull in the binding. The plain data types,
the port and the in-memory fake are re-exported here for callers that want one import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hami.deviceplugin.gpus import (
    APPLICATION_XIDS,
    FakeNvml,
    GpuInfo,
    GpuLink,
    MigDevice,
    Nvml,
    NvmlError,
    ProcessUsage,
    XidEvent,
    is_critical_xid,
    mig_profile_name,
)

__all__ = [
    "APPLICATION_XIDS",
    "FakeNvml",
    "GpuInfo",
    "GpuLink",
    "MigDevice",
    "Nvml",
    "NvmlError",
    "ProcessUsage",
    "PynvmlNvml",
    "XidEvent",
    "is_critical_xid",
    "mig_profile_name",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# nvidia-ml-py adapter


class PynvmlNvml:
    """:class:`Nvml` over nvidia-ml-py (``pynvml``), which loads ``libnvidia-ml.so.1``.

    Construction calls ``nvmlInit`` and registers every GPU for XID critical-error events.
    """

    def __init__(self, sysfs_root: Path = Path("/sys")) -> None:
        import pynvml

        self._nv: Any = pynvml
        self._sysfs = sysfs_root
        self._lock = threading.Lock()
        self._call("nvmlInit")
        self._handles: list[Any] = [
            self._call("nvmlDeviceGetHandleByIndex", i)
            for i in range(int(self._call("nvmlDeviceGetCount")))
        ]
        self._uuid_by_handle: dict[int, str] = {}
        self._event_set: Any = None
        self._register_events()

    def _call(self, fn: str, *args: Any, gpu: str = "") -> Any:
        try:
            return getattr(self._nv, fn)(*args)
        except self._nv.NVMLError as exc:
            where = f" on {gpu}" if gpu else ""
            raise NvmlError(f"{fn}{where}: {exc}") from exc

    def _optional(self, fn: str, *args: Any) -> Any:
        """Call ``fn``; None when the driver lacks or refuses it."""
        try:
            return getattr(self._nv, fn)(*args)
        except (self._nv.NVMLError, AttributeError):
            return None

    def _register_events(self) -> None:
        event_set = self._optional("nvmlEventSetCreate")
        if event_set is None:
            log.warning("NVML events unsupported; XID health checks disabled")
            return
        for handle in self._handles:
            uuid = str(self._call("nvmlDeviceGetUUID", handle))
            self._uuid_by_handle[_handle_key(handle)] = uuid
            try:
                self._nv.nvmlDeviceRegisterEvents(
                    handle, self._nv.nvmlEventTypeXidCriticalError, event_set
                )
            except self._nv.NVMLError as exc:
                log.warning("GPU %s: no XID events (%s); health checks off for it", uuid, exc)
        self._event_set = event_set

    def devices(self) -> list[GpuInfo]:
        with self._lock:
            return [self._describe(i, h) for i, h in enumerate(self._handles)]

    def _describe(self, index: int, handle: Any) -> GpuInfo:
        uuid = str(self._call("nvmlDeviceGetUUID", handle))
        name = str(self._call("nvmlDeviceGetName", handle, gpu=uuid))
        mem = self._optional("nvmlDeviceGetMemoryInfo", handle)
        memory_mib = int(mem.total) // (1024 * 1024) if mem is not None else 0
        mig = self._optional("nvmlDeviceGetMigMode", handle)
        mig_enabled = bool(mig) and int(mig[0]) == int(self._nv.NVML_DEVICE_MIG_ENABLE)
        return GpuInfo(
            index=index,
            uuid=uuid,
            name=name,
            memory_mib=memory_mib,
            numa=self._numa(handle),
            mig_enabled=mig_enabled,
            mig_devices=self._mig_devices(handle) if mig_enabled else (),
        )

    def _numa(self, handle: Any) -> int | None:
        node = self._optional("nvmlDeviceGetNumaNodeId", handle)
        if node is not None:
            return int(node)
        bus_id = self._bus_id(handle)
        if bus_id is None:
            return None
        path = self._sysfs / "bus/pci/devices" / bus_id[-12:] / "numa_node"
        try:
            value = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return value if value >= 0 else None

    def _mig_devices(self, handle: Any) -> tuple[MigDevice, ...]:
        found: list[MigDevice] = []
        for i in range(int(self._optional("nvmlDeviceGetMaxMigDeviceCount", handle) or 0)):
            mig = self._optional("nvmlDeviceGetMigDeviceHandleByIndex", handle, i)
            if mig is None:
                continue
            attrs = self._call("nvmlDeviceGetAttributes", mig)
            mem = int(attrs.memorySizeMB)
            profile = mig_profile_name(
                int(attrs.gpuInstanceSliceCount), int(attrs.computeInstanceSliceCount), mem
            )
            found.append(MigDevice(str(self._call("nvmlDeviceGetUUID", mig)), profile, mem))
        return tuple(found)

    def wait_xid(self, timeout_s: float) -> list[XidEvent]:
        if self._event_set is None:
            return []
        try:
            data = self._nv.nvmlEventSetWait_v2(self._event_set, int(timeout_s * 1000))
        except self._nv.NVMLError as exc:
            if getattr(exc, "value", None) == self._nv.NVML_ERROR_TIMEOUT:
                return []
            raise NvmlError(f"nvmlEventSetWait: {exc}") from exc
        if int(data.eventType) != int(self._nv.nvmlEventTypeXidCriticalError):
            return []
        uuid = self._uuid_by_handle.get(_handle_key(data.device))
        if uuid is None:
            uuid = str(self._call("nvmlDeviceGetUUID", data.device))
        return [XidEvent(uuid=uuid, xid=int(data.eventData))]

    def processes(self, uuid: str) -> list[ProcessUsage]:
        with self._lock:
            handle = self._call("nvmlDeviceGetHandleByUUID", uuid, gpu=uuid)
            procs: Sequence[Any] = self._call(
                "nvmlDeviceGetComputeRunningProcesses", handle, gpu=uuid
            )
        return [
            ProcessUsage(pid=int(p.pid), used_mib=int(p.usedGpuMemory or 0) // (1024 * 1024))
            for p in procs
        ]

    def links(self) -> dict[tuple[str, str], GpuLink]:
        with self._lock:
            uuids = [str(self._call("nvmlDeviceGetUUID", h)) for h in self._handles]
            buses = [self._bus_id(h) for h in self._handles]
            out: dict[tuple[str, str], GpuLink] = {}
            for i, ha in enumerate(self._handles):
                for j, hb in enumerate(self._handles):
                    if i == j:
                        continue
                    level = self._optional("nvmlDeviceGetTopologyCommonAncestor", ha, hb)
                    out[(uuids[i], uuids[j])] = GpuLink(
                        None if level is None else int(level), self._nvlinks(ha, buses[j])
                    )
        return out

    def _bus_id(self, handle: Any) -> str | None:
        pci = self._optional("nvmlDeviceGetPciInfo", handle)
        if pci is None:
            return None
        bus = pci.busId.decode() if isinstance(pci.busId, bytes) else str(pci.busId)
        return bus.lower()

    def _nvlinks(self, handle: Any, remote_bus: str | None) -> int:
        if remote_bus is None:
            return 0
        count = 0
        for link in range(int(getattr(self._nv, "NVML_NVLINK_MAX_LINKS", 0))):
            if not self._optional("nvmlDeviceGetNvLinkState", handle, link):
                continue
            pci = self._optional("nvmlDeviceGetNvLinkRemotePciInfo", handle, link)
            if pci is None:
                continue
            bus = pci.busId.decode() if isinstance(pci.busId, bytes) else str(pci.busId)
            count += bus.lower() == remote_bus
        return count

    def close(self) -> None:
        if self._event_set is not None:
            self._optional("nvmlEventSetFree", self._event_set)
            self._event_set = None
        self._optional("nvmlShutdown")


def _handle_key(handle: Any) -> int:
    """A hashable identity for an NVML device handle (a ctypes pointer)."""
    import ctypes

    return ctypes.cast(handle, ctypes.c_void_p).value or 0
