"""One Ascend model's part of the mutating webhook (vendors spec §5.8).

A container asks for this model when its ``limits`` hold the count resource ``huawei.com/<cw>``.
Such a container gets, in this order of checks:

1. ``Ascend910C`` with ``superPod``: a count of 1 becomes 2 (one module: limits, and requests
   when present); any other odd count is refused (``must be 1 or 2*n``);
2. a ``-core`` value above 0 outside hami-core mode (pod annotation ``huawei.com/vnpu-mode``) is
   refused: in template mode the template fixes the cores;
3. its memory (``limits`` only) settled: absent = the whole card (``memoryAllocatable``);
   hami-core keeps it as written (refused outside 0 ... 2^31-1, which the request would drop:
   ours, HAMi admits it); template mode rounds it up to the first template holding it,
   else to the whole card while it fits ``memoryCapacity``, else refuses it (``is invalid``);
4. more than one NPU (the count as written) with anything but a whole card is refused;
5. the settled memory written to limits **and** requests.

The pod gets ``runtimeClassName`` when configured and unset. A container that does not ask gets
``ASCEND_VISIBLE_DEVICES=""`` appended when ``overwriteEnv`` is on (once per Ascend model, as
HAMi). Refusals are the messages HAMi answers HTTP 500 with, prefixed by the container; they
come from :meth:`AscendAdmission.validate_container`, which the webhook calls first.

The split mode is a pod annotation, so both container methods take the pod's annotations
(``pod_annotations``; None is read as no annotation, i.e. template mode).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from hami.config.vendors import AscendModelConfig
from hami.device.ascend.keys import ASCEND910C, ENV_VISIBLE_DEVICES, HAMI_CORE, VNPU_MODE
from hami.device.ascend.templates import round_memory
from hami.device.common import INT32_MAX, pod_containers, resource_value

_LIMITS = ("limits",)


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    """What the webhook writes into a container that asks for this model."""

    memory: int
    """MiB written to limits and requests of the memory resource."""
    count: int | None = None
    """New count (910C: 1 becomes 2), None = keep."""


def _field(container: Mapping[str, Any]) -> str:
    return f"container {container.get('name', '')!s}"


def plan_container(
    container: Mapping[str, Any], cfg: AscendModelConfig, *, hami_core: bool
) -> ContainerPlan | str | None:
    """The container's plan, a refusal message, or None when it does not ask for this model.

    Raises :class:`~hami.api.errors.DecodeError` for a value that is not a whole number."""
    field = _field(container)
    count = resource_value(container, cfg.resource_name, field, _LIMITS)
    if count is None:
        return None
    new_count = None
    if cfg.common_word == ASCEND910C and cfg.super_pod:
        if count == 1:
            new_count = 2
        elif count % 2:
            return f"{field}: Ascend910C device request must be 1 or 2*n, got {count}"
    if not hami_core and cfg.resource_core_name:
        cores = resource_value(container, cfg.resource_core_name, field)
        if cores is not None and cores > 0:
            name = cfg.resource_core_name
            return f"{field}: {name} is only supported in hami-core (soft split) mode"
    memory = cfg.memory_allocatable
    asked = resource_value(container, cfg.resource_memory_name, field, _LIMITS)
    if asked is not None:
        if hami_core:
            memory = asked
            if not 0 <= asked <= INT32_MAX:  # ours: HAMi passes it on and the request drops it
                return f"{field}: {cfg.resource_memory_name} {asked} is invalid"
        else:
            memory = round_memory(cfg, asked).memory
            if memory <= 0:
                return f"{field}: {cfg.resource_memory_name} {asked} is invalid"
    if count > 1 and memory != cfg.memory_allocatable:
        return f"{field}: vNPU not supported for multiple devices"
    return ContainerPlan(memory=memory, count=new_count)


def _section(container: MutableMapping[str, Any], name: str) -> dict[str, Any]:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        resources = container["resources"] = {}
    section = resources.get(name)
    if not isinstance(section, dict):
        section = resources[name] = {}
    return section


def _append_env(container: MutableMapping[str, Any], name: str, value: str) -> None:
    env = container.get("env")
    if not isinstance(env, list):
        env = container["env"] = []
    env.append({"name": name, "value": value})


def _is_hami_core(pod_annotations: Mapping[str, str] | None) -> bool:
    return (pod_annotations or {}).get(VNPU_MODE) == HAMI_CORE


class AscendAdmission:
    """Implements :class:`hami.device.base.AdmissionMutator` for one Ascend model."""

    def __init__(self, cfg: AscendModelConfig) -> None:
        self.cfg = cfg

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        """The refusal for a container asking for this model, or None (see the module doc)."""
        plan = plan_container(container, self.cfg, hami_core=_is_hami_core(pod_annotations))
        return plan if isinstance(plan, str) else None

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        """Round the memory and write it (and a 910C module count); True when the container asks
        for this model. A refused container (see :meth:`validate_container`) is left as is."""
        cfg = self.cfg
        plan = plan_container(container, cfg, hami_core=_is_hami_core(pod_annotations))
        if plan is None:
            if cfg.overwrite_env:
                _append_env(container, ENV_VISIBLE_DEVICES, "")
            return False
        if isinstance(plan, str):
            return True
        if plan.count is not None:
            _section(container, "limits")[cfg.resource_name] = str(plan.count)
            requests = (container.get("resources") or {}).get("requests") or {}
            if cfg.resource_name in requests:
                _section(container, "requests")[cfg.resource_name] = str(plan.count)
        _section(container, "limits")[cfg.resource_memory_name] = str(plan.memory)
        _section(container, "requests")[cfg.resource_memory_name] = str(plan.memory)
        return True

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """``runtimeClassName`` when configured, unset (absent or null) and some container asks
        for this model (HAMi sets it while mutating such a container)."""
        name = self.cfg.runtime_class_name
        if not name:
            return
        spec = pod.get("spec")
        if not isinstance(spec, dict) or spec.get("runtimeClassName") is not None:
            return
        res = self.cfg.resource_name
        if any(
            res in ((c.get("resources") or {}).get("limits") or {}) for c in pod_containers(pod)
        ):
            spec["runtimeClassName"] = name
