"""`KubeSchedulerConfiguration` extender entries, parsed the way kube-scheduler reads them.

Accepts the YAML/dict shape of `kubescheduler.config.k8s.io/v1` (and v1beta2/3: same extender
fields): `urlPrefix`, `filterVerb`, `bindVerb`, `prioritizeVerb`, `weight`, `enableHTTPS`,
`tlsConfig`, `httpTimeout`, `nodeCacheCapable`, `managedResources`, `ignorable`. Unknown or
mistyped fields are refused with an error naming the field, as kube-scheduler's strict decoder does.
"""

from __future__ import annotations

import base64
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

import yaml

DEFAULT_HTTP_TIMEOUT_S = 5.0  # kube-scheduler's default extender timeout
DEFAULT_SCHEDULER_NAME = "default-scheduler"

_EXTENDER_FIELDS = {
    "urlPrefix",
    "filterVerb",
    "preemptVerb",
    "prioritizeVerb",
    "weight",
    "bindVerb",
    "enableHTTPS",
    "tlsConfig",
    "httpTimeout",
    "nodeCacheCapable",
    "managedResources",
    "ignorable",
}
_TLS_FIELDS = {
    "insecure",
    "serverName",
    "certFile",
    "keyFile",
    "caFile",
    "certData",
    "keyData",
    "caData",
}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigError(ValueError):
    """The scheduler configuration is invalid; the message names the field."""


def parse_duration(value: object, where: str) -> float:
    """A Go `metav1.Duration` ("30s", "1m30s", "500ms") or integer nanoseconds -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: invalid duration {value!r}")
    if isinstance(value, int):
        return value / 1e9
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: invalid duration {value!r}")
    if value == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(value):
        raise ConfigError(f"{where}: invalid duration {value!r}")
    return total


@dataclass(frozen=True, slots=True)
class ManagedResource:
    name: str
    ignored_by_scheduler: bool = False


@dataclass(frozen=True, slots=True)
class TLSConfig:
    insecure: bool = False
    server_name: str = ""
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    cert_data: bytes = b""
    key_data: bytes = b""
    ca_data: bytes = b""

    def ssl_context(self) -> ssl.SSLContext:
        """The client TLS context kube-scheduler's REST transport would use."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data or self.ca_file:
            ctx = ssl.create_default_context(
                cafile=self.ca_file or None,
                cadata=self.ca_data.decode() if self.ca_data else None,
            )
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        elif self.cert_data:
            raise ConfigError("tlsConfig.certData: only certFile/keyFile are supported here")
        return ctx


@dataclass(frozen=True, slots=True)
class ExtenderConfig:
    url_prefix: str
    filter_verb: str = ""
    bind_verb: str = ""
    prioritize_verb: str = ""
    preempt_verb: str = ""
    weight: int = 0
    enable_https: bool = False
    tls: TLSConfig | None = None
    http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S
    node_cache_capable: bool = False
    managed_resources: tuple[ManagedResource, ...] = ()
    ignorable: bool = False

    @property
    def ignored_resources(self) -> frozenset[str]:
        return frozenset(r.name for r in self.managed_resources if r.ignored_by_scheduler)

    def url(self, verb: str) -> str:
        return f"{self.url_prefix.rstrip('/')}/{verb}"

    def is_interested(self, pod: dict[str, Any]) -> bool:
        """kube-scheduler's `IsInterested`: no managed resources = every pod; else any container
        (init or app) requesting or limiting one of them."""
        if not self.managed_resources:
            return True
        names = {r.name for r in self.managed_resources}
        spec = pod.get("spec") or {}
        for ctr in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
            res = ctr.get("resources") or {}
            if names & (set(res.get("requests") or {}) | set(res.get("limits") or {})):
                return True
        return False


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    extenders: tuple[ExtenderConfig, ...] = field(default_factory=tuple)


def _typed(d: dict[str, Any], key: str, typ: type, where: str, default: Any) -> Any:
    if key not in d or d[key] is None:
        return default
    v = d[key]
    if (typ is int and isinstance(v, bool)) or not isinstance(v, typ):
        raise ConfigError(f"{where}.{key}: expected {typ.__name__}, got {v!r}")
    return v


