"""GPU pods through the REAL kube-apiserver, admission webhook chain and kube-scheduler.

Nodes are API objects (no kubelet) carrying hami's register annotation; ``Allocator`` plays the
device plugin after a bind. Each step is the real component: the apiserver calls ``/webhook``,
kube-scheduler (profile ``hami-scheduler``) calls ``/filter`` and ``/bind`` with the payloads it
really sends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml

from hami.api.poddevices import decode_pod_devices

from .controlplane import HAMI_SCHEDULER, ControlPlane, ca_context
from .objects import (
    LOCK,
    PHASE,
    TO_ALLOCATE,
    Allocator,
    cpu_pod,
    create_node,
    create_nodes,
    delete_nodes,
    events_for,
    gpu_pod,
    new_namespace,
    vendor_node,
    vendor_pod,
    wait_for,
)

GPU_MEM = 16384
POOL = {"hami.test/pool": "slice"}  # the kubelet node of another module may exist


@pytest.fixture(scope="module")
def slice_nodes(cluster: ControlPlane) -> Iterator[list[str]]:
    names = create_nodes(cluster.api, "slice", 2, gpus=2, mem=GPU_MEM, split=4)
    # hami's node informer must have the nodes (and their GPUs) before kube-scheduler asks.
    wait_for(
        "hami to handshake the slice nodes",
        lambda: all(
            "hami.io/node-handshake" in (cluster.api.get(f"/api/v1/nodes/{n}")["metadata"]
                                         .get("annotations") or {})
            for n in names
        ),
        60,
    )  # fmt: skip
    yield names
    delete_nodes(cluster.api, names)


@pytest.fixture
def ns(cluster: ControlPlane, slice_nodes: list[str]) -> Iterator[str]:
    name = new_namespace(cluster, "slice")
    yield name
    cluster.api.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture
def allocator(cluster: ControlPlane, slice_nodes: list[str]) -> Iterator[Allocator]:
    with Allocator(cluster, set(slice_nodes)) as alloc:
        yield alloc


def _pod(cp: ControlPlane, ns: str, name: str) -> dict[str, Any]:
    return dict(cp.api.get(f"/api/v1/namespaces/{ns}/pods/{name}"))


def _bound(cp: ControlPlane, ns: str, name: str) -> dict[str, Any] | None:
    pod = _pod(cp, ns, name)
    return pod if pod["spec"].get("nodeName") else None


def test_gpu_pod_is_admitted_filtered_bound_and_annotated(
    cluster: ControlPlane, ns: str, slice_nodes: list[str]
) -> None:
    created = cluster.api.create(
        f"/api/v1/namespaces/{ns}/pods", gpu_pod("p1", mem=3072, nodeSelector=POOL)
    )
    assert created["spec"]["schedulerName"] == HAMI_SCHEDULER  # our webhook, via the apiserver
    pod = wait_for("p1 bound by kube-scheduler through hami", lambda: _bound(cluster, ns, "p1"))
    node = pod["spec"]["nodeName"]
    assert node in slice_nodes
    anns = pod["metadata"]["annotations"]
    assert anns["hami.io/vgpu-node"] == node
    assert anns[PHASE] == "allocating"
    assert pod["metadata"]["labels"]["hami.io/vgpu-node"] == node
    devices = decode_pod_devices(anns[TO_ALLOCATE])
    assert anns["hami.io/vgpu-devices-allocated"] == anns[TO_ALLOCATE]
    flat = [d for ctr in devices for d in ctr]
    assert len(flat) == 1 and flat[0].usedmem == 3072
    assert flat[0].uuid.startswith(f"GPU-{node}-")
    lock = cluster.api.get(f"/api/v1/nodes/{node}")["metadata"]["annotations"].get(LOCK, "")
    assert lock.endswith(f",{ns},p1")  # held until the device plugin allocates
    cluster.api.delete(f"/api/v1/namespaces/{ns}/pods/p1", gracePeriodSeconds=0)


def test_pods_share_gpus_and_next_pod_binds_after_allocation(
    cluster: ControlPlane, ns: str, slice_nodes: list[str], allocator: Allocator
) -> None:
    # 2 nodes x 2 GPUs x 16384 MiB; 6 pods of 10240 MiB: one per GPU fits at most 4.
    for i in range(6):
        cluster.api.create(
            f"/api/v1/namespaces/{ns}/pods", gpu_pod(f"big-{i}", mem=10240, nodeSelector=POOL)
        )

    def phases() -> dict[str, tuple[str | None, str | None]]:
        items = cluster.api.get(f"/api/v1/namespaces/{ns}/pods")["items"]
        return {p["metadata"]["name"]: (p["spec"].get("nodeName"),
                (p["metadata"].get("annotations") or {}).get(PHASE)) for p in items}  # fmt: skip

    try:
        wait_for("4 pods bound and allocated",
                 lambda: sum(ph == "success" for _, ph in phases().values()) == 4, 150)  # fmt: skip
    except AssertionError as exc:
        raise AssertionError(f"{exc}; pods (node, bind-phase): {phases()}") from None
    pods = cluster.api.get(f"/api/v1/namespaces/{ns}/pods")["items"]
    pending = [p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")]
    assert len(pending) == 2
    gpus = [decode_pod_devices(p["metadata"]["annotations"]["hami.io/vgpu-devices-allocated"])
            for p in pods if p["spec"].get("nodeName")]  # fmt: skip
    uuids = [d.uuid for ctr_list in gpus for ctr in ctr_list for d in ctr]
    assert len(set(uuids)) == 4  # never two 10240 MiB pods on one 16384 MiB GPU
    # Deleting a bound pod frees its GPU; a pending pod then schedules.
    victim = next(p for p in pods if p["spec"].get("nodeName"))["metadata"]["name"]
    cluster.api.delete(f"/api/v1/namespaces/{ns}/pods/{victim}", gracePeriodSeconds=0)
    polls = iter(range(1 << 30))

    def pending_bound() -> bool:
        # kube-scheduler requeues the refused pods on the delete event, and may retry them
        # before hami's informer has seen the delete; refused again, they wait for the next
        # cluster event (or kube-scheduler's 5-minute flush). On a real node that event comes
        # from the device plugin, which reports on the handshake annotation every 30 s: play
        # it every 2 s (a Node update).
        if next(polls) % 10 == 9:
            for node in slice_nodes:
                report = time.strftime("Reported_%Y-%m-%d %H:%M:%S")
                cluster.api.patch(f"/api/v1/nodes/{node}", {"metadata": {"annotations": {
                    "hami.io/node-handshake": report}}})  # fmt: skip
        return any(_bound(cluster, ns, n) for n in pending)

    wait_for("a pending pod to bind after the delete", pending_bound, 150)


def test_too_large_request_stays_pending_with_failed_scheduling(
    cluster: ControlPlane, ns: str
) -> None:
    cluster.api.create(
        f"/api/v1/namespaces/{ns}/pods", gpu_pod("huge", mem=GPU_MEM * 4, nodeSelector=POOL)
    )

    def failed() -> list[dict[str, Any]]:
        return [e for e in events_for(cluster.api, ns, "huge") if e["reason"] == "FailedScheduling"]

    events = wait_for("FailedScheduling event for the oversized pod", failed, 60)
    assert any("nodes are available" in e["message"] for e in events), events
    # hami's own event says why on each node.
    wait_for(
        "hami's FilteringFailed event",
        lambda: any(e["reason"] == "FilteringFailed" for e in events_for(cluster.api, ns, "huge")),
        30,
    )
    assert not _pod(cluster, ns, "huge")["spec"].get("nodeName")


def test_privileged_gpu_pod_is_denied_by_the_webhook(cluster: ControlPlane, ns: str) -> None:
    resp = cluster.api.request("POST", f"/api/v1/namespaces/{ns}/pods",
                               json=gpu_pod("priv", privileged=True))  # fmt: skip
    assert resp.status_code == 403, resp.text  # AdmissionResponse.status.code of the denial
    message = resp.json()["message"]
    assert 'admission webhook "vgpu.hami.io" denied the request' in message
    assert "privileged" in message


def test_gpu_pod_with_node_name_is_denied_by_the_webhook(
    cluster: ControlPlane, ns: str, slice_nodes: list[str]
) -> None:
    resp = cluster.api.request("POST", f"/api/v1/namespaces/{ns}/pods",
                               json=gpu_pod("pinned", nodeName=slice_nodes[0]))  # fmt: skip
    assert resp.status_code == 403, resp.text  # AdmissionResponse.status.code of the denial
    message = resp.json()["message"]
    assert 'admission webhook "vgpu.hami.io" denied the request' in message
    assert "has node assigned" in message


def test_cpu_pod_goes_through_the_default_profile_untouched(cluster: ControlPlane, ns: str) -> None:
    created = cluster.api.create(f"/api/v1/namespaces/{ns}/pods", cpu_pod("cpu"))
    assert created["spec"]["schedulerName"] == "default-scheduler"
    pod = wait_for("cpu pod bound by the default profile", lambda: _bound(cluster, ns, "cpu"))
    assert "hami.io/vgpu-node" not in (pod["metadata"].get("annotations") or {})


def test_discovery_reports_the_pinned_version(cluster: ControlPlane) -> None:
    auth = {"Authorization": f"Bearer {cluster.tokens['admin']}"}
    version = httpx.get(
        f"{cluster.url}/version", verify=ca_context(cluster.pki.ca), headers=auth
    ).json()
    assert version["gitVersion"] == cluster.version
    assert version["major"] == "1"


def test_gpumem_written_in_thousands_is_admitted(cluster: ControlPlane, ns: str) -> None:
    """Users write ``nvidia.com/gpumem: 3000``; the webhook receives ``3k`` (the apiserver
    canonicalizes quantities before admission; refused until 5598867)."""
    resp = cluster.api.request(
        "POST", f"/api/v1/namespaces/{ns}/pods", json=gpu_pod("thousands", mem=3000)
    )
    assert resp.status_code == 201, resp.text
    limits = resp.json()["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpumem"] == "3k"


# --- other vendors ---------------------------------------------------------------------------
# A Hygon DCU node and an NVIDIA + Ascend 910B3 node (Node objects, no kubelet; the test plays
# the vendor plugins' part by releasing the node lock). kube-scheduler runs the product's
# ``hami scheduler-config --enable-ascend --enable-iluvatar`` output (controlplane.VENDOR_FLAGS).

DCU_UUID = "DCU-vdcu-0"
NPU_UUID = "npu-vmixed-0"
GPU_UUID = "GPU-vmixed-0"
HANDSHAKES = {
    "vdcu-00": ("hami.io/node-handshake-dcu",),
    "vmixed-00": ("hami.io/node-handshake", "hami.io/node-handshake-Ascend910B3"),
    "vilu-00": ("hami.io/node-handshake-MR-V100",),
}
ILU_REGISTER = "".join(f"GPU-ilu-{i},10,8192,100,MR-V100,0,true:" for i in range(2))


@pytest.fixture(scope="module")
def vendor_nodes(cluster: ControlPlane) -> Iterator[dict[str, str]]:
    nvidia = [
        {
            "id": GPU_UUID,
            "index": 0,
            "count": 10,
            "devmem": GPU_MEM,
            "devcore": 100,
            "type": "NVIDIA-Tesla T4",
            "numa": 0,
            "mode": "hami-core",
            "health": True,
        }
    ]
    npu = [
        {
            "id": NPU_UUID,
            "index": 0,
            "count": 4,
            "devmem": 65536,
            "devcore": 20,
            "type": "Ascend910B3",
            "health": True,
            "custominfo": {"NetworkID": 0},
        }
    ]
    names = {
        "dcu": create_node(cluster.api, vendor_node(
            "vdcu-00", {"hami.io/node-dcu-register": f"{DCU_UUID},4,16384,100,DCU,0,true:"},
            {"hygon.com/dcunum": "4"})),
        "mixed": create_node(cluster.api, vendor_node(
            "vmixed-00", {"hami.io/node-nvidia-register": json.dumps(nvidia),
                          "hami.io/node-register-Ascend910B3": json.dumps(npu),
                          "hami-vnpu-core": "false"},
            {"nvidia.com/gpu": "10", "huawei.com/Ascend910B3": "4"})),
        "ilu": create_node(cluster.api, vendor_node(
            "vilu-00", {"hami.io/node-MR-V100-register": ILU_REGISTER},
            {"iluvatar.ai/MR-V100-vgpu": "20"})),
        # Cambricon: no annotation, two cards of 16384 MiB cut from the node's capacity
        "mlu": create_node(cluster.api, vendor_node("vmlu-00", {}, {
            "cambricon.com/mlu.smlu.vcore": "200", "cambricon.com/mlu.smlu.vmemory": "128",
            "cambricon.com/vmlu": "2"})),
    }  # fmt: skip

    def handshaken() -> bool:
        for node, keys in HANDSHAKES.items():
            anns = cluster.api.get(f"/api/v1/nodes/{node}")["metadata"].get("annotations") or {}
            if not all(str(anns.get(k, "")).startswith("Requesting_") for k in keys):
                return False
        return True

    wait_for("hami to handshake every vendor of the vendor nodes", handshaken, 60)
    yield names
    delete_nodes(cluster.api, list(names.values()))


def _node_annotations(cp: ControlPlane, node: str) -> dict[str, str]:
    return dict(cp.api.get(f"/api/v1/nodes/{node}")["metadata"].get("annotations") or {})


def _play_plugin(cp: ControlPlane, ns: str, pod: str, node: str) -> None:
    """The vendor plugin's writes after Allocate: ``bind-phase=success``, the lock deleted."""
    cp.api.patch(f"/api/v1/namespaces/{ns}/pods/{pod}",
                 {"metadata": {"annotations": {PHASE: "success"}}})  # fmt: skip
    cp.api.patch(f"/api/v1/nodes/{node}", {"metadata": {"annotations": {LOCK: None}}})


