"""Every vendor end to end on the stand-ins: webhook (AdmissionReview) -> kube-scheduler stand-in
-> our ``/filter`` and ``/bind`` -> annotations, node locks and handshakes in the apiserver.

Per vendor a node carries that vendor's register annotation (or, for Cambricon, its capacity),
a pod asks for one card and is admitted, filtered and bound; the test checks the node chosen,
the exact pod annotations, the lock(s) held until the test (playing the vendor's device plugin)
deletes them, and the handshake the scheduler wrote. Then ``hami scheduler`` is restarted, so
its usage can only come from the first pod's allocated annotation: a pod asking more than the
rest of the card stays Pending with the vendor's reason, one asking exactly the rest binds to
the same card. Plus multi-vendor pods and a vendor pod on a node without that vendor.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from hami.api.nodelock import parse_lock
from tests.integration.stack import bound, events, wait_for
from tests.integration.vendor_stack import (
    MLU_LOCK,
    SHARED_LOCK,
    VendorPluginStandIn,
    allocate,
    anns_of,
    node,
    pod,
    submit,
    vendor_plane,
)
from tests.support.apiserver import ApiServerThread

ASCEND_UUID = "npu-910b3-0"
ILUVATAR_UUID = "GPU-bad51c5a-ed4c-591d-91bf-c04a12e19eae"
REQUESTING = re.compile(r"^Requesting_\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
NVIDIA_REGISTER = json.dumps([{
    "id": "GPU-mixed-0", "index": 0, "count": 10, "devmem": 16384, "devcore": 100,
    "type": "NVIDIA-Tesla T4", "numa": 0, "mode": "hami-core", "health": True,
}])  # fmt: skip
ASCEND_REGISTER = json.dumps([{
    "id": ASCEND_UUID, "index": 0, "count": 4, "devmem": 65536, "devcore": 20,
    "type": "Ascend910B3", "health": True, "custominfo": {"NetworkID": 0},
}])  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One vendor's node, its three pods' limits and what the first one must get."""

    vendor: str
    node: dict[str, Any]
    first: dict[str, str]
    expected: dict[str, str]
    """Exact pod annotations of the first pod besides ``vgpu-node``/``vgpu-time``; a value
    ``<now>`` must be the decision's Unix time."""
    too_big: dict[str, str]
    reason: str
    rest: dict[str, str]
    allocated_key: str
    rest_allocated: str
    locks: tuple[str, ...] = (SHARED_LOCK,)
    handshake: str | None = None
    admitted: dict[str, Any] = field(default_factory=dict)
    """What our webhook must have written into the first pod's container (limits, env)."""
    pod_meta: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "cambricon",
        # 2 cards of 128 x 256 x 100 / 200 = 16384 MiB; kube-scheduler counts vmemory/vcore.
        node("mlu-node", {}, {"cambricon.com/mlu.smlu.vcore": "200",
                              "cambricon.com/mlu.smlu.vmemory": "128",
                              "cambricon.com/vmlu": "2"}),
        {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "16",
         "cambricon.com/mlu.smlu.vcore": "20"},
        {"hami.io/cambricon-mlu-devices-to-allocate": "mlu-node-cambricon-mlu-0,MLU,4096,20:;",
         "hami.io/cambricon-mlu-devices-allocated": "mlu-node-cambricon-mlu-0,MLU,4096,20:;",
         "CAMBRICON_DSMLU_ASSIGNED": "false", "CAMBRICON_DSMLU_ASSIGHED": "false",
         "CAMBRICON_DSMLU_PROFILE": "0_20_16"},
        # pinned to card 0: 12288 MiB left there (the node as a whole has room for kube-scheduler)
        {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "56",
         "cambricon.com/mlu.smlu.vcore": "20"},
        "CardInsufficientMemory",
        {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "48",
         "cambricon.com/mlu.smlu.vcore": "80"},
        "hami.io/cambricon-mlu-devices-allocated",
        "mlu-node-cambricon-mlu-0,MLU,12288,80:;",
        locks=(MLU_LOCK,),
        pod_meta={"annotations": {"cambricon.com/use-gpuuuid": "mlu-node-cambricon-mlu-0"}},
    ),
    Case(
        "hygon",
        node("dcu-node", {"hami.io/node-dcu-register": "DCU-0001,4,16384,100,DCU,0,true:"},
             {"hygon.com/dcunum": "4"}),
        {"hygon.com/dcunum": "1", "hygon.com/dcumem": "12000", "hygon.com/dcucores": "30"},
        {"hami.io/dcu-devices-to-allocate": "DCU-0001,DCU,12000,30:;",
         "hami.io/dcu-devices-allocated": "DCU-0001,DCU,12000,30:;"},
        {"hygon.com/dcunum": "1", "hygon.com/dcumem": "8000", "hygon.com/dcucores": "30"},
        "CardInsufficientMemory",
        {"hygon.com/dcunum": "1", "hygon.com/dcumem": "4384", "hygon.com/dcucores": "70"},
        "hami.io/dcu-devices-allocated",
        "DCU-0001,DCU,4384,70:;",
        handshake="hami.io/node-handshake-dcu",
    ),
    Case(
        "ascend",
        node("npu-node", {"hami.io/node-register-Ascend910B3": ASCEND_REGISTER,
                          "hami-vnpu-core": "false"},
             {"huawei.com/Ascend910B3": "4"}),
        # 20000 MiB is rounded up by the webhook to the vir10_3c_32g template (32768)
        {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "20000"},
        {"hami.io/Ascend910B3-devices-to-allocate": f"{ASCEND_UUID},Ascend910B3,32768,0:;",
         "hami.io/Ascend910B3-devices-allocated": f"{ASCEND_UUID},Ascend910B3,32768,0:;",
         "huawei.com/Ascend910B3":
             f'[{{"UUID":"{ASCEND_UUID}","temp":"vir10_3c_32g","memory":32768}}]',
         "predicate-time": "<now>"},
        {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "40000"},  # -> 65536
        "CardInsufficientMemory",
        {"huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "32768"},
        "hami.io/Ascend910B3-devices-allocated",
        f"{ASCEND_UUID},Ascend910B3,32768,0:;",
        handshake="hami.io/node-handshake-Ascend910B3",
        admitted={"limits": {"huawei.com/Ascend910B3-memory": "32768"},
                  "requests": {"huawei.com/Ascend910B3-memory": "32768"}},
    ),
    Case(
        "iluvatar",
        node("ilu-node", {"hami.io/node-MR-V100-register":
                          f"{ILUVATAR_UUID},10,8192,100,MR-V100,0,true:"},
             {"iluvatar.ai/MR-V100-vgpu": "10"}),
        {"iluvatar.ai/MR-V100-vgpu": "1", "iluvatar.ai/MR-V100.vMem": "16",
         "iluvatar.ai/MR-V100.vCore": "50"},
        {"hami.io/MR-V100-devices-to-allocate": f"{ILUVATAR_UUID},MR-V100,4096,50:;",
         "hami.io/MR-V100-devices-allocated": f"{ILUVATAR_UUID},MR-V100,4096,50:;"},
        {"iluvatar.ai/MR-V100-vgpu": "1", "iluvatar.ai/MR-V100.vMem": "8",
         "iluvatar.ai/MR-V100.vCore": "60"},
        "CardInsufficientCore",
        {"iluvatar.ai/MR-V100-vgpu": "1", "iluvatar.ai/MR-V100.vMem": "16",
         "iluvatar.ai/MR-V100.vCore": "50"},
        "hami.io/MR-V100-devices-allocated",
        f"{ILUVATAR_UUID},MR-V100,4096,50:;",
        handshake="hami.io/node-handshake-MR-V100",
        admitted={"env": [{"name": "SOL_CONTINER_NAME", "value": "main"}]},
    ),
]  # fmt: skip

