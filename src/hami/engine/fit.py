"""Pod-level fit onto one node (spec §4.4): every container, every vendor it asks, in order.

Per container the vendors are fitted in sorted cw order. A backend's ``fit_container`` gets only
the devices its own inventory returned for the node, in try order (``order_devices`` by the pod's
GPU policy). Before any fit a vendor whose largest request wants more devices than the node has
of it fails the node with ``NodeInsufficientDevice`` (not for a vendor with a partitioned, MIG,
device here). Init containers are each fitted against the node as it is (they run one after
another; within one container vendors cannot see each other's devices); app containers are
fitted sequentially against one shared working copy, so later containers see earlier ones. A
node fits only if every container fits. Namespace quota: one :class:`QuotaRoom` per vendor whose
backend checks quota in its fit, shared by the app containers, copied for each init container.
Pure: nothing here mutates the node passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hami.api.types import ContainerDevices, PodSingleDevice
from hami.device.base import (
    NODE_INSUFFICIENT_DEVICE,
    DeviceFitter,
    DeviceUsage,
    FitContext,
    QuotaRoom,
    add_usage,
    format_reasons,
)
from hami.engine.plan import PodPlan
from hami.engine.policy import order_devices, topology
from hami.engine.usage import MigAllocation, NodeUsage

VendorQuota = tuple[tuple[str, int | None, int | None], ...]
"""(cw, MiB left, cores left) per vendor whose quota the fit checks; None = unlimited."""


@dataclass(frozen=True, slots=True)
class NodeFit:
    """Result of fitting a whole pod on one node: devices per vendor and container, or why not."""

    devices: dict[str, PodSingleDevice] | None
    """cw -> per-container device lists (init first, ``()`` where a container asks nothing of
    that vendor), for every vendor the pod asks."""
    reason: str = ""
    mig: tuple[MigAllocation, ...] = ()


def insufficient(node: NodeUsage, plan: PodPlan) -> bool:
    """A vendor's largest request wants more devices than the node has of it."""
    vendors = node.vendors
    for cw, nums in plan.need:
        if nums > len(vendors.get(cw, ())) and cw not in node.partitioned:
            return True
    return False


def fit_pod(
    node: NodeUsage,
    plan: PodPlan,
    fitters: Mapping[str, DeviceFitter],
    quota: VendorQuota | None = None,
    *,
    reason_only: bool = False,
) -> NodeFit:
    """Fit every container of the pod on ``node`` (which is left untouched).

    ``reason_only`` skips the policy ordering: for a node already known not to fit, only the
    per-reason counts matter and they do not depend on the order.
    """
    if insufficient(node, plan):
        return NodeFit(None, NODE_INSUFFICIENT_DEVICE)
    vendors = node.vendors
    rooms = {cw: QuotaRoom(mem, cores) for cw, mem, cores in quota} if quota else {}
    init_count = plan.init_count
    apps = plan.app_count
    shared: Mapping[str, list[DeviceUsage]] = vendors
    by_id: dict[str, dict[str, DeviceUsage]] = {}
    if apps > 1:
        shared = {cw: [d.copy() for d in devs] for cw, devs in vendors.items()}
        by_id = {cw: {d.id: d for d in devs} for cw, devs in shared.items()}
    choose = topology.chooser(node.pair_scores) if plan.topology else None
    selections = dict(plan.selections)
    out: dict[str, list[ContainerDevices]] = {cw: [] for cw in selections}
    mig: list[MigAllocation] = []
    contexts: dict[str, FitContext] = {}  # per vendor, for app containers (and quota-free inits)
    for i, ask in enumerate(plan.requests):
        got: dict[str, ContainerDevices] = {}
        is_init = i < init_count
        for req in ask:
            cw = req.type
            devs = vendors[cw] if is_init else shared[cw]
            ordered = (
                devs
                if reason_only
                else order_devices(devs, plan.chain, weights=plan.weights, numa_bind=plan.numa_bind)
            )
            room = rooms.get(cw)
            ctx = contexts.get(cw)
            if ctx is None or (room is not None and is_init):
                if room is not None and is_init:
                    room = QuotaRoom(room.mem, room.cores)
                ctx = FitContext(
                    cordoned=node.cordoned,
                    quota=room,
                    choose=choose,
                    node_annotations=node.annotations,
                    mutex=plan.mutex,
                )
                if not (room is not None and is_init):
                    contexts[cw] = ctx
            res = fitters[cw].fit_container(ordered, req, selections[cw], ctx)
            if res.devices is None:
                total = res.denominator if res.denominator is not None else len(vendors[cw])
                return NodeFit(None, format_reasons(res.reasons, total))
            picks = res.mig or (None,) * len(res.devices)
            for j, (cd, pick) in enumerate(zip(res.devices, picks, strict=True)):
                if not is_init and apps > 1:
                    add_usage(by_id[cw][cd.uuid], cd, pick)
                if pick is not None:
                    mig.append(MigAllocation(i, j, pick.uuid, pick.profile, pick.start, pick.size))
            got[cw] = res.devices
        for cw, per_container in out.items():
            per_container.append(got.get(cw, ()))
    return NodeFit({cw: tuple(c) for cw, c in out.items()}, "", tuple(mig))
