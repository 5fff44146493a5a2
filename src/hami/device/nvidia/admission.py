"""NVIDIA's part of the mutating webhook (spec §6 step 3): validate, default, inject env.

Pure and in place on plain dicts; :mod:`hami.webhook.mutate` deep-copies the pod first and
diffs afterwards, so nothing here needs to know about JSONPatch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from hami.api.annotations import ENV_CORE_POLICY, ENV_TASK_PRIORITY, ENV_VISIBLE_DEVICES
from hami.api.errors import DecodeError
from hami.api.quantity import parse_quantity, quantity_suffix
from hami.config.devices import NvidiaConfig
from hami.device.common import has_resource, raw_resource, resource_value

MAX_GPU_MEMORY_MIB = 1 << 24
"""16 TiB: a ``gpumem`` above this (after ``memoryFactor``) is a mistake, most often bytes."""
_MIB = 1 << 20
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
"""Units people write for memory (``3Gi``): refused, gpumem is a number of MiB. Decimal suffixes
are accepted: the apiserver stores quantities canonically (``3000`` becomes ``3k``) before any
webhook sees them, so ``3k`` is how a real cluster hands us ``3000``."""


def _factor_note(factor: int) -> str:
    return f" (memoryFactor {factor}: one unit is {factor} MiB)" if factor != 1 else ""


def append_env(container: MutableMapping[str, Any], name: str, value: str) -> None:
    """Append env ``name=value`` as HAMi does: existing entries (a ``valueFrom`` one included)
    stay; the kubelet lets the last entry of a name win."""
    env = container.get("env")
    if not isinstance(env, list):
        env = container["env"] = []
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
        """HAMi's check: ``gpumem-percentage`` outside [0, 100] is an error (answered 500).

        Then ours, deliberate differences from HAMi (which drops or clamps such a request and
        the pod gets no GPU): memory written with a unit, negative or beyond any GPU,
        ``gpucores`` outside [0, 100] and ``gpumem-percentage: 0`` raise
        :class:`DecodeError` naming container and resource (answered 400).
        """
        cfg = self.cfg
        name = cfg.resource_memory_percentage_name
        field = f"container {container.get('name', '')!s}"
        pct = resource_value(container, name, field)
        if pct is not None and not 0 <= pct <= 100:
            return f"{field}: {name} must be between 0 and 100, got {pct}"
        if pct == 0:
            reason = "must be between 1 and 100 (leave it out for the whole memory of the GPU)"
            self._refuse(container, name, field, reason)
        self._check_memory(container, field)
        cores = resource_value(container, cfg.resource_core_name, field)
        if cores is not None and not 0 <= cores <= 100:
            reason = "is a percentage of one GPU's compute and must be between 0 and 100"
            self._refuse(container, cfg.resource_core_name, field, reason)
        return None

    @staticmethod
    def _refuse(container: Mapping[str, Any], resource: str, field: str, reason: str) -> None:
        section, raw = raw_resource(container, resource) or ("limits", None)
        raise DecodeError(f"{field} {section}[{resource}]", raw, f"{resource} {reason}")

    def _check_memory(self, container: Mapping[str, Any], field: str) -> None:
        """``gpumem`` is a whole number of MiB (times ``memoryFactor``), 0 up to any real GPU."""
        cfg = self.cfg
        name = cfg.resource_memory_name
        found = raw_resource(container, name)
        if found is None:
            return
        section, raw = found
        where = f"{field} {section}[{name}]"
        value = parse_quantity(raw, where)
        if value < 0:
            raise DecodeError(where, raw, f"{name} must not be negative (it is a number of MiB; "
                              "leave it out to get the default)")  # fmt: skip
        suffix = quantity_suffix(raw)
        if suffix in _BINARY_SUFFIXES:
            mib = math.ceil(value / _MIB / cfg.memory_factor)
            unit = f"{suffix}B"
            raise DecodeError(where, raw, f"{name} is a number of MiB, written without a unit: "
                              f"write {mib} for {str(raw).strip()[: -len(suffix)]} {unit}"
                              + _factor_note(cfg.memory_factor))  # fmt: skip
        if value.denominator != 1:
            raise DecodeError(where, raw, f"{name} must be a whole number of MiB")
        mib = int(value) * cfg.memory_factor
        if mib > MAX_GPU_MEMORY_MIB:
            hint = math.ceil(value / _MIB / cfg.memory_factor)
            raise DecodeError(where, raw, f"{name} is a number of MiB and {mib} MiB is more than "
                              f"any GPU has (at most {MAX_GPU_MEMORY_MIB}); if you meant bytes, "
                              f"write {hint}" + _factor_note(cfg.memory_factor))  # fmt: skip

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
        """Apply defaults and env as HAMi v2.10 does; True when the container (now) asks for
        NVIDIA GPUs.

        Every container, GPU or not, gets ``CUDA_TASK_PRIORITY`` when it sets the priority
        resource and ``GPU_CORE_UTILIZATION_POLICY`` when the policy is not ``default``; a
        container without GPUs gets ``NVIDIA_VISIBLE_DEVICES=none`` with ``overwriteEnv``.
        Env entries are appended, as HAMi appends them.
        """
        cfg = self.cfg
        field = f"container {container.get('name', '')!s}"
        priority = resource_value(container, cfg.resource_priority_name, field)
        if priority is not None:
            append_env(container, ENV_TASK_PRIORITY, str(priority))
        if cfg.gpu_core_policy not in ("", "default"):
            append_env(container, ENV_CORE_POLICY, cfg.gpu_core_policy)
        found = has_resource(container, cfg.resource_count_name)
        if not found and self._asks_for_gpu_detail(container) and cfg.default_gpu_num > 0:
            _set_limit(container, cfg.resource_count_name, str(cfg.default_gpu_num))
            found = True
        if found:
            self._exclusive_default(container, field)
        elif cfg.overwrite_env:
            append_env(container, ENV_VISIBLE_DEVICES, "none")
        return found

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Set ``runtimeClassName`` when configured and the pod has none: an absent or null
        field only (HAMi tests for a nil pointer), an explicit ``""`` is left as is."""
        if self.cfg.runtime_class_name:
            spec = pod.setdefault("spec", {})
            if spec.get("runtimeClassName") is None:
                spec["runtimeClassName"] = self.cfg.runtime_class_name
