"""Fake device backends for service-side tests (registration, bind locks, quota, webhook,
metrics), independent of the real vendor backends.

:class:`FakeBackend` implements every member of :class:`hami.device.base.DeviceBackend` the
services use, configurable per test: a register annotation or node-capacity inventory, each health
kind, an owner-style (shared) or bare-time lock, quota names and factor. Its webhook part asks for
devices when the count resource is in the limits, refuses ``<domain>/refuse`` with a message and
raises ``ValueError`` on ``<domain>/explode``. The fit and allocation roles are the engine's
business and are not implemented.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast

from hami.api.noderegister import decode_node_devices
from hami.api.types import ContainerRequest, DeviceInfo
from hami.device.base import SHARED_LOCK, DeviceBackend, HealthKind, LockStyle
from hami.device.common import in_limits, pod_containers, resource_value


@dataclass
class FakeBackend:
    """One fake vendor; ``domain`` prefixes its resource names (``fake.io/dev`` ...)."""

    clears_stale_handshake = True

    type_keyword: str = "FAKE"
    domain: str = "fake.io"
    health_kind: HealthKind = "handshake"
    from_capacity: bool = False
    lock_annotation: str = "fake.io/node.lock"
    lock_style: LockStyle = "bare-time"
    fit_checks_quota: bool = False
    memory_factor: int = 1
    handshake: bool = True
    """Has a handshake annotation (unless ``health_kind`` is ``always``)."""
    hint: str | None = None
    pod_mutations: list[str] = field(default_factory=list)
    """Names of the pods :meth:`mutate_pod` was called for."""

    # --- names ----------------------------------------------------------------------------
    @property
    def count_resource(self) -> str:
        return f"{self.domain}/dev"

    @property
    def memory_resource(self) -> str:
        return f"{self.domain}/mem"

    @property
    def core_resource(self) -> str:
        return f"{self.domain}/cores"

    @property
    def resource_names(self) -> tuple[str, ...]:
        return (self.count_resource, self.memory_resource, self.core_resource)

    @property
    def register_annotation(self) -> str | None:
        return None if self.from_capacity else f"hami.io/node-{self.type_keyword.lower()}-register"

    @property
    def handshake_annotation(self) -> str | None:
        if self.health_kind == "always" or not self.handshake:
            return None
        return f"hami.io/node-handshake-{self.type_keyword.lower()}"

    @property
    def to_allocate_annotation(self) -> str:
        return f"hami.io/{self.type_keyword.lower()}-devices-to-allocate"

    @property
    def allocated_annotation(self) -> str:
        return f"hami.io/{self.type_keyword.lower()}-devices-allocated"

    @property
    def metric_device_type(self) -> str:
        return self.type_keyword

    scores_nodes = False

    # --- requests -------------------------------------------------------------------------
    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        out: list[ContainerRequest | None] = []
        for ctr in pod_containers(pod):
            field_ = f"container {ctr.get('name', '')}"
            nums = resource_value(ctr, self.count_resource, field_)
            if not nums:
                out.append(None)
                continue
            mem = resource_value(ctr, self.memory_resource, field_) or 0
            cores = resource_value(ctr, self.core_resource, field_) or 0
            out.append(ContainerRequest(nums, self.type_keyword, mem * self.memory_factor,
                                        coresreq=cores))  # fmt: skip
        return out

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return any(r is not None for r in self.container_requests(pod))

    # --- inventory ------------------------------------------------------------------------
    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        name = str((node.get("metadata") or {}).get("name") or "")
        if self.from_capacity:
            cards = int(((node.get("status") or {}).get("capacity") or {}).get(
                self.count_resource, 0))  # fmt: skip
            return [DeviceInfo(id=f"{name}-{self.type_keyword.lower()}-{i}", count=10,
                               devmem=1000, devcore=100, type=self.type_keyword, index=i,
                               health=True) for i in range(cards)]  # fmt: skip
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        key = cast(str, self.register_annotation)
        value = annotations.get(key)
        return decode_node_devices(value, key) if value else []

    # --- admission ------------------------------------------------------------------------
    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        if in_limits(container, f"{self.domain}/refuse"):
            return f"container {container.get('name', '')}: {self.type_keyword} refuses this"
        return None

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        if in_limits(container, f"{self.domain}/explode"):
            raise ValueError(f"{self.type_keyword} cannot\nmutate this")
        if not in_limits(container, self.count_resource):
            return False
        env = container.setdefault("env", [])
        env.append({"name": f"{self.type_keyword}_SEEN", "value": "1"})
        return True

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        self.pod_mutations.append(str((pod.get("metadata") or {}).get("name")))

    def pending_hint(self, pod: Mapping[str, Any]) -> str | None:
        return self.hint


def backends(*items: FakeBackend) -> dict[str, DeviceBackend]:
    """cw -> backend, sorted by cw (the registry's order)."""
    return {
        b.type_keyword: cast(DeviceBackend, b) for b in sorted(items, key=lambda b: b.type_keyword)
    }


def shared(cw: str, domain: str, **kw: Any) -> FakeBackend:
    """A fake vendor on the shared owner-style lock (like DCU, Ascend, Iluvatar, NVIDIA)."""
    return FakeBackend(cw, domain, lock_annotation=SHARED_LOCK, lock_style="owner", **kw)


def register_value(node: str, cw: str, n: int = 2, mem: int = 8192) -> str:
    """A JSON register annotation with ``n`` devices of ``cw``."""
    devs = [{"id": f"{node}-{cw.lower()}-{i}", "index": i, "count": 4, "devmem": mem,
             "devcore": 100, "type": cw, "health": True} for i in range(n)]  # fmt: skip
    return json.dumps(devs)
