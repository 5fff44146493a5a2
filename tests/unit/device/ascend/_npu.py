"""Builders shared by the Ascend backend tests: backends by model, NPUs, requests, fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hami.api.types import ContainerRequest
from hami.config.devices import DeviceConfig, parse_device_config
from hami.device.ascend import AscendBackend, backends
from hami.device.base import DeviceUsage

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "vendors" / "ascend"
MODELS = (
    "Ascend910A", "Ascend910B2", "Ascend910B3", "Ascend910B4-1", "Ascend910B4", "Ascend310P",
    "Ascend910C",
)  # fmt: skip


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def backend(cw: str, config: DeviceConfig | None = None) -> AscendBackend:
    """The backend of model ``cw`` built by :func:`hami.device.ascend.backends`."""
    for b in backends(config or DeviceConfig()):
        assert isinstance(b, AscendBackend)
        if b.type_keyword == cw:
            return b
    raise AssertionError(f"no backend {cw}")


def configured(cw: str, **changes: Any) -> AscendBackend:
    """The backend of ``cw`` with some keys of its chart entry changed (camelCase)."""
    entries = [m.model_dump(by_alias=True) for m in DeviceConfig().vnpus.configs]
    for entry in entries:
        if entry["commonWord"] == cw:
            entry.update(changes)
    return backend(cw, parse_device_config({"vnpus": {"configs": entries}}))


Net = float | int | str | None


def npu(
    index: int,
    cw: str = "Ascend910B3",
    *,
    net: Net | tuple[()] = 0.0,
    uuid: str | None = None,
    count: int = 4,
    mem: int = 65536,
    core: int = 20,
    health: bool = True,
    used: int = 0,
    usedmem: int = 0,
    usedcores: int = 0,
) -> DeviceUsage:
    """One NPU ``npu-<index>``; ``net=()`` registers no ``NetworkID``."""
    custom: tuple[tuple[str, Any], ...] = () if net == () else (("NetworkID", net),)
    return DeviceUsage(
        id=uuid or f"npu-{index}", index=index, type=cw, numa=0, mode="", health=health,
        count=count, totalmem=mem, totalcore=core, used=used, usedmem=usedmem,
        usedcores=usedcores, custominfo=custom,
    )  # fmt: skip


def req(nums: int = 1, cw: str = "Ascend910B3", mem: int = 0, cores: int = 0) -> ContainerRequest:
    """A request as :mod:`hami.device.ascend.request` derives it (pct 100 iff no memory)."""
    return ContainerRequest(
        nums=nums, type=cw, memreq=mem, mem_percentage_req=100 if mem == 0 else 0, coresreq=cores
    )


def container(cw: str, *, name: str = "c", requests: bool = False, **res: Any) -> dict[str, Any]:
    """A container whose limits hold ``huawei.com/<cw>`` (key ``count``), ``-memory`` (``mem``)
    and ``-core`` (``core``); ``requests`` copies them into requests too."""
    suffix = {"count": "", "mem": "-memory", "core": "-core"}
    limits = {f"huawei.com/{cw}{suffix[k]}": str(v) for k, v in res.items()}
    resources: dict[str, Any] = {"limits": limits}
    if requests:
        resources["requests"] = dict(limits)
    return {"name": name, "resources": resources}
