/* Allocation and free hooks: check-and-commit against the cap, then call the driver. */
#include "vgpu.h"

#include <limits.h>

static inline CUresult oom(void) { return CUDA_ERROR_OUT_OF_MEMORY; }

/* generic "reserve, call, track or roll back" for allocations keyed by device pointer */
#define ALLOC_BODY(table, dev, size, call, keyexpr)                   \
    do {                                                              \
        int dev_ = (dev);                                             \
        uint64_t size_ = (size);                                      \
        if (vgpu_mem_reserve(dev_, size_, VGPU_KIND_DATA) != 0) return oom(); \
        CUresult r_ = (call);                                         \
        if (r_ != CUDA_SUCCESS) {                                     \
            vgpu_mem_release(dev_, size_, VGPU_KIND_DATA);            \
            return r_;                                                \
        }                                                             \
        if (vgpu_track_put(table, (uint64_t)(keyexpr), size_, dev_, VGPU_KIND_DATA) != 0) \
            LOG_WARN("cannot track allocation of %llu bytes", (unsigned long long)size_);   \
        return r_;                                                    \
    } while (0)

/* generic "untrack, call, release or restore" for frees */
#define FREE_BODY(table, key, call)                                   \
    do {                                                              \
        uint64_t k_ = (uint64_t)(key), size_ = 0;                     \
        int dev_ = -1, kind_ = 0;                                     \
        int known_ = k_ && vgpu_track_take(table, k_, &size_, &dev_, &kind_) == 0; \
        CUresult r_ = (call);                                         \
        if (known_) {                                                 \
            if (r_ != CUDA_SUCCESS) vgpu_track_put(table, k_, size_, dev_, kind_); \
            else if (kind_ == VGPU_KIND_POOL) vgpu_pool_freed(size_);  \
            else vgpu_mem_release(dev_, size_, kind_);                \
        }                                                             \
        return r_;                                                    \
    } while (0)

CUresult vgpu_w_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
    CU_NEED(cuMemAlloc_v2);
    if (!dptr) return REAL(cuMemAlloc_v2)(dptr, bytesize);
    ALLOC_BODY(VGPU_T_DPTR, vgpu_current_device(), bytesize, REAL(cuMemAlloc_v2)(dptr, bytesize), *dptr);
}
VGPU_EXPORT(cuMemAlloc_v2)

CUresult vgpu_w_cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize) {
    CU_NEED(cuMemAlloc);
    if (!dptr) return REAL(cuMemAlloc)(dptr, bytesize);
    ALLOC_BODY(VGPU_T_DPTR, vgpu_current_device(), bytesize, REAL(cuMemAlloc)(dptr, bytesize), *dptr);
}
VGPU_EXPORT(cuMemAlloc)

CUresult vgpu_w_cuMemFree_v2(CUdeviceptr dptr) {
    CU_NEED(cuMemFree_v2);
    FREE_BODY(VGPU_T_DPTR, dptr, REAL(cuMemFree_v2)(dptr));
}
VGPU_EXPORT(cuMemFree_v2)

CUresult vgpu_w_cuMemFree(CUdeviceptr_v1 dptr) {
    CU_NEED(cuMemFree);
    FREE_BODY(VGPU_T_DPTR, dptr, REAL(cuMemFree)(dptr));
}
VGPU_EXPORT(cuMemFree)

CUresult vgpu_w_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
    CU_NEED(cuMemAllocManaged);
    if (!dptr) return REAL(cuMemAllocManaged)(dptr, bytesize, flags);
    ALLOC_BODY(VGPU_T_DPTR, vgpu_current_device(), bytesize, REAL(cuMemAllocManaged)(dptr, bytesize, flags), *dptr);
}
VGPU_EXPORT(cuMemAllocManaged)

