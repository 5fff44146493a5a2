"""Bind's last check under the node lock: does the pod's decision still fit the node?

Each replica decides from its own cache, and two replicas (or a stale cache) may pick the same GPU
for two pods. The node lock serialises binds per node, so Bind re-validates the pod's devices
(every vendor's allocated annotation, e.g. ``hami.io/vgpu-devices-allocated``, equal to
``-to-allocate`` at bind time) against the node's inventory (every vendor's, e.g.
``hami.io/node-nvidia-register``) and the allocations of the pods already bound there, all read
fresh from the API by the caller. Pure: plain dicts in, a reason or None out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hami.api.annotations import VGPU_NODE
from hami.api.errors import DecodeError
from hami.api.types import DeviceInfo
from hami.device.base import MIG_MODE
from hami.device.registry import DeviceRegistry
from hami.engine.state import held_devices, pod_mig_from_annotations
from hami.engine.usage import DeviceCharge, MigAllocation, pod_charges

TERMINAL_PHASES = ("Succeeded", "Failed")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _ref(pod: Mapping[str, Any]) -> str:
    meta = _meta(pod)
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def holds_devices(pod: Mapping[str, Any], node: str, exclude_uid: str, exclude_ref: str) -> bool:
    """Whether a pod listed on ``node`` counts against it: not finished, not the pod binding."""
    meta = _meta(pod)
    if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return False
    if (pod.get("spec") or {}).get("nodeName") != node:
        return False
    uid = str(meta.get("uid") or "")
    return not ((exclude_uid and uid == exclude_uid) or _ref(pod) == exclude_ref)


def misfit(
    pod: Mapping[str, Any],
    node: Mapping[str, Any],
    others: Iterable[Mapping[str, Any]],
    registry: DeviceRegistry,
) -> str | None:
    """Why ``pod``'s decision no longer fits ``node`` next to ``others`` (the pods bound there),
    or None when it fits. Garbage in ``others`` counts as nothing (the cache skips it too)."""
    name = str(_meta(node).get("name") or "")
    ref = _ref(pod)
    placed = (_meta(pod).get("annotations") or {}).get(VGPU_NODE)
    if placed != name:
        return f"pod {ref} is placed on node {placed!r}, not {name}"
    try:
        mine = held_devices(pod, registry)
    except DecodeError as exc:
        return f"pod {ref}: {exc}"
    if mine is None:
        return f"pod {ref} has no device decision"
    inventory: dict[str, DeviceInfo] = {}
    for cw, per_container in mine[0].items():
        if not any(per_container):
            continue
        backend = registry.backends[cw]
        try:
            found = backend.node_devices(node)
        except DecodeError as exc:
            return f"node {name}: {exc}"
        if not found:
            where = backend.register_annotation
            return f"node {name} has no {where} annotation" if where else (
                f"node {name} has no {cw} devices")  # fmt: skip
        inventory.update((d.id, d) for d in found)
    used: dict[str, DeviceCharge] = {}
    placements: dict[str, list[tuple[int, int]]] = {}
    for other in others:
        try:
            theirs = held_devices(other, registry)
            their_mig = pod_mig_from_annotations(other)
        except DecodeError:
            continue
        if theirs is None:
            continue
        for uuid, c in pod_charges(*theirs).items():
            total = used.setdefault(uuid, DeviceCharge())
            total.used += c.used
            total.mem += c.mem
            total.cores += c.cores
        for m in their_mig:
            placements.setdefault(m.uuid, []).append((m.start, m.size))
    devices, init_count = mine
    peak_cores: dict[str, int] = {}
    for per_vendor in devices.values():
        for container in per_vendor:
            for cd in container:
                peak_cores[cd.uuid] = max(peak_cores.get(cd.uuid, 0), cd.usedcores)
    try:
        my_mig = pod_mig_from_annotations(pod)
    except DecodeError as exc:
        return f"pod {ref}: {exc}"
    for uuid, c in sorted(pod_charges(devices, init_count).items()):
        why = _gpu_misfit(inventory.get(uuid), uuid, c, used.get(uuid, DeviceCharge()),
                          peak_cores.get(uuid, 0), my_mig, placements.get(uuid, []))  # fmt: skip
        if why is not None:
            return f"pod {ref} on node {name}: GPU {uuid} {why}"
    return None


def _gpu_misfit(
    dev: DeviceInfo | None,
    uuid: str,
    mine: DeviceCharge,
    theirs: DeviceCharge,
    peak_cores: int,
    my_mig: Iterable[MigAllocation],
    taken: list[tuple[int, int]],
) -> str | None:
    if dev is None:
        return "is not registered on the node"
    if theirs.used + mine.used > dev.count:
        return f"has no free slot ({theirs.used} of {dev.count} taken)"
    if dev.mode == MIG_MODE:
        for m in my_mig:
            if m.uuid == uuid and any(
                m.start < start + size and start < m.start + m.size for start, size in taken
            ):
                return f"MIG placement {m.start}+{m.size} is taken"
        return None
    if theirs.mem + mine.mem > dev.devmem:
        return f"has {dev.devmem - theirs.mem} MiB free, the pod needs {mine.mem}"
    if theirs.cores + mine.cores > dev.devcore:
        return f"has {dev.devcore - theirs.cores} cores free, the pod needs {mine.cores}"
    if theirs.used and theirs.cores >= dev.devcore:
        return "is fully booked by another pod's cores"
    if theirs.used and dev.devcore == 100 and peak_cores == 100:
        return "is shared already; the pod needs it exclusively"
    return None
