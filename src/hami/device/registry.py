"""The explicit vendor registry, built from a :class:`DeviceConfig` and passed in (no globals).

HAMi keeps ``DevicesMap`` as a package global; here the CLI (or a test) builds one
:class:`DeviceRegistry` and hands it to the webhook, the engine and the services. This is the only
module that names vendor packages (``hami.device.<vendor>``); everything above it iterates over
:attr:`DeviceRegistry.backends`.

**Order.** Backends are keyed by their common word (cw) and kept **sorted by cw** (Python string
order = Go's ``sort.Strings``: ``AMD`` < ``Ascend910B3`` < ``DCU`` < ``MLU`` < ``MR-V100`` <
``NVIDIA``). It is the one fixed order of every per-vendor walk: the engine fits the vendors of a
container in it (HAMi's is Go map order, random), Bind takes locks in it (as HAMi does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

from hami.config.devices import DeviceConfig
from hami.device import ascend, cambricon, hygon, iluvatar, nvidia
from hami.device.base import (
    AdmissionMutator,
    DeviceBackend,
    FitSummarizer,
    NodeInventory,
    PendingHint,
    RequestParser,
)

VendorFactory = Callable[[DeviceConfig], list[DeviceBackend]]
Gate = Literal["always", "ascend", "iluvatar"]

# --- the vendors ------------------------------------------------------------------------------
# One line per vendor package: its ``backends(config)`` factory and when it is enabled
# (``always``: from the device config alone, as HAMi builds every backend; ``ascend`` /
# ``iluvatar``: only with ``enable_ascend`` / ``enable_iluvatar``, HAMi's ``--enable-ascend`` /
# ``--enable-iluvatar``). The order here does not matter: backends are sorted by cw.
_VENDOR_FACTORIES: tuple[tuple[VendorFactory, Gate], ...] = (
    (nvidia.backends, "always"),
    (cambricon.backends, "always"),
    (hygon.backends, "always"),
    (ascend.backends, "ascend"),
    (iluvatar.backends, "iluvatar"),
)


class RegistryError(ValueError):
    """Two backends claim one cw."""


@dataclass(frozen=True, eq=False)
class DeviceRegistry:
    """Vendor backends by cw (sorted), with views by role."""

    config: DeviceConfig
    backends: Mapping[str, DeviceBackend] = field(default_factory=dict)
    """cw -> backend, sorted by cw (see the module docstring)."""

    def __post_init__(self) -> None:
        ordered = dict(sorted(self.backends.items()))
        object.__setattr__(self, "backends", MappingProxyType(ordered))

    @classmethod
    def of(cls, config: DeviceConfig, backends: Iterable[DeviceBackend]) -> DeviceRegistry:
        """A registry of exactly ``backends`` (keyed by their ``type_keyword``)."""
        by_cw: dict[str, DeviceBackend] = {}
        for backend in backends:
            cw = backend.type_keyword
            if cw in by_cw:
                raise RegistryError(f"two device backends for the common word {cw!r}")
            by_cw[cw] = backend
        return cls(config, by_cw)

    @classmethod
    def from_config(
        cls, config: DeviceConfig, *, enable_ascend: bool = False, enable_iluvatar: bool = False
    ) -> DeviceRegistry:
        """Every vendor the config and the two flags enable (NVIDIA always)."""
        enabled = {"always": True, "ascend": enable_ascend, "iluvatar": enable_iluvatar}
        found: list[DeviceBackend] = []
        for factory, gate in _VENDOR_FACTORIES:
            if enabled[gate]:
                found.extend(factory(config))
        return cls.of(config, found)

    # --- role views ---------------------------------------------------------------------------
    @property
    def parsers(self) -> Mapping[str, RequestParser]:
        return self.backends

    @property
    def mutators(self) -> Mapping[str, AdmissionMutator]:
        return self.backends

    @property
    def inventories(self) -> Mapping[str, NodeInventory]:
        return self.backends

    @cached_property
    def summarizers(self) -> Mapping[str, FitSummarizer]:
        """Backends with the optional pruning summary role."""
        return {cw: b for cw, b in self.backends.items() if isinstance(b, FitSummarizer)}

    @cached_property
    def managed_resources(self) -> tuple[str, ...]:
        """Every resource name any vendor manages (for the extender's managedResources), in cw
        order, duplicates dropped."""
        names: dict[str, None] = {}
        for backend in self.backends.values():
            names.update(dict.fromkeys(backend.resource_names))
        return tuple(names)

    @cached_property
    def allocated_annotations(self) -> Mapping[str, str]:
        """cw -> the pod annotation usage is rebuilt from (``<...>-devices-allocated``)."""
        return {cw: b.allocated_annotation for cw, b in self.backends.items()}

    def pending_hint(self, pod: Mapping[str, Any]) -> str | None:
        """The first hint a backend with :class:`PendingHint` gives for an unschedulable pod."""
        for backend in self.backends.values():
            if isinstance(backend, PendingHint):
                hint = backend.pending_hint(pod)
                if hint:
                    return hint
        return None