CUresult vgpu_w_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                   unsigned int ElementSizeBytes) {
    CU_NEED(cuMemAllocPitch_v2);
    if (!dptr || !pPitch) return REAL(cuMemAllocPitch_v2)(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
    int dev = vgpu_current_device();
    uint64_t est = ((uint64_t)WidthInBytes + 511) / 512 * 512 * (uint64_t)Height;
    if (vgpu_mem_reserve(dev, est, VGPU_KIND_DATA) != 0) return oom();
    CUresult r = REAL(cuMemAllocPitch_v2)(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
    if (r != CUDA_SUCCESS) {
        vgpu_mem_release(dev, est, VGPU_KIND_DATA);
        return r;
    }
    uint64_t real = (uint64_t)*pPitch * (uint64_t)Height; /* what the driver really reserved */
    if (real > est) {
        if (vgpu_mem_reserve(dev, real - est, VGPU_KIND_DATA) != 0) {
            if (vgpu_real[VGPU_H_cuMemFree_v2]) (void)REAL(cuMemFree_v2)(*dptr);
            vgpu_mem_release(dev, est, VGPU_KIND_DATA);
            *dptr = 0;
            return oom();
        }
    } else if (real < est) {
        vgpu_mem_release(dev, est - real, VGPU_KIND_DATA);
    }
    vgpu_track_put(VGPU_T_DPTR, *dptr, real, dev, VGPU_KIND_DATA);
    return r;
}
VGPU_EXPORT(cuMemAllocPitch_v2)

/* ---- stream-ordered allocations: the pool's reservation is charged (pools.c) ---- */
#define ASYNC_ALLOC(fn, pool, ...)                                                             \
    CU_NEED(fn);                                                                               \
    if (!dptr) return REAL(fn)(__VA_ARGS__);                                                   \
    vgpu_pool_op_t op;                                                                         \
    if (vgpu_pool_begin(&op, bytesize, pool, vgpu_current_device()) != 0) return oom();        \
    CUresult r = REAL(fn)(__VA_ARGS__);                                                        \
    vgpu_pool_end(&op, r, r == CUDA_SUCCESS ? *dptr : 0);                                      \
    return r

CUresult vgpu_w_cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
    ASYNC_ALLOC(cuMemAllocAsync, NULL, dptr, bytesize, hStream);
}
VGPU_EXPORT(cuMemAllocAsync)
CUresult vgpu_w_cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
    ASYNC_ALLOC(cuMemAllocAsync_ptsz, NULL, dptr, bytesize, hStream);
}
VGPU_EXPORT(cuMemAllocAsync_ptsz)
CUresult vgpu_w_cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) {
    ASYNC_ALLOC(cuMemAllocFromPoolAsync, pool, dptr, bytesize, pool, hStream);
}
VGPU_EXPORT(cuMemAllocFromPoolAsync)
CUresult vgpu_w_cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                             CUstream hStream) {
    ASYNC_ALLOC(cuMemAllocFromPoolAsync_ptsz, pool, dptr, bytesize, pool, hStream);
}
VGPU_EXPORT(cuMemAllocFromPoolAsync_ptsz)

CUresult vgpu_w_cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep) {
    CU_NEED(cuMemPoolTrimTo);
    CUresult r = REAL(cuMemPoolTrimTo)(pool, minBytesToKeep);
    if (r == CUDA_SUCCESS) vgpu_pool_settle_handle(pool, 0);
    return r;
}
VGPU_EXPORT(cuMemPoolTrimTo)

CUresult vgpu_w_cuMemPoolDestroy(CUmemoryPool pool) {
    CU_NEED(cuMemPoolDestroy);
    CUresult r = REAL(cuMemPoolDestroy)(pool);
    if (r == CUDA_SUCCESS) vgpu_pool_settle_handle(pool, 1);
    return r;
}
VGPU_EXPORT(cuMemPoolDestroy)

CUresult vgpu_w_cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
    CU_NEED(cuMemFreeAsync);
    FREE_BODY(VGPU_T_DPTR, dptr, REAL(cuMemFreeAsync)(dptr, hStream));
}
VGPU_EXPORT(cuMemFreeAsync)
CUresult vgpu_w_cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
    CU_NEED(cuMemFreeAsync_ptsz);
    FREE_BODY(VGPU_T_DPTR, dptr, REAL(cuMemFreeAsync_ptsz)(dptr, hStream));
}
VGPU_EXPORT(cuMemFreeAsync_ptsz)

