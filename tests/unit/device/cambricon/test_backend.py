"""The Cambricon backend as a whole: it satisfies :class:`DeviceBackend` (checked by mypy on
the annotated assignment below), and its constants are HAMi's (vendors spec §1, §2)."""

from __future__ import annotations

from datetime import datetime

from hami.api.types import ContainerDevice, ContainerRequest
from hami.config.devices import DeviceConfig
from hami.device.base import FitContext
from hami.device.cambricon import CambriconBackend, backends

from ._data import GOLDEN_CONFIG, ctr, mlu, pod

BACKEND: CambriconBackend = CambriconBackend(DeviceConfig().cambricon)


def test_is_a_device_backend() -> None:
    from hami.device.base import DeviceBackend

    typed: DeviceBackend = BACKEND  # mypy checks every role here
    assert typed.type_keyword == "MLU"


def test_backends_builds_one_from_the_config() -> None:
    got = backends(GOLDEN_CONFIG)
    assert len(got) == 1
    assert got[0].type_keyword == "MLU"
    assert got[0].count_resource == "cambricon.com/mlu"


def test_wire_names_and_roles() -> None:
    b = BACKEND
    assert (b.type_keyword, b.metric_device_type) == ("MLU", "MLU")
    assert b.to_allocate_annotation == "hami.io/cambricon-mlu-devices-to-allocate"
    assert b.allocated_annotation == "hami.io/cambricon-mlu-devices-allocated"
    assert b.register_annotation is None
    assert (b.health_kind, b.handshake_annotation) == ("always", None)
    assert b.count_resource == "cambricon.com/vmlu"
    assert b.resource_names == (
        "cambricon.com/vmlu",
        "cambricon.com/mlu.smlu.vmemory",
        "cambricon.com/mlu.smlu.vcore",
    )
    assert (b.lock_annotation, b.lock_style) == ("cambricon.com/dsmlu.lock", "bare-time")
    assert (b.fit_checks_quota, b.scores_nodes) == (True, False)


def test_quota_names() -> None:
    b = BACKEND
    assert (b.memory_resource, b.core_resource, b.memory_factor) == (
        "cambricon.com/mlu.smlu.vmemory", "cambricon.com/mlu.smlu.vcore", 256,
    )  # fmt: skip


def test_score_is_zero() -> None:
    picked = ((ContainerDevice("n-cambricon-mlu-0", "MLU", 256, 10),),)
    assert BACKEND.score_node([mlu()], picked) == 0


def test_roles_delegate() -> None:
    b = CambriconBackend(GOLDEN_CONFIG.cambricon)
    p = pod(ctr(limits={"cambricon.com/mlu": "1", "cambricon.com/mlu.smlu.vmemory": "4"}))
    assert b.container_requests(p) == [ContainerRequest(1, "MLU", 1024, 0, 100)]
    assert b.pod_has_managed_resources(p)
    node = {"metadata": {"name": "test"}, "status": {"capacity": {
        "cambricon.com/mlu.smlu.vcore": "1", "cambricon.com/mlu.smlu.vmemory": "1"}}}  # fmt: skip
    assert [d.id for d in b.node_devices(node)] == ["test-cambricon-mlu-0"]
    sel = b.pod_selection({"cambricon.com/nouse-gpuuuid": "n-cambricon-mlu-0"})
    res = b.fit_container(
        [mlu(0), mlu(1)], ContainerRequest(1, "MLU", 256, 0, 10), sel, FitContext()
    )
    assert res.devices == (ContainerDevice("n-cambricon-mlu-1", "MLU", 256, 10),)
    annos = b.pod_annotations(((), res.devices), sel, now=datetime(2026, 1, 2, 3, 4, 5))
    assert annos["CAMBRICON_DSMLU_PROFILE"] == "1_10_1"
    assert annos["hami.io/cambricon-mlu-devices-allocated"] == ";n-cambricon-mlu-1,MLU,256,10:;"
    container = ctr(limits={"cambricon.com/mlu": "1"})
    assert b.validate_container(container) is None
    assert b.mutate_container(container)
    b.mutate_pod(p)