DECISION = {"hami.io/vgpu-node", "hami.io/vgpu-time", "hami.io/bind-phase", "hami.io/bind-time"}


def _vendor_annotations(anns: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in anns.items() if k not in DECISION and not k.startswith(
        ("cambricon.com/use", "hami.io/use-"))}  # fmt: skip


def _node_of(api: ApiServerThread, name: str) -> str | None:
    node_name = api.store.get("pods", name)["spec"].get("nodeName")
    return str(node_name) if node_name else None


def _assert_locks(api: ApiServerThread, node_name: str, pod_name: str, locks: tuple[str, ...],
                  ) -> None:  # fmt: skip
    held = anns_of(api, "nodes", node_name)
    for lock in (SHARED_LOCK, MLU_LOCK):
        assert (lock in held) == (lock in locks), (lock, held)
    if SHARED_LOCK in locks:
        assert parse_lock(held[SHARED_LOCK]).owned_by("default", pod_name), held[SHARED_LOCK]
    if MLU_LOCK in locks:  # bare RFC3339 time, no owner
        stamp = datetime.strptime(held[MLU_LOCK], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def _failed_reasons(api: ApiServerThread, name: str) -> list[str]:
    return [str(e["message"]) for e in events(api, "FilteringFailed")
            if e["involvedObject"]["name"] == name]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.vendor for c in CASES])
