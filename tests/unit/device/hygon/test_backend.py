"""The Hygon backend as a whole: it satisfies :class:`DeviceBackend` (checked by mypy on the
annotated assignment below), and its constants are HAMi's (vendors spec §1, §3)."""

from __future__ import annotations

from datetime import datetime

from hami.api.types import ContainerDevice, ContainerRequest
from hami.config.devices import DeviceConfig
from hami.device.base import FitContext
from hami.device.hygon import HygonBackend, backends

from ._data import CONFIG, COUNT, MEM, ctr, dcu, pod

BACKEND = HygonBackend(CONFIG.hygon)


def test_is_a_device_backend() -> None:
    from hami.device.base import DeviceBackend

    typed: DeviceBackend = BACKEND  # mypy checks every role here
    assert typed.type_keyword == "DCU"


def test_backends_builds_one_from_the_config() -> None:
    cfg = DeviceConfig.model_validate({"hygon": {"resourceCountName": "hygon.com/dcu"}})
    got = backends(cfg)
    assert len(got) == 1
    assert (got[0].type_keyword, got[0].count_resource) == ("DCU", "hygon.com/dcu")


def test_wire_names_and_roles() -> None:
    b = BACKEND
    assert (b.type_keyword, b.metric_device_type) == ("DCU", "DCU")
    assert b.to_allocate_annotation == "hami.io/dcu-devices-to-allocate"
    assert b.allocated_annotation == "hami.io/dcu-devices-allocated"
    assert b.register_annotation == "hami.io/node-dcu-register"
    assert (b.health_kind, b.handshake_annotation) == ("handshake", "hami.io/node-handshake-dcu")
    assert b.count_resource == "hygon.com/dcunum"
    assert b.resource_names == ("hygon.com/dcunum", "hygon.com/dcumem", "hygon.com/dcucores")
    assert (b.lock_annotation, b.lock_style) == ("hami.io/mutex.lock", "owner")
    assert (b.fit_checks_quota, b.scores_nodes) == (False, False)


def test_quota_names_and_factor() -> None:
    assert (BACKEND.memory_resource, BACKEND.core_resource, BACKEND.memory_factor) == (
        "hygon.com/dcumem", "hygon.com/dcucores", 1,
    )  # fmt: skip
    scaled = HygonBackend(DeviceConfig.model_validate({"hygon": {"memoryFactor": 1024}}).hygon)
    assert scaled.memory_factor == 1024
    unset = HygonBackend(DeviceConfig.model_validate({"hygon": {"memoryFactor": 0}}).hygon)
    assert unset.memory_factor == 1


def test_score_is_zero() -> None:
    assert BACKEND.score_node([dcu()], ((ContainerDevice("DCU-0", "DCU", 1, 1),),)) == 0


def test_roles_delegate() -> None:
    b = BACKEND
    p = pod(ctr(limits={COUNT: "1", MEM: "2048"}))
    assert b.container_requests(p) == [ContainerRequest(1, "DCU", 2048, 0, 100)]
    assert b.pod_has_managed_resources(p)
    node = {"metadata": {"name": "test", "annotations": {
        "hami.io/node-dcu-register": "test-0,1,1024,100,DCU,0,true,0,test:"}}}  # fmt: skip
    assert [(d.id, d.mode) for d in b.node_devices(node)] == [("test-0", "test")]
    s = b.pod_selection({"hygon.com/nouse-gpuuuid": "DCU-0"})
    res = b.fit_container([dcu(0), dcu(1)], ContainerRequest(1, "DCU", 256, 0, 10), s, FitContext())
    assert res.devices == (ContainerDevice("DCU-1", "DCU", 256, 10),)
    annos = b.pod_annotations((res.devices,), s, now=datetime(2026, 1, 2))
    assert annos == {
        "hami.io/dcu-devices-to-allocate": "DCU-1,DCU,256,10:;",
        "hami.io/dcu-devices-allocated": "DCU-1,DCU,256,10:;",
    }
    container = ctr(limits={COUNT: "1"})
    assert b.validate_container(container) is None
    assert b.mutate_container(container)
    b.mutate_pod(p)
