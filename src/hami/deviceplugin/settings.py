"""The device plugin's effective configuration: one frozen object built once at startup.

Values come from the shared device-config file (``nvidia:`` section), then the per-node
``nodeconfig`` entry matched by node name, then explicit CLI/env overrides (spec §5.1). Unlike
HAMi v2.10, where the plugin's split/scaling/disable-core flags are silently inert, every field
here is honoured. The pure modules (inventory, allocate) read only this object.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPERATING_MODES = ("hami-core", "mig")
MIG_STRATEGIES = ("none", "mixed")
CORE_POLICIES = ("default", "force", "disable")


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class PluginSettings:
    """Everything the NVIDIA device plugin needs to know about itself and its node."""

    node_name: str
    resource_name: str = "nvidia.com/gpu"
    split_count: int = 10
    memory_scaling: float = 1.0
    core_scaling: float = 1.0
    preconfigured_memory: int = 0
    """MiB used for GPUs whose NVML memory query returns nothing (unified memory)."""
    disable_core_limit: bool = False
    gpu_core_policy: str = "default"
    libcuda_log_level: int | None = None
    enable_numa_topology: bool = False
    enable_preferred_allocation: bool = False
    mig_strategy: str = "none"
    operating_mode: str = "hami-core"
    filter_uuids: frozenset[str] = field(default_factory=frozenset)
    filter_indexes: frozenset[int] = field(default_factory=frozenset)
    hook_path: Path = Path("/usr/local")
    """Host directory holding ``vgpu/`` (chart ``global.gpuHookPath``)."""
    lock_dir: Path = Path("/tmp/vgpulock")
    """Host directory mounted at ``/tmp/vgpulock`` in every container."""
    plugin_dir: Path = Path("/var/lib/kubelet/device-plugins")
    socket_name: str = "nvidia-gpu.sock"
    register_interval_s: float = 30.0
    register_error_interval_s: float = 5.0
    health_checks: bool = True
    ignored_xids: frozenset[int] = frozenset({13, 31, 43, 45, 68, 109})
    list_resend_s: float | None = 30.0
    """Re-send the full ListAndWatch list this often (None: only on changes)."""
    pod_lookup_retries: int = 3
    """Times Allocate re-reads the apiserver when no pending pod is found yet (informer lag)."""

    def __post_init__(self) -> None:
        if not self.node_name:
            raise SettingsError("node_name: required (set NODE_NAME or --node-name)")
        if self.split_count < 1:
            raise SettingsError(f"devicesplitcount: must be >= 1, got {self.split_count}")
        if self.memory_scaling <= 0 or self.core_scaling <= 0:
            raise SettingsError("devicememoryscaling/devicecorescaling: must be > 0")
        if self.operating_mode not in OPERATING_MODES:
            raise SettingsError(f"operatingmode: {self.operating_mode!r} not in {OPERATING_MODES}")
        if self.mig_strategy not in MIG_STRATEGIES:
            raise SettingsError(f"migstrategy: {self.mig_strategy!r} not in {MIG_STRATEGIES}")
        if self.gpu_core_policy not in CORE_POLICIES:
            raise SettingsError(f"gpuCorePolicy: {self.gpu_core_policy!r} not in {CORE_POLICIES}")
        if "/" not in self.resource_name:
            raise SettingsError(f"resource_name: {self.resource_name!r} needs a domain prefix")

    @property
    def socket_path(self) -> Path:
        return self.plugin_dir / self.socket_name

    @property
    def kubelet_socket(self) -> Path:
        return self.plugin_dir / "kubelet.sock"

    @property
    def vgpu_dir(self) -> Path:
        """Host ``<hook path>/vgpu``."""
        return self.hook_path / "vgpu"

    def dump(self) -> dict[str, Any]:
        """Plain-data view for the startup log line."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, frozenset) else str(value)
        return out


# Field names of a ``nodeconfig`` entry -> PluginSettings field.
_NODECONFIG_KEYS: dict[str, str] = {
    "operatingmode": "operating_mode",
    "devicememoryscaling": "memory_scaling",
    "devicecorescaling": "core_scaling",
    "devicesplitcount": "split_count",
    "preconfigureddevicememory": "preconfigured_memory",
    "libcudaloglevel": "libcuda_log_level",
    "enablenumatopology": "enable_numa_topology",
    "migstrategy": "mig_strategy",
    "enablegetpreferredallocation": "enable_preferred_allocation",
}

# Keys of the device-config ``nvidia:`` section -> PluginSettings field.
_NVIDIA_KEYS: dict[str, str] = {
    "resourceCountName": "resource_name",
    "deviceSplitCount": "split_count",
    "deviceMemoryScaling": "memory_scaling",
    "deviceCoreScaling": "core_scaling",
    "preConfiguredDeviceMemory": "preconfigured_memory",
    "disableCoreLimit": "disable_core_limit",
    "gpuCorePolicy": "gpu_core_policy",
    "libCudaLogLevel": "libcuda_log_level",
    "enableNumaTopology": "enable_numa_topology",
    "migstrategy": "mig_strategy",
}


def _coerce(name: str, raw: Any, current: Any) -> Any:
    """Convert a decoded YAML/JSON value to the type of the field it overrides."""
    try:
        if name == "libcuda_log_level":
            return None if raw is None else int(raw)
        if isinstance(current, bool):
            if isinstance(raw, str):
                return raw.strip().lower() in ("1", "t", "true", "yes")
            return bool(raw)
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}: cannot use {raw!r}") from None


def _apply(
    base: PluginSettings, values: Mapping[str, Any], keys: Mapping[str, str]
) -> PluginSettings:
    changes: dict[str, Any] = {}
    for key, attr in keys.items():
        if key in values and values[key] is not None:
            changes[attr] = _coerce(attr, values[key], getattr(base, attr))
    return replace(base, **changes) if changes else base


def apply_nvidia_section(base: PluginSettings, nvidia: Mapping[str, Any]) -> PluginSettings:
    """Overlay the device-config file's ``nvidia:`` section."""
    return _apply(base, nvidia, _NVIDIA_KEYS)


def apply_nodeconfig(base: PluginSettings, entries: list[Mapping[str, Any]]) -> PluginSettings:
    """Overlay the ``nodeconfig`` entry whose ``name`` is this node, if any."""
    for entry in entries:
        if entry.get("name") != base.node_name:
            continue
        out = _apply(base, entry, _NODECONFIG_KEYS)
        filters = entry.get("filterdevices") or {}
        if not isinstance(filters, Mapping):
            raise SettingsError("nodeconfig.filterdevices: must be an object")
        try:
            uuids = frozenset(str(u) for u in filters.get("uuid") or ())
            indexes = frozenset(int(i) for i in filters.get("index") or ())
        except (TypeError, ValueError):
            raise SettingsError("nodeconfig.filterdevices: bad uuid/index list") from None
        return replace(out, filter_uuids=uuids, filter_indexes=indexes)
    return base