def _b64(d: dict[str, Any], key: str, where: str) -> bytes:
    raw = _typed(d, key, str, where, "")
    try:
        return base64.b64decode(raw, validate=True) if raw else b""
    except ValueError as err:
        raise ConfigError(f"{where}.{key}: not base64") from err


def parse_tls(d: object, where: str) -> TLSConfig:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object, got {d!r}")
    unknown = set(d) - _TLS_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    return TLSConfig(
        insecure=_typed(d, "insecure", bool, where, False),
        server_name=_typed(d, "serverName", str, where, ""),
        cert_file=_typed(d, "certFile", str, where, ""),
        key_file=_typed(d, "keyFile", str, where, ""),
        ca_file=_typed(d, "caFile", str, where, ""),
        cert_data=_b64(d, "certData", where),
        key_data=_b64(d, "keyData", where),
        ca_data=_b64(d, "caData", where),
    )


def parse_extender(d: object, where: str = "extenders[0]") -> ExtenderConfig:
    """One `extenders[]` entry; `urlPrefix` required, verbs optional (empty = not called)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object, got {d!r}")
    unknown = set(d) - _EXTENDER_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    url = _typed(d, "urlPrefix", str, where, "")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.urlPrefix: must be an http(s) URL, got {url!r}")
    managed = []
    for i, m in enumerate(_typed(d, "managedResources", list, where, [])):
        w = f"{where}.managedResources[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"]:
            raise ConfigError(f"{w}.name: required")
        managed.append(ManagedResource(m["name"], _typed(m, "ignoredByScheduler", bool, w, False)))
    timeout = (
        parse_duration(d["httpTimeout"], f"{where}.httpTimeout")
        if d.get("httpTimeout") is not None
        else DEFAULT_HTTP_TIMEOUT_S
    )
    tls = parse_tls(d["tlsConfig"], f"{where}.tlsConfig") if d.get("tlsConfig") else None
    weight = _typed(d, "weight", int, where, 0)
    if _typed(d, "prioritizeVerb", str, where, "") and weight <= 0:
        raise ConfigError(f"{where}.weight: must have a positive weight applied to it")
    return ExtenderConfig(
        url_prefix=url,
        filter_verb=_typed(d, "filterVerb", str, where, ""),
        bind_verb=_typed(d, "bindVerb", str, where, ""),
        prioritize_verb=_typed(d, "prioritizeVerb", str, where, ""),
        preempt_verb=_typed(d, "preemptVerb", str, where, ""),
        weight=weight,
        enable_https=_typed(d, "enableHTTPS", bool, where, False),
        tls=tls,
        http_timeout_s=timeout if timeout > 0 else DEFAULT_HTTP_TIMEOUT_S,
        node_cache_capable=_typed(d, "nodeCacheCapable", bool, where, False),
        managed_resources=tuple(managed),
        ignorable=_typed(d, "ignorable", bool, where, False),
    )


def parse_scheduler_config(doc: str | dict[str, Any]) -> SchedulerConfig:
    """A whole KubeSchedulerConfiguration (YAML text or dict): first profile's schedulerName and
    the extenders list. At most one extender may have a bindVerb, as kube-scheduler validates."""
    d = yaml.safe_load(doc) if isinstance(doc, str) else doc
    if not isinstance(d, dict):
        raise ConfigError("KubeSchedulerConfiguration: expected a mapping")
    kind = d.get("kind", "KubeSchedulerConfiguration")
    if kind != "KubeSchedulerConfiguration":
        raise ConfigError(f"kind: expected KubeSchedulerConfiguration, got {kind!r}")
    profiles = d.get("profiles") or [{}]
    if not isinstance(profiles, list) or not isinstance(profiles[0], dict):
        raise ConfigError("profiles: expected a list of objects")
    name = profiles[0].get("schedulerName") or DEFAULT_SCHEDULER_NAME
    raw = d.get("extenders") or []
    if not isinstance(raw, list):
        raise ConfigError("extenders: expected a list")
    extenders = tuple(parse_extender(e, f"extenders[{i}]") for i, e in enumerate(raw))
    if sum(1 for e in extenders if e.bind_verb) > 1:
        raise ConfigError("extenders: only one extender can implement bind")
    return SchedulerConfig(scheduler_name=str(name), extenders=extenders)