def test_vendor_pod_end_to_end(apiserver: ApiServerThread, case: Case) -> None:
    node_name = case.node["metadata"]["name"]
    apiserver.store.create(json.loads(json.dumps(case.node)))
    with vendor_plane(apiserver) as (sched, _ks):
        if case.handshake:  # the scheduler's register loop asks the plugin to report
            assert wait_for(
                lambda: bool(
                    REQUESTING.match(
                        anns_of(apiserver, "nodes", node_name).get(case.handshake or "", "")
                    )
                ),
                10,
            )
        first = submit(apiserver, sched, pod("first", ("main", case.first), **case.pod_meta))
        assert first["spec"]["schedulerName"] == "hami-scheduler"
        ctr = first["spec"]["containers"][0]
        if "env" in case.admitted:
            assert ctr.get("env") == case.admitted["env"], ctr
        for key in ("limits", "requests"):
            want = case.admitted.get(key, {})
            assert {k: ctr["resources"].get(key, {}).get(k) for k in want} == want, ctr
        assert wait_for(lambda: _node_of(apiserver, "first") is not None, 20), events(
            apiserver, "FilteringFailed"
        )
        assert _node_of(apiserver, "first") == node_name
        anns = anns_of(apiserver, "pods", "first")
        assert anns["hami.io/vgpu-node"] == node_name
        assert anns["hami.io/bind-phase"] == "allocating"
        expected = dict(case.expected)
        if expected.get("predicate-time") == "<now>":
            expected["predicate-time"] = anns["hami.io/vgpu-time"]
        assert _vendor_annotations(anns) == expected
        _assert_locks(apiserver, node_name, "first", case.locks)
        allocate(apiserver, "first", node_name, list(case.locks))
    # A new scheduler process: the first pod's usage now comes only from its annotation.
    with vendor_plane(apiserver) as (sched, ks):
        submit(apiserver, sched, pod("too-big", ("main", case.too_big), **case.pod_meta))
        assert wait_for(lambda: any(case.reason in m
                                    for m in _failed_reasons(apiserver, "too-big")), 20), (
            _failed_reasons(apiserver, "too-big"))  # fmt: skip
        assert _node_of(apiserver, "too-big") is None
        assert any(f.pod == "default/too-big" for f in ks.failures)
        submit(apiserver, sched, pod("rest", ("main", case.rest), **case.pod_meta))
        assert wait_for(lambda: _node_of(apiserver, "rest") == node_name, 20), (
            _failed_reasons(apiserver, "rest"))  # fmt: skip
        assert anns_of(apiserver, "pods", "rest")[case.allocated_key] == case.rest_allocated
        _assert_locks(apiserver, node_name, "rest", case.locks)
        assert _node_of(apiserver, "too-big") is None


