"""The one metric list against the collector, the dashboard and the docs."""

from __future__ import annotations

import re

from hami.monitor.families import ALL_BY_NAME, BY_NAME, FAMILIES, TARGET_LABELS
from tests.unit.monitor import dashboard
from tests.unit.monitor.dashboard import ROOT, names_and_labels

DOCS = ROOT / "docs" / "monitor.md"

CTR = ("namespace", "pod", "container", "vdevice_index", "device_uuid")
SPEC_72 = {  # spec control-plane §7.2, verbatim
    "hami_host_gpu_memory_used_bytes": ("node", "device_index", "device_uuid", "device_type"),
    "hami_host_gpu_utilization_ratio": ("node", "device_index", "device_uuid", "device_type"),
    "hami_host_gpu_memory_controller_utilization_ratio": (
        "device_index", "device_uuid", "device_type",
    ),
    "hami_vgpu_memory_used_bytes": CTR,
    "hami_vgpu_memory_limit_bytes": CTR,
    "hami_container_device_memory_bytes": CTR,
    "hami_container_device_utilization_ratio": CTR,
    "hami_container_last_kernel_elapsed_seconds": CTR,
    "hami_vgpu_memory_context_bytes": CTR,
    "hami_vgpu_memory_module_bytes": CTR,
    "hami_vgpu_memory_buffer_bytes": CTR,
    "hami_mig_device_info": (
        "namespace", "pod", "container", "vdevice_index", "device_uuid", "mig_uuid", "profile",
        "gpu_instance_id", "compute_instance_id",
    ),
    "hami_build_info": ("version", "revision", "build_date", "go_version", "compiler", "platform"),
}  # fmt: skip
SPEC_LEGACY = {
    "HostGPUMemoryUsage", "HostCoreUtilization", "vGPU_device_memory_usage_in_bytes",
    "vGPU_device_memory_limit_in_bytes", "Device_memory_desc_of_container",
    "Device_utilization_desc_of_container", "Device_last_kernel_of_container", "MigInfo",
}  # fmt: skip


def test_families_are_the_spec_ones() -> None:
    current = {f.name: f.labels for f in FAMILIES if not f.legacy}
    for name, labels in SPEC_72.items():
        assert current.get(name) == labels, name
    assert set(current) - set(SPEC_72) == {"hami_monitor_region_errors"}  # our one addition
    assert {f.name for f in FAMILIES if f.legacy} == SPEC_LEGACY
    assert len(BY_NAME) == len(FAMILIES)


def test_every_dashboard_query_uses_only_listed_names_and_labels() -> None:
    seen: set[str] = set()
    for q in dashboard.queries():
        names, labels = names_and_labels(q.expr)
        assert names, q
        unknown = names - set(ALL_BY_NAME)
        assert not unknown, f"{q.where}: unknown metric {unknown}"
        allowed = set(TARGET_LABELS).union(*(ALL_BY_NAME[n].labels for n in names))
        assert labels <= allowed, f"{q.where}: labels {labels - allowed} not on {names}"
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", q.legend))
        assert legend <= allowed, f"{q.where}: legend labels {legend - allowed}"
        assert not any(ALL_BY_NAME[n].legacy for n in names), q
        seen |= names
    # the dashboard shows every current monitor family except MIG (no MIG in the fake GPU)
    current = {f.name for f in FAMILIES if not f.legacy}
    assert current - seen <= {"hami_mig_device_info", "hami_container_device_memory_bytes"}


def test_the_label_checker_catches_mistakes() -> None:
    names, labels = names_and_labels('sum by (node) (hami_gpu_shared_count{nodeid=~".*"})')
    assert names == {"hami_gpu_shared_count"} and labels == {"node", "nodeid"}
    names, _ = names_and_labels("label_values(hami_vgpu_memory_used_bytes, namespace)")
    assert names == {"hami_vgpu_memory_used_bytes"}


def test_docs_list_every_family_with_its_labels() -> None:
    text = DOCS.read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([A-Za-z_:]\w*)`\s*\|([^|]*)\|", line)
        if m:
            rows[m.group(1)] = tuple(re.findall(r"`(\w+)`", m.group(2)))
    for fam in FAMILIES:
        assert rows.get(fam.name) == fam.labels, fam.name
    documented = set(re.findall(r"`(hami_\w+)`", text))
    assert documented <= set(ALL_BY_NAME), documented - set(ALL_BY_NAME)
