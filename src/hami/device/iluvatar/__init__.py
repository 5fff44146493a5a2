"""Iluvatar GPUs (vendors spec §4): one backend per configured chip (``iluvatars:``; chart
defaults ``MR-V100``, ``MR-V50``, ``BI-V150``, ``BI-V100``). Enabled by ``--enable-iluvatar``
(the registry decides; this package only builds the backends)."""

from __future__ import annotations

from hami.config.devices import DeviceConfig
from hami.device.base import DeviceBackend
from hami.device.iluvatar.backend import IluvatarBackend

__all__ = ["IluvatarBackend", "backends"]


def backends(config: DeviceConfig) -> list[DeviceBackend]:
    """One backend per ``config.iluvatars`` entry, in the config's order."""
    return [IluvatarBackend(chip) for chip in config.iluvatars]
