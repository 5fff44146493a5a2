"""libvgpu's memory cap on every allocation API, and the virtualised memory queries."""

from __future__ import annotations

import pytest

from tests.libvgpu.kit import Kit, MiB

APIS = ["alloc", "pitch", "managed", "create", "async", "pool", "array", "array3d", "mipmap"]
APIS += ["dlsym", "gpa", "gpa_legacy"]
CAP_MB = 32
CHUNK = 4 * MiB


@pytest.mark.parametrize("api", APIS, ids=APIS)
def test_cap_enforced_without_touching_the_driver(kit: Kit, api: str) -> None:
    run = kit.run("memcap", api, CHUNK, 100, env=kit.env(cap_mb=CAP_MB, mem_mb=256))
    assert run.returncode == 0, run.describe()
    alloc = run.one("alloc")
    assert alloc["granted"] == CAP_MB * MiB // CHUNK, run.describe()
    assert alloc["rc"] == 2  # CUDA_ERROR_OUT_OF_MEMORY
    # The refused request never reached the driver: physical usage stops at the cap.
    assert alloc["driver_used"] == CAP_MB * MiB
    assert run.one("freed")["failures"] == 0
    after = run.one("query", when="after")
    assert after["driver_used"] == 0
    assert after["free"] == CAP_MB * MiB, "usage not given back after frees"


@pytest.mark.parametrize("api", ["alloc", "create", "async"], ids=["alloc", "create", "async"])
def test_frees_give_the_budget_back(kit: Kit, api: str) -> None:
    env = kit.env(cap_mb=CAP_MB, mem_mb=256)
    for _ in range(2):  # a second process on the same region sees the full budget again
        run = kit.run("memcap", api, CHUNK, 100, env=env)
        assert run.one("alloc")["granted"] == CAP_MB * MiB // CHUNK, run.describe()


def test_queries_are_virtualised(kit: Kit) -> None:
    run = kit.run("memcap", "alloc", CHUNK, 3, env=kit.env(cap_mb=CAP_MB, mem_mb=256))
    cap, used = CAP_MB * MiB, 3 * CHUNK
    before, during = run.one("query", when="before"), run.one("query", when="during")
    assert (before["total"], before["free"], before["totalmem"]) == (cap, cap, cap)
    assert (before["nvml_total"], before["nvml_used"], before["nvml_free"]) == (cap, 0, cap)
    assert (during["total"], during["free"], during["totalmem"]) == (cap, cap - used, cap)
    nvml = (during["nvml_total"], during["nvml_used"], during["nvml_free"])
    assert nvml == (cap, used, cap - used)
    assert (during["nvml2_total"], during["nvml2_used"], during["nvml2_free"]) == (
        cap,
        used,
        cap - used,
    )


def test_cap_above_physical_reports_physical(kit: Kit) -> None:
    run = kit.run("memcap", "alloc", CHUNK, 100, env=kit.env(cap_mb=512, mem_mb=64))
    before = run.one("query", when="before")
    assert (before["total"], before["free"], before["totalmem"]) == (64 * MiB, 64 * MiB, 64 * MiB)
    assert before["nvml_total"] == 64 * MiB
    alloc = run.one("alloc")
    assert (alloc["granted"], alloc["rc"]) == (16, 2)  # the driver's own OOM


def test_no_cap_reports_real_values(kit: Kit) -> None:
    run = kit.run("memcap", "alloc", CHUNK, 2, env=kit.env(cap_mb=None, mem_mb=64))
    during = run.one("query", when="during")
    assert (during["total"], during["free"], during["totalmem"]) == (64 * MiB, 56 * MiB, 64 * MiB)
    assert (during["nvml_total"], during["nvml_used"]) == (64 * MiB, 8 * MiB)


def test_null_out_params_and_unknown_frees(kit: Kit) -> None:
    with_hook = kit.run("memcap", "alloc", CHUNK, 1, env=kit.env(cap_mb=CAP_MB))
    without = kit.run("memcap", "alloc", CHUNK, 1, env=kit.env(preload=False))
    assert with_hook.returncode == 0, with_hook.describe()
    for when in ("before", "during", "after"):
        assert all(rc != 0 for rc in with_hook.one("nullq", when=when)["rc"])
    # A pointer libvgpu never saw still reaches the driver, which answers for itself.
    assert with_hook.one("bogus_free")["rc"] == without.one("bogus_free")["rc"] == 1


@pytest.mark.parametrize(
    "visible", ["1", "GPU-fa4e0000-0000-4000-8000-000000000001"], ids=["index", "uuid"]
)
def test_cap_follows_cuda_visible_devices(kit: Kit, visible: str) -> None:
    """CUDA ordinal 0 is physical GPU 1: the cap binds there, NVML shows it on index 1 only."""
    extra = {
        "FAKE_CUDA_DEVICES": "2",
        "FAKE_CUDA_MEM_MB": "128,256",
        "CUDA_VISIBLE_DEVICES": visible,
    }
    on_gpu1 = kit.run(
        "memcap",
        "alloc",
        CHUNK,
        100,
        env=kit.env(cap_mb=CAP_MB, extra={**extra, "MEMCAP_NVML_INDEX": "1"}),
    )
    assert on_gpu1.returncode == 0, on_gpu1.describe()
    alloc = on_gpu1.one("alloc")
    assert (alloc["granted"], alloc["rc"], alloc["driver_used"]) == (8, 2, CAP_MB * MiB)
    during = on_gpu1.one("query", when="during")
    assert (during["total"], during["nvml_total"], during["nvml_used"]) == (
        CAP_MB * MiB,
        CAP_MB * MiB,
        CAP_MB * MiB,
    )
    on_gpu0 = kit.run(
        "memcap",
        "alloc",
        CHUNK,
        1,
        env=kit.env(cap_mb=CAP_MB, extra={**extra, "MEMCAP_NVML_INDEX": "0"}),
    )
    other = on_gpu0.one("query", when="during")
    assert (other["nvml_total"], other["nvml_used"]) == (128 * MiB, 0)  # not ours: untouched


def test_context_memory_counts_against_the_cap(kit: Kit) -> None:
    """The context (8 MiB in the fake) is charged: physical usage stays within the cap."""
    env = kit.env(cap_mb=CAP_MB, extra={"FAKE_CUDA_CTX_MB": "8"})
    run = kit.run("memcap", "alloc", CHUNK, 100, env=env)
    assert run.returncode == 0, run.describe()
    before, alloc = run.one("query", when="before"), run.one("alloc")
    assert (before["total"], before["free"], before["nvml_used"]) == (
        CAP_MB * MiB,
        24 * MiB,
        8 * MiB,
    )
    assert (alloc["granted"], alloc["rc"]) == (6, 2)
    assert alloc["driver_used"] <= CAP_MB * MiB


def test_memory_kept_by_a_pool_still_counts(kit: Kit) -> None:
    """Pools keep freed memory (release threshold max, as cudaMallocAsync): still physical use."""
    env = kit.env(cap_mb=CAP_MB, extra={"MEMCAP_POOL_KEEP": "1", "MEMCAP_THEN_ALLOC": "1"})
    run = kit.run("memcap", "async", CHUNK, 100, env=env)
    assert run.returncode == 0, run.describe()
    assert run.one("query", when="after")["driver_used"] == CAP_MB * MiB  # the pool kept it
    assert run.one("alloc2")["driver_used"] <= CAP_MB * MiB
