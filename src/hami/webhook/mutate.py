"""The mutating admission webhook as pure functions (spec §6).

:func:`mutate_pod` decides and mutates a plain pod dict; :func:`review` wraps it in the
AdmissionReview v1 envelope (uid echoed, JSONPatch base64-encoded). Nothing here raises:
malformed input becomes an errored (400) response, invalid pods become denials.
``hami simulate`` calls :func:`mutate_pod` so pods pass admission exactly as the webhook would.

Every registered device backend (:attr:`AdmissionContext.backends`, sorted by cw) validates and
mutates every init and app container; a pod any of them finds gets our scheduler, each finding
vendor's pod-level changes, and a quota pre-check per finding vendor (``max(sum over app
containers, max over init containers)`` of its requests). A vendor's refusal is a one-line denial
naming pod and container.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hami.api.admission import API_VERSION, KIND, PATCH_TYPE_JSON, JsonPatchOp
from hami.api.annotations import WEBHOOK_IGNORE_LABEL, WEBHOOK_IGNORE_VALUE
from hami.api.errors import DecodeError
from hami.api.podshape import check_pod_shape, pod_ref
from hami.config.devices import DeviceConfig
from hami.device.base import DeviceBackend
from hami.device.common import pod_containers
from hami.webhook.backends import device_backends
from hami.webhook.jsonpatch import diff

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER = "default-scheduler"
HAMI_SCHEDULER = "hami-scheduler"
QUOTA_DENIAL = "exceeding resource quota"
"""Start of every quota denial; said once even when the quota check's message starts with it."""


class QuotaCheck(Protocol):
    """``quota_check(namespace, mem_mib, cores, vendor_cw)``: a denial message or None."""

    def __call__(self, namespace: str, mem: int, cores: int, vendor: str, /) -> str | None: ...


#: ``namespace_lookup(namespace)`` returns the namespace's labels, or None when unknown.
NamespaceLookup = Callable[[str], "Mapping[str, str] | None"]


@dataclass(frozen=True)
class AdmissionContext:
    """Everything the webhook needs, built once by the caller and passed in."""

    config: DeviceConfig
    scheduler_name: str = HAMI_SCHEDULER
    force_overwrite_default_scheduler: bool = True
    namespace_labels: Mapping[str, str] | None = None
    """Fixed labels assumed for every namespace (tests, ``hami simulate``)."""
    quota_check: QuotaCheck | None = None
    namespace_lookup: NamespaceLookup | None = None
    """Labels of the pod's namespace (e.g. from a namespace cache), so that
    ``hami.io/webhook=ignore`` on a namespace is honoured even when the webhook configuration
    has no namespaceSelector. Unknown namespace or failed lookup: only the pod's labels count."""
    backends: Mapping[str, DeviceBackend] = field(default_factory=dict, repr=False, compare=False)
    """The registered device backends by cw, kept sorted (empty: those of ``config`` alone,
    without the Ascend and Iluvatar flags)."""

    def __post_init__(self) -> None:
        backends = dict(sorted((self.backends or device_backends(self.config)).items()))
        object.__setattr__(self, "backends", backends)


@dataclass(frozen=True)
class MutationResult:
    """Outcome of admission for one pod.

    ``pod`` is the mutated pod when allowed (the original when skipped or denied); ``patch``
    turns the original into ``pod``; ``code`` is 200, 400 (bad input), 403 (denied) or 500.
    """

    allowed: bool
    pod: dict[str, Any]
    patch: list[JsonPatchOp] = field(default_factory=list)
    message: str = ""
    code: int = 200
    managed: bool = False


def _pod_namespace(pod: Mapping[str, Any], fallback: str | None = None) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or fallback or "default")


def _namespace_labels(namespace: str, ctx: AdmissionContext) -> Mapping[str, str]:
    labels = dict(ctx.namespace_labels or {})
    if ctx.namespace_lookup is None:
        return labels
    try:
        found = ctx.namespace_lookup(namespace)
    except Exception as exc:  # a broken lookup must not break admission
        log.warning("namespace %s: label lookup failed, judging by pod labels only: %s",
                    namespace, exc)  # fmt: skip
        return labels
    if found is None:
        log.debug("namespace %s: labels unknown, judging by pod labels only", namespace)
        return labels
    labels.update(found)
    return labels


