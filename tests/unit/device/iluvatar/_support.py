"""Fixtures shared by the Iluvatar backend tests: golden files and a backend per chip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hami.config.devices import DeviceConfig
from hami.device.iluvatar import IluvatarBackend, backends

GOLDEN_DIR = Path(__file__).resolve().parents[3] / "fixtures" / "vendors" / "iluvatar"


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN_DIR / name).read_text("utf-8"))
    return data


def backend(cw: str = "MR-V100") -> IluvatarBackend:
    """The chart-default backend of chip ``cw``."""
    found = [b for b in backends(DeviceConfig()) if b.type_keyword == cw]
    assert len(found) == 1, cw
    assert isinstance(found[0], IluvatarBackend)
    return found[0]


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"initContainers": list(init), "containers": list(containers)},
    }


def ctr(
    vgpu: Any = None,
    vmem: Any = None,
    vcore: Any = None,
    *,
    section: str = "limits",
    name: str = "c",
    cw: str = "MR-V100",
) -> dict[str, Any]:
    """A container asking chip ``cw`` in ``section`` (None = resource absent)."""
    res = {"-vgpu": vgpu, ".vMem": vmem, ".vCore": vcore}
    values = {f"iluvatar.ai/{cw}{k}": v for k, v in res.items() if v is not None}
    return {"name": name, "resources": {section: values}}
