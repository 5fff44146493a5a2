"""ResourceQuota limits per registered backend (control-plane §4.8, vendors §0.2): read for every
vendor (``limits.<memory resource>`` x ``memory_factor``, ``limits.<core resource>``), handed to the
engine for vendors whose fit checks quota, checked per vendor for the webhook, and exported in the
quota metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hami.api.types import ContainerDevice
from hami.config.devices import DeviceConfig
from hami.device.registry import DeviceRegistry
from hami.k8s.fake import FakeKube
from hami.scheduler.events import EventRecorder
from hami.scheduler.metrics import build_registry
from hami.scheduler.nodelock import NodeLocker
from hami.scheduler.registration import NodeRegistrar
from hami.scheduler.service import SchedulerService
from hami.webhook.backends import device_backends
from tests.support.fake_backends import FakeBackend, backends, shared

#: Cambricon-like: quota checked in the fit, memory in units of 256 MiB.
MLUX = FakeBackend("MLUX", "mlux.io", fit_checks_quota=True, memory_factor=256)
#: Hygon-like: quota only in the webhook.
DCUX = shared("DCUX", "dcux.io")


class QuotaState:
    """Records what the service hands the engine."""

    def __init__(self, registry: Any = None) -> None:
        self.registry = registry
        self.quota: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self.pods: dict[str, Any] = {}

    def set_quota(
        self, namespace: str, mem: int | None, cores: int | None, *, vendor: str = "NVIDIA"
    ) -> None:
        self.quota[(namespace, vendor)] = (mem, cores)

    def add_pod(self, uid: str, *args: Any, **kwargs: Any) -> None:
        self.pods[uid] = args

    def remove_pod(self, uid: str) -> None:
        self.pods.pop(uid, None)

    def nodes(self) -> list[Any]:
        return []


def _service() -> tuple[SchedulerService, QuotaState]:
    kube = FakeKube()
    cfg = DeviceConfig()
    found = {**backends(MLUX, DCUX), "NVIDIA": device_backends(cfg)["NVIDIA"]}
    state = QuotaState(DeviceRegistry.of(cfg, found.values()))
    service = SchedulerService(
        kube, cfg, state=state, locker=NodeLocker(kube),  # type: ignore[arg-type]
        recorder=EventRecorder(kube, host="t"),
        registrar=NodeRegistrar(kube, state, cfg, backends=found),  # type: ignore[arg-type]
        backends=found,
    )  # fmt: skip
    return service, state


def _quota(name: str, hard: dict[str, str], ns: str = "team") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": ns}, "spec": {"hard": hard}}  # fmt: skip


HARD = {
    "limits.mlux.io/mem": "8",  # 8 units x 256 = 2048 MiB
    "limits.mlux.io/cores": "150",
    "limits.dcux.io/mem": "4000",
    "limits.nvidia.com/gpumem": "10000",
    "limits.cpu": "4",
}


def test_limits_per_vendor_reach_the_engine_for_fit_checking_vendors() -> None:
    service, state = _service()
    service.on_quota_event("ADDED", None, _quota("q", HARD))
    assert service.quotas["team"]["q"] == {
        "DCUX": (4000, None),
        "MLUX": (2048, 150),
        "NVIDIA": (10000, None),
    }
    assert state.quota == {("team", "MLUX"): (2048, 150), ("team", "NVIDIA"): (10000, None)}
    # a second, tighter quota wins per resource; deleting it restores the first
    service.on_quota_event("ADDED", None, _quota("tight", {"limits.mlux.io/mem": "2"}))
    assert state.quota[("team", "MLUX")] == (512, 150)
    service.on_quota_event("DELETED", _quota("tight", {}), None)
    assert state.quota[("team", "MLUX")] == (2048, 150)
    service.on_quota_event("DELETED", _quota("q", {}), None)
    assert state.quota[("team", "MLUX")] == (None, None)


def test_unreadable_limit_is_ignored() -> None:
    service, state = _service()
    service.on_quota_event("ADDED", None, _quota("q", {"limits.mlux.io/mem": "lots",
                                                      "limits.mlux.io/cores": "50"}))  # fmt: skip
    assert state.quota[("team", "MLUX")] == (None, 50)


def test_webhook_check_per_vendor_counts_that_vendors_pods_only() -> None:
    service, _ = _service()
    service.on_quota_event("ADDED", None, _quota("q", HARD))
    dcu = ContainerDevice("d0", "DCUX", 3000, 0)
    gpu = ContainerDevice("g0", "NVIDIA", 9000, 0)
    service._reserve("u1", "team", "a", "n1", {"DCUX": ((dcu,),), "NVIDIA": ((gpu,),)}, 0)
    assert service.quota_check("team", 1000, 0, "DCUX") is None
    assert service.quota_check("team", 1001, 0, "DCUX") == (
        "exceeding resource quota team/q: mem 3000+1001 > 4000"
    )
    assert service.quota_check("team", 1000, 0) is None  # NVIDIA: 9000 + 1000
    assert "gpumem 9000+1001 > 10000" in (service.quota_check("team", 1001, 0) or "")
    assert service.quota_check("team", 10**6, 0, "UNKNOWN") is None
    assert service.quota_check("other", 10**6, 0, "DCUX") is None


def test_quota_metrics_per_vendor() -> None:
    service, _ = _service()
    service.on_quota_event("ADDED", None, _quota("q", HARD))
    mlu = ContainerDevice("m0", "MLUX", 1024, 20)
    service._reserve("u1", "team", "a", "n1", {"MLUX": ((mlu,),)}, 0)
    text = generate_latest(build_registry(service)).decode()
    used = {
        (s.labels["namespace"], s.labels["quota_name"], s.labels["limit"]): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "hami_resource_quota_used"
    }
    assert used == {
        ("team", "dcux.io/mem", "4000"): 0,
        ("team", "mlux.io/mem", "8"): 1024,  # the raw limit, not x memory_factor
        ("team", "mlux.io/cores", "150"): 20,
        ("team", "nvidia.com/gpumem", "10000"): 0,
    }
