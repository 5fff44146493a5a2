"""The fake driver alone (no libvgpu).

Physical memory model, cuGetProcAddress rules, NVML through the real nvidia-ml-py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.libvgpu.kit import Kit, MiB

APIS = ["alloc", "pitch", "managed", "create", "async", "pool", "array", "array3d", "mipmap"]
APIS += ["dlsym", "gpa", "gpa_legacy"]


@pytest.mark.parametrize("api", APIS, ids=APIS)
def test_physical_memory_is_exhausted_then_returned(kit: Kit, api: str) -> None:
    run = kit.run("memcap", api, 4 * MiB, 100, env=kit.env(preload=False, mem_mb=64))
    assert run.returncode == 0, run.describe()
    alloc = run.one("alloc")
    assert (alloc["granted"], alloc["rc"], alloc["driver_used"]) == (16, 2, 64 * MiB)
    assert run.one("freed")["failures"] == 0
    assert run.one("query", when="after")["driver_used"] == 0
    assert run.one("bogus_free")["rc"] == 1  # CUDA_ERROR_INVALID_VALUE


def test_pool_keeps_freed_memory_above_the_release_threshold(kit: Kit) -> None:
    env = kit.env(
        preload=False, mem_mb=64, extra={"MEMCAP_POOL_KEEP": "1", "MEMCAP_THEN_ALLOC": "1"}
    )
    run = kit.run("memcap", "async", 4 * MiB, 100, env=env)
    assert run.one("alloc")["granted"] == 16
    assert run.one("query", when="after")["driver_used"] == 64 * MiB  # kept by the pool
    assert run.one("alloc2") == {"event": "alloc2", "granted": 0, "rc": 2, "driver_used": 64 * MiB}


def test_queries_report_physical_values(kit: Kit) -> None:
    run = kit.run("memcap", "alloc", 4 * MiB, 2, env=kit.env(preload=False, mem_mb=64))
    during = run.one("query", when="during")
    assert (during["total"], during["free"], during["totalmem"]) == (64 * MiB, 56 * MiB, 64 * MiB)
    assert (during["nvml_total"], during["nvml_used"], during["nvml_free"]) == (
        64 * MiB,
        8 * MiB,
        56 * MiB,
    )
    assert during["nvml2_used"] == 8 * MiB


# (symbol, cudaVersion, flags) -> entry point the real driver hands out
ROUTES = [
    ("cuMemAlloc", 3000, 0, "cuMemAlloc"),
    ("cuMemAlloc", 12090, 0, "cuMemAlloc_v2"),
    ("cuCtxCreate", 3000, 0, "cuCtxCreate"),
    ("cuCtxCreate", 11040, 0, "cuCtxCreate_v3"),
    ("cuCtxCreate", 11080, 0, "cuCtxCreate_v3"),
    ("cuCtxCreate", 13000, 0, "cuCtxCreate_v4"),
    ("cuMemAdvise", 11080, 0, "cuMemAdvise"),
    ("cuMemAdvise", 12090, 0, "cuMemAdvise_v2"),
    ("cuMemPrefetchAsync", 11080, 2, "cuMemPrefetchAsync_ptsz"),
    ("cuMemPrefetchAsync", 12090, 2, "cuMemPrefetchAsync_v2_ptsz"),
    ("cuGraphAddKernelNode", 11080, 0, "cuGraphAddKernelNode"),
    ("cuGraphAddKernelNode", 12000, 0, "cuGraphAddKernelNode_v2"),
    ("cuLaunchKernel", 12090, 0, "cuLaunchKernel"),
    ("cuLaunchKernel", 12090, 2, "cuLaunchKernel_ptsz"),
    ("cuGetProcAddress", 11080, 0, "cuGetProcAddress"),
    ("cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2"),
]


def test_get_proc_address_follows_driver_rules(kit: Kit) -> None:
    run = kit.run("procaddr", env=kit.env(preload=False))
    assert run.returncode == 0, run.describe()
    for symbol, version, flags, reached in ROUTES:
        row = run.one("gpa", symbol=symbol, version=version, flags=flags)
        assert (row["rc"], row["status"], row["reached"]) == (0, 0, reached), row
    # The legacy (v1) queries write 32-bit values, the _v2 ones 64-bit.
    assert run.one("gpa", symbol="cuMemGetInfo", version=3000, flags=0)["abi32"] == 1
    assert run.one("gpa", symbol="cuMemGetInfo", version=12090, flags=0)["abi32"] == 0
    assert run.one("gpa", symbol="cuDeviceTotalMem", version=3000, flags=0)["abi32"] == 1
    too_old = run.one("gpa", symbol="cuMemAllocAsync", version=9020, flags=0)
    assert (too_old["rc"], too_old["status"], too_old["null"]) == (500, 2, 1)
    unknown = run.one("gpa", symbol="cuNoSuchFunction", version=12090, flags=0)
    assert (unknown["rc"], unknown["status"], unknown["null"]) == (500, 1, 1)


NVML_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, pynvml as n
    n.nvmlInit()
    out = {"driver": n.nvmlSystemGetDriverVersion(), "cuda": n.nvmlSystemGetCudaDriverVersion_v2()}
    out["count"] = n.nvmlDeviceGetCount()
    devs = []
    for i in range(out["count"]):
        h = n.nvmlDeviceGetHandleByIndex(i)
        uuid = n.nvmlDeviceGetUUID(h)
        assert n.nvmlDeviceGetIndex(n.nvmlDeviceGetHandleByUUID(uuid)) == i
        devs.append({"uuid": uuid, "name": n.nvmlDeviceGetName(h),
                     "total": n.nvmlDeviceGetMemoryInfo(h).total,
                     "numa": n.nvmlDeviceGetNumaNodeId(h), "mig": list(n.nvmlDeviceGetMigMode(h)),
                     "minor": n.nvmlDeviceGetMinorNumber(h),
                     "procs": len(n.nvmlDeviceGetComputeRunningProcesses(h))})
    out["devices"] = devs
    s = n.nvmlEventSetCreate()
    h1 = n.nvmlDeviceGetHandleByIndex(1)
    n.nvmlDeviceRegisterEvents(h1, n.nvmlEventTypeXidCriticalError, s)
    try:
        n.nvmlEventSetWait(s, 50)
        out["first"] = "event"
    except n.NVMLError as e:
        out["first"] = str(e)
    with open(os.environ["FAKE_NVML_XID_FILE"], "a") as f:
        f.write("0 31\\n")  # device 0 is not registered on this set
        f.write(devs[1]["uuid"] + " 79\\n")
    ev = n.nvmlEventSetWait(s, 2000)
    out["event"] = {"type": ev.eventType, "xid": ev.eventData,
                    "index": n.nvmlDeviceGetIndex(ev.device)}
    n.nvmlEventSetFree(s)
    n.nvmlShutdown()
    print(json.dumps(out))
    """
)


