/* A second preloaded interposer (like a profiler or another shim) for the dlsym(RTLD_NEXT) stacking test.
 * It wraps cuMemAlloc_v2, finding the next definition with dlsym(RTLD_NEXT) - twice from one thread, as
 * real tools do - and reports where "next" pointed. */
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef CUresult (*alloc_fn)(CUdeviceptr *, size_t);

static alloc_fn g_next;
static int g_calls, g_same, g_nonnull;
static char g_next_lib[512] = "-";

__attribute__((visibility("default"))) CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    if (!g_next) {
        alloc_fn a = (alloc_fn)dlsym(RTLD_NEXT, "cuMemAlloc_v2");
        alloc_fn b = (alloc_fn)dlsym(RTLD_NEXT, "cuMemAlloc_v2");
        g_nonnull = a != NULL && b != NULL;
        g_same = a == b;
        Dl_info info;
        if (a && dladdr((void *)a, &info) && info.dli_fname)
            snprintf(g_next_lib, sizeof(g_next_lib), "%s", info.dli_fname);
        g_next = a;
    }
    g_calls++;
    return g_next ? g_next(dptr, bytesize) : CUDA_ERROR_NOT_FOUND;
}

__attribute__((visibility("default"))) void shim_report(void)
{
    printf("{\"event\":\"shim\",\"calls\":%d,\"next_lib\":\"%s\",\"repeat_same\":%d,\"nonnull\":%d}\n", g_calls,
           g_next_lib, g_same, g_nonnull);
    fflush(stdout);
}
