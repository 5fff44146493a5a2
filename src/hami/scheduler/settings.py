"""The scheduler service's one settings model: flags > environment > config file > defaults.

Flags are HAMi's extender flags (spec §2.3) where they make sense; environment variables use the
``HAMI_`` prefix (``HAMI_NODE_LOCK_TIMEOUT=5m``) plus the chart's ``POD_NAME``/``POD_NAMESPACE``;
the optional YAML file holds the same keys in snake_case. Durations accept seconds or Go
durations (``5m``, ``28s``, ``1h30m``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SettingsError(ValueError):
    """The settings file or a value is invalid; the message names the file/field."""


def parse_bind(address: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``"host:port"`` / ``":port"`` / ``"[::1]:port"`` -> (host, port); port 0-65535."""
    host, colon, port = address.rpartition(":")
    try:
        number = int(port) if colon else -1
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ValueError(f"bad bind address {address!r}: expected host:port with a port 0-65535")
    return (host.strip("[]") or default_host), number


def parse_duration(value: object) -> float:
    """Seconds from a number or a Go duration string (``"5m"``, ``"1m30s"``, ``"250ms"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 5m, 28s)")
    return total


class SchedulerSettings(BaseSettings):
    """Effective configuration of ``hami scheduler``."""

    model_config = SettingsConfigDict(env_prefix="HAMI_", extra="forbid", frozen=True)

    http_bind: str = Field("127.0.0.1:8080", description="host:port of /filter /bind /webhook.")
    cert_file: Path | None = Field(None, description="TLS certificate (PEM); reloaded on change.")
    key_file: Path | None = Field(None, description="TLS private key (PEM).")
    metrics_bind_address: str = Field(":9395", description="host:port of /metrics.")
    scheduler_name: str = "hami-scheduler"
    node_scheduler_policy: Literal["binpack", "spread"] = "binpack"
    gpu_scheduler_policy: str = "spread"
    node_label_selector: str = Field("", description="k=v,... selecting GPU nodes.")
    kubeconfig: Path | None = None
    kube_timeout: float = 30.0
    kube_qps: float = Field(
        0.0, ge=0, allow_inf_nan=False,
        description="Client-side apiserver request rate (tokens/s); 0 = unlimited.",
    )  # fmt: skip
    kube_burst: int = Field(
        0, ge=0, description="Requests allowed at once above kube_qps; 0 = ceil(kube_qps)."
    )
    profiling: bool = Field(False, description="Serve /debug/pprof/* on the extender port.")
    node_lock_timeout: float = Field(
        300.0,
        description="Seconds before a node lock is stale (env also HAMI_NODELOCK_EXPIRE).",
        validation_alias=AliasChoices(
            "node_lock_timeout", "HAMI_NODE_LOCK_TIMEOUT", "HAMI_NODELOCK_EXPIRE"
        ),
    )
    node_lock_retry_timeout: float = 28.0
    force_overwrite_default_scheduler: bool = True
    leader_elect: bool = False
    leader_elect_resource_name: str = "hami-scheduler"
    leader_elect_resource_namespace: str = Field("", description="Lease namespace (pod's).")
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    pod_name: str = Field("", validation_alias=AliasChoices("pod_name", "POD_NAME"))
    pod_namespace: str = Field(
        "default", validation_alias=AliasChoices("pod_namespace", "POD_NAMESPACE")
    )
    device_config_file: Path | None = None
    enable_ascend: bool = Field(False, description="Register the Ascend NPU backends (vnpus).")
    enable_iluvatar: bool = Field(False, description="Register the Iluvatar backends (iluvatars).")
    register_interval: float = 15.0
    legacy_metrics: bool = False
    debug: bool = False
    success_events: bool = False
    """Also record the Normal FilteringSucceed/BindingSucceed Events (HAMi does; two API writes
    per pod, so off by default: the INFO log line per filter and bind says the same)."""
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per line (time, level, logger, msg)."
    )

    @field_validator(
        "node_lock_timeout",
        "node_lock_retry_timeout",
        "kube_timeout",
        "lease_duration",
        "renew_deadline",
        "retry_period",
        "register_interval",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("http_bind", "metrics_bind_address")
    @classmethod
    def _bind(cls, value: str) -> str:
        parse_bind(value)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> SchedulerSettings:
        if (self.cert_file is None) != (self.key_file is None):
            given, missing = ("cert_file", "key_file") if self.key_file is None else (
                "key_file", "cert_file")  # fmt: skip
            raise ValueError(f"{given} is set but {missing} is not: TLS needs both files")
        return self

    @field_validator("gpu_scheduler_policy")
    @classmethod
    def _gpu_policy(cls, value: str) -> str:
        allowed = {"binpack", "spread", "topology-aware", "mutex", "numa"}
        parts = [p.strip() for p in value.split(",") if p.strip()]
        bad = [p for p in parts if p not in allowed]
        if not parts or bad:
            raise ValueError(f"unknown GPU policy {bad or value!r}; allowed: {sorted(allowed)}")
        return ",".join(parts)

    @property
    def lease_namespace(self) -> str:
        """The Lease's namespace: the flag, else the scheduler pod's own namespace."""
        return self.leader_elect_resource_namespace or self.pod_namespace

    def summary(self) -> dict[str, Any]:
        """The effective configuration as plain JSON-able values (for the start-up log)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.model_dump().items()}