MIXED_NODE = node(
    "mixed-node",
    {"hami.io/node-nvidia-register": NVIDIA_REGISTER,
     "hami.io/node-register-Ascend910B3": ASCEND_REGISTER,
     "hami.io/node-dcu-register": "DCU-0001,4,16384,100,DCU,0,true:"},
    {"nvidia.com/gpu": "10", "huawei.com/Ascend910B3": "4", "hygon.com/dcunum": "4"},
)  # fmt: skip
NPU_16G = f'[{{"UUID":"{ASCEND_UUID}","temp":"vir05_1c_16g","memory":16384}}]'
HANDSHAKES = ("hami.io/node-handshake", "hami.io/node-handshake-Ascend910B3",
              "hami.io/node-handshake-dcu")  # fmt: skip


def test_mixed_vendor_pods_end_to_end(apiserver: ApiServerThread) -> None:
    """An NVIDIA GPU and an Ascend NPU in one container, then a pod with an NVIDIA container
    and a DCU container, on a node carrying all three vendors: one decision, each vendor's
    annotations and none of the vendor the pod did not ask for, the shared lock once."""
    apiserver.store.create(json.loads(json.dumps(MIXED_NODE)))
    with vendor_plane(apiserver) as (sched, _ks):
        assert wait_for(
            lambda: all(k in anns_of(apiserver, "nodes", "mixed-node") for k in HANDSHAKES), 10
        )
        submit(
            apiserver,
            sched,
            pod(
                "gpu-npu",
                (
                    "main",
                    {
                        "nvidia.com/gpu": "1",
                        "nvidia.com/gpumem": "2000",
                        "huawei.com/Ascend910B3": "1",
                        "huawei.com/Ascend910B3-memory": "16384",
                    },
                ),
            ),
        )
        assert wait_for(lambda: _node_of(apiserver, "gpu-npu") == "mixed-node", 20), (
            _failed_reasons(apiserver, "gpu-npu")
        )
        anns = anns_of(apiserver, "pods", "gpu-npu")
        assert _vendor_annotations(anns) == {
            "hami.io/vgpu-devices-to-allocate": "GPU-mixed-0,NVIDIA,2000,0:;",
            "hami.io/vgpu-devices-allocated": "GPU-mixed-0,NVIDIA,2000,0:;",
            "hami.io/Ascend910B3-devices-to-allocate": f"{ASCEND_UUID},Ascend910B3,16384,0:;",
            "hami.io/Ascend910B3-devices-allocated": f"{ASCEND_UUID},Ascend910B3,16384,0:;",
            "huawei.com/Ascend910B3": NPU_16G,
            "predicate-time": anns["hami.io/vgpu-time"],
        }
        _assert_locks(apiserver, "mixed-node", "gpu-npu", (SHARED_LOCK,))
        allocate(apiserver, "gpu-npu", "mixed-node", [SHARED_LOCK])

        submit(
            apiserver,
            sched,
            pod(
                "gpu-and-dcu",
                ("gpu", {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "1000"}),
                ("dcu", {"hygon.com/dcunum": "1", "hygon.com/dcumem": "4000"}),
            ),
        )
        assert wait_for(lambda: _node_of(apiserver, "gpu-and-dcu") == "mixed-node", 20), (
            _failed_reasons(apiserver, "gpu-and-dcu")
        )
        anns = anns_of(apiserver, "pods", "gpu-and-dcu")
        assert _vendor_annotations(anns) == {
            "hami.io/vgpu-devices-to-allocate": "GPU-mixed-0,NVIDIA,1000,0:;;",
            "hami.io/vgpu-devices-allocated": "GPU-mixed-0,NVIDIA,1000,0:;;",
            "hami.io/dcu-devices-to-allocate": ";DCU-0001,DCU,4000,100:;",
            "hami.io/dcu-devices-allocated": ";DCU-0001,DCU,4000,100:;",
        }
        _assert_locks(apiserver, "mixed-node", "gpu-and-dcu", (SHARED_LOCK,))
        allocate(apiserver, "gpu-and-dcu", "mixed-node", [SHARED_LOCK])
        # both pods' usage is on the one GPU
        used = {
            g.uuid: (g.used, g.usedmem, g.usedcores)
            for n in sched.call(lambda r: r.state.nodes())
            for g in n.gpus
            if g.used
        }
        assert used == {
            "GPU-mixed-0": (2, 3000, 0),
            ASCEND_UUID: (1, 16384, 0),
            "DCU-0001": (1, 4000, 100),
        }
    # a new process rebuilds the same usage from the pods' allocated annotations
    with vendor_plane(apiserver) as (sched, _ks):
        assert wait_for(lambda: _usage(sched) == used, 10), _usage(sched)


