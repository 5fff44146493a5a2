"""Builders and fixture loading shared by the Hygon tests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from hami.api.types import ContainerDevice, ContainerRequest, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.base import DeviceUsage

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "vendors" / "hygon"

CONFIG = DeviceConfig()
"""Chart names: ``hygon.com/dcunum``, ``hygon.com/dcumem``, ``hygon.com/dcucores``."""
COUNT, MEM, CORE = "hygon.com/dcunum", "hygon.com/dcumem", "hygon.com/dcucores"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return data


def pod_devices(raw: list[list[list[Any]]]) -> PodSingleDevice:
    return tuple(tuple(ContainerDevice(u, t, int(m), int(c)) for u, t, m, c in ctr) for ctr in raw)


def dcu(i: int = 0, **kw: Any) -> DeviceUsage:
    """A 16 GiB Z100 card shared by up to 4 containers."""
    base = DeviceUsage(
        id=f"DCU-{i}", index=i, type="DCU-Z100", numa=0, mode="hami-core", health=True,
        count=4, totalmem=16384, totalcore=100,
    )  # fmt: skip
    return replace(base, **kw)


def req(nums: int = 1, mem: int = 0, cores: int = 100, type_: str = "DCU") -> ContainerRequest:
    """A request as the parser builds it: percentage 100 iff no memory."""
    return ContainerRequest(
        nums=nums, type=type_, memreq=mem, mem_percentage_req=100 if mem == 0 else 0,
        coresreq=cores,
    )  # fmt: skip


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"initContainers": list(init), "containers": list(containers)},
    }


def ctr(name: str = "c", limits: dict[str, Any] | None = None,
        requests: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    res: dict[str, Any] = {}
    if limits is not None:
        res["limits"] = limits
    if requests is not None:
        res["requests"] = requests
    return {"name": name, "resources": res}
