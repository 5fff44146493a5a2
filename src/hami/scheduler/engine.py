"""Pod-level fit of an NVIDIA pod onto one node (spec §4.4): all containers, in order.

Init containers are each fitted against a fresh copy of the node (they run one after another);
app containers are fitted sequentially against one shared copy, so later containers see earlier
ones. A node fits only if every container fits. Pure: nothing here mutates the node passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hami.api.types import ContainerDevices, ContainerRequest, PodSingleDevice
from hami.config.devices import NvidiaConfig
from hami.device.nvidia.fit import (
    NODE_INSUFFICIENT_DEVICE,
    QuotaRoom,
    Selection,
    add_usage,
    fit_container,
    format_reasons,
    selection_from_annotations,
)
from hami.device.nvidia.request import container_requests
from hami.device.nvidia.score import ScoringWeights, parse_weights
from hami.scheduler.policy import (
    is_node_policy,
    mutex,
    node_prefers_high,
    order_devices,
    parse_chain,
    topology,
    unknown_gpu_policies,
)
from hami.scheduler.usage import MigAllocation, NodeUsage

NODE_POLICY_ANNOTATION = "hami.io/node-scheduler-policy"
GPU_POLICY_ANNOTATION = "hami.io/gpu-scheduler-policy"
WEIGHTS_ANNOTATION = "hami.io/device-scoring-weights"


@dataclass(frozen=True, slots=True)
class PodPlan:
    """Everything about a pod the fit needs, derived once per Filter."""

    requests: tuple[ContainerRequest | None, ...]
    init_count: int
    selection: Selection
    chain: tuple[str, ...]
    weights: ScoringWeights
    node_prefers_high: bool
    ignored: tuple[tuple[str, str], ...] = ()
    """(annotation, value) of policy names in the pod's annotations that are no policy: the
    filter goes on with the default, as HAMi does; the service tells the pod in an Event."""

    @property
    def managed(self) -> bool:
        return any(r is not None and r.nums > 0 for r in self.requests)


@dataclass(frozen=True, slots=True)
class NodeFit:
    """Result of fitting a whole pod on one node: devices per container, or the reason."""

    devices: PodSingleDevice | None
    reason: str = ""
    mig: tuple[MigAllocation, ...] = ()


def plan_pod(
    pod: Mapping[str, Any], cfg: NvidiaConfig, *, node_policy: str, gpu_policy: str
) -> PodPlan:
    """Derive requests, filters and policies; raises DecodeError or WeightsError on bad input."""
    annotations: Mapping[str, str] = (pod.get("metadata") or {}).get("annotations") or {}
    chain = parse_chain(annotations.get(GPU_POLICY_ANNOTATION) or gpu_policy)
    spec = pod.get("spec") or {}
    ignored = [(GPU_POLICY_ANNOTATION, name) for name in
               unknown_gpu_policies(annotations.get(GPU_POLICY_ANNOTATION) or "")]  # fmt: skip
    node_value = (annotations.get(NODE_POLICY_ANNOTATION) or "").strip()
    if node_value and not is_node_policy(node_value):
        ignored.append((NODE_POLICY_ANNOTATION, node_value))
    return PodPlan(
        requests=tuple(container_requests(pod, cfg)),
        init_count=len(spec.get("initContainers") or []),
        selection=selection_from_annotations(annotations, mutex=mutex.NAME in chain),
        chain=chain,
        weights=parse_weights(annotations.get(WEIGHTS_ANNOTATION)),
        node_prefers_high=node_prefers_high(
            annotations.get(NODE_POLICY_ANNOTATION) or node_policy, node_policy
        ),
        ignored=tuple(ignored),
    )


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