def _usage(sched: Any) -> dict[str, tuple[int, int, int]]:
    return {
        g.uuid: (g.used, g.usedmem, g.usedcores)
        for n in sched.call(lambda r: r.state.nodes())
        for g in n.gpus
        if g.used
    }


@pytest.mark.parametrize(
    ("limits", "vendor"),
    [({"hygon.com/dcunum": "1"}, "dcu"),
     ({"huawei.com/Ascend910B3": "1"}, "ascend"),
     ({"iluvatar.ai/MR-V100-vgpu": "1"}, "iluvatar")],
    ids=["dcu", "ascend", "iluvatar"],
)  # fmt: skip
def test_vendor_pod_on_node_without_that_vendor_stays_pending(
    apiserver: ApiServerThread, limits: dict[str, str], vendor: str
) -> None:
    from tests.component.scheduler.objects import make_node

    apiserver.store.create(make_node("gpu-only", gpus=1))
    with vendor_plane(apiserver) as (sched, ks):
        submit(apiserver, sched, pod("lost", ("main", limits)))
        assert wait_for(lambda: bool(_failed_reasons(apiserver, "lost")), 20)
        assert "NodeInsufficientDevice" in _failed_reasons(apiserver, "lost")[0]
        assert wait_for(lambda: any(f.pod == "default/lost" for f in ks.failures), 10)
        failure = next(f for f in ks.failures if f.pod == "default/lost")
        assert "NodeInsufficientDevice" in str(failure), failure
        assert not bound(apiserver)
        assert "hami.io/vgpu-node" not in anns_of(apiserver, "pods", "lost")


MLU_GPU_NODE = node(
    "mlu-gpu-node",
    {"hami.io/node-nvidia-register": NVIDIA_REGISTER},
    {"nvidia.com/gpu": "10", "cambricon.com/mlu.smlu.vcore": "200",
     "cambricon.com/mlu.smlu.vmemory": "128", "cambricon.com/vmlu": "2"},
)  # fmt: skip
MLU_ASK = {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "8",
           "cambricon.com/mlu.smlu.vcore": "10"}  # fmt: skip


def test_cambricon_lock_beside_the_shared_lock_and_refusing_while_held(
    apiserver: ApiServerThread,
) -> None:
    """A pod asking an NVIDIA GPU and an MLU takes both locks (shared first: sorted cw order
    ``MLU`` < ``NVIDIA`` but the shared lock is one name); an MLU-only pod finds Cambricon's
    bare-time lock held and is refused (``locked within 2 minutes``) until the Cambricon plugin
    deletes it, then binds."""
    apiserver.store.create(json.loads(json.dumps(MLU_GPU_NODE)))
    with vendor_plane(apiserver) as (sched, _ks):
        submit(apiserver, sched, pod("gpu-mlu", ("main", {
            "nvidia.com/gpu": "1", "nvidia.com/gpumem": "1000", **MLU_ASK})))  # fmt: skip
        assert wait_for(lambda: _node_of(apiserver, "gpu-mlu") == "mlu-gpu-node", 20), (
            _failed_reasons(apiserver, "gpu-mlu"))  # fmt: skip
        anns = anns_of(apiserver, "pods", "gpu-mlu")
        assert anns["hami.io/vgpu-devices-allocated"] == "GPU-mixed-0,NVIDIA,1000,0:;"
        assert anns["CAMBRICON_DSMLU_PROFILE"].endswith("_10_8")
        _assert_locks(apiserver, "mlu-gpu-node", "gpu-mlu", (SHARED_LOCK, MLU_LOCK))
        allocate(apiserver, "gpu-mlu", "mlu-gpu-node", [SHARED_LOCK])  # NVIDIA's plugin only

        submit(apiserver, sched, pod("mlu-only", ("main", MLU_ASK)))

        def refused() -> list[str]:
            return [str(e["message"]) for e in events(apiserver, "BindingFailed")
                    if e["involvedObject"]["name"] == "mlu-only"]  # fmt: skip

        assert wait_for(lambda: bool(refused()), 20)
        assert "has been locked within 2 minutes" in refused()[0], refused()
        assert _node_of(apiserver, "mlu-only") is None
        assert SHARED_LOCK not in anns_of(apiserver, "nodes", "mlu-gpu-node")  # never taken
        allocate(apiserver, "gpu-mlu", "mlu-gpu-node", [MLU_LOCK])  # Cambricon's plugin
        assert wait_for(lambda: _node_of(apiserver, "mlu-only") == "mlu-gpu-node", 20)
        _assert_locks(apiserver, "mlu-gpu-node", "mlu-only", (MLU_LOCK,))
        mlu = anns_of(apiserver, "pods", "mlu-only")["hami.io/cambricon-mlu-devices-allocated"]
        assert mlu.endswith(",MLU,2048,10:;"), mlu