def _events(cp: ControlPlane, ns: str, pod: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in events_for(cp.api, ns, pod) if e["reason"] == reason]


def _vendor_annotations(anns: dict[str, str]) -> dict[str, str]:
    skip = {"hami.io/vgpu-node", "hami.io/vgpu-time", PHASE, "hami.io/bind-time"}
    return {k: v for k, v in anns.items() if k not in skip}


def test_scheduler_config_lists_every_enabled_vendor(cluster: ControlPlane) -> None:
    config = yaml.safe_load((cluster.workdir / "kube-scheduler.yaml").read_text())
    (extender,) = config["extenders"]
    managed = {m["name"]: m["ignoredByScheduler"] for m in extender["managedResources"]}
    for name in ("nvidia.com/gpu", "nvidia.com/gpumem", "cambricon.com/vmlu", "hygon.com/dcunum",
                 "hygon.com/dcumem", "hygon.com/dcucores", "huawei.com/Ascend910B3",
                 "huawei.com/Ascend910B3-memory", "huawei.com/Ascend310P",
                 "iluvatar.ai/MR-V100-vgpu", "iluvatar.ai/BI-V150.vMem"):  # fmt: skip
        assert managed.get(name) is True, (name, managed)
    # Cambricon's memory and cores are real node resources kube-scheduler must count
    assert managed["cambricon.com/mlu.smlu.vmemory"] is False
    assert managed["cambricon.com/mlu.smlu.vcore"] is False


