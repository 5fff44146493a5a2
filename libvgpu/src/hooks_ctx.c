/*
 * Host PID: NVML reports host-namespace PIDs, which a containerized process cannot see. Around our
 * first context creation on a device we list the device's compute processes before and after;
 * a single new PID not already claimed by another slot of the region is ours (stored as the slot's
 * hostpid, used by the compute limiter and the monitor). Ambiguous results are ignored.
 *
 * Context memory: measured, not guessed. Around the creation of a context (the first retain of a
 * primary context in this process, or any cuCtxCreate) we read the device's free memory from NVML
 * before and after; the drop is charged to this process as context_size. It is never refused.
 * Without NVML, or when other tenants make the delta meaningless (negative), nothing is charged.
 */
#include "vgpu.h"

#include <unistd.h>

#define CTX_MAX_CHARGE (4ULL << 30)

static _Atomic int primary_refs[VGPU_MAX_DEVICES];
static _Atomic uint64_t primary_charge[VGPU_MAX_DEVICES];

#define MAX_PROCS_LISTED 128

typedef struct {
    unsigned n;
    unsigned pids[MAX_PROCS_LISTED];
} pidlist_t;

static void list_pids(int dev, pidlist_t *out) {
    out->n = 0;
    vgpu_slot_t *me = vgpu_my_slot();
    if (me->hostpid || dev < 0 || !vgpu_real[VGPU_H_nvmlDeviceGetComputeRunningProcesses_v3]) return;
    nvmlDevice_t h;
    if (vgpu_cuda_to_nvml(dev, &h) != 0) return;
    nvmlProcessInfo_t infos[MAX_PROCS_LISTED]; /* on the stack: no per-thread TLS in every process */
    unsigned int n = MAX_PROCS_LISTED;
    if (REAL(nvmlDeviceGetComputeRunningProcesses_v3)(h, &n, infos) != NVML_SUCCESS) return;
    for (unsigned i = 0; i < n && i < MAX_PROCS_LISTED; i++) out->pids[out->n++] = infos[i].pid;
}

static int claimed(vgpu_region_t *r, unsigned pid) {
    int n = r->proc_num;
    for (int i = 0; i < n && i < VGPU_MAX_PROCS; i++)
        if (r->procs[i].pid && (unsigned)r->procs[i].hostpid == pid) return 1;
    return 0;
}

static void find_hostpid(int dev, const pidlist_t *before) {
    vgpu_slot_t *me = vgpu_my_slot();
    if (me->hostpid) return;
    pidlist_t after;
    list_pids(dev, &after);
    vgpu_region_t *r = vgpu_region();
    unsigned self = (unsigned)getpid(), found = 0;
    int candidates = 0;
    for (unsigned i = 0; i < after.n; i++) {
        unsigned pid = after.pids[i];
        if (pid == self) { /* same pid namespace: no guessing needed */
            found = pid;
            candidates = 1;
            break;
        }
        int seen = 0;
        for (unsigned j = 0; j < before->n && !seen; j++) seen = before->pids[j] == pid;
        if (!seen && !claimed(r, pid)) {
            found = pid;
            candidates++;
        }
    }
    if (candidates == 1) {
        me->hostpid = (int32_t)found;
        LOG_INFO("host pid %u", found);
    } else if (candidates > 1) {
        LOG_INFO("host pid ambiguous (%d new processes on device %d); not set", candidates, dev);
    }
}

static uint64_t device_free(int dev) {
    nvmlDevice_t h;
    if (dev < 0 || vgpu_cuda_to_nvml(dev, &h) != 0 || !vgpu_real[VGPU_H_nvmlDeviceGetMemoryInfo]) return 0;
    nvmlMemory_t m;
    if (REAL(nvmlDeviceGetMemoryInfo)(h, &m) != NVML_SUCCESS) return 0;
    return m.free;
}

static uint64_t charge(int dev, uint64_t before) {
    if (!before) return 0;
    uint64_t after = device_free(dev);
    if (!after || after >= before) return 0;
    uint64_t d = before - after;
    if (d > CTX_MAX_CHARGE) d = CTX_MAX_CHARGE;
    vgpu_mem_reserve(dev, d, VGPU_KIND_CTX);
    return d;
}

