# ruff: noqa: E501  (one table row per line reads best)
"""Admission rules of spec §6, one table row per rule.

Each row gives a pod, a config, and the expected outcome: either a denial (code and a message
fragment) or the expected pod. For admitted pods the test goes through the full
AdmissionReview path, decodes the base64 JSONPatch, applies it with the independent
``jsonpatch`` library and compares with the expected pod.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jsonpatch
import pytest

from hami.config.devices import parse_device_config
from hami.webhook.mutate import AdmissionContext, mutate_pod, review

GPU, MEM, PCT, CORES, PRIO = (
    "nvidia.com/gpu",
    "nvidia.com/gpumem",
    "nvidia.com/gpumem-percentage",
    "nvidia.com/gpucores",
    "nvidia.com/priority",
)
Pod = dict[str, Any]


def ctr(name: str = "main", limits: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "cuda:12"}
    if limits is not None:
        c["resources"] = {"limits": dict(limits)}
    c.update(extra)
    return c


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None, **spec: Any) -> Pod:
    p: Pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ml"},
        "spec": {"containers": list(containers), **spec},
    }
    if init is not None:
        p["spec"]["initContainers"] = init
    return p


def edit(p: Pod, *fns: Callable[[Pod], None]) -> Pod:
    out = copy.deepcopy(p)
    for fn in fns:
        fn(out)
    return out


def sched(name: str = "hami-scheduler") -> Callable[[Pod], None]:
    def fn(p: Pod) -> None:
        p["spec"]["schedulerName"] = name

    return fn


def limit(i: int, key: str, value: str, init: bool = False) -> Callable[[Pod], None]:
    def fn(p: Pod) -> None:
        c = p["spec"]["initContainers" if init else "containers"][i]
        c.setdefault("resources", {}).setdefault("limits", {})[key] = value

    return fn


def env(i: int, name: str, value: str) -> Callable[[Pod], None]:
    def fn(p: Pod) -> None:
        p["spec"]["containers"][i].setdefault("env", []).append({"name": name, "value": value})

    return fn


@dataclass
class Case:
    id: str
    pod: Pod
    expected: Pod | None = None
    """Expected pod after the patch; None means unchanged (no patch at all)."""
    config: dict[str, Any] = field(default_factory=dict)
    ctx: dict[str, Any] = field(default_factory=dict)
    denied: tuple[int, str] | None = None
    managed: bool = True
    """Whether the pod is routed to hami-scheduler (checked when ``expected`` is set)."""


P_GPU = pod(ctr(limits={GPU: 1}))
P_MEM = pod(ctr(limits={GPU: 1, MEM: 3000}))
P_MEM_ONLY = pod(ctr(limits={MEM: 3000}))
P_DEFAULT = pod(ctr(limits={GPU: 1, MEM: 1}), schedulerName="default-scheduler")
P_TWO = pod(ctr("gpu", {GPU: 1, MEM: 10}), ctr("side", {"cpu": "1"}))
P_CPU = pod(ctr("web", {"cpu": "1"}), init=[ctr("setup")])
P_CPU_DEFAULT = pod(ctr("web", {"cpu": "1"}), schedulerName="default-scheduler")


def env_init(i: int, name: str, value: str) -> Callable[[Pod], None]:
    def fn(p: Pod) -> None:
        p["spec"]["initContainers"][i].setdefault("env", []).append({"name": name, "value": value})

    return fn


def meta(key: str, value: Any) -> Callable[[Pod], None]:
    def fn(p: Pod) -> None:
        p["metadata"][key] = value

    return fn


def deep(levels: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(levels):
        out = {"f:x": out}
    return out


CASES = [
    # --- step 2: scheduler-name routing ---------------------------------------------------
    Case("empty-scheduler-set", P_MEM, edit(P_MEM, sched())),
    Case("default-scheduler-overwritten", P_DEFAULT, edit(P_DEFAULT, sched())),
    Case("default-scheduler-kept-without-force",
         pod(ctr(limits={GPU: 1, MEM: 1}), schedulerName="default-scheduler"),
         ctx={"force_overwrite_default_scheduler": False}),
    Case("custom-scheduler-left-alone", pod(ctr(limits={GPU: 1}), schedulerName="volcano")),
    Case("already-hami-nothing-to-do", pod(ctr(limits={GPU: 1, MEM: 1}), schedulerName="hami-scheduler")),
    Case("custom-hami-name", P_MEM, edit(P_MEM, sched("my-sched")), ctx={"scheduler_name": "my-sched"}),
    Case("no-scheduler-name-configured", P_MEM, ctx={"scheduler_name": ""}),
    Case("no-gpu-pod-untouched", pod(ctr(limits={"cpu": "1"}))),
    # --- issue 13.1: pods without GPUs still get HAMi v2.10's env, and keep their scheduler ---
    Case("no-gpu-pod-core-policy-every-container", P_CPU,
         edit(P_CPU, env(0, "GPU_CORE_UTILIZATION_POLICY", "force"), env_init(0, "GPU_CORE_UTILIZATION_POLICY", "force")),
         config={"gpuCorePolicy": "force"}, managed=False),
    Case("no-gpu-pod-overwrite-env-every-container", P_CPU,
         edit(P_CPU, env(0, "NVIDIA_VISIBLE_DEVICES", "none"), env_init(0, "NVIDIA_VISIBLE_DEVICES", "none")),
         config={"overwriteEnv": True}, managed=False),
    Case("no-gpu-pod-keeps-default-scheduler", P_CPU_DEFAULT,
         edit(P_CPU_DEFAULT, env(0, "GPU_CORE_UTILIZATION_POLICY", "disable"), env(0, "NVIDIA_VISIBLE_DEVICES", "none")),
         config={"overwriteEnv": True, "gpuCorePolicy": "disable"}, managed=False),
    Case("no-gpu-pod-privileged-still-allowed", pod(ctr(securityContext={"privileged": True})),
         edit(pod(ctr(securityContext={"privileged": True})), env(0, "NVIDIA_VISIBLE_DEVICES", "none")),
         config={"overwriteEnv": True}, managed=False),
    Case("no-gpu-pod-node-name-still-allowed", pod(ctr(), nodeName="n1"),
         edit(pod(ctr(), nodeName="n1"), env(0, "NVIDIA_VISIBLE_DEVICES", "none")),
         config={"overwriteEnv": True}, managed=False),
    Case("no-gpu-pod-no-quota-check", P_CPU, edit(P_CPU, env(0, "NVIDIA_VISIBLE_DEVICES", "none"), env_init(0, "NVIDIA_VISIBLE_DEVICES", "none")),
         config={"overwriteEnv": True}, ctx={"quota_check": lambda ns, mem, cores, vendor: "over"}, managed=False),
    # --- step 3: nvidia.com/gpu defaulting --------------------------------------------------
    Case("gpu-defaulted-from-mem", P_MEM_ONLY, edit(P_MEM_ONLY, limit(0, GPU, "1"), sched())),
    Case("gpu-defaulted-from-cores", pod(ctr(limits={CORES: 30})),
         edit(pod(ctr(limits={CORES: 30})), limit(0, GPU, "1"), sched())),
    Case("gpu-defaulted-from-pct", pod(ctr(limits={PCT: 30})),
         edit(pod(ctr(limits={PCT: 30})), limit(0, GPU, "1"), sched())),
    Case("gpu-default-num-2", P_MEM_ONLY, edit(P_MEM_ONLY, limit(0, GPU, "2"), sched()),
         config={"defaultGPUNum": 2}),
    Case("gpu-default-num-0-no-default", P_MEM_ONLY, config={"defaultGPUNum": 0}),
    # --- step 3: exclusive defaulting --------------------------------------------------------
    Case("exclusive-gpu-only", P_GPU, edit(P_GPU, limit(0, CORES, "100"), sched())),
    Case("exclusive-pct-100", pod(ctr(limits={GPU: 1, PCT: 100})),
         edit(pod(ctr(limits={GPU: 1, PCT: 100})), limit(0, CORES, "100"), sched())),
    Case("not-exclusive-pct-50", pod(ctr(limits={GPU: 1, PCT: 50})),
         edit(pod(ctr(limits={GPU: 1, PCT: 50})), sched())),
    Case("not-exclusive-with-mem", P_MEM, edit(P_MEM, sched())),
    Case("explicit-cores-kept", pod(ctr(limits={GPU: 1, CORES: 20})),
         edit(pod(ctr(limits={GPU: 1, CORES: 20})), sched())),
    Case("exclusive-init-container", pod(ctr(limits={"cpu": 1}), init=[ctr("init", {GPU: 1})]),
         edit(pod(ctr(limits={"cpu": 1}), init=[ctr("init", {GPU: 1})]),
              limit(0, CORES, "100", init=True), sched())),
    # --- step 3: gpumem-percentage range -----------------------------------------------------
    Case("pct-101-denied", pod(ctr("trainer", {GPU: 1, PCT: 101})), denied=(500, "trainer")),
    Case("pct-negative-denied", pod(ctr("trainer", {GPU: 1, PCT: -5})), denied=(500, "between 0 and 100")),
    # --- issue 13.10: units and ranges HAMi silently drops or clamps are denied, saying why ---
    Case("pct-0-denied", pod(ctr("t", {GPU: 1, PCT: 0})), denied=(400, "gpumem-percentage must be between 1 and 100")),
    Case("gpumem-gi-denied", pod(ctr("t", {GPU: 1, MEM: "3Gi"})), denied=(400, "number of MiB, written without a unit: write 3072 for 3 GiB")),
    Case("gpumem-mi-denied", pod(ctr("t", {GPU: 1, MEM: "3000Mi"})), denied=(400, "write 3000 for 3000 MiB")),
    Case("gpumem-g-denied", pod(ctr("t", {GPU: 1, MEM: "3G"})), denied=(400, "more than any GPU has (at most 16777216); if you meant bytes, write 2862")),
    # The real apiserver stores quantities canonically before admission: 3000 arrives as "3k".
    Case("gpumem-canonical-k-allowed", pod(ctr(limits={GPU: 1, MEM: "3k"})), edit(pod(ctr(limits={GPU: 1, MEM: "3k"})), sched())),
    Case("gpumem-canonical-M-allowed", pod(ctr(limits={GPU: 1, MEM: "1M"})), edit(pod(ctr(limits={GPU: 1, MEM: "1M"})), sched())),
    Case("gpumem-factor-in-hint", pod(ctr("t", {GPU: 1, MEM: "4Gi"})), denied=(400, "write 4 for 4 GiB (memoryFactor 1024"),
         config={"memoryFactor": 1024}),
    Case("gpumem-negative-denied", pod(ctr("t", {GPU: 1, MEM: -1})), denied=(400, "t limits[nvidia.com/gpumem]: nvidia.com/gpumem must not be negative")),
    Case("gpumem-bytes-denied", pod(ctr("t", {GPU: 1, MEM: "3221225472"})), denied=(400, "if you meant bytes, write 3072")),
    Case("gpumem-fraction-denied", pod(ctr("t", {GPU: 1, MEM: "1.5"})), denied=(400, "whole number of MiB")),
    Case("gpumem-in-requests-named", pod(ctr("t", resources={"requests": {GPU: 1, MEM: "1Gi"}})), denied=(400, "requests[nvidia.com/gpumem]")),
    Case("gpumem-0-allowed", pod(ctr(limits={GPU: 1, MEM: 0})), edit(pod(ctr(limits={GPU: 1, MEM: 0})), sched())),
    Case("gpumem-exponent-allowed", pod(ctr(limits={GPU: 1, MEM: "3e3"})), edit(pod(ctr(limits={GPU: 1, MEM: "3e3"})), sched())),
    Case("gpucores-101-denied", pod(ctr("t", {GPU: 1, CORES: 101})), denied=(400, "gpucores is a percentage of one GPU's compute and must be between 0 and 100")),
    Case("gpucores-negative-denied", pod(ctr("t", {GPU: 1, CORES: -1})), denied=(400, "between 0 and 100")),
    # --- step 3: env injection -----------------------------------------------------------------
    Case("priority-env", pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 1})),
         edit(pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 1})), env(0, "CUDA_TASK_PRIORITY", "1"), sched())),
    Case("priority-env-appended", pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 0}, env=[{"name": "A", "value": "b"}])),
         edit(pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 0}, env=[{"name": "A", "value": "b"}])),
              env(0, "CUDA_TASK_PRIORITY", "0"), sched())),
    Case("priority-env-appended-after-existing", pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 1},
         env=[{"name": "CUDA_TASK_PRIORITY", "value": "0"}])),
         edit(pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 1}, env=[{"name": "CUDA_TASK_PRIORITY", "value": "0"}])),
              env(0, "CUDA_TASK_PRIORITY", "1"), sched())),
    Case("priority-env-keeps-value-from", pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 1},
         env=[{"name": "CUDA_TASK_PRIORITY", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])),
         edit(pod(ctr(limits={GPU: 1, MEM: 1, PRIO: 1},
                      env=[{"name": "CUDA_TASK_PRIORITY", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])),
              env(0, "CUDA_TASK_PRIORITY", "1"), sched())),
    Case("priority-env-on-no-gpu-container", pod(ctr(limits={PRIO: 0})),
         edit(pod(ctr(limits={PRIO: 0})), env(0, "CUDA_TASK_PRIORITY", "0")), managed=False),
    Case("core-policy-env-every-container", P_TWO,
         edit(P_TWO, env(0, "GPU_CORE_UTILIZATION_POLICY", "force"), env(1, "GPU_CORE_UTILIZATION_POLICY", "force"), sched()),
         config={"gpuCorePolicy": "force"}),
    Case("overwrite-env-on-non-gpu-container", P_TWO,
         edit(P_TWO, env(1, "NVIDIA_VISIBLE_DEVICES", "none"), sched()), config={"overwriteEnv": True}),
    # --- step 3: runtimeClassName ---------------------------------------------------------------
    Case("runtime-class-set", P_MEM,
         edit(P_MEM, sched(), lambda p: p["spec"].__setitem__("runtimeClassName", "nvidia")),
         config={"runtimeClassName": "nvidia"}),
    Case("runtime-class-kept", pod(ctr(limits={GPU: 1, MEM: 1}), runtimeClassName="kata"),
         edit(pod(ctr(limits={GPU: 1, MEM: 1}), runtimeClassName="kata"), sched()),
         config={"runtimeClassName": "nvidia"}),
    Case("runtime-class-empty-string-kept", pod(ctr(limits={GPU: 1, MEM: 1}), runtimeClassName=""),
         edit(pod(ctr(limits={GPU: 1, MEM: 1}), runtimeClassName=""), sched()),
         config={"runtimeClassName": "nvidia"}),
    Case("runtime-class-null-filled", pod(ctr(limits={GPU: 1, MEM: 1}), runtimeClassName=None),
         edit(pod(ctr(limits={GPU: 1, MEM: 1}), runtimeClassName="nvidia"), sched()),
         config={"runtimeClassName": "nvidia"}),
    # --- step 4: privileged -----------------------------------------------------------------------
    Case("privileged-gpu-denied", pod(ctr("cuda", {GPU: 1}, securityContext={"privileged": True})),
         denied=(403, "'cuda' is privileged")),
    Case("privileged-init-denied", pod(ctr(limits={GPU: 1}),
         init=[ctr("setup", securityContext={"privileged": True})]), denied=(403, "'setup'")),
    Case("privileged-without-gpu-allowed", pod(ctr(securityContext={"privileged": True}))),
    # --- step 5: nodeName ----------------------------------------------------------------------------
    Case("node-name-denied", pod(ctr(limits={GPU: 1}), nodeName="n1"), denied=(403, "node assigned")),
    Case("node-name-without-gpu-allowed", pod(ctr(), nodeName="n1")),
    # --- step 1: zero containers, decode errors ----------------------------------------------------
    Case("zero-containers-denied", pod(), denied=(403, "no containers")),
    Case("bad-quantity-400", pod(ctr("x", {GPU: 1, PCT: "lots"})), denied=(400, "nvidia.com/gpumem-percentage")),
    Case("bad-containers-type-400", {"metadata": {}, "spec": {"containers": ["oops"]}}, denied=(400, "spec.containers[0]: expected an object")),
    # --- issue 13.9: odd shapes are denied naming the member, never a 500 ------------------------
    Case("annotation-bool-denied", edit(P_GPU, meta("annotations", {"nvidia.com/numa-bind": True})),
         denied=(400, 'pod ml/p: metadata.annotations["nvidia.com/numa-bind"]: expected a string (quote the value in YAML)')),
    Case("annotation-number-denied", edit(P_GPU, meta("annotations", {"nvidia.com/use-gputype": 3090})), denied=(400, "use-gputype")),
    Case("policy-annotation-number-denied", edit(P_GPU, meta("annotations", {"hami.io/gpu-scheduler-policy": 1})), denied=(400, "gpu-scheduler-policy")),
    Case("annotations-list-denied", edit(P_GPU, meta("annotations", ["x"])), denied=(400, "metadata.annotations: expected an object")),
    Case("labels-string-denied", edit(P_GPU, meta("labels", "x")), denied=(400, "metadata.labels: expected an object")),
    Case("containers-string-denied", {"metadata": {"name": "p"}, "spec": {"containers": "abc"}}, denied=(400, "pod default/p: spec.containers: expected a list")),
    Case("limit-bool-denied", pod(ctr("t", {GPU: True})), denied=(400, 'spec.containers[0].resources.limits["nvidia.com/gpu"]')),
    Case("privileged-string-denied", pod(ctr("t", {GPU: 1}, securityContext={"privileged": "yes"})), denied=(400, "privileged: expected true or false")),
    Case("deeply-nested-denied", edit(P_GPU, meta("managedFields", [{"fieldsV1": deep(5000)}])), denied=(400, "nested too deeply")),
    # --- label selectors (chart namespaceSelector / objectSelector) ------------------------------
    Case("pod-ignore-label", edit(P_GPU, lambda p: p["metadata"].__setitem__("labels", {"hami.io/webhook": "ignore"}))),
    Case("namespace-ignore-label", P_GPU, ctx={"namespace_labels": {"hami.io/webhook": "ignore"}}),
    Case("namespace-other-label", P_MEM, edit(P_MEM, sched()), ctx={"namespace_labels": {"team": "a"}}),
    # --- step 6: quota ------------------------------------------------------------------------------
    Case("quota-denied", P_MEM, ctx={"quota_check": lambda ns, mem, cores, vendor: f"{ns} {mem} {cores}"},
         denied=(403, "exceeding resource quota: ml 3000 0")),
    Case("quota-prefix-said-once", P_MEM, ctx={"quota_check": lambda ns, mem, cores, vendor: f"exceeding resource quota {ns}/q: gpumem {mem} over 100"},
         denied=(403, "pod ml/p: exceeding resource quota ml/q: gpumem 3000 over 100")),
    Case("quota-ok", P_MEM, edit(P_MEM, sched()), ctx={"quota_check": lambda ns, mem, cores, vendor: None}),
    # --- custom resource names ---------------------------------------------------------------------
    Case("renamed-resources", pod(ctr(limits={"x.io/vmem": 5})),
         edit(pod(ctr(limits={"x.io/vmem": 5})), limit(0, "x.io/vgpu", "1"), sched()),
         config={"resourceCountName": "x.io/vgpu", "resourceMemoryName": "x.io/vmem"}),
]  # fmt: skip


def _ctx(case: Case) -> AdmissionContext:
    cfg = parse_device_config({"nvidia": case.config})
    return AdmissionContext(config=cfg, **case.ctx)


def _review(obj: Pod) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u-1", "operation": "CREATE", "object": obj},
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case) -> None:
    out = review(_review(case.pod), _ctx(case))
    assert out["apiVersion"] == "admission.k8s.io/v1"
    assert out["kind"] == "AdmissionReview"
    resp = out["response"]
    assert resp["uid"] == "u-1"
    if case.denied is not None:
        code, fragment = case.denied
        assert resp["allowed"] is False
        assert resp["status"]["code"] == code
        assert fragment in resp["status"]["message"]
        assert resp["status"]["message"].count("exceeding resource quota") <= 1
        assert "patch" not in resp
        return
    assert resp["allowed"] is True
    if case.expected is None:
        assert "patch" not in resp
        return
    assert resp["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(resp["patch"]))
    assert jsonpatch.apply_patch(case.pod, ops) == case.expected


@pytest.mark.parametrize("case", [c for c in CASES if c.denied is None], ids=lambda c: c.id)
def test_mutate_pod_matches_review(case: Case) -> None:
    result = mutate_pod(case.pod, _ctx(case))
    assert result.allowed
    assert result.pod == (case.expected or case.pod)
    if case.expected is not None:
        assert result.managed is case.managed


def test_input_pod_is_not_modified() -> None:
    original = copy.deepcopy(P_GPU)
    mutate_pod(P_GPU, _ctx(Case("x", P_GPU)))
    assert original == P_GPU


def test_quota_gets_effective_request() -> None:
    seen: list[tuple[str, int, int, str]] = []

    def check(ns: str, mem: int, cores: int, vendor: str) -> None:
        seen.append((ns, mem, cores, vendor))

    p = pod(
        ctr("cpu-only", {"cpu": "1"}),
        ctr("a", {GPU: 2, MEM: 1000, CORES: 10}),
        ctr("b", {GPU: 1, MEM: 500, CORES: 5}),
        init=[ctr("i", {GPU: 1, MEM: 4000, CORES: 0})],
    )
    ctx = replace(_ctx(Case("x", p)), quota_check=check)
    assert mutate_pod(p, ctx).allowed
    # app: 2x1000 + 500 = 2500 MiB, 2x10 + 5 = 25 cores; init: 4000 MiB, 0 cores.
    assert seen == [("ml", 4000, 25, "NVIDIA")]


def test_patch_escapes_slash_in_resource_names() -> None:
    out = review(_review(P_GPU), _ctx(Case("x", P_GPU)))
    ops = json.loads(base64.b64decode(out["response"]["patch"]))
    assert {"op": "add", "path": "/spec/containers/0/resources/limits/nvidia.com~1gpucores",
            "value": "100"} in ops  # fmt: skip