def test_dcu_pod_is_bound_by_the_real_scheduler_and_usage_counts(
    cluster: ControlPlane, ns: str, vendor_nodes: dict[str, str]
) -> None:
    node = vendor_nodes["dcu"]
    limits = {"hygon.com/dcunum": "1", "hygon.com/dcumem": "12000", "hygon.com/dcucores": "30"}
    created = cluster.api.create(f"/api/v1/namespaces/{ns}/pods",
                                 vendor_pod("dcu", ("main", limits)))  # fmt: skip
    assert created["spec"]["schedulerName"] == HAMI_SCHEDULER
    assert created["spec"]["containers"][0]["resources"]["limits"]["hygon.com/dcumem"] == "12k"
    pod = wait_for("the DCU pod bound", lambda: _bound(cluster, ns, "dcu"), 60)
    assert pod["spec"]["nodeName"] == node
    anns = pod["metadata"]["annotations"]
    assert anns["hami.io/vgpu-node"] == node and anns[PHASE] == "allocating"
    assert _vendor_annotations(anns) == {
        "hami.io/dcu-devices-to-allocate": f"{DCU_UUID},DCU,12000,30:;",
        "hami.io/dcu-devices-allocated": f"{DCU_UUID},DCU,12000,30:;",
    }
    assert _node_annotations(cluster, node)[LOCK].endswith(f",{ns},dcu")
    _play_plugin(cluster, ns, "dcu", node)
    # 4384 MiB are left on the DCU: 8000 stays Pending (hami says why), 4384 binds there.
    cluster.api.create(f"/api/v1/namespaces/{ns}/pods", vendor_pod("dcu-big", ("main", {
        "hygon.com/dcunum": "1", "hygon.com/dcumem": "8000"})))  # fmt: skip
    rest_limits = {"hygon.com/dcunum": "1", "hygon.com/dcumem": "4384", "hygon.com/dcucores": "70"}
    cluster.api.create(
        f"/api/v1/namespaces/{ns}/pods", vendor_pod("dcu-rest", ("main", rest_limits))
    )
    rest = wait_for("the DCU pod asking the rest bound", lambda: _bound(cluster, ns, "dcu-rest"))
    assert rest["spec"]["nodeName"] == node
    assert rest["metadata"]["annotations"]["hami.io/dcu-devices-allocated"] == (
        f"{DCU_UUID},DCU,4384,70:;")  # fmt: skip
    _play_plugin(cluster, ns, "dcu-rest", node)
    failed = wait_for(
        "hami's FilteringFailed for the DCU pod asking too much",
        lambda: _events(cluster, ns, "dcu-big", "FilteringFailed"),
    )
    assert "CardInsufficientMemory" in failed[0]["message"], failed
    wait_for(
        "kube-scheduler's FailedScheduling for it",
        lambda: _events(cluster, ns, "dcu-big", "FailedScheduling"),
    )
    assert not _pod(cluster, ns, "dcu-big")["spec"].get("nodeName")


