"""Builders and fixture loading shared by the Cambricon tests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from hami.api.types import ContainerDevice, ContainerRequest, PodSingleDevice
from hami.config.devices import DeviceConfig
from hami.device.base import DeviceUsage

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "vendors" / "cambricon"

GOLDEN_CONFIG = DeviceConfig.model_validate(
    {"cambricon": {"resourceCountName": "cambricon.com/mlu"}}
)
"""HAMi's Go tests use the flag default count name ``cambricon.com/mlu`` (the chart's is
``cambricon.com/vmlu``); memory and core names are the chart's."""


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return data


def pod_devices(raw: list[list[list[Any]]]) -> PodSingleDevice:
    return tuple(tuple(ContainerDevice(u, t, int(m), int(c)) for u, t, m, c in ctr) for ctr in raw)


def mlu(i: int = 0, **kw: Any) -> DeviceUsage:
    """Card ``i`` of node ``n`` as the capacity inventory builds it (25600 MiB)."""
    base = DeviceUsage(
        id=f"n-cambricon-mlu-{i}", index=i, type="MLU", numa=0, mode="", health=True,
        count=100, totalmem=25600, totalcore=100,
    )  # fmt: skip
    return replace(base, **kw)


def req(nums: int = 1, mem: int = 0, cores: int = 100, type_: str = "MLU") -> ContainerRequest:
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
