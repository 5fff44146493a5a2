"""One backend per ``vnpus`` model, each a whole :class:`DeviceBackend` with the model's names."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hami.config.devices import DeviceConfig, parse_device_config
from hami.device.ascend import AscendBackend, backends
from hami.device.base import SHARED_LOCK, DeviceBackend
from tests.support.typecheck import run_mypy

from ._npu import MODELS, backend, configured

# Typed assignments: mypy checks conformance (Go's `var _ Devices = (*T)(nil)`).
_backend: DeviceBackend = AscendBackend(DeviceConfig().vnpus.configs[0])
_all: list[DeviceBackend] = backends(DeviceConfig())

_CONFORMANCE = """
    from hami.config.devices import DeviceConfig
    from hami.device.ascend import AscendBackend
    from hami.device.base import DeviceBackend

    ok: DeviceBackend = AscendBackend(DeviceConfig().vnpus.configs[0])


    class Partial:
        type_keyword = "Ascend910A"


    broken: DeviceBackend = Partial()  # type: ignore[assignment]
"""


def test_mypy_accepts_the_backend_and_refuses_a_partial_one(tmp_path: Path) -> None:
    """The unused-ignore check makes the negative control bite: if mypy accepted ``Partial``
    the ignore would be reported."""
    snippet = tmp_path / "conformance.py"
    snippet.write_text(textwrap.dedent(_CONFORMANCE), "utf-8")
    out, status = run_mypy(snippet, tmp_path / "cache", "--warn-unused-ignores")
    assert status == 0, out


def test_one_backend_per_chart_model_in_config_order() -> None:
    got = backends(DeviceConfig())
    assert [b.type_keyword for b in got] == list(MODELS)
    assert all(isinstance(b, AscendBackend) for b in got)


def test_backends_follow_the_configured_models() -> None:
    cfg = parse_device_config({"vnpus": {"hamiVnpuCore": True, "configs": [{
        "chipName": "910X", "commonWord": "Ascend910X", "resourceName": "huawei.com/npu-x",
        "resourceMemoryName": "huawei.com/npu-x-mem", "memoryAllocatable": 1000,
        "memoryCapacity": 1000,
    }]}})  # fmt: skip
    (only,) = backends(cfg)
    assert isinstance(only, AscendBackend)
    assert only.type_keyword == "Ascend910X"
    assert only.hami_vnpu_core is True
    assert only.resource_names == ("huawei.com/npu-x", "huawei.com/npu-x-mem")
    assert only.count_resource == "huawei.com/npu-x"


@pytest.mark.parametrize("cw", MODELS)
def test_names_of_each_model(cw: str) -> None:
    b = backend(cw)
    assert b.type_keyword == cw == b.metric_device_type
    assert b.register_annotation == f"hami.io/node-register-{cw}"
    assert b.handshake_annotation == f"hami.io/node-handshake-{cw}"
    assert b.to_allocate_annotation == f"hami.io/{cw}-devices-to-allocate"
    assert b.allocated_annotation == f"hami.io/{cw}-devices-allocated"
    assert b.resource_names == (
        f"huawei.com/{cw}",
        f"huawei.com/{cw}-memory",
        f"huawei.com/{cw}-core",
    )
    assert b.count_resource == f"huawei.com/{cw}"
    assert b.memory_resource == f"huawei.com/{cw}-memory"
    assert b.core_resource == f"huawei.com/{cw}-core"
    assert b.health_kind == "handshake"
    assert (b.lock_annotation, b.lock_style) == (SHARED_LOCK, "owner")
    assert b.fit_checks_quota is False
    assert b.scores_nodes is cw.startswith("Ascend910")
    assert b.memory_factor == 1  # 910C leaves it unset (0): no scaling either


def test_memory_factor_above_one_is_reported() -> None:
    assert configured("Ascend910A", memoryFactor=10).memory_factor == 10


def test_global_hami_core_switch_reaches_every_backend() -> None:
    cfg = parse_device_config({"vnpus": {"hamiVnpuCore": True}})
    assert all(isinstance(b, AscendBackend) and b.hami_vnpu_core for b in backends(cfg))
    assert not any(
        isinstance(b, AscendBackend) and b.hami_vnpu_core for b in backends(DeviceConfig())
    )