def test_mixed_nvidia_and_ascend_pod_is_bound_by_the_real_scheduler(
    cluster: ControlPlane, ns: str, vendor_nodes: dict[str, str]
) -> None:
    node = vendor_nodes["mixed"]
    limits = {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "2000",
              "huawei.com/Ascend910B3": "1", "huawei.com/Ascend910B3-memory": "20000"}  # fmt: skip
    created = cluster.api.create(f"/api/v1/namespaces/{ns}/pods",
                                 vendor_pod("gpu-npu", ("main", limits)))  # fmt: skip
    resources = created["spec"]["containers"][0]["resources"]
    # our webhook rounded the memory up to the vir10_3c_32g template, limits and requests
    assert resources["limits"]["huawei.com/Ascend910B3-memory"] == "32768"
    assert resources["requests"]["huawei.com/Ascend910B3-memory"] == "32768"
    pod = wait_for("the GPU+NPU pod bound", lambda: _bound(cluster, ns, "gpu-npu"), 60)
    assert pod["spec"]["nodeName"] == node
    anns = pod["metadata"]["annotations"]
    assert _vendor_annotations(anns) == {
        "hami.io/vgpu-devices-to-allocate": f"{GPU_UUID},NVIDIA,2000,0:;",
        "hami.io/vgpu-devices-allocated": f"{GPU_UUID},NVIDIA,2000,0:;",
        "hami.io/Ascend910B3-devices-to-allocate": f"{NPU_UUID},Ascend910B3,32768,0:;",
        "hami.io/Ascend910B3-devices-allocated": f"{NPU_UUID},Ascend910B3,32768,0:;",
        "huawei.com/Ascend910B3": f'[{{"UUID":"{NPU_UUID}","temp":"vir10_3c_32g","memory":32768}}]',
        "predicate-time": anns["hami.io/vgpu-time"],
    }
    now = datetime.now(UTC).timestamp()
    assert abs(now - int(anns["predicate-time"])) < 120
    lock = _node_annotations(cluster, node)[LOCK]
    assert lock.endswith(f",{ns},gpu-npu")  # the shared lock, once, for both vendors
    _play_plugin(cluster, ns, "gpu-npu", node)


