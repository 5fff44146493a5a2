/*
 * What memory queries report under a cap: total = min(cap, physical), used = the container's
 * accounted usage, free = max(0, total - used) (and never more than the driver's free).
 * Without a cap the driver's values pass through. NULL out-parameters are allowed.
 */
#include "vgpu.h"

#include <limits.h>

/* virtualize (free,total) for CUDA device dev; returns 1 if a cap applied */
static int virtualize(int dev, uint64_t *free_b, uint64_t *total_b) {
    uint64_t limit = vgpu_mem_limit(dev);
    if (!limit) return 0;
    uint64_t total = *total_b < limit ? *total_b : limit;
    uint64_t used = vgpu_mem_used(dev);
    uint64_t free = used >= total ? 0 : total - used;
    if (free > *free_b) free = *free_b;
    *total_b = total;
    *free_b = free;
    return 1;
}

CUresult vgpu_w_cuMemGetInfo_v2(size_t *free, size_t *total) {
    CU_NEED(cuMemGetInfo_v2);
    if (!free || !total) {
        /* the driver decides what NULL means; only its success gets virtualized values */
        CUresult r = REAL(cuMemGetInfo_v2)(free, total);
        if (r != CUDA_SUCCESS || (!free && !total)) return r;
    }
    size_t f = 0, t = 0;
    CUresult r = REAL(cuMemGetInfo_v2)(&f, &t);
    if (r != CUDA_SUCCESS) return r;
    uint64_t ff = f, tt = t;
    virtualize(vgpu_current_device(), &ff, &tt);
    if (free) *free = (size_t)ff;
    if (total) *total = (size_t)tt;
    return r;
}
VGPU_EXPORT(cuMemGetInfo_v2)

CUresult vgpu_w_cuMemGetInfo(unsigned int *free, unsigned int *total) {
    CU_NEED(cuMemGetInfo);
    CUresult r = REAL(cuMemGetInfo)(free, total);
    if (r != CUDA_SUCCESS || (!free && !total) || !vgpu_real[VGPU_H_cuMemGetInfo_v2]) return r;
    size_t f = 0, t = 0;
    if (REAL(cuMemGetInfo_v2)(&f, &t) != CUDA_SUCCESS) return r;
    uint64_t ff = f, tt = t;
    if (!virtualize(vgpu_current_device(), &ff, &tt)) return r;
    if (free) *free = ff > UINT_MAX ? UINT_MAX : (unsigned int)ff;
    if (total) *total = tt > UINT_MAX ? UINT_MAX : (unsigned int)tt;
    return r;
}
VGPU_EXPORT(cuMemGetInfo)

CUresult vgpu_w_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
    CU_NEED(cuDeviceTotalMem_v2);
    CUresult r = REAL(cuDeviceTotalMem_v2)(bytes, dev);
    if (r != CUDA_SUCCESS || !bytes) return r;
    uint64_t limit = vgpu_mem_limit(dev);
    if (limit && limit < *bytes) *bytes = (size_t)limit;
    return r;
}
VGPU_EXPORT(cuDeviceTotalMem_v2)

CUresult vgpu_w_cuDeviceTotalMem(unsigned int *bytes, CUdevice dev) {
    CU_NEED(cuDeviceTotalMem);
    CUresult r = REAL(cuDeviceTotalMem)(bytes, dev);
    uint64_t limit = vgpu_mem_limit(dev);
    if (r == CUDA_SUCCESS && bytes && limit && limit < *bytes) *bytes = (unsigned int)limit;
    return r;
}
VGPU_EXPORT(cuDeviceTotalMem)

nvmlReturn_t vgpu_w_nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    NVML_NEED(nvmlDeviceGetMemoryInfo);
    nvmlReturn_t r = REAL(nvmlDeviceGetMemoryInfo)(device, memory);
    if (r != NVML_SUCCESS || !memory) return r;
    int dev = vgpu_nvml_to_cuda(device);
    uint64_t limit = vgpu_mem_limit(dev);
    if (!limit) return r;
    uint64_t total = memory->total < limit ? memory->total : limit;
    uint64_t used = vgpu_mem_used(dev);
    memory->total = total;
    memory->used = used;
    memory->free = used >= total ? 0 : total - used;
    return r;
}
VGPU_EXPORT(nvmlDeviceGetMemoryInfo)

nvmlReturn_t vgpu_w_nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    NVML_NEED(nvmlDeviceGetMemoryInfo_v2);
    nvmlReturn_t r = REAL(nvmlDeviceGetMemoryInfo_v2)(device, memory);
    if (r != NVML_SUCCESS || !memory) return r;
    int dev = vgpu_nvml_to_cuda(device);
    uint64_t limit = vgpu_mem_limit(dev);
    if (!limit) return r;
    uint64_t total = memory->total < limit ? memory->total : limit;
    uint64_t used = vgpu_mem_used(dev);
    uint64_t reserved = memory->reserved < total ? memory->reserved : total;
    memory->total = total;
    memory->reserved = reserved;
    memory->used = used;
    memory->free = used + reserved >= total ? 0 : total - used - reserved;
    return r;
}
VGPU_EXPORT(nvmlDeviceGetMemoryInfo_v2)
