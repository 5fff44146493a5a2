/* procaddr: resolve driver symbols through cuGetProcAddress_v2 (and the legacy cuGetProcAddress) for old and
 * new cudaVersion values and both stream flags, call each pointer with arguments that are valid for every
 * ABI variant of that symbol, and print which fake entry point was reached. The same output with and without
 * libvgpu preloaded proves version- and flag-correct routing. */
#include "common.h"

static CUcontext g_ctx;
static CUfunction g_fn;
static CUdeviceptr g_ptr;
static const char *g_reached;
static uint64_t g_seq0;

/* The first call since g_seq0 that belongs to base's family (base, base_vN, base_ptsz/_ptds...). */
static const char *family_call(const char *base)
{
    uint64_t (*seq)(void) = (uint64_t(*)(void))fake_sym("fakegpu_call_seq");
    const char *(*at)(uint64_t) = (const char *(*)(uint64_t))fake_sym("fakegpu_call_at");
    if (!seq || !at)
        return "?";
    size_t n = strlen(base);
    for (uint64_t i = g_seq0, end = seq(); i < end; i++) {
        const char *name = at(i);
        if (!name || strncmp(name, base, n) != 0)
            continue;
        if (name[n] == '\0' || strncmp(name + n, "_v", 2) == 0 || strncmp(name + n, "_pt", 3) == 0)
            return name;
    }
    return "-";
}

static uint64_t call_seq(void)
{
    uint64_t (*seq)(void) = (uint64_t(*)(void))fake_sym("fakegpu_call_seq");
    return seq ? seq() : 0;
}
static unsigned long long g_hi;

typedef CUresult (*any_fn)();

/* Call pfn for base name `base` with arguments valid for all its variants. */
static int call(const char *base, void *pfn)
{
    uint64_t a = 0, b = 0;
    CUcontext c = NULL;
    CUuuid u;
    CUmemLocation loc;
    memset(&loc, 0, sizeof(loc));
    loc.type = CU_MEM_LOCATION_TYPE_DEVICE;
    if (strcmp(base, "cuMemAlloc") == 0) {
        CUresult rc = ((CUresult(*)(uint64_t *, size_t))pfn)(&a, 1 * MiB);
        if (rc == CUDA_SUCCESS)
            cuMemFree(a ? (a > 0xFFFFFFFFULL ? a : (g_ptr & ~0xFFFFFFFFULL) | a) : 0);
        return rc;
    }
    if (strcmp(base, "cuMemGetInfo") == 0) {
        a = b = 0xA5A5A5A5A5A5A5A5ULL; /* a 32-bit (v1) ABI leaves the high halves alone */
        CUresult rc = ((CUresult(*)(uint64_t *, uint64_t *))pfn)(&a, &b);
        g_hi = (a >> 32) == 0xA5A5A5A5ULL && (b >> 32) == 0xA5A5A5A5ULL;
        return rc;
    }
    if (strcmp(base, "cuDeviceTotalMem") == 0) {
        a = 0xA5A5A5A5A5A5A5A5ULL;
        CUresult rc = ((CUresult(*)(uint64_t *, CUdevice))pfn)(&a, 0);
        g_hi = (a >> 32) == 0xA5A5A5A5ULL;
        return rc;
    }
    if (strcmp(base, "cuCtxCreate") == 0) {
        /* v2 (ctx, flags, dev), v3 (ctx, params, n, flags, dev), v4 (ctx, params, flags, dev) */
        CUresult rc = ((CUresult(*)(CUcontext *, void *, int, unsigned int, CUdevice))pfn)(&c, NULL, 0, 0, 0);
        if (rc == CUDA_SUCCESS) {
            cuCtxDestroy(c);
            cuCtxSetCurrent(g_ctx);
        }
        return rc;
    }
    if (strcmp(base, "cuMemAdvise") == 0)
        return ((CUresult(*)(CUdeviceptr, size_t, CUmem_advise, CUmemLocation))pfn)(g_ptr, 4096,
                                                                                  CU_MEM_ADVISE_SET_READ_MOSTLY, loc);
    if (strcmp(base, "cuMemPrefetchAsync") == 0)
        return ((CUresult(*)(CUdeviceptr, size_t, CUmemLocation, unsigned int, CUstream))pfn)(g_ptr, 4096, loc, 0,
                                                                                             NULL);
    if (strcmp(base, "cuDeviceGetUuid") == 0)
        return ((CUresult(*)(CUuuid *, CUdevice))pfn)(&u, 0);
    if (strcmp(base, "cuGraphAddKernelNode") == 0) {
        CUgraph g = NULL;
        CUgraphNode node = NULL;
        CUDA_KERNEL_NODE_PARAMS params;
        memset(&params, 0, sizeof(params));
        params.func = g_fn;
        params.gridDimX = params.gridDimY = params.gridDimZ = 1;
        params.blockDimX = params.blockDimY = params.blockDimZ = 1;
        CK(cuGraphCreate(&g, 0));
        CUresult rc = ((CUresult(*)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t, void *))pfn)(&node, g, NULL,
                                                                                                      0, &params);
        cuGraphDestroy(g);
        return rc;
    }
    if (strcmp(base, "cuLaunchKernel") == 0)
        return ((CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void **, void **))pfn)(g_fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL);
    if (strcmp(base, "cuMemAllocAsync") == 0) {
        CUdeviceptr d = 0;
        CUresult rc = ((CUresult(*)(CUdeviceptr *, size_t, CUstream))pfn)(&d, 2 * MiB, NULL);
        if (rc == CUDA_SUCCESS)
            cuMemFreeAsync(d, NULL);
        return rc;
    }
    if (strcmp(base, "cuStreamSynchronize") == 0)
        return ((CUresult(*)(CUstream))pfn)(NULL);
    if (strcmp(base, "cuGetProcAddress") == 0) {
        void *inner = NULL;
        CUdriverProcAddressQueryResult st;
        return ((CUresult(*)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *))pfn)(
            "cuDriverGetVersion", &inner, 12000, 0, &st);
    }
    if (strcmp(base, "cuDriverGetVersion") == 0) {
        int v = 0;
        return ((CUresult(*)(int *))pfn)(&v);
    }
    return -1;
}