def test_nvml_through_nvidia_ml_py(kit: Kit) -> None:
    env = kit.env(preload=False)
    env.update(
        FAKE_CUDA_DEVICES="2",
        FAKE_CUDA_MEM_MB="8192,24576",
        FAKE_NVML_NUMA="0,1",
        FAKE_NVML_MIG="0,1",
        FAKE_NVML_XID_FILE=str(kit.tmp / "xid"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", NVML_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["driver"], out["cuda"], out["count"]) == ("580.65.06", 13000, 2)
    assert [d["total"] for d in out["devices"]] == [8192 * MiB, 24576 * MiB]
    assert [d["numa"] for d in out["devices"]] == [0, 1]
    assert [d["mig"] for d in out["devices"]] == [[0, 0], [1, 1]]
    assert out["devices"][1]["uuid"] == "GPU-fa4e0000-0000-4000-8000-000000000001"
    assert out["first"] == "Timeout"
    assert out["event"] == {"type": 8, "xid": 79, "index": 1}


def test_utilization_is_shared_between_processes(kit: Kit) -> None:
    env = kit.env(preload=False, extra={"FAKE_CUDA_QUEUE_US": "20000"})
    procs = [kit.spawn("launch_loop", "kernel", 2, 0.5, env=env) for _ in range(2)]
    from tests.libvgpu.kit import finish

    runs = [finish(p) for p in procs]
    shares = [r.one("util")["percent"] for r in runs]
    assert all(r.returncode == 0 for r in runs), [r.describe() for r in runs]
    assert 80 <= sum(shares) <= 101, shares
    assert all(25 <= s <= 75 for s in shares), shares