STALE = "Requesting_2020-01-01 00:00:00"


def test_dead_dcu_plugin_flaps_as_in_hami(apiserver: ApiServerThread) -> None:
    """Hygon: a ``Requesting_`` stamp older than 60 s with no ``hygon.com/dcunum`` allocatable
    is unhealthy, and HAMi's cleanup deletes the stamp; the next pass stamps ``Requesting_<now>``
    and the node is healthy again for 60 s (vendors §5.9: flapping while the plugin is down)."""
    dcu = node("dcu-node", {"hami.io/node-dcu-register": "DCU-0001,4,16384,100,DCU,0,true:",
                            "hami.io/node-handshake-dcu": STALE})  # fmt: skip
    apiserver.store.create(dcu)
    with vendor_plane(apiserver) as (sched, _ks):
        key = "hami.io/node-handshake-dcu"
        assert wait_for(lambda: REQUESTING.match(anns_of(apiserver, "nodes", "dcu-node").get(
            key, "")) is not None, 10)  # fmt: skip
        submit(apiserver, sched, pod("dcu", ("main", {"hygon.com/dcunum": "1"})))
        assert wait_for(lambda: _node_of(apiserver, "dcu") == "dcu-node", 20)


def test_dead_iluvatar_plugin_keeps_the_node_unhealthy(apiserver: ApiServerThread) -> None:
    """Iluvatar's cleanup is a no-op in HAMi (vendors §4.9): a stale ``Requesting_`` stamp with
    no allocatable keeps the node unhealthy until the plugin reports again; the scheduler must
    not delete the stamp (which would make the next pass request again and the node healthy)."""
    key = "hami.io/node-handshake-MR-V100"
    register = f"{ILUVATAR_UUID},10,8192,100,MR-V100,0,true:"
    ilu = node("ilu-node", {"hami.io/node-MR-V100-register": register, key: STALE})
    apiserver.store.create(ilu)
    with vendor_plane(apiserver) as (sched, _ks):
        submit(apiserver, sched, pod("ilu", ("main", {"iluvatar.ai/MR-V100-vgpu": "1"})))
        assert wait_for(lambda: bool(_failed_reasons(apiserver, "ilu")), 10), (
            _node_of(apiserver, "ilu"),
            anns_of(apiserver, "nodes", "ilu-node").get(key),
        )
        passes = sched.call(lambda r: r.registrar.passes)
        assert wait_for(lambda: sched.call(lambda r: r.registrar.passes) >= passes + 3, 10)
        assert anns_of(apiserver, "nodes", "ilu-node").get(key) == STALE
        assert _node_of(apiserver, "ilu") is None
        # the plugin reports again: the scheduler requests, the node is healthy, the pod binds
        apiserver.store.patch("nodes", "ilu-node", {"metadata": {"annotations": {
            key: "Reported_2026-01-01 00:00:00"}}}, namespace="")  # fmt: skip
        assert wait_for(lambda: _node_of(apiserver, "ilu") == "ilu-node", 20)
        assert wait_for(
            lambda: bool(REQUESTING.match(anns_of(apiserver, "nodes", "ilu-node")[key]))
        )


