"""The device-config model: HAMi's ``device-config.yaml`` (spec §4.9) plus per-node overrides.

One typed, versioned object, built once (``load_device_config``) and passed to every component;
nothing reads it from a global. Keys are accepted in HAMi's camelCase spelling (as the chart's
ConfigMap writes them) and in our snake_case attribute names; unknown keys are rejected so typos
fail loudly. Other vendors' sections of HAMi's file are tolerated but ignored (NVIDIA only here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

CorePolicy = Literal["default", "force", "disable"]
OperatingMode = Literal["hami-core", "mig", "mps"]


class ConfigError(ValueError):
    """The device config file could not be read or validated; the message names file and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class NvidiaConfig(_Model):
    """The ``nvidia:`` section: resource names, defaults and scaling knobs."""

    resource_count_name: str = Field(
        "nvidia.com/gpu", alias="resourceCountName", description="Physical GPUs per container."
    )
    resource_memory_name: str = Field(
        "nvidia.com/gpumem", alias="resourceMemoryName", description="MiB per GPU."
    )
    resource_memory_percentage_name: str = Field(
        "nvidia.com/gpumem-percentage",
        alias="resourceMemoryPercentageName",
        description="Percent of each GPU's memory.",
    )
    resource_core_name: str = Field(
        "nvidia.com/gpucores", alias="resourceCoreName", description="Percent of SMs per GPU."
    )
    resource_priority_name: str = Field(
        "nvidia.com/priority",
        alias="resourcePriorityName",
        description="Task priority, becomes CUDA_TASK_PRIORITY.",
    )
    device_split_count: int = Field(
        10, alias="deviceSplitCount", ge=1, description="vGPU slots per physical GPU."
    )
    device_memory_scaling: float = Field(
        1.0, alias="deviceMemoryScaling", gt=0, description=">1 oversubscribes device memory."
    )
    device_core_scaling: float = Field(
        1.0, alias="deviceCoreScaling", gt=0, description="Registered devcore = 100 x scaling."
    )
    default_memory: int = Field(
        0, alias="defaultMemory", ge=0, description="MiB when no memory is asked; 0 = 100 %."
    )
    default_cores: int = Field(
        0, alias="defaultCores", ge=0, le=100, description="Cores when gpucores is absent."
    )
    default_gpu_num: int = Field(
        1, alias="defaultGPUNum", ge=0, description="GPUs injected when only mem/cores given."
    )
    memory_factor: int = Field(1, alias="memoryFactor", ge=1, description="Multiplies gpumem.")
    overwrite_env: bool = Field(
        False,
        alias="overwriteEnv",
        description="Inject NVIDIA_VISIBLE_DEVICES=none into containers without GPUs.",
    )
    gpu_core_policy: CorePolicy = Field(
        "default", alias="gpuCorePolicy", description="Injected as GPU_CORE_UTILIZATION_POLICY."
    )
    lib_cuda_log_level: int = Field(
        1,
        validation_alias=AliasChoices("libCudaLogLevel", "libcudaloglevel", "lib_cuda_log_level"),
        description="LIBCUDA_LOG_LEVEL for HAMi-core.",
    )
    runtime_class_name: str = Field(
        "", alias="runtimeClassName", description="Set on GPU pods lacking one."
    )
    disable_core_limit: bool = Field(
        False,
        validation_alias=AliasChoices("disableCoreLimit", "disablecorelimit", "disable_core_limit"),
        description="Allocate sets GPU_CORE_UTILIZATION_POLICY=disable.",
    )
    mig_strategy: Literal["none", "single", "mixed"] = Field(
        "none",
        validation_alias=AliasChoices("migStrategy", "migstrategy", "mig_strategy"),
        description="Upstream NVIDIA MIG strategy.",
    )
    mig_profile_allowlist: list[Any] = Field(
        default_factory=list,
        validation_alias=AliasChoices(
            "migProfileAllowlist", "knownMigGeometries", "mig_profile_allowlist"
        ),
        description="Dynamic-MIG profiles allowed per GPU model (kept opaque here).",
    )
    pre_configured_device_memory: int = Field(
        0,
        alias="preConfiguredDeviceMemory",
        ge=0,
        description="MiB for GPUs whose NVML memory query is unsupported.",
    )
    enable_numa_topology: bool = Field(
        False, alias="enableNumaTopology", description="NUMA topology on kubelet devices."
    )
    mock_mode_skip_health_check: bool = Field(
        False, alias="mockModeSkipHealthCheck", description="Mock device mode: no health check."
    )

    @property
    def resource_names(self) -> tuple[str, ...]:
        """Every resource this backend manages."""
        return (
            self.resource_count_name,
            self.resource_memory_name,
            self.resource_memory_percentage_name,
            self.resource_core_name,
            self.resource_priority_name,
        )


