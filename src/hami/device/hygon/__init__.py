"""Hygon DCU backend (vendors spec §3): legacy colon register annotation, generic handshake."""

from __future__ import annotations

from hami.config.devices import DeviceConfig
from hami.device.base import DeviceBackend
from hami.device.hygon.backend import HygonBackend

__all__ = ["HygonBackend", "backends"]


def backends(config: DeviceConfig) -> list[DeviceBackend]:
    """The one Hygon backend (cw ``DCU``), named by the config's ``hygon:`` section."""
    return [HygonBackend(config.hygon)]
