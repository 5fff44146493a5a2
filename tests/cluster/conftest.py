"""Fixtures for the real-Kubernetes tests: one control plane per session.

The binaries come from ``tests/cluster/build.sh`` (cached per version outside the repo) and etcd
from Debian's ``etcd-server``. A component that cannot be built or started fails the tests with
its log; nothing here skips. Each failed test's report carries the tail of every component's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .controlplane import ClusterError, ControlPlane
from .node import GpuNode

KUBELET_NODE = "kubelet-0"

_planes: list[ControlPlane] = []


@pytest.fixture(scope="session")
def cluster() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler (``default-scheduler``
    and ``hami-scheduler`` profiles) + ``hami scheduler`` (extender and webhook)."""
    cp = ControlPlane(kubelet_nodes=(KUBELET_NODE,))
    _planes.append(cp)
    try:
        cp.start()
    except ClusterError as exc:
        cp.stop()
        pytest.fail(f"the test cluster did not start: {exc}\n{cp.tails(60)}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()
        _planes.remove(cp)
        cp.cleanup()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    if report.failed and _planes:
        for cp in _planes:
            report.sections.append(("cluster component logs (tail)", cp.tails(40)))
    return report


@pytest.fixture(scope="module")
def kubelet_node(cluster: ControlPlane) -> Iterator[GpuNode]:
    """containerd + kubelet + ``hami device-plugin`` (one fake 16 GiB GPU, split 10) as node
    ``kubelet-0``; removed (Node object too) when the module ends."""
    node = GpuNode(cluster, KUBELET_NODE)
    try:
        node.start()
    except ClusterError as exc:
        node.stop()
        pytest.fail(f"the kubelet node did not start: {exc}\n{cluster.tails(60)}", pytrace=False)
    try:
        yield node
    finally:
        node.stop()
        cluster.api.delete(f"/api/v1/nodes/{KUBELET_NODE}")
