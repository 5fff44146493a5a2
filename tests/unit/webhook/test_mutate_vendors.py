"""The webhook over every registered backend (vendors §14 "Webhook"): each vendor mutates every
init and app container, any finding vendor gives the pod our scheduler and its pod-level changes,
quota is checked per finding vendor, and a vendor's refusal is a one-line denial naming pod and
container."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from hami.config.devices import DeviceConfig, parse_device_config
from hami.webhook.backends import device_backends
from hami.webhook.mutate import AdmissionContext, mutate_pod
from tests.support.fake_backends import FakeBackend, backends


def _ctr(name: str, limits: dict[str, str] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "x"}
    if limits:
        c["resources"] = {"limits": dict(limits)}
    return c


def _pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"},
            "spec": spec}  # fmt: skip


def _ctx(*fakes: FakeBackend, runtime_class: str = "", **kw: Any) -> AdmissionContext:
    cfg = parse_device_config({"nvidia": {"runtimeClassName": runtime_class}})
    found = {**backends(*fakes), "NVIDIA": device_backends(cfg)["NVIDIA"]}
    return AdmissionContext(cfg, backends=found, **kw)


def test_a_pod_of_another_vendor_gets_our_scheduler_and_only_its_pod_changes() -> None:
    fake = FakeBackend(lock_style="owner")
    ctx = _ctx(fake, runtime_class="nvidia")
    out = mutate_pod(_pod(_ctr("a", {"fake.io/dev": "1"}), init=[_ctr("i")]), ctx)
    assert out.allowed and out.managed
    assert out.pod["spec"]["schedulerName"] == "hami-scheduler"
    assert out.pod["spec"]["containers"][0]["env"] == [{"name": "FAKE_SEEN", "value": "1"}]
    assert "runtimeClassName" not in out.pod["spec"]  # NVIDIA's pod change: not asked for
    assert fake.pod_mutations == ["p"]


def test_init_containers_are_mutated_too() -> None:
    fake = FakeBackend()
    out = mutate_pod(_pod(_ctr("a"), init=[_ctr("i", {"fake.io/dev": "1"})]), _ctx(fake))
    assert out.managed
    assert out.pod["spec"]["initContainers"][0]["env"] == [{"name": "FAKE_SEEN", "value": "1"}]


def test_no_vendor_found_keeps_the_scheduler() -> None:
    fake = FakeBackend()
    out = mutate_pod(_pod(_ctr("a", {"cpu": "1"})), _ctx(fake))
    assert out.allowed and not out.managed
    assert "schedulerName" not in out.pod["spec"]
    assert fake.pod_mutations == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"fake.io/refuse": "1"}, "pod ml/p: container b: FAKE refuses this"),
        ({"fake.io/explode": "1"}, "pod ml/p: container b: FAKE cannot mutate this"),
    ],
    ids=["refusal", "mutation-error"],
)  # fmt: skip
def test_vendor_refusal_is_a_one_line_denial(limits: dict[str, str], message: str) -> None:
    out = mutate_pod(_pod(_ctr("a"), _ctr("b", limits)), _ctx(FakeBackend()))
    assert not out.allowed
    assert out.code == 500
    assert out.message == message


def test_quota_is_checked_per_finding_vendor_with_its_factor() -> None:
    seen: list[tuple[str, int, int, str]] = []

    def check(ns: str, mem: int, cores: int, vendor: str) -> str | None:
        seen.append((ns, mem, cores, vendor))
        return "over" if vendor == "FAKE" and mem > 5000 else None

    fake = FakeBackend(memory_factor=256)
    gpu = {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "1000"}
    p = _pod(
        _ctr("a", {"fake.io/dev": "2", "fake.io/mem": "4", "fake.io/cores": "10", **gpu}),
        _ctr("b", {"fake.io/dev": "1", "fake.io/mem": "2"}),
        init=[_ctr("i", {"fake.io/dev": "1", "fake.io/mem": "16"})],
    )
    out = mutate_pod(p, _ctx(fake, quota_check=check))
    # FAKE app: 2 x 4 x 256 + 2 x 256 = 2560 MiB, 20 cores; init: 4096 MiB -> 4096, 20
    assert seen == [("ml", 4096, 20, "FAKE"), ("ml", 1000, 0, "NVIDIA")]
    assert out.allowed
    seen.clear()
    p["spec"]["initContainers"][0]["resources"]["limits"]["fake.io/mem"] = "20"
    denied = mutate_pod(p, _ctx(fake, quota_check=check))
    assert denied.message == "pod ml/p: exceeding resource quota: over"
    assert seen == [("ml", 5120, 20, "FAKE")]  # the first denial ends the check


class _ModeAware(FakeBackend):
    """A vendor whose admission reads a pod annotation (Ascend's vNPU mode)."""

    def __init__(self) -> None:
        super().__init__("MODE", "mode.io")
        self.seen: list[Mapping[str, str] | None] = []

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        self.seen.append(pod_annotations)
        return None

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        self.seen.append(pod_annotations)
        return False


def test_pod_annotations_reach_vendors_that_take_them() -> None:
    mode = _ModeAware()
    p = _pod(_ctr("a"))
    p["metadata"]["annotations"] = {"huawei.com/vnpu-mode": "hami-core"}
    ctx = _ctx(mode)
    mutate_pod(p, ctx)
    assert mode.seen == [{"huawei.com/vnpu-mode": "hami-core"}] * 2


def test_default_backends_come_from_the_config() -> None:
    ctx = AdmissionContext(DeviceConfig())
    assert list(ctx.backends) == sorted(ctx.backends)
    assert "NVIDIA" in ctx.backends
