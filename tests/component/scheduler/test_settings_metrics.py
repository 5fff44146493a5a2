"""Settings precedence and durations; metrics names/labels of spec §7.1 at scrape time."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hami.k8s.fake import FakeKube
from hami.scheduler.settings import SettingsError, load_settings, parse_duration
from tests.component.scheduler.conftest import Harness, serve
from tests.component.scheduler.objects import container, filter_args, make_pod


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5m", 300.0), ("28s", 28.0), ("1m30s", 90.0), ("250ms", 0.25), (12, 12.0), ("7", 7.0)],
    ids=["minutes", "seconds", "compound", "millis", "int", "numeric-string"],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5 minutes", "m5", "", "-3", True], ids=str)
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_precedence_flags_env_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("node_lock_timeout: 1m\nscheduler_name: from-file\nhttp_bind: 0.0.0.0:1\n")
    monkeypatch.setenv("HAMI_SCHEDULER_NAME", "from-env")
    monkeypatch.setenv("HAMI_HTTP_BIND", "0.0.0.0:2")
    s = load_settings({"http_bind": "0.0.0.0:3"}, cfg)
    assert s.http_bind == "0.0.0.0:3"  # flag beats env and file
    assert s.scheduler_name == "from-env"  # env beats file
    assert s.node_lock_timeout == 60.0  # file beats default
    assert s.gpu_scheduler_policy == "spread"  # default


@pytest.mark.parametrize(
    "env", ["HAMI_NODE_LOCK_TIMEOUT", "HAMI_NODELOCK_EXPIRE"], ids=["ours", "hami-chart"]
)
def test_node_lock_timeout_from_env(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env, "2m")
    assert load_settings({}, None).node_lock_timeout == 120.0
    # A flag still beats the environment.
    assert load_settings({"node_lock_timeout": "30s"}, None).node_lock_timeout == 30.0


@pytest.mark.parametrize(
    ("content", "needle"),
    [("- a\n- b\n", "mapping"), ("bogus_key: 1\n", "bogus_key"),
     ("gpu_scheduler_policy: fastest\n", "unknown GPU policy"), (":\n  - [", "cannot read")],
    ids=["not-mapping", "unknown-key", "bad-policy", "bad-yaml"],
)  # fmt: skip
def test_bad_settings_file_names_the_file(tmp_path: Path, content: str, needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    with pytest.raises(SettingsError) as info:
        load_settings({}, cfg)
    assert str(cfg) in str(info.value)
    assert needle in str(info.value)


async def test_metrics_reflect_the_cache(harness: Harness) -> None:
    pod = harness.kube.add("pods", make_pod("m", containers=[container(gpumem=3000, gpucores=20)]))
    await harness.settle()
    body = (await harness.http.post("/filter", json=filter_args(pod, ["node-0"]))).json()
    assert body["NodeNames"] == ["node-0"]
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{harness.runner.port(1)}/metrics")).text
    for name in ("hami_gpu_memory_limit_bytes", "hami_gpu_core_limit_ratio",
                 "hami_gpu_memory_allocated_bytes", "hami_gpu_core_allocated_ratio",
                 "hami_gpu_shared_count", "hami_node_gpu_overview",
                 "hami_node_gpu_memory_allocated_ratio", "hami_vgpu_memory_allocated_bytes",
                 "hami_vgpu_core_allocated_ratio", "hami_build_info",
                 "hami_filter_duration_seconds_bucket", "hami_filter_total", "hami_bind_total",
                 "hami_node_lock_total", "hami_bind_recheck_total"):  # fmt: skip
        assert f"\n{name}" in text, name
    assert (
        'hami_gpu_memory_limit_bytes{device_index="0",device_type="NVIDIA-Tesla T4",'
        'device_uuid="GPU-node-0-00",node="node-0",zone="vGPU"} 1.7179869184e+10'
    ) in text
    assert 'hami_vgpu_memory_allocated_bytes{container_index="0"' in text
    assert 'pod="m",zone="vGPU"} 3.145728e+09' in text
    assert 'hami_filter_total{result="scheduled"} 1.0' in text


async def test_quota_is_enforced_in_fit_and_webhook(harness: Harness) -> None:
    harness.kube.add("resourcequotas", {
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "gpu", "namespace": "team"},
        "spec": {"hard": {"limits.nvidia.com/gpumem": "4000"}}})  # fmt: skip
    await harness.settle()
    assert harness.service.quota_check("team", 5000, 0) is not None
    assert harness.service.quota_check("team", 3000, 0) is None
    first = harness.kube.add("pods", make_pod("q1", namespace="team",
                                              containers=[container(gpumem=3000)]))  # fmt: skip
    second = harness.kube.add("pods", make_pod("q2", namespace="team",
                                               containers=[container(gpumem=3000)]))  # fmt: skip
    await harness.settle()
    assert (await harness.http.post("/filter", json=filter_args(first, ["node-0"]))).json()[
        "NodeNames"] == ["node-0"]  # fmt: skip
    body = (await harness.http.post("/filter", json=filter_args(second, ["node-0"]))).json()
    assert body["NodeNames"] == []
    assert "quota" in body["FailedNodes"]["node-0"].lower()
    assert "exceeding resource quota" in (harness.service.quota_check("team", 2000, 0) or "")


async def test_webhook_denies_pods_over_quota(harness: Harness) -> None:
    harness.kube.add(
        "resourcequotas",
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "gpu", "namespace": "team"},
            "spec": {"hard": {"limits.nvidia.com/gpumem": "4000"}},
        },
    )
    await harness.settle()

    def review(mem: int) -> dict[str, object]:
        pod = make_pod("w", namespace="team", containers=[container(gpumem=mem)])
        return {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": f"r-{mem}",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "team",
                "operation": "CREATE",
                "object": pod,
            },
        }

    denied = (await harness.http.post("/webhook", json=review(5000))).json()["response"]
    assert denied["allowed"] is False
    assert "quota" in denied["status"]["message"]
    allowed = (await harness.http.post("/webhook", json=review(3000))).json()["response"]
    assert allowed["allowed"] is True


async def test_legacy_metric_names_on_request(kube: FakeKube) -> None:
    async with serve(kube, legacy_metrics=True) as h:
        pod = h.kube.add("pods", make_pod("lm", containers=[container(gpumem=1000)]))
        await h.settle()
        assert (await h.http.post("/filter", json=filter_args(pod, ["node-1"]))).json()["NodeNames"]
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{h.runner.port(1)}/metrics")).text
    assert (
        'GPUDeviceMemoryLimit{deviceidx="0",devicetype="NVIDIA-Tesla T4",'
        'deviceuuid="GPU-node-0-00",nodeid="node-0"' in text
    )
    assert 'vGPUMemoryAllocated{containeridx="0",deviceuuid=' in text
    assert 'nodename="node-1",podname="lm",podnamespace="default"' in text
    assert "hami_gpu_memory_limit_bytes{" in text  # the new names stay


@pytest.mark.parametrize(
    ("flags", "env", "file", "expected"),
    [
        ({}, {}, "", (0.0, 0, False)),
        ({}, {}, "kube_qps: 20\nkube_burst: 40\nprofiling: true\n", (20.0, 40, True)),
        ({}, {"HAMI_KUBE_QPS": "7.5", "HAMI_PROFILING": "true"}, "kube_qps: 20\n",
         (7.5, 0, True)),
        ({"kube_qps": 50.0, "kube_burst": 100, "profiling": False},
         {"HAMI_KUBE_QPS": "7.5", "HAMI_PROFILING": "true"}, "kube_burst: 3\n",
         (50.0, 100, False)),
    ],
    ids=["defaults-unlimited", "file", "env-beats-file", "flags-beat-env"],
)  # fmt: skip
def test_kube_qps_burst_profiling_precedence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: dict[str, object],
    env: dict[str, str],
    file: str,
    expected: tuple[float, int, bool],
) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(file)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings(flags, cfg)
    assert (s.kube_qps, s.kube_burst, s.profiling) == expected
    summary = s.summary()
    assert (summary["kube_qps"], summary["kube_burst"], summary["profiling"]) == expected


@pytest.mark.parametrize(
    ("flags", "needle"),
    [({"kube_qps": -1}, "--kube-qps"), ({"kube_qps": "inf"}, "--kube-qps"),
     ({"kube_burst": -5}, "--kube-burst"), ({"kube_burst": "many"}, "--kube-burst")],
    ids=["negative-qps", "infinite-qps", "negative-burst", "garbage-burst"],
)  # fmt: skip
def test_bad_rate_limit_settings(flags: dict[str, object], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(flags, None)


async def test_profiling_routes_only_when_enabled(kube: FakeKube) -> None:
    async with serve(kube) as h:
        assert (await h.http.get("/debug/pprof/")).status_code == 404
    async with serve(kube, profiling=True) as h:
        index = await h.http.get("/debug/pprof/")
        assert index.status_code == 200
        assert "/debug/pprof/goroutine" in index.text
        dump = (await h.http.get("/debug/pprof/goroutine")).text
        assert "asyncio tasks:" in dump and "threads:" in dump
        assert (await h.http.get("/healthz")).status_code == 200