def _ignored(pod: Mapping[str, Any], ctx: AdmissionContext, namespace: str) -> bool:
    """``hami.io/webhook=ignore`` on the pod or on its namespace (the chart's selectors)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if labels.get(WEBHOOK_IGNORE_LABEL) == WEBHOOK_IGNORE_VALUE:
        return True
    ns_labels = _namespace_labels(namespace, ctx)
    return ns_labels.get(WEBHOOK_IGNORE_LABEL) == WEBHOOK_IGNORE_VALUE


def _other_scheduler(pod: Mapping[str, Any], ctx: AdmissionContext) -> bool:
    """Spec §6 step 2: leave pods of other custom schedulers alone."""
    name = (pod.get("spec") or {}).get("schedulerName") or ""
    if not name or name == ctx.scheduler_name:
        return False
    return name != DEFAULT_SCHEDULER or not ctx.force_overwrite_default_scheduler


def _deny(pod: dict[str, Any], message: str, code: int = 403) -> MutationResult:
    return MutationResult(allowed=False, pod=pod, message=message, code=code)


def _containers_mut(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _mutate_containers(pod: dict[str, Any], ctx: AdmissionContext) -> tuple[list[str], str | None]:
    """Run every vendor over every container (init first); returns (the cws found, in order;
    a denial message)."""
    ref = pod_ref(pod)
    found: list[str] = []
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    for ctr in _containers_mut(pod):
        for cw, backend in ctx.backends.items():
            try:
                problem = backend.validate_container(ctr, annotations)
                asks = not problem and backend.mutate_container(ctr, annotations)
            except DecodeError:
                raise
            except ValueError as exc:
                problem = str(exc)
            if problem:
                return found, f"pod {ref}: {_in_container(ctr, problem)}"
            if asks and cw not in found:
                found.append(cw)
    return found, None


def _in_container(ctr: Mapping[str, Any], problem: str) -> str:
    """``problem`` on one line, naming the container unless it does already."""
    text = " ".join(str(problem).split())
    where = f"container {ctr.get('name', '')!s}"
    return text if text.startswith(where) else f"{where}: {text}"


def _privileged_container(pod: Mapping[str, Any]) -> str | None:
    for ctr in pod_containers(pod):
        if ((ctr.get("securityContext") or {}).get("privileged")) is True:
            return str(ctr.get("name", ""))
    return None


def _quota_usage(pod: Mapping[str, Any], backend: DeviceBackend) -> tuple[int, int]:
    """One vendor's effective (MiB, cores) = max(sum over app containers, max over init
    containers) of ``memreq x nums`` and ``coresreq x nums``."""
    n_init = len((pod.get("spec") or {}).get("initContainers") or [])
    mem_app = cores_app = mem_init = cores_init = 0
    for i, req in enumerate(backend.container_requests(pod)):
        if req is None:
            continue
        mem, cores = req.memreq * req.nums, req.coresreq * req.nums
        if i < n_init:
            mem_init, cores_init = max(mem_init, mem), max(cores_init, cores)
        else:
            mem_app, cores_app = mem_app + mem, cores_app + cores
    return max(mem_app, mem_init), max(cores_app, cores_init)


def _finish(
    original: dict[str, Any],
    pod: dict[str, Any],
    ctx: AdmissionContext,
    namespace: str | None,
    found: list[str],
) -> MutationResult:
    """Steps 4-7 for a pod found to use managed resources."""
    ref = pod_ref(pod)
    privileged = _privileged_container(pod)
    if privileged is not None:
        return _deny(
            original,
            f"pod {ref}: container {privileged!r} is privileged; privileged containers "
            "cannot be given HAMi-managed GPU resources",
        )
    for cw in found:
        ctx.backends[cw].mutate_pod(pod)
    spec = pod.setdefault("spec", {})
    if ctx.scheduler_name:
        if spec.get("nodeName"):
            return _deny(
                original,
                f"pod {ref} has node assigned ({spec['nodeName']}); pods using GPU resources "
                f"must be scheduled by {ctx.scheduler_name}",
            )
        spec["schedulerName"] = ctx.scheduler_name
    if ctx.quota_check is not None:
        for cw in found:
            mem, cores = _quota_usage(pod, ctx.backends[cw])
            problem = ctx.quota_check(_pod_namespace(pod, namespace), mem, cores, cw)
            if problem:
                if not problem.startswith(QUOTA_DENIAL):
                    problem = f"{QUOTA_DENIAL}: {problem}"
                return _deny(original, f"pod {ref}: {problem}")
    return MutationResult(allowed=True, pod=pod, patch=diff(original, pod), managed=True)


def mutate_pod(
    pod: Mapping[str, Any], ctx: AdmissionContext, *, namespace: str | None = None
) -> MutationResult:
    """Admit one pod (a plain dict, as in the AdmissionReview object).

    ``namespace`` is the request's namespace, used when the pod object carries none.
    """
    original: dict[str, Any] = dict(pod) if isinstance(pod, Mapping) else {}
    try:
        check_pod_shape(pod)
        original = copy.deepcopy(original)
        if _ignored(original, ctx, _pod_namespace(original, namespace)):
            return MutationResult(allowed=True, pod=original)
        if not (original.get("spec") or {}).get("containers"):
            return _deny(original, f"pod {pod_ref(original)} has no containers")
        if _other_scheduler(original, ctx):
            return MutationResult(allowed=True, pod=original)
        mutated = copy.deepcopy(original)
        found, problem = _mutate_containers(mutated, ctx)
        if problem:
            return _deny(original, problem, code=500)
        if not found:
            # As HAMi v2.10: a pod without managed resources keeps its scheduler, but still
            # gets the env its containers were given (core policy, overwriteEnv).
            return MutationResult(allowed=True, pod=mutated, patch=diff(original, mutated))
        return _finish(original, mutated, ctx, namespace, found)
    except DecodeError as exc:
        return _deny(original, f"pod {pod_ref(original)}: {exc}", code=400)
    except RecursionError:
        return _deny(original, f"pod {pod_ref(original)}: object nested too deeply", code=400)
    except (AttributeError, TypeError, KeyError) as exc:
        return _deny(original, f"pod {pod_ref(original)}: malformed pod: {exc}", code=400)


def _response(review_in: Mapping[str, Any], uid: str, body: dict[str, Any]) -> dict[str, Any]:
    api_version = review_in.get("apiVersion")
    if api_version not in (API_VERSION, "admission.k8s.io/v1beta1"):
        api_version = API_VERSION
    return {"apiVersion": api_version, "kind": KIND, "response": {"uid": uid, **body}}


def _errored(review_in: Mapping[str, Any], uid: str, message: str, code: int) -> dict[str, Any]:
    return _response(
        review_in, uid, {"allowed": False, "status": {"code": code, "message": message}}
    )


def encode_patch(ops: list[JsonPatchOp]) -> str:
    """Base64 of the compact JSON patch, as AdmissionResponse.patch carries it."""
    return base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()


def _is_pod(req: Mapping[str, Any], obj: Any) -> bool:
    """Whether the request is about a Pod itself (not another kind, not a subresource).

    ``request.kind`` decides; without it, the object's own ``kind``; without both, a Pod.
    """
    if req.get("subResource"):
        return False
    kind = req.get("kind")
    if isinstance(kind, Mapping):
        return kind.get("kind") == "Pod" and not kind.get("group")
    if isinstance(obj, Mapping) and obj.get("kind") is not None:
        return obj.get("kind") == "Pod" and obj.get("apiVersion", "v1") == "v1"
    return True


def review(request: Mapping[str, Any], ctx: AdmissionContext) -> dict[str, Any]:
    """AdmissionReview in, AdmissionReview out. Never raises."""
    if not isinstance(request, Mapping):
        return _errored({}, "", "AdmissionReview must be a JSON object", 400)
    req = request.get("request")
    if not isinstance(req, Mapping):
        return _errored(request, "", "AdmissionReview has no request", 400)
    uid = req.get("uid")
    uid = uid if isinstance(uid, str) else ""
    if req.get("operation", "CREATE") != "CREATE":
        return _response(request, uid, {"allowed": True})
    obj = req.get("object")
    if not _is_pod(req, obj):
        return _response(request, uid, {"allowed": True})
    if not isinstance(obj, Mapping):
        return _errored(request, uid, "AdmissionReview request has no pod object", 400)
    namespace = req.get("namespace")
    result = mutate_pod(obj, ctx, namespace=namespace if isinstance(namespace, str) else None)
    if not result.allowed:
        log.info("admission denied: %s", result.message)
        return _errored(request, uid, result.message, result.code)
    body: dict[str, Any] = {"allowed": True}
    if result.patch:
        body.update(patch=encode_patch(result.patch), patchType=PATCH_TYPE_JSON)
    return _response(request, uid, body)
