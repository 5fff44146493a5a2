"""The monitor's wiring over a real directory tree and Python-written regions (no cluster)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hami.monitor.families import BY_NAME, FAMILIES
from hami.monitor.nvml import StaticHostGpus
from hami.monitor.samples import HostGpu
from hami.monitor.service import Monitor, MonitorSettings, build_registry, parse_duration
from tests.unit.monitor.test_region import v1_region, write

NODE = "gpu-node-00"
UID = "0b7c2f7e-1111-4222-8333-444455556666"


def pod(
    uid: str = UID, name: str = "train", containers: tuple[str, ...] = ("main",)
) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "namespace": "team", "name": name, "resourceVersion": "1"},
        "spec": {"containers": [{"name": c} for c in containers]},
    }


def make(tmp_path: Path, **kw: Any) -> Monitor:
    settings = MonitorSettings(
        node_name=NODE, hook_path=tmp_path, mig_lock_file=tmp_path / "mig.lock", **kw
    )
    hosts = StaticHostGpus([HostGpu(0, "GPU-fa4e0000-0000-4000-8000-000000000000", "Fake GPU",
                                    5 << 20, 40.0, 3.0)])  # fmt: skip
    return Monitor(settings, None, hosts, clock=lambda: 1700000010.0)


def region_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / "containers" / name
    d.mkdir(parents=True)
    return d


def scrape(m: Monitor) -> dict[str, list[Any]]:
    text = generate_latest(build_registry(m)).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_container_metrics_for_a_matched_pod(tmp_path: Path) -> None:
    m = make(tmp_path)
    m._on_pod("ADDED", None, pod())
    write(region_dir(tmp_path, f"{UID}_main") / "x.cache", v1_region())
    write(region_dir(tmp_path, "other-uid_main") / "y.cache", v1_region())  # pod not on this node
    got = scrape(m)
    used = got["hami_vgpu_memory_used_bytes"]
    assert [(s.labels, s.value) for s in used] == [
        ({"namespace": "team", "pod": "train", "container": "main", "vdevice_index": "0",
          "device_uuid": "GPU-fa4e0000-0000-4000-8000-000000000000"}, 3000.0),
        ({"namespace": "team", "pod": "train", "container": "main", "vdevice_index": "1",
          "device_uuid": "GPU-second"}, 0.0),
    ]  # fmt: skip
    assert got["hami_vgpu_memory_limit_bytes"][0].value == 1 << 30
    assert got["hami_container_device_utilization_ratio"][0].value == 40
    assert got["hami_vgpu_memory_context_bytes"][0].value == 20
    assert got["hami_vgpu_memory_buffer_bytes"][0].value == 2970
    assert got["hami_container_last_kernel_elapsed_seconds"][0].value == 10
    assert got["hami_host_gpu_memory_used_bytes"][0].labels == {
        "node": NODE, "device_index": "0", "device_type": "NVIDIA-Fake GPU",
        "device_uuid": "GPU-fa4e0000-0000-4000-8000-000000000000",
    }  # fmt: skip
    assert got["hami_host_gpu_utilization_ratio"][0].value == 40
    assert got["hami_build_info"][0].value == 1
    assert "HostGPUMemoryUsage" not in got
    for name, samples in got.items():
        for s in samples:
            assert tuple(sorted(s.labels)) == tuple(sorted(BY_NAME[name].labels)), name


def test_legacy_names_only_when_asked(tmp_path: Path) -> None:
    m = make(tmp_path, legacy_metrics=True)
    m._on_pod("ADDED", None, pod())
    write(region_dir(tmp_path, f"{UID}_main") / "x.cache", v1_region())
    got = scrape(m)
    legacy = {f.name for f in FAMILIES if f.legacy} - {"MigInfo"}
    assert legacy <= set(got)
    desc = got["Device_memory_desc_of_container"][0]
    assert (desc.labels["podname"], desc.labels["context"], desc.value) == ("train", "20", 3000)


def test_corrupt_truncated_and_foreign_files_are_reported_once_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = make(tmp_path)
    m._on_pod("ADDED", None, pod(containers=("a", "b", "c", "d")))
    write(region_dir(tmp_path, f"{UID}_a") / "ok.cache", v1_region())
    (region_dir(tmp_path, f"{UID}_b") / "t.cache").write_bytes(bytes(v1_region())[:4096])
    (region_dir(tmp_path, f"{UID}_c") / "f.cache").write_text("not a region\n")
    bad = bytearray(bytes(v1_region()) + b"\0")
    bad[0:4] = b"XXXX"
    (region_dir(tmp_path, f"{UID}_d") / "m.cache").write_bytes(bytes(bad))
    with caplog.at_level(logging.WARNING, logger="hami.monitor"):
        first = scrape(m)
        second = scrape(m)
        m.feedback_once()
    errors = {
        (s.labels["file"].rsplit("/", 1)[1], s.labels["reason"])
        for s in first["hami_monitor_region_errors"]
    }
    assert errors == {
        ("t.cache", "file size"),
        ("f.cache", "file size"),
        ("m.cache", "initialized_flag"),
    }
    assert second["hami_monitor_region_errors"] == first["hami_monitor_region_errors"]
    assert [s.labels["container"] for s in first["hami_vgpu_memory_used_bytes"]] == ["a", "a"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines  # one line per bad file, not one per scrape
    assert all("team/train container" in line and "skipping" in line for line in lines)
    assert not any(r.exc_info for r in caplog.records)
    # fixed: the error series goes away
    write(tmp_path / "containers" / f"{UID}_b" / "t.cache", v1_region())
    assert len(scrape(m)["hami_monitor_region_errors"]) == 2


def test_feedback_writes_switch_and_pauses_under_mig_lock(tmp_path: Path) -> None:
    m = make(tmp_path)
    r = v1_region()
    r.utilization_switch, r.recent_kernel = 1, 2
    path = write(region_dir(tmp_path, f"{UID}_main") / "x.cache", r)
    (tmp_path / "mig.lock").touch()
    assert m.feedback_once() == []
    from hami.monitor import region

    assert region.read(path).utilization_switch == 1
    (tmp_path / "mig.lock").unlink()
    (d,) = m.feedback_once()
    assert (d.utilization_switch, d.recent_kernel) == (0, 1)
    after = region.read(path)
    assert (after.utilization_switch, after.recent_kernel) == (0, 1)


def test_cleanup_removes_only_dirs_of_gone_pods_after_the_grace(tmp_path: Path) -> None:
    now = [1000.0]
    m = make(tmp_path, resync_interval=300)
    m.clock = lambda: now[0]
    m._on_pod("ADDED", None, pod())
    keep = region_dir(tmp_path, f"{UID}_main")
    gone = region_dir(tmp_path, "dead-uid_main")
    write(gone / "x.cache", v1_region())
    stray = tmp_path / "containers" / "not-a-cache-dir"
    stray.mkdir()
    for d in (keep, gone):
        os.utime(d, (0, 0))
    assert m.cleanup_once() == ()
    now[0] = 1299
    assert m.cleanup_once() == ()
    now[0] = 1300
    assert m.cleanup_once() == ("dead-uid_main",)
    assert keep.exists() and stray.exists() and not gone.exists()
    m._on_pod("DELETED", pod(), None)
    now[0] = 2000
    assert m.cleanup_once() == ()
    now[0] = 2300
    assert m.cleanup_once() == (f"{UID}_main",)


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("300", 300),
                                               ("1.5s", 1.5), ("250ms", 0.25)])  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "5m3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_mig_info_from_the_pod_annotation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import json

    m = make(tmp_path, legacy_metrics=True)
    p = pod(containers=("init", "main"))
    p["metadata"]["annotations"] = {
        "hami.io/vgpu-mig-allocations": json.dumps([
            {"containerIndex": 1, "deviceIndex": 0, "gpuUUID": "GPU-m", "profile": "1g.10gb",
             "placement": {"start": 0, "size": 1}, "migUUID": "MIG-1"},
            {"containerIndex": 0, "deviceIndex": 0, "gpuUUID": "GPU-m", "profile": "2g.20gb",
             "placement": {"start": 2, "size": 2}},
        ])
    }  # fmt: skip
    m._on_pod("ADDED", None, p)
    write(region_dir(tmp_path, f"{UID}_main") / "x.cache", v1_region())
    got = scrape(m)
    (info,) = got["hami_mig_device_info"]
    assert info.labels == {
        "namespace": "team", "pod": "train", "container": "main", "vdevice_index": "0",
        "device_uuid": "GPU-m", "mig_uuid": "MIG-1", "profile": "1g.10gb",
        "gpu_instance_id": "", "compute_instance_id": "",
    }  # fmt: skip
    assert got["MigInfo"][0].labels["migname"] == "1g.10gb"
    bad = pod(uid="other-uid", name="bad")
    bad["metadata"]["annotations"] = {"hami.io/vgpu-mig-allocations": "[{oops"}
    with caplog.at_level(logging.WARNING):
        m._on_pod("ADDED", None, bad)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "pod team/bad" in line and "hami.io/vgpu-mig-allocations" in line
