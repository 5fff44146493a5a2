"""Bind's node locks per vendor (vendors §0.2, §2.7, §14): in sorted cw order each distinct lock
of the vendors the pod's app containers ask for, the shared lock once, a vendor's own bare-time
lock beside it, and on any failure the locks taken released in reverse order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.api.nodelock import format_lock, parse_lock
from hami.config.devices import DeviceConfig
from hami.device.base import SHARED_LOCK
from hami.device.registry import DeviceRegistry
from hami.k8s import errors
from hami.k8s.fake import FakeKube
from hami.k8s.informer import Backoff
from hami.scheduler import events
from hami.scheduler.bind import SHARED, Binder, BindLock, asks_for_devices, bind_locks
from hami.scheduler.nodelock import NodeLocker
from hami.webhook.backends import device_backends
from tests.component.scheduler.objects import bind_args, container, make_node, make_pod
from tests.support.fake_backends import FakeBackend, backends, shared

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
OWN_LOCK = "mlux.io/dsmlu.lock"
#: A Cambricon-like vendor (own bare-time lock) and a DCU-like one (shared lock).
MLUX = FakeBackend("MLUX", "mlux.io", lock_annotation=OWN_LOCK)
DCUX = shared("DCUX", "dcux.io")
BACKENDS = {**backends(MLUX, DCUX), "NVIDIA": device_backends(DeviceConfig())["NVIDIA"]}
GPU = "GPU-n1-00,NVIDIA,1000,0:;"
DECISION = {"hami.io/vgpu-node": "n1", "hami.io/vgpu-devices-to-allocate": GPU,
            "hami.io/vgpu-devices-allocated": GPU}  # fmt: skip


def _ctr(name: str = "main", *, gpu: bool = True, **devices: int) -> dict[str, Any]:
    """A container asking NVIDIA (optional) and ``<domain>=count`` fake devices."""
    ctr = container(name, gpumem=1000) if gpu else {"name": name, "image": "busybox"}
    limits = ctr.setdefault("resources", {}).setdefault("limits", {})
    for domain, count in devices.items():
        limits[f"{domain}.io/dev"] = str(count)
    return ctr


def _pod(name: str = "p", **kw: Any) -> dict[str, Any]:
    return make_pod(name, uid=f"uid-{name}", annotations=dict(DECISION), **kw)


# --- which locks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("containers", "init", "expected"),
    [
        ([_ctr()], [], [SHARED]),
        ([_ctr(mlux=1)], [], [BindLock(OWN_LOCK, "bare-time"), SHARED]),
        ([_ctr(gpu=False, mlux=1)], [], [BindLock(OWN_LOCK, "bare-time")]),
        ([_ctr(dcux=1, mlux=1)], [], [SHARED, BindLock(OWN_LOCK, "bare-time")]),
        ([_ctr(gpu=False, dcux=1), _ctr("b", gpu=False, mlux=2)], [],
         [SHARED, BindLock(OWN_LOCK, "bare-time")]),
        ([_ctr()], [_ctr("init", gpu=False, mlux=1)], [SHARED]),
        ([_ctr(gpu=False)], [_ctr("init", gpu=False, mlux=1)], [SHARED]),
    ],
    ids=["nvidia", "nvidia+own-lock", "own-lock-only", "shared-once-in-cw-order",
         "two-containers", "init-containers-ignored", "init-only-shared-fallback"],
)  # fmt: skip
def test_bind_locks(
    containers: list[dict[str, Any]], init: list[dict[str, Any]], expected: list[BindLock]
) -> None:
    pod = make_pod("p", containers=containers, init_containers=init)
    assert bind_locks(pod, BACKENDS) == expected


def test_unreadable_request_counts_as_asking() -> None:
    pod = make_pod("p", containers=[_ctr(gpu=False, mlux=1)])
    pod["spec"]["containers"][0]["resources"]["limits"]["mlux.io/dev"] = "lots"
    with pytest.raises(DecodeError):
        MLUX.container_requests(pod)
    assert bind_locks(pod, BACKENDS) == [BindLock(OWN_LOCK, "bare-time")]
    assert asks_for_devices(pod, BACKENDS)


def test_asks_for_devices_of_any_vendor() -> None:
    assert asks_for_devices(make_pod("p", containers=[_ctr(gpu=False, dcux=1)]), BACKENDS)
    assert asks_for_devices(make_pod("p", init_containers=[_ctr(gpu=False, dcux=1)],
                                     containers=[_ctr(gpu=False)]), BACKENDS)  # fmt: skip
    assert not asks_for_devices(make_pod("p", containers=[_ctr(gpu=False)]), BACKENDS)
    assert asks_for_devices(make_pod("p", containers=[_ctr(gpu=False)]), None)


# --- bind end to end on the fake cluster ---------------------------------------------------


class _Recorder(FakeKube):
    """Records every node annotation patch, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.node_patches: list[dict[str, Any]] = []

    async def patch_node_metadata(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.node_patches.append(dict(kwargs.get("annotations") or {}))
        return await super().patch_node_metadata(name, **kwargs)


def _binder(kube: FakeKube, wait_s: float = 0.0) -> Binder:
    locker = NodeLocker(kube, clock=lambda: NOW, backoff=Backoff(0.001, 2, 0.01, 0))
    return Binder(
        kube, locker, events.EventRecorder(kube, host="test"),
        cached_pod=lambda ref: None, cached_node=lambda name: None, clock=lambda: NOW,
        registry=DeviceRegistry.of(DeviceConfig(), BACKENDS.values()), lock_retry_timeout_s=wait_s,
    )  # fmt: skip


def _setup(node_annotations: dict[str, str] | None = None) -> _Recorder:
    kube = _Recorder()
    kube.add("nodes", make_node("n1", annotations=node_annotations))
    return kube


def _node_annotations(kube: FakeKube) -> dict[str, str]:
    return dict(kube.get("nodes", "", "n1")["metadata"].get("annotations") or {})


async def test_multi_vendor_pod_takes_each_lock_once_in_order() -> None:
    kube = _setup()
    pod = kube.add("pods", _pod(containers=[_ctr(dcux=1, mlux=1)]))
    result = await _binder(kube).bind(bind_args(pod, "n1"))
    assert result == {"Error": ""}
    assert [list(p) for p in kube.node_patches] == [[SHARED_LOCK], [OWN_LOCK]]
    anns = _node_annotations(kube)
    assert parse_lock(anns[SHARED_LOCK]).owned_by("default", "p")
    assert anns[OWN_LOCK] == "2026-05-01T12:00:00Z"
    assert kube.get("pods", "default", "p")["spec"]["nodeName"] == "n1"


async def test_held_own_lock_refuses_and_releases_the_shared_lock() -> None:
    held = (NOW - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube = _setup({OWN_LOCK: held})
    pod = kube.add("pods", _pod(containers=[_ctr(dcux=1, mlux=1)]))
    result = await _binder(kube).bind(bind_args(pod, "n1"))
    assert result["Error"] == (
        "bind pod default/p to node n1: node n1 has been locked within 2 minutes"
    )
    anns = _node_annotations(kube)
    assert SHARED_LOCK not in anns  # taken first, released on the failure
    assert anns[OWN_LOCK] == held  # someone else's: left alone
    assert not kube.get("pods", "default", "p")["spec"].get("nodeName")


async def test_shared_lock_contention_releases_the_own_lock_taken_before() -> None:
    other = format_lock(NOW - timedelta(seconds=5), "other", "owner")
    kube = _setup({SHARED_LOCK: other})
    kube.add("pods", make_pod("owner", namespace="other", annotations={
        "hami.io/vgpu-node": "n1", "hami.io/vgpu-devices-to-allocate": GPU}))  # fmt: skip
    pod = kube.add("pods", _pod(containers=[_ctr(mlux=1)]))
    result = await _binder(kube).bind(bind_args(pod, "n1"))
    assert "node lock contention (held by other/owner)" in result["Error"]
    assert [list(p) for p in kube.node_patches] == [[OWN_LOCK], [OWN_LOCK]]
    assert kube.node_patches[1] == {OWN_LOCK: None}  # taken, then released
    anns = _node_annotations(kube)
    assert OWN_LOCK not in anns and anns[SHARED_LOCK] == other


async def test_failed_binding_releases_every_lock_in_reverse_order() -> None:
    kube = _setup()
    pod = kube.add("pods", _pod(containers=[_ctr(dcux=1, mlux=1)]))
    kube.fail_next("bind_pod", errors.ServerError("apiserver down", status=500))
    result = await _binder(kube).bind(bind_args(pod, "n1"))
    assert "apiserver down" in result["Error"]
    assert kube.node_patches == [
        {SHARED_LOCK: kube.node_patches[0][SHARED_LOCK]},
        {OWN_LOCK: "2026-05-01T12:00:00Z"},
        {OWN_LOCK: None},
        {SHARED_LOCK: None},
    ]
    anns = _node_annotations(kube)
    assert SHARED_LOCK not in anns and OWN_LOCK not in anns


async def test_pod_asking_nothing_binds_without_locks() -> None:
    kube = _setup()
    plain = make_pod("plain", uid="uid-plain", containers=[_ctr(gpu=False)])
    pod = kube.add("pods", plain)
    assert await _binder(kube).bind(bind_args(pod, "n1")) == {"Error": ""}
    assert kube.node_patches == []


def test_a_stale_decision_is_cleared_of_every_vendors_annotations() -> None:
    from hami.config.devices import DeviceConfig
    from hami.device.registry import DeviceRegistry
    from hami.scheduler.bind import decision_keys

    keys = decision_keys(DeviceRegistry.from_config(DeviceConfig(), enable_ascend=True))
    assert keys[:4] == (
        "hami.io/vgpu-node", "hami.io/vgpu-devices-to-allocate",
        "hami.io/vgpu-devices-allocated", "hami.io/vgpu-mig-allocations",
    )  # fmt: skip
    for key in ("hami.io/dcu-devices-allocated", "hami.io/cambricon-mlu-devices-to-allocate",
                "hami.io/Ascend910B3-devices-allocated"):  # fmt: skip
        assert key in keys
    assert len(keys) == len(set(keys))
