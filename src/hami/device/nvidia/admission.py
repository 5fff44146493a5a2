"""NVIDIA's part of the mutating webhook (spec §6 step 3): validate, default, inject env.

Pure and in place on plain dicts; :mod:`hami.webhook.mutate` deep-copies the pod first and
diffs afterwards, so nothing here needs to know about JSONPatch.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from hami.api.annotations import ENV_CORE_POLICY, ENV_TASK_PRIORITY, ENV_VISIBLE_DEVICES
from hami.config.devices import NvidiaConfig
from hami.device.nvidia.request import has_resource, resource_value


def set_env(container: MutableMapping[str, Any], name: str, value: str) -> None:
    """Set env ``name`` on a container, replacing an existing entry instead of duplicating."""
    env: list[dict[str, Any]] = container.setdefault("env", []) or []
    container["env"] = env
    for item in env:
        if item.get("name") == name:
            item.pop("valueFrom", None)
            item["value"] = value
            return
    env.append({"name": name, "value": value})


def _set_limit(container: MutableMapping[str, Any], resource: str, value: str) -> None:
    resources = container.setdefault("resources", {}) or {}
    container["resources"] = resources
    limits = resources.setdefault("limits", {}) or {}
    resources["limits"] = limits
    limits[resource] = value


class NvidiaAdmission:
    """Implements :class:`hami.device.base.AdmissionMutator` for NVIDIA."""

    def __init__(self, cfg: NvidiaConfig) -> None:
        self.cfg = cfg

    def validate_container(self, container: Mapping[str, Any]) -> str | None:
        """Reject a ``gpumem-percentage`` outside [0, 100] (quantity errors propagate)."""
        name = self.cfg.resource_memory_percentage_name
        field = f"container {container.get('name', '')!s}"
        pct = resource_value(container, name, field)
        if pct is not None and not 0 <= pct <= 100:
            return f"{field}: {name} must be between 0 and 100, got {pct}"
        return None

    def _asks_for_gpu_detail(self, container: Mapping[str, Any]) -> bool:
        cfg = self.cfg
        return any(
            has_resource(container, r)
            for r in (
                cfg.resource_memory_name,
                cfg.resource_core_name,
                cfg.resource_memory_percentage_name,
            )
        )

    def _exclusive_default(self, container: MutableMapping[str, Any], field: str) -> None:
        """``gpucores: 100`` when no cores and no memory (or 100 %) is asked (v2.7+)."""
        cfg = self.cfg
        if has_resource(container, cfg.resource_core_name):
            return
        pct = resource_value(container, cfg.resource_memory_percentage_name, field)
        has_mem = has_resource(container, cfg.resource_memory_name)
        if pct == 100 or (pct is None and not has_mem):
            _set_limit(container, cfg.resource_core_name, "100")

    def mutate_container(self, container: MutableMapping[str, Any]) -> bool:
        """Apply defaults and env; True when the container (now) asks for NVIDIA GPUs."""
        cfg = self.cfg
        field = f"container {container.get('name', '')!s}"
        priority = resource_value(container, cfg.resource_priority_name, field)
        if priority is not None:
            set_env(container, ENV_TASK_PRIORITY, str(priority))
        found = has_resource(container, cfg.resource_count_name)
        if not found and self._asks_for_gpu_detail(container) and cfg.default_gpu_num > 0:
            _set_limit(container, cfg.resource_count_name, str(cfg.default_gpu_num))
            found = True
        if found:
            if cfg.gpu_core_policy != "default":
                set_env(container, ENV_CORE_POLICY, cfg.gpu_core_policy)
            self._exclusive_default(container, field)
        elif cfg.overwrite_env:
            set_env(container, ENV_VISIBLE_DEVICES, "none")
        return found

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Set ``runtimeClassName`` when configured and the pod has none."""
        if self.cfg.runtime_class_name:
            spec = pod.setdefault("spec", {})
            if not spec.get("runtimeClassName"):
                spec["runtimeClassName"] = self.cfg.runtime_class_name