def test_init_container_vendor_and_910c_module_end_to_end(apiserver: ApiServerThread) -> None:
    """A DCU asked only by an init container (the app asks an NVIDIA GPU): both vendors'
    annotations carry the init container first; only the app's vendor locks (the shared lock).
    An Ascend 910C request of 1 becomes a module of 2 in the webhook and the runtime JSON
    names both NPUs of one module."""
    npus = [{"id": f"npu-c-{i}", "index": i, "count": 4, "devmem": 65536, "devcore": 20,
             "type": "Ascend910C", "health": True, "custominfo": {"NetworkID": 0}}
            for i in range(4)]  # fmt: skip
    apiserver.store.create(json.loads(json.dumps(MIXED_NODE)))
    apiserver.store.create(node("c-node", {"hami.io/node-register-Ascend910C": json.dumps(npus)},
                                {"huawei.com/Ascend910C": "16"}))  # fmt: skip
    with vendor_plane(apiserver) as (sched, _ks):
        with_init = pod("init-dcu", ("main", {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "1000"}))
        with_init["spec"]["initContainers"] = [{"name": "prep", "image": "busybox", "resources": {
            "limits": {"hygon.com/dcunum": "1", "hygon.com/dcumem": "2000"}}}]  # fmt: skip
        submit(apiserver, sched, with_init)
        assert wait_for(lambda: _node_of(apiserver, "init-dcu") == "mixed-node", 20), (
            _failed_reasons(apiserver, "init-dcu"))  # fmt: skip
        anns = anns_of(apiserver, "pods", "init-dcu")
        assert _vendor_annotations(anns) == {
            "hami.io/vgpu-devices-to-allocate": ";GPU-mixed-0,NVIDIA,1000,0:;",
            "hami.io/vgpu-devices-allocated": ";GPU-mixed-0,NVIDIA,1000,0:;",
            "hami.io/dcu-devices-to-allocate": "DCU-0001,DCU,2000,100:;;",
            "hami.io/dcu-devices-allocated": "DCU-0001,DCU,2000,100:;;",
        }
        _assert_locks(apiserver, "mixed-node", "init-dcu", (SHARED_LOCK,))
        allocate(apiserver, "init-dcu", "mixed-node", [SHARED_LOCK])

        module = submit(apiserver, sched, pod("module", ("main", {"huawei.com/Ascend910C": "1"})))
        assert (
            module["spec"]["containers"][0]["resources"]["limits"]["huawei.com/Ascend910C"] == "2"
        )
        assert wait_for(lambda: _node_of(apiserver, "module") == "c-node", 20), (
            _failed_reasons(apiserver, "module"))  # fmt: skip
        anns = anns_of(apiserver, "pods", "module")
        picked = [d.split(",")[0] for d in anns["hami.io/Ascend910C-devices-allocated"]
                  .rstrip(";").split(":") if d]  # fmt: skip
        assert sorted(picked) in (["npu-c-0", "npu-c-1"], ["npu-c-2", "npu-c-3"]), picked
        runtime = json.loads(anns["huawei.com/Ascend910C"])
        assert [r["UUID"] for r in runtime] == picked
        assert all(r == {"UUID": r["UUID"], "memory": 65536} for r in runtime), runtime
        _assert_locks(apiserver, "c-node", "module", (SHARED_LOCK,))


