"""Pod-level fit onto one node (spec §4.4): all containers, in order.

Init containers are each fitted against a fresh copy of the node (they run one after another);
app containers are fitted sequentially against one shared copy, so later containers see earlier
ones. A node fits only if every container fits. Pure: nothing here mutates the node passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from hami.api.types import ContainerDevices, PodSingleDevice
from hami.device.nvidia.fit import (
    NODE_INSUFFICIENT_DEVICE,
    QuotaRoom,
    add_usage,
    fit_container,
    format_reasons,
)
from hami.engine.plan import PodPlan
from hami.engine.policy import order_devices, topology
from hami.engine.usage import MigAllocation, NodeUsage


@dataclass(frozen=True, slots=True)
class NodeFit:
    """Result of fitting a whole pod on one node: devices per container, or the reason."""

    devices: PodSingleDevice | None
    reason: str = ""
    mig: tuple[MigAllocation, ...] = ()


def _insufficient(node: NodeUsage, plan: PodPlan) -> bool:
    if node.has_mig:
        return False
    n = len(node.devices)
    return any(r is not None and r.nums > n for r in plan.requests)


def fit_pod(
    node: NodeUsage,
    plan: PodPlan,
    quota: tuple[int | None, int | None] | None,
    *,
    reason_only: bool = False,
) -> NodeFit:
    """Fit every container of the pod on ``node`` (which is left untouched).

    ``reason_only`` skips the policy ordering: for a node already known not to fit, only the
    per-reason counts matter and they do not depend on the order.
    """
    if _insufficient(node, plan):
        return NodeFit(None, NODE_INSUFFICIENT_DEVICE)
    room = QuotaRoom(*quota) if quota is not None else None
    apps = sum(1 for i, r in enumerate(plan.requests) if r and i >= plan.init_count)
    shared = [d.copy() for d in node.devices] if apps > 1 else node.devices
    by_id = {d.id: d for d in shared}
    choose = topology.chooser(node.pair_scores) if topology.NAME in plan.chain else None
    out: list[ContainerDevices] = []
    mig: list[MigAllocation] = []
    for i, req in enumerate(plan.requests):
        if req is None or req.nums <= 0:
            out.append(())
            continue
        is_init = i < plan.init_count
        devs = node.devices if is_init else shared
        ordered = (
            devs
            if reason_only
            else order_devices(
                devs, plan.chain, weights=plan.weights, numa_bind=plan.selection.numa_bind
            )
        )
        c_room = QuotaRoom(room.mem, room.cores) if (room is not None and is_init) else room
        res = fit_container(
            ordered, req, plan.selection, cordoned=node.cordoned, quota=c_room, choose=choose
        )
        if res.devices is None:
            return NodeFit(None, format_reasons(res.reasons, len(node.devices)))
        for j, (cd, pick) in enumerate(zip(res.devices, res.mig, strict=True)):
            if not is_init and apps > 1:
                add_usage(by_id[cd.uuid], cd, pick)
            if pick is not None:
                mig.append(MigAllocation(i, j, pick.uuid, pick.profile, pick.start, pick.size))
        out.append(res.devices)
    return NodeFit(tuple(out), "", tuple(mig))
