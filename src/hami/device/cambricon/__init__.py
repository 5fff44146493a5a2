"""Cambricon MLU backend (vendors spec §2): cards cut from node capacity, own node lock."""

from __future__ import annotations

from hami.config.devices import DeviceConfig
from hami.device.base import DeviceBackend
from hami.device.cambricon.backend import CambriconBackend

__all__ = ["CambriconBackend", "backends"]


def backends(config: DeviceConfig) -> list[DeviceBackend]:
    """The one Cambricon backend (cw ``MLU``), named by the config's ``cambricon:`` section."""
    return [CambriconBackend(config.cambricon)]
