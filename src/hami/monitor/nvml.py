"""Host GPU figures for the monitor: a small port and its nvidia-ml-py adapter.

Only :class:`PynvmlHostGpus` imports ``pynvml`` (at construction). A figure NVML cannot give for
one GPU is ``None`` (the series is left out) and logged once per GPU and call, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from hami.monitor.samples import HostGpu

log = logging.getLogger(__name__)


class HostGpus(Protocol):
    def devices(self) -> Sequence[HostGpu]: ...

    def close(self) -> None: ...


class StaticHostGpus:
    """A fixed list (tests, benchmarks, nodes without NVML)."""

    def __init__(self, gpus: Sequence[HostGpu] = ()) -> None:
        self.gpus = list(gpus)

    def devices(self) -> Sequence[HostGpu]:
        return list(self.gpus)

    def close(self) -> None:
        pass


class PynvmlHostGpus:
    """:class:`HostGpus` over nvidia-ml-py (loads ``libnvidia-ml.so.1``)."""

    def __init__(self) -> None:
        import pynvml

        self._nv: Any = pynvml
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
        pynvml.nvmlInit()
        self._gpus: list[tuple[int, Any, str, str]] = []
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
            name = _text(pynvml.nvmlDeviceGetName(handle))
            self._gpus.append((i, handle, uuid, name))

    def _get(self, fn: str, uuid: str, handle: Any) -> Any:
        try:
            return getattr(self._nv, fn)(handle)
        except self._nv.NVMLError as exc:
            if (fn, uuid) not in self._warned:
                self._warned.add((fn, uuid))
                log.warning("GPU %s: %s failed: %s (series left out)", uuid, fn, exc)
            return None

    def devices(self) -> Sequence[HostGpu]:
        out = []
        with self._lock:
            for index, handle, uuid, name in self._gpus:
                mem = self._get("nvmlDeviceGetMemoryInfo", uuid, handle)
                util = self._get("nvmlDeviceGetUtilizationRates", uuid, handle)
                out.append(
                    HostGpu(
                        index=index,
                        uuid=uuid,
                        name=name,
                        memory_used=int(mem.used) if mem is not None else None,
                        utilization=float(util.gpu) if util is not None else None,
                        memory_utilization=float(util.memory) if util is not None else None,
                    )
                )
        return out

    def close(self) -> None:
        try:
            self._nv.nvmlShutdown()
        except self._nv.NVMLError as exc:
            log.debug("nvmlShutdown: %s", exc)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