def test_dcu_pod_without_a_dcu_node_is_pending_with_node_insufficient_device(
    cluster: ControlPlane, ns: str, slice_nodes: list[str]
) -> None:
    cluster.api.create(f"/api/v1/namespaces/{ns}/pods", vendor_pod(
        "no-dcu", ("main", {"hygon.com/dcunum": "1"}), nodeSelector=POOL))  # fmt: skip
    failed = wait_for(
        "FailedScheduling for the DCU pod on GPU-only nodes",
        lambda: _events(cluster, ns, "no-dcu", "FailedScheduling"),
    )
    assert any("NodeInsufficientDevice" in e["message"] for e in failed), failed
    assert not _pod(cluster, ns, "no-dcu")["spec"].get("nodeName")


def test_cambricon_pod_is_bound_and_kube_scheduler_counts_its_memory(
    cluster: ControlPlane, ns: str, vendor_nodes: dict[str, str]
) -> None:
    """Cambricon's ``vmemory``/``vcore`` are managed but not ``ignoredByScheduler``: the real
    kube-scheduler counts them against the node's allocatable before asking hami."""
    node = vendor_nodes["mlu"]
    limits = {"cambricon.com/vmlu": "1", "cambricon.com/mlu.smlu.vmemory": "16",
              "cambricon.com/mlu.smlu.vcore": "20"}  # fmt: skip
    cluster.api.create(f"/api/v1/namespaces/{ns}/pods", vendor_pod("mlu", ("main", limits)))
    pod = wait_for("the MLU pod bound", lambda: _bound(cluster, ns, "mlu"), 60)
    assert pod["spec"]["nodeName"] == node
    # two idle cards score the same: HAMi walks the sorted list from its end, card 1 first
    assert _vendor_annotations(pod["metadata"]["annotations"]) == {
        "hami.io/cambricon-mlu-devices-to-allocate": f"{node}-cambricon-mlu-1,MLU,4096,20:;",
        "hami.io/cambricon-mlu-devices-allocated": f"{node}-cambricon-mlu-1,MLU,4096,20:;",
        "CAMBRICON_DSMLU_ASSIGNED": "false",
        "CAMBRICON_DSMLU_ASSIGHED": "false",
        "CAMBRICON_DSMLU_PROFILE": "1_20_16",
    }
    held = _node_annotations(cluster, node)
    assert LOCK not in held  # an MLU-only pod takes Cambricon's own lock only
    stamp = datetime.strptime(held["cambricon.com/dsmlu.lock"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(datetime.now(UTC).timestamp() - stamp.replace(tzinfo=UTC).timestamp()) < 120
    unlock = {"metadata": {"annotations": {"cambricon.com/dsmlu.lock": None}}}
    cluster.api.patch(f"/api/v1/nodes/{node}", unlock)  # the Cambricon plugin after Allocate
    # 16 + 120 units > 128 allocatable: kube-scheduler refuses it itself, hami is not asked
    big = {**limits, "cambricon.com/mlu.smlu.vmemory": "120"}
    cluster.api.create(f"/api/v1/namespaces/{ns}/pods", vendor_pod("mlu-big", ("main", big)))
    failed = wait_for(
        "FailedScheduling for the MLU pod",
        lambda: _events(cluster, ns, "mlu-big", "FailedScheduling"),
    )
    assert any("Insufficient cambricon.com/mlu.smlu.vmemory" in e["message"] for e in failed), (
        failed
    )
    assert not _events(cluster, ns, "mlu-big", "FilteringFailed")


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        # Iluvatar: two cards get vCore 2 x 100 (the apiserver has copied the user's 50 into
        # requests before admission; an extended resource's request must equal its limit)
        ({"iluvatar.ai/MR-V100-vgpu": "2", "iluvatar.ai/MR-V100.vCore": "50"},
         {"iluvatar.ai/MR-V100-vgpu": "2", "iluvatar.ai/MR-V100.vCore": "200"}),
        ({"iluvatar.ai/MR-V100-vgpu": "2"},
         {"iluvatar.ai/MR-V100-vgpu": "2", "iluvatar.ai/MR-V100.vCore": "200"}),
        # Ascend 910C: one NPU becomes a module of two, memory the whole card
        ({"huawei.com/Ascend910C": "1"},
         {"huawei.com/Ascend910C": "2", "huawei.com/Ascend910C-memory": "65536"}),
    ],
    ids=["iluvatar-vcore-given", "iluvatar-vcore-absent", "ascend-910c"],
)  # fmt: skip
def test_vendor_webhook_changes_pass_the_real_apiserver_validation(
    cluster: ControlPlane, ns: str, limits: dict[str, str], expected: dict[str, str]
) -> None:
    # admission only: no node matches (the pod must not hold cards the other tests need)
    unplaceable = vendor_pod("mutated", ("main", limits), nodeSelector={"hami.test/pool": "none"})
    resp = cluster.api.request("POST", f"/api/v1/namespaces/{ns}/pods", json=unplaceable)
    assert resp.status_code == 201, resp.text
    cluster.api.delete(f"/api/v1/namespaces/{ns}/pods/mutated", gracePeriodSeconds=0)
    resources = resp.json()["spec"]["containers"][0]["resources"]
    assert resources["limits"] == expected
    assert resources["requests"] == expected


