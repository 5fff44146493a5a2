"""The pod plan: everything about a pod the fit needs, derived once per Filter (requests,
device filters, GPU policy chain, scoring weights, node policy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hami.api.types import ContainerRequest
from hami.config.devices import NvidiaConfig
from hami.device.nvidia.fit import Selection, selection_from_annotations
from hami.device.nvidia.request import container_requests
from hami.engine.policy import (
    is_node_policy,
    mutex,
    node_prefers_high,
    parse_chain,
    unknown_gpu_policies,
)
from hami.engine.score import ScoringWeights, parse_weights

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
