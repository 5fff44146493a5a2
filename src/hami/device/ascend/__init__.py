"""Huawei Ascend NPUs: one backend per model of ``vnpus.configs`` (vendors spec §5).

Modules by role: :mod:`.keys` (wire names), :mod:`.templates` (vNPU template rounding),
:mod:`.request`, :mod:`.inventory`, :mod:`.fit` (standard walk, hami-core mode, NetworkID
topology, 910C modules), :mod:`.score` (NetworkID bonus), :mod:`.annotations` (allocation and
runtime JSON), :mod:`.admission` (webhook) and :mod:`.backend` (all roles for one model).
"""

from __future__ import annotations

from hami.config.devices import DeviceConfig
from hami.device.ascend.backend import AscendBackend
from hami.device.base import DeviceBackend

__all__ = ["AscendBackend", "backends"]


def backends(config: DeviceConfig) -> list[DeviceBackend]:
    """One backend per configured model (the chart's seven by default), in config order.

    HAMi builds them only with ``--enable-ascend``; the caller decides that."""
    vnpus = config.vnpus
    return [AscendBackend(model, vnpus.hami_vnpu_core) for model in vnpus.configs]
