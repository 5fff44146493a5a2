"""The device-config model: HAMi's ``device-config.yaml`` (spec §4.9) plus per-node overrides.

One typed, versioned object, built once (``load_device_config``) and passed to every component;
nothing reads it from a global. Keys are accepted in HAMi's camelCase spelling (as the chart's
ConfigMap writes them) and in our snake_case attribute names.

Files are read as leniently as HAMi reads them (issue 13): unknown keys are ignored, ``null`` and
``""`` mean "not set", and values HAMi would run with but that make no sense are clamped; each
ignored or clamped key gives one warning naming the file and the key. Only what HAMi itself
refuses (unreadable file, broken YAML/JSON, a value of the wrong type) is an error.
``strict=True`` (``--strict-config``) keeps the old behaviour: every such key is an error.
The per-node ``config.json`` is JSON read by Go, so its keys match case-insensitively.
The Cambricon, Hygon, Iluvatar and Ascend sections are read (:mod:`hami.config.vendors`);
other vendors' sections of HAMi's file are tolerated but ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from hami.api.extender import go_fields
from hami.config.vendors import (
    DEFAULT_ILUVATARS,
    CambriconConfig,
    HygonConfig,
    IluvatarChipConfig,
    VnpuConfig,
)

log = logging.getLogger(__name__)

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
    "metax", "metaxsgpu", "mthreads", "iluvatar", "enflame", "kunlun", "awsneuron", "amd",
    "vastai", "biren", "ascend",
)  # fmt: skip
"""Sections of vendors we do not schedule yet: accepted and ignored."""
_VENDOR_SECTIONS = ("cambricon", "hygon", "iluvatars", "vnpus")


class DeviceConfig(_Model):
    """The whole device configuration (``version: v1``)."""

    version: Literal["v1"] = "v1"
    nvidia: NvidiaConfig = Field(default_factory=lambda: NvidiaConfig.model_validate({}))
    nodeconfig: list[NodeConfig] = Field(default_factory=list)
    cambricon: CambriconConfig = Field(default_factory=lambda: CambriconConfig.model_validate({}))
    hygon: HygonConfig = Field(default_factory=lambda: HygonConfig.model_validate({}))
    iluvatars: tuple[IluvatarChipConfig, ...] = DEFAULT_ILUVATARS
    vnpus: VnpuConfig = Field(default_factory=lambda: VnpuConfig.model_validate({}))
    other_vendors: dict[str, Any] = Field(
        default_factory=dict,
        exclude=True,
        description="Other vendors' sections of HAMi's file, accepted and ignored.",
    )

    def node(self, name: str) -> NodeConfig | None:
        """The override entry for node ``name``, if any."""
        return next((n for n in self.nodeconfig if n.name == name), None)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One ignored/clamped key (a warning) or one refused value (an error)."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}" if self.key else (
            f"{self.source}: {self.message}")  # fmt: skip


@dataclass(slots=True)
class ConfigReport:
    """What reading one file gave: the config (None on errors), warnings and errors."""

    source: str
    config: DeviceConfig | None = None
    warnings: list[ConfigProblem] = field(default_factory=list)
    errors: list[ConfigProblem] = field(default_factory=list)

    def warn(self, key: str, message: str) -> None:
        self.warnings.append(ConfigProblem(self.source, key, message))

    def error(self, key: str, message: str) -> None:
        self.errors.append(ConfigProblem(self.source, key, message))


_UNSET: Any = object()
_NVIDIA_FIELDS = NvidiaConfig.model_fields
_NODE_FIELDS = tuple(NodeConfig.model_fields)


def _nvidia_key_map() -> dict[str, str]:
    """Every accepted spelling of an ``nvidia:`` key -> attribute name (exact match, as YAML)."""
    out: dict[str, str] = {}
    for name, info in _NVIDIA_FIELDS.items():
        out[name] = name
        if info.alias:
            out[info.alias] = name
        choices = info.validation_alias
        if isinstance(choices, AliasChoices):
            out.update({c: name for c in choices.choices if isinstance(c, str)})
    return out


_NVIDIA_KEYS = _nvidia_key_map()
_CAMEL = {name: (info.alias or name) for name, info in _NVIDIA_FIELDS.items()}
_CAMEL.update(
    lib_cuda_log_level="libCudaLogLevel",
    disable_core_limit="disableCoreLimit",
    mig_strategy="migStrategy",
    mig_profile_allowlist="migProfileAllowlist",
)

Fix = Callable[[Any, ConfigReport, str], Any]
"""``(value, report, dotted key) -> value to use``, or :data:`_UNSET` for the default."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _at_least(low: int, *, zero_unset: bool = False) -> Fix:
    def fix(value: Any, rep: ConfigReport, key: str) -> Any:
        if not _is_int(value) or value >= low:
            return value
        if zero_unset and value == 0:
            rep.warn(key, "0 is not a usable value; treated as not set (default)")
            return _UNSET
        rep.warn(key, f"{value} is below {low}; using {low}")
        return low

    return fix


