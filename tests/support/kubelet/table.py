"""Per-resource device table of the kubelet stand-in: health, allocations, device picking.

Kept free of gRPC and HTTP so the bookkeeping kubelet's device manager does (healthy vs allocated,
capacity vs allocatable, reuse of a container's own devices) can be tested on its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"


class AdmissionError(Exception):
    """A pod could not be admitted (kubelet would reject it with UnexpectedAdmissionError)."""


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One device as the plugin last advertised it on ListAndWatch."""

    id: str
    health: str
    numa_nodes: tuple[int, ...] = ()


@dataclass(slots=True)
class _Resource:
    devices: dict[str, DeviceState] = field(default_factory=dict)
    # device id -> (pod uid, container name)
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)


class DeviceTable:
    """Thread-safe table: resource name -> devices and which container holds each one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._res: dict[str, _Resource] = {}

    def update(self, resource: str, devices: list[DeviceState]) -> None:
        """Replace the advertised device list (a ListAndWatch message is always the full list)."""
        with self._lock:
            res = self._res.setdefault(resource, _Resource())
            res.devices = {d.id: d for d in devices}

    def mark_all_unhealthy(self, resource: str) -> None:
        """Plugin went away: devices stay in capacity but none is allocatable."""
        with self._lock:
            res = self._res.get(resource)
            if res is None:
                return
            res.devices = {
                i: DeviceState(d.id, UNHEALTHY, d.numa_nodes) for i, d in res.devices.items()
            }

    def resources(self) -> list[str]:
        with self._lock:
            return sorted(self._res)

    def devices(self, resource: str) -> dict[str, DeviceState]:
        with self._lock:
            res = self._res.get(resource)
            return dict(res.devices) if res else {}

    def capacity(self, resource: str) -> tuple[int, int]:
        """(capacity, allocatable) as kubelet reports them: all devices, healthy devices."""
        with self._lock:
            res = self._res.get(resource)
            if res is None:
                return 0, 0
            healthy = sum(1 for d in res.devices.values() if d.health == HEALTHY)
            return len(res.devices), healthy

    def owned_by(self, resource: str, pod_uid: str, container: str) -> list[str]:
        with self._lock:
            res = self._res.get(resource)
            if res is None:
                return []
            return sorted(i for i, o in res.owners.items() if o == (pod_uid, container))

    def available(self, resource: str, pod_uid: str, reusable: set[str]) -> list[str]:
        """Healthy devices nobody holds, plus `reusable` ones held by this pod's init containers."""
        with self._lock:
            res = self._res.get(resource)
            if res is None:
                return []
            out = []
            for dev_id, dev in sorted(res.devices.items()):
                if dev.health != HEALTHY:
                    continue
                owner = res.owners.get(dev_id)
                if owner is None or (owner[0] == pod_uid and dev_id in reusable):
                    out.append(dev_id)
            return out

    def assign(self, resource: str, ids: list[str], pod_uid: str, container: str) -> None:
        with self._lock:
            res = self._res.setdefault(resource, _Resource())
            for dev_id in ids:
                res.owners[dev_id] = (pod_uid, container)

    def release(self, resource: str, ids: list[str]) -> None:
        with self._lock:
            res = self._res.get(resource)
            if res is not None:
                for dev_id in ids:
                    res.owners.pop(dev_id, None)

    def release_pod(self, pod_uid: str) -> int:
        """Free every device held by a pod (pod deleted or terminated); returns how many."""
        with self._lock:
            freed = 0
            for res in self._res.values():
                for dev_id in [i for i, o in res.owners.items() if o[0] == pod_uid]:
                    del res.owners[dev_id]
                    freed += 1
            return freed


def pick_devices(
    available: list[str], must_include: list[str], size: int, preferred: list[str] | None
) -> list[str]:
    """Choose `size` ids like kubelet: the plugin's preference if it is valid, else in order."""
    if preferred is not None:
        pref = list(dict.fromkeys(preferred))
        if len(pref) == size and set(pref) <= set(available) and set(must_include) <= set(pref):
            return pref
    chosen = list(must_include)
    for dev_id in available:
        if len(chosen) >= size:
            break
        if dev_id not in chosen:
            chosen.append(dev_id)
    return chosen
