"""Wire names of one Iluvatar chip's backend (vendors spec §1, §4): every key embeds the
chip's common word (``MR-V100``, ``BI-V150``, ...), so each chip is its own vendor on the wire."""

from __future__ import annotations

from dataclasses import dataclass

MEMORY_UNIT_MIB = 256
"""One unit of ``iluvatar.ai/<cw>.vMem`` is 256 MiB."""
ENV_CONTAINER_NAME = "SOL_CONTINER_NAME"
"""Env the webhook adds (HAMi's spelling, kept: Iluvatar's runtime reads this exact name)."""
CORES_PER_CARD = 100
"""vCore of one whole card; a multi-card container gets ``count x 100``."""


@dataclass(frozen=True, slots=True)
class ChipKeys:
    """Node and pod annotation names for one common word."""

    cw: str

    @property
    def register(self) -> str:
        """Node annotation the Iluvatar device plugin writes (legacy colon form)."""
        return f"hami.io/node-{self.cw}-register"

    @property
    def handshake(self) -> str:
        return f"hami.io/node-handshake-{self.cw}"

    @property
    def to_allocate(self) -> str:
        return f"hami.io/{self.cw}-devices-to-allocate"

    @property
    def allocated(self) -> str:
        return f"hami.io/{self.cw}-devices-allocated"

    @property
    def use_uuid(self) -> str:
        """Pod annotation: comma list of device ids the pod may use."""
        return f"hami.io/use-{self.cw}-uuid"

    @property
    def no_use_uuid(self) -> str:
        """Pod annotation: comma list of device ids the pod must not use."""
        return f"hami.io/no-use-{self.cw}-uuid"
