"""A second vendor for engine tests: a full DeviceBackend with the shared standard fit.

cw ``FAKE`` by default (any cw can be given); resources ``<prefix>/dev`` (count), ``/mem`` (MiB)
and ``/cores``; devices from the node annotation ``hami.io/node-<cw>-register``; allocations under
``hami.io/<cw>-devices-to-allocate`` / ``-allocated``. ``scores_nodes`` and ``fit_checks_quota``
are switches; ``bonus`` gives ``score_node`` a value per picked device id; ``log`` records every
``fit_container`` call as ``(cw, [device ids handed in])``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any

from hami.api.noderegister import decode_node_devices, encode_node_devices
from hami.api.types import ContainerRequest, DeviceInfo, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.base import (
    SHARED_LOCK,
    DeviceBackend,
    DeviceUsage,
    FitContext,
    FitResult,
    HealthKind,
    LockStyle,
)
from hami.device.common import pod_containers, resource_value, standard_annotations, standard_fit
from hami.device.nvidia.backend import NvidiaBackend
from hami.device.registry import DeviceRegistry


class FakeBackend:
    """Every role, minimal; fit = the standard fit."""

    clears_stale_handshake = True

    def __init__(
        self,
        cw: str = "FAKE",
        *,
        scores_nodes: bool = False,
        fit_checks_quota: bool = False,
        bonus: Mapping[str, float] | None = None,
        log: list[tuple[str, list[str]]] | None = None,
    ) -> None:
        self.type_keyword = cw
        self.prefix = f"{cw.lower()}.io"
        self.to_allocate_annotation = f"hami.io/{cw.lower()}-devices-to-allocate"
        self.allocated_annotation = f"hami.io/{cw.lower()}-devices-allocated"
        self.register_annotation = f"hami.io/node-{cw.lower()}-register"
        self.handshake_annotation = None
        self.lock_annotation = SHARED_LOCK
        self.metric_device_type = cw
        self.scores_nodes = scores_nodes
        self.fit_checks_quota = fit_checks_quota
        self.bonus = dict(bonus or {})
        self.log = log if log is not None else []

    # requests
    @property
    def resource_names(self) -> tuple[str, ...]:
        return (f"{self.prefix}/dev", f"{self.prefix}/mem", f"{self.prefix}/cores")

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        out: list[ContainerRequest | None] = []
        for c in pod_containers(pod):
            nums = resource_value(c, f"{self.prefix}/dev", "container")
            if not nums:
                out.append(None)
                continue
            mem = resource_value(c, f"{self.prefix}/mem", "container") or 0
            cores = resource_value(c, f"{self.prefix}/cores", "container") or 0
            pct = 100 if mem == 0 else 101
            out.append(ContainerRequest(nums, self.type_keyword, mem, pct, cores))
        return out

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        return any(r is not None for r in self.container_requests(pod))

    # inventory, health
    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        value = ((node.get("metadata") or {}).get("annotations") or {}).get(
            self.register_annotation
        )
        return decode_node_devices(value, self.register_annotation) if value else []

    @property
    def health_kind(self) -> HealthKind:
        return "always"

    @property
    def count_resource(self) -> str:
        return f"{self.prefix}/dev"

    # fit
    def pod_selection(self, annotations: Mapping[str, str]) -> Any:
        return None

    def fit_container(
        self, ordered: Sequence[DeviceUsage], req: ContainerRequest, selection: Any, ctx: FitContext
    ) -> FitResult:
        self.log.append((self.type_keyword, [d.id for d in ordered]))
        return standard_fit(ordered, req, ctx, quota=self.fit_checks_quota)

    def score_node(self, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
        return sum(self.bonus.get(d.uuid, 0.0) for c in picked for d in c)

    def score_node_bound(self, requests: Sequence[ContainerRequest]) -> float | None:
        if any(b < 0 for b in self.bonus.values()):
            return None  # the engine's early stop needs bonuses >= 0
        return max(self.bonus.values(), default=0.0) * sum(r.nums for r in requests)

    # allocation, lock, admission, quota, metrics
    def pod_annotations(
        self, devices: PodSingleDevice, selection: Any, *, now: datetime
    ) -> dict[str, str]:
        return standard_annotations(devices, self.to_allocate_annotation, self.allocated_annotation)

    @property
    def lock_style(self) -> LockStyle:
        return "owner"

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        return None

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        res = (container.get("resources") or {}).get("limits") or {}
        return f"{self.prefix}/dev" in res

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        return None

    @property
    def memory_resource(self) -> str:
        return f"{self.prefix}/mem"

    @property
    def core_resource(self) -> str:
        return f"{self.prefix}/cores"

    @property
    def memory_factor(self) -> int:
        return 1


_conforms: DeviceBackend = FakeBackend()  # mypy-style conformance when tests are type-checked


def registry(*fakes: FakeBackend, nvidia: bool = True) -> DeviceRegistry:
    """A registry of NVIDIA (default config) plus ``fakes``."""
    cfg = DeviceConfig()
    found: list[DeviceBackend] = [NvidiaBackend(cfg.nvidia)] if nvidia else []
    return DeviceRegistry.of(cfg, [*found, *fakes])


def fake_devices(node: str, n: int, *, cw: str = "FAKE", mem: int = 8192, count: int = 4
                 ) -> list[DeviceInfo]:  # fmt: skip
    return [
        DeviceInfo(f"{cw}-{node}-{i}", count, mem, 100, f"{cw}-card", index=i, health=True)
        for i in range(n)
    ]


def fake_ctr(name: str = "main", *, cw: str = "FAKE", n: int = 1, mem: int = 1000, cores: int = 0,
             **more: str) -> dict[str, Any]:  # fmt: skip
    p = f"{cw.lower()}.io"
    limits = {f"{p}/dev": str(n), f"{p}/mem": str(mem), f"{p}/cores": str(cores), **more}
    return {"name": name, "image": "x", "resources": {"limits": limits}}


def node_object(name: str, devices: Mapping[str, Sequence[DeviceInfo]], **annotations: str
                ) -> dict[str, Any]:  # fmt: skip
    """A v1 Node carrying each vendor's register annotation (NVIDIA's or the fake's name)."""
    anns = dict(annotations)
    for cw, devs in devices.items():
        key = (
            "hami.io/node-nvidia-register"
            if cw == "NVIDIA"
            else f"hami.io/node-{cw.lower()}-register"
        )
        anns[key] = encode_node_devices(list(devs))
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": anns}}
