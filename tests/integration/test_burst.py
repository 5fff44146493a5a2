"""A burst of GPU pods on few nodes (issue 11, point 5): binds wait their turn for the node lock
inside hami instead of failing back to kube-scheduler on lock contention (each failure costs
the pod a backoff, another filter and more writes)."""

from __future__ import annotations

import time

import pytest

from tests.component.scheduler.objects import container, make_pod
from tests.integration.conftest import add_nodes
from tests.integration.stack import (
    DevicePluginStandIn,
    assert_no_overcommit,
    bound,
    events,
    kube_scheduler_config,
    start_scheduler,
    wait_for,
)
from tests.support.apiserver import ApiServerThread
from tests.support.kubescheduler import KubeSchedulerThread

PODS = 100
HOLD_S = 0.05  # node lock held from Bind until Allocate finishes (a real kubelet: ~0.5 s)


@pytest.mark.slow
def test_100_pods_on_2_nodes_wait_their_turn_instead_of_failing(
    apiserver: ApiServerThread,
) -> None:
    add_nodes(apiserver, 2, gpus=2, mem=16384, split=30)
    sched = start_scheduler(apiserver)
    started = time.monotonic()
    try:
        with (
            DevicePluginStandIn(apiserver, interval=0.005, delay_s=HOLD_S),
            KubeSchedulerThread(apiserver.url, kube_scheduler_config(sched.url),
                                max_backoff_s=0.5) as ks,
        ):  # fmt: skip
            for i in range(PODS):
                pod = make_pod(f"burst-{i:03d}", containers=[container(gpu=1, gpumem=300)])
                apiserver.store.create(pod)
            assert wait_for(lambda: len(bound(apiserver)) == PODS, 60)
            filters = len(ks.extenders[0].calls_of("filter"))
            failures = len(ks.failures)
    finally:
        sched.stop()
    took = time.monotonic() - started
    binding_failed = len(events(apiserver, "BindingFailed"))
    print(f"burst: {PODS} pods, {filters} filter calls, {failures} scheduling failures, "
          f"{binding_failed} BindingFailed events, {took:.1f}s")  # fmt: skip
    assert_no_overcommit(apiserver, split=30, mem=16384)
    assert failures <= PODS // 20, failures
    assert binding_failed <= PODS // 20, binding_failed
    assert filters <= PODS + PODS // 10, filters