def _positive_or_unset(value: Any, rep: ConfigReport, key: str) -> Any:
    if _is_num(value) and value <= 0:
        rep.warn(key, f"{value} is not > 0; treated as not set (default)")
        return _UNSET
    return value


def _cores(value: Any, rep: ConfigReport, key: str) -> Any:
    if _is_int(value) and not 0 <= value <= 100:
        clamped = min(max(value, 0), 100)
        rep.warn(key, f"{value} is outside 0-100; using {clamped}")
        return clamped
    return value


def _choice(options: tuple[str, ...], default: str) -> Fix:
    def fix(value: Any, rep: ConfigReport, key: str) -> Any:
        if value == "":
            return _UNSET
        if isinstance(value, str) and value not in options:
            rep.warn(key, f"{value!r} is not one of {', '.join(options)}; using {default!r}")
            return _UNSET
        return value

    return fix


def _log_level(value: Any, rep: ConfigReport, key: str) -> Any:
    if value == "":
        return _UNSET
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _memory_factor(value: Any, rep: ConfigReport, key: str) -> Any:
    if _is_int(value) and value < 1:
        rep.warn(key, f"{value}: HAMi uses max(memoryFactor, 1); using 1")
        return 1
    return value


def _split(value: Any, rep: ConfigReport, key: str) -> Any:
    if _is_int(value) and value < 0:
        return value  # HAMi's uint refuses it: left to validation, an error
    return _at_least(1, zero_unset=True)(value, rep, key)


_NVIDIA_FIXES: dict[str, Fix] = {
    "device_split_count": _split,
    "device_memory_scaling": _positive_or_unset,
    "device_core_scaling": _positive_or_unset,
    "default_memory": _at_least(0),
    "default_cores": _cores,
    "default_gpu_num": _at_least(0),
    "memory_factor": _memory_factor,
    "gpu_core_policy": _choice(("default", "force", "disable"), "default"),
    "lib_cuda_log_level": _log_level,
    "mig_strategy": _choice(("none", "single", "mixed"), "none"),
    "pre_configured_device_memory": _at_least(0),
}

_NODE_FIXES: dict[str, Fix] = {
    "devicesplitcount": _split,
    "devicememoryscaling": _positive_or_unset,
    "devicecorescaling": _positive_or_unset,
    "preconfigureddevicememory": _at_least(0),
    "libcudaloglevel": _log_level,
    "operatingmode": _choice(("hami-core", "mig", "mps"), "hami-core"),
    "migstrategy": _choice(("none", "single", "mixed"), "none"),
}