CUresult vgpu_w_cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
    CU_NEED(cuDevicePrimaryCtxRetain);
    int tracked = dev >= 0 && dev < VGPU_MAX_DEVICES;
    int first = tracked && atomic_load(&primary_refs[dev]) == 0;
    pidlist_t pids = {0};
    if (first) list_pids(dev, &pids);
    uint64_t before = first ? device_free(dev) : 0;
    CUresult r = REAL(cuDevicePrimaryCtxRetain)(pctx, dev);
    if (r != CUDA_SUCCESS || !tracked) return r;
    if (atomic_fetch_add(&primary_refs[dev], 1) == 0 && first) {
        find_hostpid(dev, &pids);
        uint64_t c = charge(dev, before);
        atomic_store(&primary_charge[dev], c);
        vgpu_region_set_devices();
    }
    return r;
}
VGPU_EXPORT(cuDevicePrimaryCtxRetain)

static void primary_release(CUdevice dev) {
    if (dev < 0 || dev >= VGPU_MAX_DEVICES) return;
    int prev = atomic_load(&primary_refs[dev]);
    while (prev > 0 && !atomic_compare_exchange_weak(&primary_refs[dev], &prev, prev - 1)) {}
    if (prev == 1) vgpu_mem_release(dev, atomic_exchange(&primary_charge[dev], 0), VGPU_KIND_CTX);
}

CUresult vgpu_w_cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    CU_NEED(cuDevicePrimaryCtxRelease_v2);
    CUresult r = REAL(cuDevicePrimaryCtxRelease_v2)(dev);
    if (r == CUDA_SUCCESS) primary_release(dev);
    return r;
}
VGPU_EXPORT(cuDevicePrimaryCtxRelease_v2)

CUresult vgpu_w_cuDevicePrimaryCtxRelease(CUdevice dev) {
    CU_NEED(cuDevicePrimaryCtxRelease);
    CUresult r = REAL(cuDevicePrimaryCtxRelease)(dev);
    if (r == CUDA_SUCCESS) primary_release(dev);
    return r;
}
VGPU_EXPORT(cuDevicePrimaryCtxRelease)

static CUresult ctx_created(CUresult r, CUcontext *pctx, int dev, uint64_t before, const pidlist_t *pids) {
    if (r != CUDA_SUCCESS || !pctx || !*pctx || dev < 0 || dev >= VGPU_MAX_DEVICES) return r;
    find_hostpid(dev, pids);
    uint64_t c = charge(dev, before);
    if (c) vgpu_track_put(VGPU_T_OBJECT, (uint64_t)(uintptr_t)*pctx, c, dev, VGPU_KIND_CTX);
    vgpu_region_set_devices();
    return r;
}

CUresult vgpu_w_cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    CU_NEED(cuCtxCreate_v2);
    pidlist_t pids;
    list_pids(dev, &pids);
    uint64_t before = device_free(dev);
    return ctx_created(REAL(cuCtxCreate_v2)(pctx, flags, dev), pctx, dev, before, &pids);
}
VGPU_EXPORT(cuCtxCreate_v2)

CUresult vgpu_w_cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                               unsigned int flags, CUdevice dev) {
    CU_NEED(cuCtxCreate_v3);
    pidlist_t pids;
    list_pids(dev, &pids);
    uint64_t before = device_free(dev);
    return ctx_created(REAL(cuCtxCreate_v3)(pctx, paramsArray, numParams, flags, dev), pctx, dev, before, &pids);
}
VGPU_EXPORT(cuCtxCreate_v3)

CUresult vgpu_w_cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev) {
    CU_NEED(cuCtxCreate_v4);
    pidlist_t pids;
    list_pids(dev, &pids);
    uint64_t before = device_free(dev);
    return ctx_created(REAL(cuCtxCreate_v4)(pctx, params, flags, dev), pctx, dev, before, &pids);
}
VGPU_EXPORT(cuCtxCreate_v4)

CUresult vgpu_w_cuCtxDestroy_v2(CUcontext ctx) {
    CU_NEED(cuCtxDestroy_v2);
    uint64_t k = (uint64_t)(uintptr_t)ctx, size = 0;
    int dev = -1, kind = 0;
    int known = k && vgpu_track_take(VGPU_T_OBJECT, k, &size, &dev, &kind) == 0;
    CUresult r = REAL(cuCtxDestroy_v2)(ctx);
    if (known) {
        if (r == CUDA_SUCCESS) vgpu_mem_release(dev, size, kind);
        else vgpu_track_put(VGPU_T_OBJECT, k, size, dev, kind);
    }
    return r;
}
VGPU_EXPORT(cuCtxDestroy_v2)
