"""One backend per configured Iluvatar chip, each a full DeviceBackend."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hami.config.devices import DeviceConfig, parse_device_config
from hami.device.base import SHARED_LOCK, DeviceBackend
from hami.device.iluvatar import IluvatarBackend, backends
from tests.support.typecheck import run_mypy

from ._support import backend, ctr, pod

_SRC = Path(__file__).resolve().parents[4] / "src"

# Typed assignment: mypy checks the backend satisfies every role (Go's `var _ I = (*T)(nil)`).
_backend: DeviceBackend = IluvatarBackend(DeviceConfig().iluvatars[0])


def test_chart_defaults_give_four_chips_in_order() -> None:
    got = backends(DeviceConfig())
    assert [b.type_keyword for b in got] == ["MR-V100", "MR-V50", "BI-V150", "BI-V100"]
    assert [b.metric_device_type for b in got] == ["MR-V100", "MR-V50", "BI-V150", "BI-V100"]
    assert got[2].resource_names == (
        "iluvatar.ai/BI-V150-vgpu", "iluvatar.ai/BI-V150.vMem", "iluvatar.ai/BI-V150.vCore",
    )  # fmt: skip


def test_config_section_drives_names() -> None:
    cfg = parse_device_config({"iluvatars": [{
        "chipName": "MR-V100", "commonWord": "MRV", "resourceCountName": "x.ai/gpu",
        "resourceMemoryName": "x.ai/mem", "resourceCoreName": "x.ai/core",
    }]})  # fmt: skip
    (b,) = backends(cfg)
    assert b.type_keyword == "MRV"
    assert b.register_annotation == "hami.io/node-MRV-register"
    assert b.handshake_annotation == "hami.io/node-handshake-MRV"
    assert (b.memory_resource, b.core_resource, b.count_resource) == (
        "x.ai/mem",
        "x.ai/core",
        "x.ai/gpu",
    )
    p = pod({"name": "c", "resources": {"limits": {"x.ai/gpu": 1, "x.ai/mem": 2}}})
    (req,) = b.container_requests(p)
    assert req is not None
    assert (req.type, req.memreq) == ("MRV", 512)
    assert not backends(DeviceConfig())[0].pod_has_managed_resources(p)


def test_empty_section_gives_no_backends() -> None:
    assert backends(parse_device_config({"iluvatars": []})) == []


def test_lock_and_quota_names() -> None:
    b = backend()
    assert (b.lock_annotation, b.lock_style) == (SHARED_LOCK, "owner")
    assert b.memory_factor == 256
    assert (b.memory_resource, b.core_resource) == (
        "iluvatar.ai/MR-V100.vMem",
        "iluvatar.ai/MR-V100.vCore",
    )


def test_backends_are_independent() -> None:
    a, b = backend("MR-V100"), backend("MR-V50")
    p = pod(ctr("1", "4"))
    assert a.container_requests(p) != b.container_requests(p)


def test_mypy_accepts_every_backend_as_a_device_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protocol conformance checked by mypy itself; the broken twin proves the check can fail."""
    monkeypatch.setenv("MYPYPATH", str(_SRC))  # this tree's hami, not an installed one
    snippet = tmp_path / "conformance.py"
    snippet.write_text(
        textwrap.dedent("""\
        from hami.config.devices import DeviceConfig
        from hami.device.base import DeviceBackend
        from hami.device.iluvatar import IluvatarBackend, backends

        class Broken(IluvatarBackend):
            lock_style = 3

        ok: list[DeviceBackend] = [IluvatarBackend(c) for c in DeviceConfig().iluvatars]
        also_ok: list[DeviceBackend] = backends(DeviceConfig())
        bad: DeviceBackend = Broken(DeviceConfig().iluvatars[0])
        """)
    )
    stdout, status = run_mypy(snippet, tmp_path / "cache")
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 1, stdout
    assert all(":10:" in line or ":6:" in line for line in errors), stdout
    assert any(":10:" in line for line in errors), stdout
