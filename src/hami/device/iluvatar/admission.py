"""One Iluvatar chip's part of the mutating webhook (vendors spec §4.8).

A container with the chip's count resource in its limits is "found". When it asks for more
than one card its vCore limit (and request, when it has one) is overwritten with
``count x 100`` (whole cards; the Iluvatar runtime splits nothing across cards), and it gets
``SOL_CONTINER_NAME=<container name>`` unless it already sets that name or has no name. Pure
and in place on plain dicts.

Ours on top of HAMi: a vMem or vCore value HAMi would silently drop (the pod then runs with no
Iluvatar card) is refused with a :class:`~hami.api.errors.DecodeError` naming container and
resource, which the webhook answers with a 400 denial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from hami.api.errors import DecodeError
from hami.api.quantity import parse_quantity, quantity_suffix
from hami.config.vendors import IluvatarChipConfig
from hami.device.common import INT32_MAX, has_resource, in_limits, raw_resource, resource_value
from hami.device.iluvatar.keys import CORES_PER_CARD, ENV_CONTAINER_NAME, MEMORY_UNIT_MIB
from hami.device.iluvatar.request import MAX_MEMORY_UNITS, cores_ok

_UNIT_BYTES = MEMORY_UNIT_MIB << 20
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def _field(container: Mapping[str, Any]) -> str:
    return f"container {container.get('name', '')!s}"


def _has_env(container: Mapping[str, Any], name: str) -> bool:
    env = container.get("env")
    if not isinstance(env, list):
        return False
    return any(isinstance(e, Mapping) and e.get("name") == name for e in env)


def _append_env(container: MutableMapping[str, Any], name: str, value: str) -> None:
    env = container.get("env")
    if not isinstance(env, list):
        env = container["env"] = []
    env.append({"name": name, "value": value})


def _set_limit(container: MutableMapping[str, Any], resource: str, value: str) -> None:
    """Set the limit, and the request when the container has one: the apiserver has copied
    a written limit into ``requests`` before admission, and refuses (422) an extended
    resource whose request differs from its limit. (HAMi overwrites the limit only, so a
    multi-card pod that writes its vCore is refused by the apiserver.)"""
    resources = container.get("resources") or {}
    container["resources"] = resources
    limits = resources.get("limits") or {}
    resources["limits"] = limits
    limits[resource] = value
    requests = resources.get("requests")
    if isinstance(requests, MutableMapping) and resource in requests:
        requests[resource] = value


class IluvatarAdmission:
    """The :class:`~hami.device.base.AdmissionMutator` role of one chip's backend."""

    def __init__(self, chip: IluvatarChipConfig) -> None:
        self.chip = chip

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        """Refuse (DecodeError) a vMem HAMi cannot hold or write in units, and negative vCore,
        in a container that asks for the chip; None otherwise."""
        if not has_resource(container, self.chip.resource_count_name):
            return None
        self._check_memory(container)
        self._check_cores(container)
        return None

    def _check_memory(self, container: Mapping[str, Any]) -> None:
        name = self.chip.resource_memory_name
        found = raw_resource(container, name)
        if found is None:
            return
        section, raw = found
        where = f"{_field(container)} {section}[{name}]"
        value = parse_quantity(raw, where)
        what = f"{name} counts units of {MEMORY_UNIT_MIB} MiB"
        if value < 0:
            raise DecodeError(where, raw, f"{what} and must not be negative")
        suffix = quantity_suffix(raw)
        if suffix in _BINARY_SUFFIXES:
            units = math.ceil(value / _UNIT_BYTES)
            shown = f"{str(raw).strip()[: -len(suffix)]} {suffix}B"
            raise DecodeError(
                where, raw, f"{what}, written without a unit: write {units} for {shown}"
            )
        if value.denominator != 1:
            raise DecodeError(where, raw, f"{what} and must be a whole number")
        if value > MAX_MEMORY_UNITS:
            raise DecodeError(
                where, raw, f"{what}; at most {MAX_MEMORY_UNITS} ({MAX_MEMORY_UNITS * 256} MiB)"
            )

    def _check_cores(self, container: Mapping[str, Any]) -> None:
        name = self.chip.resource_core_name
        cores = resource_value(container, name, _field(container))
        if cores is not None and not cores_ok(cores):
            section, raw = raw_resource(container, name) or ("limits", cores)
            why = "must not be negative" if cores < 0 else f"must be at most {INT32_MAX}"
            raise DecodeError(f"{_field(container)} {section}[{name}]", raw, f"{name} {why}")

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        """HAMi v2.10's mutation; True when the chip's count is in the container's limits."""
        chip = self.chip
        if not in_limits(container, chip.resource_count_name):
            return False
        count = resource_value(container, chip.resource_count_name, _field(container), ("limits",))
        if count is not None and count > 1:
            _set_limit(container, chip.resource_core_name, str(count * CORES_PER_CARD))
        name = container.get("name")
        if isinstance(name, str) and name and not _has_env(container, ENV_CONTAINER_NAME):
            _append_env(container, ENV_CONTAINER_NAME, name)
        return True

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Nothing at pod level for Iluvatar."""
