"""Names the Ascend backends put on the wire (vendors spec §1 and §5), one set per model.

Every key is derived from the model's common word (``cw``, e.g. ``Ascend910B3``): the device
plugin registers ``hami.io/node-register-<cw>``, answers the handshake on
``hami.io/node-handshake-<cw>``, and reads ``huawei.com/<cw>`` (its runtime JSON) from the pod.
"""

from __future__ import annotations

from dataclasses import dataclass

VNPU_MODE = "huawei.com/vnpu-mode"
"""Pod annotation choosing the split: ``hami-core`` (soft split) or anything else (templates)."""
HAMI_CORE = "hami-core"
NODE_HAMI_CORE = "hami-vnpu-core"
"""Node annotation (``"true"``/``"false"``) the plugin writes; overrides ``hamiVnpuCore``."""
PREDICATE_TIME = "predicate-time"
"""Pod annotation (no prefix): Unix seconds of the Filter that placed the pod."""
ENV_VISIBLE_DEVICES = "ASCEND_VISIBLE_DEVICES"
NETWORK_ID = "NetworkID"
"""``custominfo`` key of the register annotation: the NPU's network group."""
ASCEND910_PREFIX = "Ascend910"
"""Models whose NetworkID groups are used (topology fit and node score)."""
ASCEND910C = "Ascend910C"
"""The model whose NPUs come in modules of two (indices ``2k`` and ``2k+1``)."""
NETWORK_WEIGHT = 10
"""Node score = sum over containers of (largest NetworkID group / devices) x this."""


@dataclass(frozen=True, slots=True)
class AscendKeys:
    """The annotation and resource names of one model."""

    cw: str

    @property
    def register(self) -> str:
        return f"hami.io/node-register-{self.cw}"

    @property
    def handshake(self) -> str:
        return f"hami.io/node-handshake-{self.cw}"

    @property
    def use_uuid(self) -> str:
        return f"hami.io/use-{self.cw}-uuid"

    @property
    def nouse_uuid(self) -> str:
        return f"hami.io/no-use-{self.cw}-uuid"

    @property
    def to_allocate(self) -> str:
        return f"hami.io/{self.cw}-devices-to-allocate"

    @property
    def allocated(self) -> str:
        return f"hami.io/{self.cw}-devices-allocated"

    @property
    def runtime(self) -> str:
        """Pod annotation with the JSON the Ascend device plugin reads (``huawei.com/<cw>``)."""
        return f"huawei.com/{self.cw}"
