"""Finding the pending pod (lock first, list fallback) and closing the bind window."""

from __future__ import annotations

from typing import Any

import pytest

from hami.api import annotations as ann
from hami.deviceplugin.pending import (
    NoPendingPod,
    fail,
    find_pending_pod,
    finish,
    has_work,
    is_candidate,
    release_lock,
    release_stale_lock,
)
from hami.k8s.errors import Conflict, ServerError
from hami.k8s.fake import FakeKube
from tests.component.deviceplugin.pods import NODE, NS, bound_pod, container, lock_value, node

V = "GPU-a,NVIDIA,100,0:;"


def _kube(*pods: dict[str, Any], lock_owner: str | None = None) -> FakeKube:
    kube = FakeKube()
    kube.add("nodes", node(lock_owner=lock_owner))
    for p in pods:
        kube.add("pods", p)
    return kube


def _pod(name: str, **kw: Any) -> dict[str, Any]:
    return bound_pod(name, kw.pop("value", V), containers=[container("c", 1)], **kw)


@pytest.mark.parametrize(
    ("value", "expected"), [(V, True), (";;", False), ("", False), (";GPU-a,NVIDIA,1,0:;", True)]
)
def test_has_work(value: str, expected: bool) -> None:
    assert has_work(value) is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"phase": "success"}, True),
        ({"phase": "failed"}, False),
        ({"node_name": "other"}, False),
        ({"value": ";"}, False),
    ],
    ids=["allocating", "success", "failed", "other-node", "nothing-left"],
)
def test_is_candidate(changes: dict[str, Any], expected: bool) -> None:
    assert is_candidate(_pod("p", **changes), NODE) is expected


async def test_lock_owner_wins_over_older_pod() -> None:
    kube = _kube(_pod("old", bind_time="1"), _pod("locked", bind_time="5"), lock_owner="locked")
    assert (await find_pending_pod(kube, NODE))["metadata"]["name"] == "locked"


async def test_fallback_picks_oldest_bind_time() -> None:
    kube = _kube(_pod("b", bind_time="9"), _pod("a", bind_time="3"), _pod("x", node_name="n2"))
    assert (await find_pending_pod(kube, NODE))["metadata"]["name"] == "a"


async def test_stale_lock_owner_gone_falls_back() -> None:
    kube = _kube(_pod("real"), lock_owner="gone")
    assert (await find_pending_pod(kube, NODE))["metadata"]["name"] == "real"


async def test_no_pending_pod() -> None:
    with pytest.raises(NoPendingPod, match=f"node {NODE}: no pending pod"):
        await find_pending_pod(_kube(_pod("done", value=";")), NODE)


async def test_finish_partial_then_done() -> None:
    pod = _pod("p")
    kube = _kube(pod, lock_owner="p")
    await finish(kube, NODE, pod, ";x;", done=False)
    annos = kube.get("pods", NS, "p")["metadata"]["annotations"]
    assert (annos[ann.DEVICES_TO_ALLOCATE], annos[ann.BIND_PHASE]) == (";x;", "allocating")
    assert ann.NODE_LOCK in kube.get("nodes", "", NODE)["metadata"]["annotations"]
    await finish(kube, NODE, pod, ";;", done=True)
    annos = kube.get("pods", NS, "p")["metadata"]["annotations"]
    assert (annos[ann.DEVICES_TO_ALLOCATE], annos[ann.BIND_PHASE]) == (";;", "success")
    assert ann.NODE_LOCK not in kube.get("nodes", "", NODE)["metadata"]["annotations"]


async def test_fail_marks_and_releases_even_if_patch_fails() -> None:
    pod = _pod("p")
    kube = _kube(pod, lock_owner="p")
    kube.fail_next("patch_pod_metadata", ServerError("boom"))
    await fail(kube, NODE, pod, "bad")
    assert ann.NODE_LOCK not in kube.get("nodes", "", NODE)["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("lock", "released"),
    [("mine", True), ("other", False), ("legacy", True), ("garbage", True)],
)
async def test_release_lock_ownership(lock: str, released: bool) -> None:
    kube = _kube()
    n = kube.get("nodes", "", NODE)
    n["metadata"]["annotations"][ann.NODE_LOCK] = {
        "mine": lock_value("p"),
        "other": lock_value("q"),
        "legacy": "2026-01-01T00:00:00Z",
        "garbage": "x,y",
    }[lock]
    kube.update("nodes", n)
    await release_lock(kube, NODE, NS, "p")
    present = ann.NODE_LOCK in kube.get("nodes", "", NODE)["metadata"]["annotations"]
    assert present is not released


async def test_release_lock_retries_conflict() -> None:
    kube = _kube(lock_owner="p")
    kube.fail_next("patch_node_metadata", Conflict("stale"))
    await release_lock(kube, NODE, NS, "p")
    assert ann.NODE_LOCK not in kube.get("nodes", "", NODE)["metadata"]["annotations"]


def _lock_of(kube: FakeKube) -> str | None:
    return (kube.get("nodes", "", NODE)["metadata"].get("annotations") or {}).get(ann.NODE_LOCK)


@pytest.mark.parametrize(
    ("owner", "released", "bind_phase"),
    [
        ({"status": {"phase": "Failed", "reason": "UnexpectedAdmissionError"}}, True, "failed"),
        (None, True, None),
        ({"spec": {"nodeName": "elsewhere"}}, True, "allocating"),
        ({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, True, "failed"),
        ({}, False, "allocating"),
        ({"spec": {"nodeName": None}}, False, "allocating"),  # between Bind's lock and binding
    ],
    ids=["admission-failed", "gone", "bound-elsewhere", "deleting", "allocating", "mid-bind"],
)  # fmt: skip
async def test_stale_lock_is_released_and_its_owner_marked_failed(
    owner: dict[str, Any] | None, released: bool, bind_phase: str | None
) -> None:
    pods = []
    if owner is not None:
        pod = _pod("d1")
        for section, values in owner.items():
            pod[section].update(values)
        pods.append(pod)
    kube = _kube(*pods, lock_owner="d1")
    assert await release_stale_lock(kube, NODE) is released
    assert (_lock_of(kube) is None) is released
    if owner is not None:
        annos = kube.get("pods", NS, "d1")["metadata"]["annotations"]
        assert annos[ann.BIND_PHASE] == bind_phase


async def test_sweep_without_a_lock_or_with_a_legacy_one_does_nothing() -> None:
    kube = _kube()
    assert not await release_stale_lock(kube, NODE)
    await kube.patch_node_metadata(NODE, annotations={ann.NODE_LOCK: "2026-01-01T00:00:00Z"})
    assert not await release_stale_lock(kube, NODE)
    assert _lock_of(kube) == "2026-01-01T00:00:00Z"
