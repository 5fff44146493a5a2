/*
 * Context memory: measured, not guessed. Around the creation of a context (the first retain of a
 * primary context in this process, or any cuCtxCreate) we read the device's free memory from NVML
 * before and after; the drop is charged to this process as context_size. It is never refused.
 * Without NVML, or when other tenants make the delta meaningless (negative), nothing is charged.
 */
#include "vgpu.h"

#define CTX_MAX_CHARGE (4ULL << 30)

static _Atomic int primary_refs[VGPU_MAX_DEVICES];
static _Atomic uint64_t primary_charge[VGPU_MAX_DEVICES];

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
    uint64_t before = first ? device_free(dev) : 0;
    CUresult r = REAL(cuDevicePrimaryCtxRetain)(pctx, dev);
    if (r != CUDA_SUCCESS || !tracked) return r;
    if (atomic_fetch_add(&primary_refs[dev], 1) == 0 && first) {
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

static CUresult ctx_created(CUresult r, CUcontext *pctx, int dev, uint64_t before) {
    if (r != CUDA_SUCCESS || !pctx || !*pctx || dev < 0 || dev >= VGPU_MAX_DEVICES) return r;
    uint64_t c = charge(dev, before);
    if (c) vgpu_track_put(VGPU_T_OBJECT, (uint64_t)(uintptr_t)*pctx, c, dev, VGPU_KIND_CTX);
    vgpu_region_set_devices();
    return r;
}

CUresult vgpu_w_cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    CU_NEED(cuCtxCreate_v2);
    uint64_t before = device_free(dev);
    return ctx_created(REAL(cuCtxCreate_v2)(pctx, flags, dev), pctx, dev, before);
}
VGPU_EXPORT(cuCtxCreate_v2)

CUresult vgpu_w_cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                               unsigned int flags, CUdevice dev) {
    CU_NEED(cuCtxCreate_v3);
    uint64_t before = device_free(dev);
    return ctx_created(REAL(cuCtxCreate_v3)(pctx, paramsArray, numParams, flags, dev), pctx, dev, before);
}
VGPU_EXPORT(cuCtxCreate_v3)

CUresult vgpu_w_cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev) {
    CU_NEED(cuCtxCreate_v4);
    uint64_t before = device_free(dev);
    return ctx_created(REAL(cuCtxCreate_v4)(pctx, params, flags, dev), pctx, dev, before);
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
