/* Fake CUDA driver: cuGetProcAddress / cuGetProcAddress_v2 with the real driver's rules. A lookup names a
 * base symbol; the answer is the newest ABI variant introduced at or before cudaVersion, and the
 * per-thread-default-stream flag picks the _ptsz/_ptds variant where one exists. */

#include "fake_cuda.h"

#include <string.h>

struct proc_row {
    const char *base;
    int version; /* first cudaVersion with this variant */
    int ptds;    /* 1 = per-thread default stream variant */
    void *fn;
};

#define ROW(base, ver, ptds, fn) {base, ver, ptds, (void *)fn}

static const struct proc_row g_rows[] = {
    ROW("cuInit", 2000, 0, cuInit),
    ROW("cuDriverGetVersion", 2020, 0, cuDriverGetVersion),
    ROW("cuGetProcAddress", 11030, 0, cuGetProcAddress),
    ROW("cuGetProcAddress", 12000, 0, cuGetProcAddress_v2),
    ROW("cuGetExportTable", 3000, 0, cuGetExportTable),
    ROW("cuGetErrorString", 6000, 0, cuGetErrorString),
    ROW("cuGetErrorName", 6000, 0, cuGetErrorName),
    ROW("cuDeviceGet", 2000, 0, cuDeviceGet),
    ROW("cuDeviceGetCount", 2000, 0, cuDeviceGetCount),
    ROW("cuDeviceGetName", 2000, 0, cuDeviceGetName),
    ROW("cuDeviceGetUuid", 9020, 0, cuDeviceGetUuid),
    ROW("cuDeviceGetUuid", 11040, 0, cuDeviceGetUuid_v2),
    ROW("cuDeviceTotalMem", 2000, 0, cuDeviceTotalMem),
    ROW("cuDeviceTotalMem", 3020, 0, cuDeviceTotalMem_v2),
    ROW("cuDeviceGetAttribute", 2000, 0, cuDeviceGetAttribute),
    ROW("cuDeviceGetPCIBusId", 4010, 0, cuDeviceGetPCIBusId),
    ROW("cuDeviceCanAccessPeer", 4000, 0, cuDeviceCanAccessPeer),
    ROW("cuDevicePrimaryCtxRetain", 7000, 0, cuDevicePrimaryCtxRetain),
    ROW("cuDevicePrimaryCtxRelease", 7000, 0, cuDevicePrimaryCtxRelease),
    ROW("cuDevicePrimaryCtxRelease", 11000, 0, cuDevicePrimaryCtxRelease_v2),
    ROW("cuDevicePrimaryCtxGetState", 7000, 0, cuDevicePrimaryCtxGetState),
    ROW("cuDevicePrimaryCtxSetFlags", 11000, 0, cuDevicePrimaryCtxSetFlags_v2),
    ROW("cuDevicePrimaryCtxReset", 11000, 0, cuDevicePrimaryCtxReset_v2),
    ROW("cuCtxCreate", 2000, 0, cuCtxCreate),
    ROW("cuCtxCreate", 3020, 0, cuCtxCreate_v2),
    ROW("cuCtxCreate", 11040, 0, cuCtxCreate_v3),
    ROW("cuCtxCreate", 12050, 0, cuCtxCreate_v4),
    ROW("cuCtxDestroy", 2000, 0, cuCtxDestroy),
    ROW("cuCtxDestroy", 4000, 0, cuCtxDestroy_v2),
    ROW("cuCtxGetCurrent", 4000, 0, cuCtxGetCurrent),
    ROW("cuCtxSetCurrent", 4000, 0, cuCtxSetCurrent),
    ROW("cuCtxPushCurrent", 4000, 0, cuCtxPushCurrent_v2),
    ROW("cuCtxPopCurrent", 4000, 0, cuCtxPopCurrent_v2),
    ROW("cuCtxGetDevice", 2000, 0, cuCtxGetDevice),
    ROW("cuCtxSynchronize", 2000, 0, cuCtxSynchronize),
    ROW("cuCtxGetApiVersion", 3020, 0, cuCtxGetApiVersion),
    ROW("cuMemAlloc", 2000, 0, cuMemAlloc),
    ROW("cuMemAlloc", 3020, 0, cuMemAlloc_v2),
    ROW("cuMemFree", 2000, 0, cuMemFree),
    ROW("cuMemFree", 3020, 0, cuMemFree_v2),
    ROW("cuMemGetInfo", 2000, 0, cuMemGetInfo),
    ROW("cuMemGetInfo", 3020, 0, cuMemGetInfo_v2),
    ROW("cuMemAllocPitch", 3020, 0, cuMemAllocPitch_v2),
    ROW("cuMemAllocManaged", 6000, 0, cuMemAllocManaged),
    ROW("cuMemAllocHost", 3020, 0, cuMemAllocHost_v2),
    ROW("cuMemHostAlloc", 2020, 0, cuMemHostAlloc),
    ROW("cuMemFreeHost", 2000, 0, cuMemFreeHost),
    ROW("cuMemGetAllocationGranularity", 10020, 0, cuMemGetAllocationGranularity),
    ROW("cuMemCreate", 10020, 0, cuMemCreate),
    ROW("cuMemRelease", 10020, 0, cuMemRelease),
    ROW("cuMemAddressReserve", 10020, 0, cuMemAddressReserve),
    ROW("cuMemAddressFree", 10020, 0, cuMemAddressFree),
    ROW("cuMemMap", 10020, 0, cuMemMap),
    ROW("cuMemUnmap", 10020, 0, cuMemUnmap),
    ROW("cuMemSetAccess", 10020, 0, cuMemSetAccess),
    ROW("cuMemAllocAsync", 11020, 0, cuMemAllocAsync),
    ROW("cuMemAllocAsync", 11020, 1, cuMemAllocAsync_ptsz),
    ROW("cuMemAllocFromPoolAsync", 11020, 0, cuMemAllocFromPoolAsync),
    ROW("cuMemAllocFromPoolAsync", 11020, 1, cuMemAllocFromPoolAsync_ptsz),
    ROW("cuMemFreeAsync", 11020, 0, cuMemFreeAsync),
    ROW("cuMemFreeAsync", 11020, 1, cuMemFreeAsync_ptsz),
    ROW("cuDeviceGetDefaultMemPool", 11020, 0, cuDeviceGetDefaultMemPool),
    ROW("cuDeviceGetMemPool", 11020, 0, cuDeviceGetMemPool),
    ROW("cuDeviceSetMemPool", 11020, 0, cuDeviceSetMemPool),
    ROW("cuMemPoolCreate", 11020, 0, cuMemPoolCreate),
    ROW("cuMemPoolDestroy", 11020, 0, cuMemPoolDestroy),
    ROW("cuMemPoolTrimTo", 11020, 0, cuMemPoolTrimTo),
    ROW("cuMemPoolGetAttribute", 11020, 0, cuMemPoolGetAttribute),
    ROW("cuMemPoolSetAttribute", 11020, 0, cuMemPoolSetAttribute),
    ROW("cuArrayCreate", 2000, 0, cuArrayCreate),
    ROW("cuArrayCreate", 3020, 0, cuArrayCreate_v2),
    ROW("cuArray3DCreate", 3020, 0, cuArray3DCreate_v2),
    ROW("cuArrayDestroy", 2000, 0, cuArrayDestroy),
    ROW("cuMipmappedArrayCreate", 5000, 0, cuMipmappedArrayCreate),
    ROW("cuMipmappedArrayDestroy", 5000, 0, cuMipmappedArrayDestroy),
    ROW("cuMemcpyHtoD", 3020, 0, cuMemcpyHtoD_v2),
    ROW("cuMemcpyDtoH", 3020, 0, cuMemcpyDtoH_v2),
    ROW("cuMemcpyHtoDAsync", 3020, 0, cuMemcpyHtoDAsync_v2),
    ROW("cuMemcpyHtoDAsync", 7000, 1, cuMemcpyHtoDAsync_v2_ptsz),
    ROW("cuMemsetD8", 3020, 0, cuMemsetD8_v2),
    ROW("cuMemAdvise", 8000, 0, cuMemAdvise),
    ROW("cuMemAdvise", 12020, 0, cuMemAdvise_v2),
    ROW("cuMemPrefetchAsync", 8000, 0, cuMemPrefetchAsync),
    ROW("cuMemPrefetchAsync", 8000, 1, cuMemPrefetchAsync_ptsz),
    ROW("cuMemPrefetchAsync", 12020, 0, cuMemPrefetchAsync_v2),
    ROW("cuMemPrefetchAsync", 12020, 1, cuMemPrefetchAsync_v2_ptsz),
    ROW("cuStreamCreate", 2000, 0, cuStreamCreate),
    ROW("cuStreamDestroy", 4000, 0, cuStreamDestroy_v2),
    ROW("cuStreamSynchronize", 2000, 0, cuStreamSynchronize),
    ROW("cuStreamSynchronize", 7000, 1, cuStreamSynchronize_ptsz),
    ROW("cuEventCreate", 2000, 0, cuEventCreate),
    ROW("cuEventRecord", 2000, 0, cuEventRecord),
    ROW("cuEventRecord", 7000, 1, cuEventRecord_ptsz),
    ROW("cuEventSynchronize", 2000, 0, cuEventSynchronize),
    ROW("cuEventElapsedTime", 2000, 0, cuEventElapsedTime),
    ROW("cuEventElapsedTime", 12080, 0, cuEventElapsedTime_v2),
    ROW("cuEventDestroy", 4000, 0, cuEventDestroy_v2),
    ROW("cuModuleLoadData", 2000, 0, cuModuleLoadData),
    ROW("cuModuleGetFunction", 2000, 0, cuModuleGetFunction),
    ROW("cuModuleUnload", 2000, 0, cuModuleUnload),
    ROW("cuLaunchKernel", 4000, 0, cuLaunchKernel),
    ROW("cuLaunchKernel", 7000, 1, cuLaunchKernel_ptsz),
    ROW("cuLaunchKernelEx", 11060, 0, cuLaunchKernelEx),
    ROW("cuLaunchKernelEx", 11060, 1, cuLaunchKernelEx_ptsz),
    ROW("cuLaunchCooperativeKernel", 9000, 0, cuLaunchCooperativeKernel),
    ROW("cuLaunchCooperativeKernel", 9000, 1, cuLaunchCooperativeKernel_ptsz),
    ROW("cuGraphCreate", 10000, 0, cuGraphCreate),
    ROW("cuGraphAddKernelNode", 10000, 0, cuGraphAddKernelNode),
    ROW("cuGraphAddKernelNode", 12000, 0, cuGraphAddKernelNode_v2),
    ROW("cuGraphInstantiateWithFlags", 11040, 0, cuGraphInstantiateWithFlags),
    ROW("cuGraphLaunch", 10000, 0, cuGraphLaunch),
    ROW("cuGraphLaunch", 10000, 1, cuGraphLaunch_ptsz),
    ROW("cuGraphExecDestroy", 10000, 0, cuGraphExecDestroy),
    ROW("cuGraphDestroy", 10000, 0, cuGraphDestroy),
};

#define NROWS (sizeof(g_rows) / sizeof(g_rows[0]))

static CUresult lookup(const char *symbol, void **pfn, int version, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status)
{
    if (!symbol || !pfn) {
        return CUDA_ERROR_INVALID_VALUE;
    }
    *pfn = NULL;
    int want_ptds = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    const struct proc_row *best[2] = {NULL, NULL};
    int known = 0;
    for (size_t i = 0; i < NROWS; i++) {
        const struct proc_row *r = &g_rows[i];
        if (strcmp(r->base, symbol) != 0)
            continue;
        known = 1;
        if (r->version > version)
            continue;
        if (!best[r->ptds] || r->version > best[r->ptds]->version)
            best[r->ptds] = r;
    }
    const struct proc_row *pick = (want_ptds && best[1]) ? best[1] : best[0];
    if (!pick) {
        if (status)
            *status = known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
        return CUDA_ERROR_NOT_FOUND;
    }
    *pfn = pick->fn;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    ENTER("cuGetProcAddress");
    return lookup(symbol, pfn, cudaVersion, flags, NULL);
}

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *status)
{
    ENTER("cuGetProcAddress_v2");
    return lookup(symbol, pfn, cudaVersion, flags, status);
}
