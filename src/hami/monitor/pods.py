"""This node's GPU pods as the monitor needs them, and cache-directory names (pure).

The device plugin names each container's host directory ``<podUID>_<containerName>`` (container
names are DNS labels and UIDs have no ``_``, so the first ``_`` splits them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hami.api.annotations import MIG_ALLOCATIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MigEntry:
    container_index: int
    device_index: int
    gpu_uuid: str
    profile: str
    mig_uuid: str = ""
    gpu_instance_id: str = ""
    compute_instance_id: str = ""


@dataclass(frozen=True, slots=True)
class PodInfo:
    uid: str
    namespace: str
    name: str
    containers: tuple[str, ...]
    """Init containers then app containers, in spec order (the allocation annotation's order)."""
    mig: tuple[MigEntry, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def split_dir_name(name: str) -> tuple[str, str] | None:
    """``(pod_uid, container)`` of a cache directory name, or ``None`` if it is not one."""
    uid, sep, container = name.partition("_")
    if not sep or not uid or not container:
        return None
    return uid, container


def _mig_entries(ref: str, value: str) -> tuple[MigEntry, ...]:
    try:
        data = json.loads(value)
        return tuple(
            MigEntry(
                container_index=int(e["containerIndex"]),
                device_index=int(e["deviceIndex"]),
                gpu_uuid=str(e["gpuUUID"]),
                profile=str(e["profile"]),
                mig_uuid=str(e.get("migUUID", "")),
                gpu_instance_id=str(e.get("gpuInstanceID", "")),
                compute_instance_id=str(e.get("computeInstanceID", "")),
            )
            for e in data
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("pod %s: annotation %s ignored: %s", ref, MIG_ALLOCATIONS, exc)
        return ()


def pod_info(pod: Mapping[str, Any]) -> PodInfo | None:
    """The monitor's view of a pod object (``None`` without a UID)."""
    meta = pod.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    if not uid:
        return None
    ref = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    spec = pod.get("spec") or {}
    names = tuple(
        str(c.get("name", ""))
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        if isinstance(c, Mapping)
    )
    annotations = meta.get("annotations") or {}
    mig_value = annotations.get(MIG_ALLOCATIONS)
    mig = _mig_entries(ref, mig_value) if isinstance(mig_value, str) and mig_value else ()
    return PodInfo(uid, str(meta.get("namespace", "")), str(meta.get("name", "")), names, mig)