def _nvidia_section(raw: Any, rep: ConfigReport, nodes: list[Any]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        rep.error("nvidia", f"expected a mapping, got {type(raw).__name__}")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"nvidia.{key}"
        if key == "nodeconfig":  # as in HAMi's dynamic-MIG doc: same as the top-level list
            nodes.extend(_node_list(value, rep, dotted))
            continue
        name = _NVIDIA_KEYS.get(str(key))
        if name is None:
            rep.warn(dotted, "unknown key, ignored")
            continue
        if value is None:
            continue  # null = not set, as a Go pointer/zero value
        fix = _NVIDIA_FIXES.get(name)
        fixed = fix(value, rep, dotted) if fix is not None else value
        if fixed is not _UNSET:
            out[name] = fixed
    return out


def _node_list(raw: Any, rep: ConfigReport, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        rep.error(where, f"expected a list, got {type(raw).__name__}")
        return []
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(raw):
        key = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            rep.error(key, f"expected an object, got {type(entry).__name__}")
            continue
        node = _node_entry(entry, rep, key)
        if node is not None:
            out.append(node)
    return out


def _node_entry(entry: Mapping[str, Any], rep: ConfigReport, where: str) -> dict[str, Any] | None:
    """One ``nodeconfig`` entry, keys matched as Go's ``encoding/json`` matches them."""
    known = go_fields(entry, _NODE_FIELDS)
    for key in entry:
        if not go_fields({key: None}, _NODE_FIELDS):
            rep.warn(f"{where}.{key}", "unknown key, ignored")
    out: dict[str, Any] = {}
    for name, value in known.items():
        if value is None:
            continue
        if name == "filterdevices" and isinstance(value, Mapping):
            value = go_fields(value, ("uuid", "index"))
        fix = _NODE_FIXES.get(name)
        fixed = fix(value, rep, f"{where}.{name}") if fix is not None else value
        if fixed is not _UNSET:
            out[name] = fixed
    if not out.get("name"):
        rep.warn(f"{where}.name", "missing: the entry matches no node and is ignored")
        return None
    return out


def _lenient(raw: Mapping[str, Any], rep: ConfigReport) -> dict[str, Any]:
    """HAMi's reading of a device-config document, as input for the (strict) model."""
    body: dict[str, Any] = {}
    nodes: list[Any] = []
    for key, value in raw.items():
        if key == "version":
            if value not in (None, "v1"):
                rep.warn("version", f"{value!r} is not v1; ignored")
        elif key == "nvidia":
            body["nvidia"] = _nvidia_section(value, rep, nodes)
        elif key == "nodeconfig":
            nodes[:0] = _node_list(value, rep, "nodeconfig")
        elif key in _VENDOR_SECTIONS:
            if value is not None:
                body[key] = _vendor_section(key, value)
        elif key not in _OTHER_VENDORS:
            rep.warn(str(key), "unknown key, ignored")
    if nodes:
        body["nodeconfig"] = nodes
    return body


def _vendor_section(key: str, value: Any) -> Any:
    """A vendor section as the model reads it; ``vnpus`` may also be a bare list of models."""
    if key == "vnpus" and isinstance(value, list):
        return {"configs": value}
    return value


def _unwrap(raw: Any, rep: ConfigReport) -> Any:
    """Accept a whole ConfigMap manifest as well as the bare ``device-config.yaml`` content."""
    if isinstance(raw, dict) and raw.get("kind") == "ConfigMap":
        data = raw.get("data") or {}
        text = data.get("device-config.yaml") if isinstance(data, Mapping) else None
        if not isinstance(text, str):
            rep.error("data", "ConfigMap has no data key 'device-config.yaml'")
            return None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            rep.error("data.device-config.yaml", f"invalid YAML: {_one_line(exc)}")
            return None
    return raw


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _validation_problems(exc: ValidationError, rep: ConfigReport) -> None:
    for err in exc.errors():
        loc = list(err["loc"])
        if loc[:1] == ["nvidia"] and len(loc) > 1 and isinstance(loc[1], str):
            loc[1] = _CAMEL.get(loc[1], loc[1])
        rep.error(".".join(str(p) for p in loc) or "<root>", err["msg"])


def check_device_config(
    raw: Any, source: str = "<device config>", *, strict: bool = False
) -> ConfigReport:
    """Read an already-parsed document; never raises (problems are in the report)."""
    rep = ConfigReport(source)
    raw = _unwrap(raw, rep)
    if rep.errors:
        return rep
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        rep.error("", "expected a mapping at the top level")
        return rep
    others = {k: raw[k] for k in raw if k in _OTHER_VENDORS}
    if strict:
        body = {
            k: _vendor_section(k, v) if k in _VENDOR_SECTIONS else v
            for k, v in raw.items()
            if k not in _OTHER_VENDORS and not (k in _VENDOR_SECTIONS and v is None)
        }
    else:
        body = _lenient(raw, rep)
        if rep.errors:
            return rep
    try:
        cfg = DeviceConfig.model_validate(body)
    except ValidationError as exc:
        _validation_problems(exc, rep)
        return rep
    rep.config = cfg.model_copy(update={"other_vendors": others}) if others else cfg
    return rep


def _finish(rep: ConfigReport, strict: bool) -> DeviceConfig:
    problems = rep.errors or (rep.warnings if strict else [])
    if problems or rep.config is None:
        raise ConfigError("; ".join(str(p) for p in problems) or f"{rep.source}: unreadable")
    for w in rep.warnings:
        log.warning("%s", w)
    return rep.config


def parse_device_config(
    raw: Any, source: str = "<device config>", *, strict: bool = False
) -> DeviceConfig:
    """Validate an already-parsed YAML/JSON document; warnings are logged, errors raised."""
    return _finish(check_device_config(raw, source, strict=strict), strict)


def read_device_config_file(path: Path, *, strict: bool = False) -> ConfigReport:
    """Read and check one device-config file (YAML, a ConfigMap manifest, or HAMi's per-node
    ``config.json``); never raises."""
    rep = ConfigReport(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        rep.error("", f"cannot read: {reason}")
        return rep
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except ValueError as exc:
            rep.error("", f"invalid JSON: {_one_line(exc)}")
            return rep
        raw = _go_top(raw)
    else:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            rep.error("", f"invalid YAML: {_one_line(exc)}")
            return rep
    out = check_device_config(raw, str(path), strict=strict)
    return out


def _go_top(raw: Any) -> Any:
    """A ``config.json`` object with its ``nodeconfig`` key matched as Go's ``encoding/json``
    does (case-insensitively); other keys are kept and later reported as unknown."""
    if not isinstance(raw, dict):
        return raw
    out = {k: v for k, v in raw.items() if not go_fields({k: None}, ("nodeconfig",))}
    nodes = go_fields(raw, ("nodeconfig",)).get("nodeconfig")
    return {"nodeconfig": nodes, **out} if nodes is not None else out


def load_device_config(path: Path | None, *, strict: bool = False) -> DeviceConfig:
    """Load the device config file; ``None`` gives the built-in defaults (chart values).

    Raises :class:`ConfigError` (one line naming file and key) on what HAMi would refuse, and
    with ``strict`` also on every key HAMi would ignore or we would clamp.
    """
    if path is None:
        return DeviceConfig()
    return _finish(read_device_config_file(path, strict=strict), strict)


def node_config_entries(raw: Any, source: str, *, strict: bool = False) -> list[NodeConfig]:
    """The ``nodeconfig`` entries of HAMi's per-node ``config.json`` (already parsed), keys
    matched case-insensitively as Go does (``nodeConfig``, ``deviceSplitCount`` ...)."""
    return parse_device_config(_go_top(raw), source, strict=strict).nodeconfig