@pytest.mark.parametrize(
    ("vendor", "ask", "key"),
    [("hygon", {"hygon.com/dcunum": "1", "hygon.com/dcumem": "4000", "hygon.com/dcucores": "10"},
      "hami.io/dcu-devices-allocated"),
     ("cambricon", {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "15",
                    "cambricon.com/mlu.smlu.vcore": "10"},
      "hami.io/cambricon-mlu-devices-allocated")],
    ids=["hygon", "cambricon"],
)  # fmt: skip
def test_vendor_burst_never_overcommits(
    apiserver: ApiServerThread, vendor: str, ask: dict[str, str], key: str
) -> None:
    """12 pods at once onto two cards of 16384 MiB with 4 (Hygon: slots) or 100 shares: each
    card holds 4 pods of ~4000 MiB, so exactly 8 bind, and no card holds more than it has."""
    if vendor == "hygon":
        target = node("dcu-node", {"hami.io/node-dcu-register":
                                   "DCU-0,4,16384,100,DCU,0,true:DCU-1,4,16384,100,DCU,0,true:"},
                      {"hygon.com/dcunum": "8"})  # fmt: skip
    else:
        target = node("mlu-node", {}, {"cambricon.com/mlu.smlu.vcore": "200",
                                       "cambricon.com/mlu.smlu.vmemory": "128",
                                       "cambricon.com/vmlu": "2"})  # fmt: skip
    apiserver.store.create(target)
    with vendor_plane(apiserver) as (sched, ks), VendorPluginStandIn(apiserver) as plugins:
        for i in range(12):
            submit(apiserver, sched, pod(f"p{i}", ("main", ask)))
        assert wait_for(lambda: len(bound(apiserver)) == 8 and len(plugins.allocated) >= 8, 30)
        # the 4 left over are refused (Cambricon: by kube-scheduler itself, 8 x 15 of the 128
        # vmemory units are taken; Hygon: by hami, every card is full)
        pending = {f"default/p{i}" for i in range(12)} - {
            f"default/{p['metadata']['name']}" for p in bound(apiserver)
        }
        assert wait_for(lambda: pending <= {f.pod for f in ks.failures}, 20)
        assert len(bound(apiserver)) == 8
        per_card: dict[str, list[int]] = {}
        for p in bound(apiserver):
            uuid, _, mem, _ = p["metadata"]["annotations"][key].split(":")[0].split(",")
            per_card.setdefault(uuid, []).append(int(mem))
        assert sorted(len(v) for v in per_card.values()) == [4, 4], per_card
        assert all(sum(v) <= 16384 for v in per_card.values()), per_card


def test_ascend_ring_score_picks_the_node_with_both_npus_in_one_ring(
    apiserver: ApiServerThread,
) -> None:
    """Two 910B3 nodes with two free NPUs each: on ``npu-a`` they sit in different HCCS rings
    (NetworkID 0 and 1), on ``npu-b`` in one ring. A container asking two NPUs scores 5 on
    ``npu-a`` and 10 on ``npu-b`` (10 x the largest ring's share), so binpack takes ``npu-b``."""

    def npus(node_name: str, ids: list[tuple[int, int]]) -> str:
        return json.dumps([
            {"id": f"{node_name}-{i}", "index": i, "count": 4, "devmem": 65536, "devcore": 20,
             "type": "Ascend910B3", "health": True, "custominfo": {"NetworkID": net}}
            for i, net in ids])  # fmt: skip

    for name, ids in (("npu-a", [(0, 0), (4, 1)]), ("npu-b", [(0, 0), (1, 0)])):
        apiserver.store.create(node(name, {"hami.io/node-register-Ascend910B3": npus(name, ids)},
                                    {"huawei.com/Ascend910B3": "8"}))  # fmt: skip
    with vendor_plane(apiserver) as (sched, _ks):
        submit(apiserver, sched, pod("pair", ("main", {"huawei.com/Ascend910B3": "2"})))
        assert wait_for(lambda: _node_of(apiserver, "pair") is not None, 20), (
            _failed_reasons(apiserver, "pair"))  # fmt: skip
        assert _node_of(apiserver, "pair") == "npu-b"
        anns = anns_of(apiserver, "pods", "pair")
        # HAMi's walk from the end of the sorted list: the last NPU first
        assert anns["hami.io/Ascend910B3-devices-allocated"] == (
            "npu-b-1,Ascend910B3,65536,0:npu-b-0,Ascend910B3,65536,0:;")  # fmt: skip