class FilterDevices(_Model):
    """GPUs hidden from registration on one node (by UUID or NVML index)."""

    uuid: list[str] = Field(default_factory=list)
    index: list[int] = Field(default_factory=list)


class NodeConfig(_Model):
    """Per-node overrides (device-plugin ``config.json`` ``nodeconfig`` entry, spec §5.1)."""

    name: str
    operatingmode: OperatingMode | None = None
    devicememoryscaling: float | None = Field(None, gt=0)
    devicecorescaling: float | None = Field(None, gt=0)
    devicesplitcount: int | None = Field(None, ge=1)
    preconfigureddevicememory: int | None = Field(None, ge=0)
    libcudaloglevel: int | None = None
    enablenumatopology: bool | None = None
    migstrategy: Literal["none", "single", "mixed"] | None = None
    filterdevices: FilterDevices | None = None
    enablegetpreferredallocation: bool | None = None


_OTHER_VENDORS = (
    "cambricon", "hygon", "metax", "metaxsgpu", "mthreads", "iluvatar", "iluvatars", "enflame",
    "kunlun", "awsneuron", "amd", "vastai", "biren", "ascend", "vnpus",
)  # fmt: skip


class DeviceConfig(_Model):
    """The whole device configuration (``version: v1``)."""

    version: Literal["v1"] = "v1"
    nvidia: NvidiaConfig = Field(default_factory=lambda: NvidiaConfig.model_validate({}))
    nodeconfig: list[NodeConfig] = Field(default_factory=list)
    other_vendors: dict[str, Any] = Field(
        default_factory=dict,
        exclude=True,
        description="Other vendors' sections of HAMi's file, accepted and ignored.",
    )

    def node(self, name: str) -> NodeConfig | None:
        """The override entry for node ``name``, if any."""
        return next((n for n in self.nodeconfig if n.name == name), None)


def _unwrap(raw: Any) -> Any:
    """Accept a whole ConfigMap manifest as well as the bare ``device-config.yaml`` content."""
    if isinstance(raw, dict) and raw.get("kind") == "ConfigMap":
        data = raw.get("data") or {}
        text = data.get("device-config.yaml")
        if not isinstance(text, str):
            raise ConfigError("ConfigMap has no data key 'device-config.yaml'")
        return yaml.safe_load(text)
    return raw


def parse_device_config(raw: Any, source: str = "<device config>") -> DeviceConfig:
    """Validate an already-parsed YAML/JSON document."""
    raw = _unwrap(raw)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    body = dict(raw)
    others = {k: body.pop(k) for k in list(body) if k in _OTHER_VENDORS}
    try:
        cfg = DeviceConfig.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc
    return cfg.model_copy(update={"other_vendors": others}) if others else cfg


def load_device_config(path: Path | None) -> DeviceConfig:
    """Load the device config file; ``None`` gives the built-in defaults (chart values)."""
    if path is None:
        return DeviceConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    try:
        return parse_device_config(raw, str(path))
    except ConfigError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {exc}") from exc