static const char *g_bases[] = {"cuMemAlloc", "cuMemGetInfo", "cuDeviceTotalMem", "cuCtxCreate", "cuMemAdvise",
                                "cuMemPrefetchAsync", "cuDeviceGetUuid", "cuGraphAddKernelNode", "cuLaunchKernel",
                                "cuMemAllocAsync", "cuStreamSynchronize", "cuGetProcAddress", "cuDriverGetVersion",
                                "cuNoSuchFunction"};
static const int g_versions[] = {3000, 9020, 11040, 11080, 12000, 12090, 13000};

int main(void)
{
    g_ctx = setup_ctx(0);
    CUmodule mod = NULL;
    static const char image[] = "fake-cubin";
    CK(cuModuleLoadData(&mod, image));
    CK(cuModuleGetFunction(&g_fn, mod, "k"));
    CK(cuMemAllocManaged(&g_ptr, 1 * MiB, CU_MEM_ATTACH_GLOBAL));
    for (size_t i = 0; i < sizeof(g_bases) / sizeof(g_bases[0]); i++) {
        for (size_t j = 0; j < sizeof(g_versions) / sizeof(g_versions[0]); j++) {
            for (int flags = 0; flags <= 2; flags += 2) {
                void *pfn = NULL;
                CUdriverProcAddressQueryResult st = (CUdriverProcAddressQueryResult)99;
                CUresult rc = cuGetProcAddress(g_bases[i], &pfn, g_versions[j], (cuuint64_t)flags, &st);
                const char *reached = "-";
                int crc = -1;
                g_hi = 0;
                if (rc == CUDA_SUCCESS && pfn) {
                    g_seq0 = call_seq();
                    crc = call(g_bases[i], pfn);
                    reached = family_call(g_bases[i]);
                }
                emit("\"event\":\"gpa\",\"symbol\":\"%s\",\"version\":%d,\"flags\":%d,\"rc\":%d,\"status\":%d,"
                     "\"null\":%d,\"reached\":\"%s\",\"call_rc\":%d,\"abi32\":%llu",
                     g_bases[i], g_versions[j], flags, rc, (int)st, pfn == NULL, reached, crc, g_hi);
            }
        }
    }
    /* The legacy entry point (no symbolStatus) resolved through dlsym, as CUDA 11 runtimes do. */
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    CUresult (*gpa1)(const char *, void **, int, cuuint64_t) =
        lib ? (CUresult(*)(const char *, void **, int, cuuint64_t))dlsym(lib, "cuGetProcAddress") : NULL;
    void *pfn = NULL;
    CUresult rc = gpa1 ? gpa1("cuCtxCreate", &pfn, 11040, 0) : CUDA_ERROR_NOT_FOUND;
    g_seq0 = call_seq();
    int crc = pfn ? call("cuCtxCreate", pfn) : -1;
    g_reached = pfn ? family_call("cuCtxCreate") : "-";
    emit("\"event\":\"gpa_v1\",\"symbol\":\"cuCtxCreate\",\"version\":11040,\"rc\":%d,\"reached\":\"%s\",\"call_rc\":%d",
         rc, g_reached ? g_reached : "-", crc);
    return 0;
}