/* ---- virtual memory management: physical handles are counted once, however often mapped ---- */
CUresult vgpu_w_cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                            unsigned long long flags) {
    CU_NEED(cuMemCreate);
    if (!handle || !prop || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return REAL(cuMemCreate)(handle, size, prop, flags); /* host-located memory is not device memory */
    ALLOC_BODY(VGPU_T_HANDLE, prop->location.id, size, REAL(cuMemCreate)(handle, size, prop, flags), *handle);
}
VGPU_EXPORT(cuMemCreate)

CUresult vgpu_w_cuMemRelease(CUmemGenericAllocationHandle handle) {
    CU_NEED(cuMemRelease);
    FREE_BODY(VGPU_T_HANDLE, handle, REAL(cuMemRelease)(handle));
}
VGPU_EXPORT(cuMemRelease)

/* ---- arrays ---- */
static uint64_t format_bytes(CUarray_format f) {
    switch ((int)f) {
    case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: return 2;
    case CU_AD_FORMAT_UNSIGNED_INT32: case CU_AD_FORMAT_SIGNED_INT32: case CU_AD_FORMAT_FLOAT: return 4;
    default: return 4;
    }
}

/* arrays are laid out in rows aligned to 512 bytes (texture pitch alignment) */
static uint64_t array_bytes(uint64_t w, uint64_t h, uint64_t depth, unsigned ch, CUarray_format f) {
    uint64_t row = w * (ch ? ch : 1) * format_bytes(f);
    row = (row + 511) / 512 * 512;
    return row * (h ? h : 1) * (depth ? depth : 1);
}

static uint64_t array3d_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned level) {
    uint64_t w = d->Width >> level, h = d->Height >> level, depth = d->Depth >> level;
    if (!w) w = 1;
    if (d->Height && !h) h = 1;
    if (d->Depth && !depth) depth = 1;
    return array_bytes(w, h, depth, d->NumChannels, d->Format);
}

static CUresult track_object(CUresult r, void *obj, int dev, uint64_t size) {
    if (r != CUDA_SUCCESS) {
        vgpu_mem_release(dev, size, VGPU_KIND_DATA);
        return r;
    }
    vgpu_track_put(VGPU_T_OBJECT, (uint64_t)(uintptr_t)obj, size, dev, VGPU_KIND_DATA);
    return r;
}

CUresult vgpu_w_cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *d) {
    CU_NEED(cuArrayCreate_v2);
    if (!pHandle || !d) return REAL(cuArrayCreate_v2)(pHandle, d);
    int dev = vgpu_current_device();
    uint64_t size = array_bytes(d->Width, d->Height, 1, d->NumChannels, d->Format);
    if (vgpu_mem_reserve(dev, size, VGPU_KIND_DATA) != 0) return oom();
    CUresult r = REAL(cuArrayCreate_v2)(pHandle, d);
    return track_object(r, r == CUDA_SUCCESS ? (void *)*pHandle : NULL, dev, size);
}
VGPU_EXPORT(cuArrayCreate_v2)

CUresult vgpu_w_cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *d) {
    CU_NEED(cuArray3DCreate_v2);
    if (!pHandle || !d) return REAL(cuArray3DCreate_v2)(pHandle, d);
    int dev = vgpu_current_device();
    uint64_t size = array3d_bytes(d, 0);
    if (vgpu_mem_reserve(dev, size, VGPU_KIND_DATA) != 0) return oom();
    CUresult r = REAL(cuArray3DCreate_v2)(pHandle, d);
    return track_object(r, r == CUDA_SUCCESS ? (void *)*pHandle : NULL, dev, size);
}
VGPU_EXPORT(cuArray3DCreate_v2)

CUresult vgpu_w_cuMipmappedArrayCreate(CUmipmappedArray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *d,
                                       unsigned int numLevels) {
    CU_NEED(cuMipmappedArrayCreate);
    if (!pHandle || !d) return REAL(cuMipmappedArrayCreate)(pHandle, d, numLevels);
    int dev = vgpu_current_device();
    uint64_t size = 0;
    for (unsigned l = 0; l < (numLevels ? numLevels : 1) && l < 32; l++) size += array3d_bytes(d, l);
    if (vgpu_mem_reserve(dev, size, VGPU_KIND_DATA) != 0) return oom();
    CUresult r = REAL(cuMipmappedArrayCreate)(pHandle, d, numLevels);
    return track_object(r, r == CUDA_SUCCESS ? (void *)*pHandle : NULL, dev, size);
}
VGPU_EXPORT(cuMipmappedArrayCreate)

CUresult vgpu_w_cuArrayDestroy(CUarray h) {
    CU_NEED(cuArrayDestroy);
    FREE_BODY(VGPU_T_OBJECT, (uintptr_t)h, REAL(cuArrayDestroy)(h));
}
VGPU_EXPORT(cuArrayDestroy)

CUresult vgpu_w_cuMipmappedArrayDestroy(CUmipmappedArray h) {
    CU_NEED(cuMipmappedArrayDestroy);
    FREE_BODY(VGPU_T_OBJECT, (uintptr_t)h, REAL(cuMipmappedArrayDestroy)(h));
}
VGPU_EXPORT(cuMipmappedArrayDestroy)