def test_iluvatar_two_card_pod_is_admitted_and_bound_by_the_real_scheduler(
    cluster: ControlPlane, ns: str, vendor_nodes: dict[str, str]
) -> None:
    """The webhook's vCore of 2 x 100 passes the apiserver (request = limit) and the pod gets
    both cards whole in compute."""
    node = vendor_nodes["ilu"]
    limits = {"iluvatar.ai/MR-V100-vgpu": "2", "iluvatar.ai/MR-V100.vMem": "16",
              "iluvatar.ai/MR-V100.vCore": "50"}  # fmt: skip
    cluster.api.create(f"/api/v1/namespaces/{ns}/pods", vendor_pod("ilu", ("main", limits)))
    pod = wait_for("the Iluvatar pod bound", lambda: _bound(cluster, ns, "ilu"), 60)
    assert pod["spec"]["nodeName"] == node
    assert pod["spec"]["containers"][0]["env"] == [{"name": "SOL_CONTINER_NAME", "value": "main"}]
    both = "GPU-ilu-1,MR-V100,4096,100:GPU-ilu-0,MR-V100,4096,100:;"
    assert _vendor_annotations(pod["metadata"]["annotations"]) == {
        "hami.io/MR-V100-devices-to-allocate": both,
        "hami.io/MR-V100-devices-allocated": both,
    }
    assert _node_annotations(cluster, node)[LOCK].endswith(f",{ns},ilu")
    _play_plugin(cluster, ns, "ilu", node)