def _read_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: settings file must be a mapping, got {type(data).__name__}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _env_names(name: str) -> list[str]:
    """The environment variables that can set field ``name`` (``HAMI_X`` and any aliases)."""
    alias = SchedulerSettings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):  # the aliases replace HAMI_<FIELD>
        return [a for a in alias.choices if isinstance(a, str) and a.isupper()]
    return [f"HAMI_{name.upper()}"]


def source_label(
    name: str, flags: dict[str, Any], file_values: dict[str, Any], config_file: Path | None
) -> str:
    """Where field ``name``'s value came from, as a person would set it: the flag
    (``--kube-qps``), the environment variable (``HAMI_KUBE_QPS``) or ``<file>: kube_qps``."""
    known = name in SchedulerSettings.model_fields
    if name in flags:
        return "--" + name.replace("_", "-")
    env = {k.upper() for k in os.environ}
    for var in _env_names(name) if known else ():
        if var in env:
            return var
    if name in file_values:
        return f"{config_file}: {name}"
    if not known:
        return name
    return f"{name} (--{name.replace('_', '-')} / HAMI_{name.upper()})"  # not set anywhere


def _one_line(exc: ValidationError, label: Callable[[str], str] = str) -> str:
    """``source: problem (got value)`` per error, on one line (no pydantic URL); ``label``
    turns a field name into the flag, variable or file key that set it."""
    fields = "|".join(sorted(SchedulerSettings.model_fields, key=len, reverse=True))
    parts = []
    for err in exc.errors():
        loc = err.get("loc", ())
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        if not loc:  # a check across fields: name each field mentioned by its source
            msg = re.sub(rf"\b({fields})\b", lambda m: label(m.group(1)), msg)
            parts.append(msg)
            continue
        where = label(str(loc[0])) + "".join(f".{p}" for p in loc[1:])
        value = err.get("input")
        shown = repr(value)
        omit = "input" not in err or isinstance(value, dict) or shown in msg
        got = "" if omit else f" (got {shown})"
        parts.append(f"{where}: {msg}{got}")
    return "; ".join(parts)


def load_settings(
    flags: dict[str, Any] | None = None, config_file: Path | None = None
) -> SchedulerSettings:
    """Merge explicit ``flags`` over ``HAMI_*`` env over ``config_file`` over defaults."""
    file_values = _read_file(config_file)

    class _Merged(SchedulerSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, file_values))

    given = flags or {}

    def label(name: str) -> str:
        return source_label(name, given, file_values, config_file)

    try:
        merged = _Merged(**given)
    except ValidationError as exc:
        raise SettingsError(f"invalid scheduler settings: {_one_line(exc, label)}") from None
    except ValueError as exc:
        where = f"{config_file}: " if config_file else ""
        raise SettingsError(f"{where}invalid scheduler settings: {exc}") from None
    return SchedulerSettings.model_validate(merged.model_dump())
