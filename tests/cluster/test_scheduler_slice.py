"""GPU pods through the REAL kube-apiserver, admission webhook chain and kube-scheduler.

Nodes are API objects (no kubelet) carrying hami's register annotation; ``Allocator`` plays the
device plugin after a bind. Each step is the real component: the apiserver calls ``/webhook``,
kube-scheduler (profile ``hami-scheduler``) calls ``/filter`` and ``/bind`` with the payloads it
really sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hami.api.poddevices import decode_pod_devices

from .controlplane import HAMI_SCHEDULER, ControlPlane, ca_context
from .objects import (
    LOCK,
    PHASE,
    TO_ALLOCATE,
    Allocator,
    cpu_pod,
    create_nodes,
    delete_nodes,
    events_for,
    gpu_pod,
    new_namespace,
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
    wait_for("a pending pod to bind after the delete", lambda: any(
        _bound(cluster, ns, n) for n in pending), 150)  # fmt: skip


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
