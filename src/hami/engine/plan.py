"""The pod plan: everything about a pod the fit needs, derived once per Filter.

Every registered backend derives its per-container requests; a container may ask several vendors
(one request per vendor). Vendors are kept in **sorted cw order** (the registry's order), which
is the order they are fitted in within a container (HAMi's is Go map order, random). Also read
once: each asked vendor's device filters (``pod_selection``), the GPU policy chain, the scoring
weights, ``nvidia.com/numa-bind`` and the node policy.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from hami.api.annotations import NUMA_BIND
from hami.api.types import ContainerRequest
from hami.config.devices import DeviceConfig
from hami.device.common import GO_TRUE
from hami.device.registry import DeviceRegistry
from hami.engine.policy import (
    is_node_policy,
    mutex,
    node_prefers_high,
    parse_chain,
    topology,
    unknown_gpu_policies,
)
from hami.engine.score import ScoringWeights, parse_weights

NODE_POLICY_ANNOTATION = "hami.io/node-scheduler-policy"
GPU_POLICY_ANNOTATION = "hami.io/gpu-scheduler-policy"
WEIGHTS_ANNOTATION = "hami.io/device-scoring-weights"

ContainerAsk = tuple[ContainerRequest, ...]
"""One container's requests, one per vendor asked (``type`` = the cw), in cw order."""


@dataclass(frozen=True, slots=True)
class PodPlan:
    """Everything about a pod the fit needs, derived once per Filter (hashable)."""

    requests: tuple[ContainerAsk, ...]
    """Per container (init first): the requests with ``nums > 0``; ``()`` = asks nothing."""
    init_count: int
    selections: tuple[tuple[str, Hashable], ...]
    """(cw, the backend's ``pod_selection``) of every vendor the pod asks, in cw order."""
    chain: tuple[str, ...]
    weights: ScoringWeights
    node_prefers_high: bool
    numa_bind: bool = False
    app_count: int = 0
    """App containers that ask for something (more than one: they share a working copy)."""
    need: tuple[tuple[str, int], ...] = ()
    """(cw, the most devices one container asks of it), for the device-count pre-check."""
    ignored: tuple[tuple[str, str], ...] = ()
    """(annotation, value) of policy names in the pod's annotations that are no policy: the
    filter goes on with the default, as HAMi does; the service tells the pod in an Event."""

    @property
    def managed(self) -> bool:
        return bool(self.selections)

    @property
    def vendors(self) -> tuple[str, ...]:
        """The cws the pod asks for, sorted."""
        return tuple(cw for cw, _ in self.selections)

    def selection(self, cw: str) -> Any:
        """The pod's device filters for vendor ``cw`` (None when it asks nothing of it)."""
        return next((s for v, s in self.selections if v == cw), None)

    @property
    def mutex(self) -> bool:
        """The GPU policy chain holds ``mutex``: a used device is skipped."""
        return mutex.NAME in self.chain

    @property
    def topology(self) -> bool:
        return topology.NAME in self.chain


def plan_pod(
    pod: Mapping[str, Any],
    registry: DeviceRegistry | DeviceConfig,
    *,
    node_policy: str,
    gpu_policy: str,
) -> PodPlan:
    """Derive requests, filters and policies; raises DecodeError or WeightsError on bad input.

    ``registry`` may be a bare :class:`DeviceConfig` (its default registry is built)."""
    if isinstance(registry, DeviceConfig):
        registry = DeviceRegistry.from_config(registry)
    annotations: Mapping[str, str] = (pod.get("metadata") or {}).get("annotations") or {}
    chain = parse_chain(annotations.get(GPU_POLICY_ANNOTATION) or gpu_policy)
    spec = pod.get("spec") or {}
    ignored = [(GPU_POLICY_ANNOTATION, name) for name in
               unknown_gpu_policies(annotations.get(GPU_POLICY_ANNOTATION) or "")]  # fmt: skip
    node_value = (annotations.get(NODE_POLICY_ANNOTATION) or "").strip()
    if node_value and not is_node_policy(node_value):
        ignored.append((NODE_POLICY_ANNOTATION, node_value))
    asked: list[tuple[str, list[ContainerRequest | None]]] = []
    selections: list[tuple[str, Hashable]] = []
    for cw, backend in registry.backends.items():
        reqs = backend.container_requests(pod)
        if any(r is not None and r.nums > 0 for r in reqs):
            asked.append((cw, reqs))
            selections.append((cw, backend.pod_selection(annotations)))
    requests: tuple[ContainerAsk, ...]
    if len(asked) == 1:  # the common case: one vendor
        requests = tuple((r,) if r is not None and r.nums > 0 else () for r in asked[0][1])
    else:
        per_container: list[list[ContainerRequest]] = []
        for _, reqs in asked:
            for i, r in enumerate(reqs):
                while len(per_container) <= i:
                    per_container.append([])
                if r is not None and r.nums > 0:
                    per_container[i].append(r)
        requests = tuple(tuple(c) for c in per_container)
    init_count = len(spec.get("initContainers") or [])
    return PodPlan(
        requests=requests,
        init_count=init_count,
        selections=tuple(selections),
        chain=chain,
        weights=parse_weights(annotations.get(WEIGHTS_ANNOTATION)),
        node_prefers_high=node_prefers_high(
            annotations.get(NODE_POLICY_ANNOTATION) or node_policy, node_policy
        ),
        numa_bind=annotations.get(NUMA_BIND, "").strip() in GO_TRUE,
        app_count=sum(1 for c in requests[init_count:] if c),
        need=tuple(
            (cw, max(r.nums for ask in requests for r in ask if r.type == cw))
            for cw, _ in selections
        ),
        ignored=tuple(ignored),
    )
