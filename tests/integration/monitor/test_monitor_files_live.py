"""``hami monitor`` as a process: bad region files are reported and skipped, cache directories of
deleted pods are removed after the resync interval, a live tenant's region is exported."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hami.api import sharedregion as sr
from hami.monitor import region
from tests.integration.monitor.harness import Node, build_tenant, gpu_node
from tests.integration.stack import wait_for


@pytest.fixture(scope="module")
def tenant_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tenant(tmp_path_factory.mktemp("tenant"))


@pytest.fixture
def node(tmp_path: Path, tenant_exe: Path) -> Iterator[Node]:
    with gpu_node(tmp_path, tenant_exe) as n:
        yield n


def series(node: Node, name: str) -> list[dict[str, str]]:
    text = node.scrape_text() or ""
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name]  # fmt: skip


def test_bad_files_reported_and_gone_pods_cleaned(node: Node) -> None:
    node.start_monitor("--resync-interval", "1s", feedback="0.3s")
    good = node.schedule("good", gpumem=1000, gpucores=0)
    gone = node.schedule("gone", gpumem=1000, gpucores=0)
    tenant = node.start_tenant(good, alloc_mib=64, idle=True)
    # libvgpu's file is HAMi's: the size HAMi's monitor selects v1 by, read the same by both readers
    assert tenant.cache.stat().st_size == sr.FILE_SIZE
    assert region.read(str(tenant.cache)) == sr.read_region(str(tenant.cache))
    assert region.read(str(tenant.cache)).used(0) == 64 << 20
    containers = node.hook / "containers"
    bad = {
        "trunc": containers / f"{gone['metadata']['uid']}_main" / "t.cache",
        "foreign": containers / f"{good['metadata']['uid']}_sidecar" / "f.cache",
    }
    for path in bad.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    bad["trunc"].write_bytes(tenant.cache.read_bytes()[:5000])
    bad["foreign"].write_text("# not a region\n" * 100)

    assert wait_for(lambda: len(series(node, "hami_monitor_region_errors")) == 2, 15), (
        node.log_text()
    )
    reasons = {(s["file"], s["reason"]) for s in series(node, "hami_monitor_region_errors")}
    assert reasons == {(str(bad["trunc"]), "file size"), (str(bad["foreign"]), "file size")}
    used = series(node, "hami_vgpu_memory_used_bytes")
    assert [(s["pod"], s["container"]) for s in used] == [("good", "main")]
    time.sleep(1.0)  # several feedback passes and scrapes
    log = node.log_text()
    assert log.count("skipping") == 2, log  # one line per bad file, not one per pass
    assert "default/gone container main" in log and "default/good container sidecar" in log
    assert "Traceback" not in log and node.monitor is not None and node.monitor.poll() is None

    # the pod of the truncated file goes away: after the resync interval its directory goes
    node.api.store.delete("pods", "gone")
    gone_dir = bad["trunc"].parent
    old = time.time() - 5
    os.utime(gone_dir, (old, old))
    assert wait_for(lambda: not gone_dir.exists(), 15), node.log_text()
    assert "removed cache directory" in node.log_text()
    reasons = {s["file"] for s in series(node, "hami_monitor_region_errors")}
    assert reasons == {str(bad["foreign"])}
    # directories of a live pod stay, however old
    os.utime(bad["foreign"].parent, (old, old))
    time.sleep(1.5)
    assert bad["foreign"].exists() and tenant.cache.exists()
