"""The device plugin's effective configuration: one frozen object built once at startup.

Values come from the shared device-config file (``nvidia:`` section), then the per-node
``nodeconfig`` entry matched by node name, then explicit CLI/env overrides (spec §5.1). Unlike
HAMi v2.10, where the plugin's split/scaling/disable-core flags are silently inert, every field
here is honoured. The pure modules (inventory, allocate) read only this object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hami.config.devices import (
    ConfigError,
    DeviceConfig,
    load_device_config,
    node_config_entries,
)

log = logging.getLogger(__name__)

OPERATING_MODES = ("hami-core",)
"""Dynamic MIG (operatingmode ``mig``) is not implemented; use ``migstrategy: mixed``."""
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
    topology_score: bool = False
    """Publish ``hami.io/node-nvidia-score`` (env ``ENABLE_TOPOLOGY_SCORE``)."""
    list_resend_s: float | None = 30.0
    """Re-send the full ListAndWatch list this often (None: only on changes)."""
    pod_lookup_retries: int = 3
    """Times Allocate re-reads the apiserver when no pending pod is found yet (informer lag)."""
    lock_sweep_interval_s: float = 10.0
    """How often the node lock is checked for an owner that no longer needs it (e.g. kubelet's
    admission failed while the plugin was down); also once at start."""

    def __post_init__(self) -> None:
        if not self.node_name:
            raise SettingsError("node_name: required (set NODE_NAME or --node-name)")
        if self.split_count < 1:
            raise SettingsError(f"devicesplitcount: must be >= 1, got {self.split_count}")
        if self.memory_scaling <= 0 or self.core_scaling <= 0:
            raise SettingsError("devicememoryscaling/devicecorescaling: must be > 0")
        if self.operating_mode not in OPERATING_MODES:
            raise SettingsError(
                f"operatingmode: {self.operating_mode!r} not supported (use one of "
                f"{OPERATING_MODES})"
            )
        if self.mig_strategy not in MIG_STRATEGIES:
            raise SettingsError(
                f"migstrategy: {self.mig_strategy!r} not supported (use one of {MIG_STRATEGIES})"
            )
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
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out


def from_device_config(cfg: DeviceConfig, base: PluginSettings) -> PluginSettings:
    """Overlay the device-config ``nvidia:`` section, then this node's ``nodeconfig`` entry."""
    nv = cfg.nvidia
    out = replace(
        base,
        resource_name=nv.resource_count_name,
        split_count=nv.device_split_count,
        memory_scaling=nv.device_memory_scaling,
        core_scaling=nv.device_core_scaling,
        preconfigured_memory=nv.pre_configured_device_memory,
        disable_core_limit=nv.disable_core_limit,
        gpu_core_policy=nv.gpu_core_policy,
        libcuda_log_level=nv.lib_cuda_log_level,
        enable_numa_topology=nv.enable_numa_topology,
        mig_strategy=nv.mig_strategy,
    )
    node = cfg.node(base.node_name)
    if node is None:
        return out
    overrides: dict[str, Any] = {
        "operating_mode": node.operatingmode,
        "memory_scaling": node.devicememoryscaling,
        "core_scaling": node.devicecorescaling,
        "split_count": node.devicesplitcount,
        "preconfigured_memory": node.preconfigureddevicememory,
        "libcuda_log_level": node.libcudaloglevel,
        "enable_numa_topology": node.enablenumatopology,
        "mig_strategy": node.migstrategy,
        "enable_preferred_allocation": node.enablegetpreferredallocation,
    }
    if node.filterdevices is not None:
        overrides["filter_uuids"] = frozenset(node.filterdevices.uuid)
        overrides["filter_indexes"] = frozenset(node.filterdevices.index)
    return replace(out, **{k: v for k, v in overrides.items() if v is not None})


def load_node_config_file(path: Path) -> DeviceConfig:
    """Read the per-node ``config.json`` (``{"nodeconfig": [...]}``); missing file = no entries."""
    if not path.exists():
        return DeviceConfig()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path}: cannot read node config: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected an object with a 'nodeconfig' list")
    try:
        return DeviceConfig(nodeconfig=node_config_entries(raw, str(path)))
    except ConfigError as exc:
        raise SettingsError(str(exc)) from exc


def disabled_health(env_value: str | None) -> tuple[bool, frozenset[int]]:
    """``DP_DISABLE_HEALTHCHECKS``: ``all``/``xids`` turn checks off; a number list adds XIDs."""
    if not env_value:
        return True, frozenset()
    parts = {p.strip().lower() for p in env_value.split(",") if p.strip()}
    if parts & {"all", "xids"}:
        return False, frozenset()
    return True, frozenset(int(p) for p in parts if p.isdigit())


def load_settings(
    base: PluginSettings,
    device_config: Path | None,
    node_config: Path | None,
    overrides: Mapping[str, Any],
    disable_healthchecks: str | None = None,
    *,
    sources: Mapping[str, str] | None = None,
) -> PluginSettings:
    """Defaults < device-config file < node config.json entry < explicit CLI/env overrides.

    ``sources`` names where each override came from (``--device-split-count``,
    ``DEVICE_SPLIT_COUNT``): a bad override is reported under that name; a bad value from a
    file names the file.
    """
    try:
        cfg = load_device_config(device_config)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None
    if node_config is not None:
        per_node = load_node_config_file(node_config).nodeconfig
        cfg = cfg.model_copy(update={"nodeconfig": [*per_node, *cfg.nodeconfig]})
    try:
        out = from_device_config(cfg, base)
    except SettingsError as exc:
        files = [str(p) for p in (device_config, node_config) if p is not None and p.exists()]
        raise SettingsError(f"{' / '.join(files) or 'defaults'}: {exc}") from None
    checks, extra = disabled_health(disable_healthchecks)
    out = replace(out, health_checks=checks, ignored_xids=out.ignored_xids | extra)
    for key, value in overrides.items():
        if value is None:
            continue
        try:
            out = replace(out, **{key: value})
        except SettingsError as exc:
            where = (sources or {}).get(key)
            if where is None:
                raise
            problem = str(exc).split(": ", 1)[-1]
            raise SettingsError(f"{where}: {problem}") from None
    return out
