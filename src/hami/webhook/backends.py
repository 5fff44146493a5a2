"""The registered device backends, by common word (cw) in sorted order.

The webhook, the extender services and the CLI iterate this mapping; only
:mod:`hami.device.registry` names vendors. :func:`device_backends` builds it from a device
config and the vendor flags (``--enable-ascend``, ``--enable-iluvatar``).
"""

from __future__ import annotations

from collections.abc import Mapping

from hami.config.devices import DeviceConfig
from hami.device.base import DeviceBackend
from hami.device.registry import DeviceRegistry


def device_backends(
    config: DeviceConfig, *, enable_ascend: bool = False, enable_iluvatar: bool = False
) -> Mapping[str, DeviceBackend]:
    """Every backend the device config enables (Ascend and Iluvatar only with their flag),
    keyed and sorted by cw."""
    registry = DeviceRegistry.from_config(
        config, enable_ascend=enable_ascend, enable_iluvatar=enable_iluvatar
    )
    return registry.backends
