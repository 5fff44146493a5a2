/*
 * cuGetProcAddress / cuGetProcAddress_v2: the driver is asked first, with the caller's own
 * symbol, cudaVersion and flags, so symbolStatus and errors pass through untouched. If the driver
 * answered with the real function of a hooked symbol, the caller gets our wrapper for exactly that
 * variant (same ABI: _v2 vs base, _ptsz vs legacy stream). If the driver hands out a pointer we do
 * not recognise, we route by name: the hooked variant of that API with the newest `since` not
 * above cudaVersion and the per-thread-stream flavour the flags ask for.
 */
#include "vgpu.h"

#include <string.h>

static void *route(const char *symbol, void *real_fn, int cudaVersion, cuuint64_t flags) {
    int idx = vgpu_sym_by_real(real_fn);
    if (idx >= 0) return vgpu_syms[idx].wrapper;
    int want_ptds = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    int best = -1;
    for (int i = 0; i < VGPU_N_HOOKED; i++) {
        const vgpu_sym_t *s = &vgpu_syms[i];
        if (!s->is_cuda || strcmp(s->base, symbol) || s->since > cudaVersion || !vgpu_real[i]) continue;
        if (s->ptds != want_ptds) continue;
        if (best < 0 || s->since > vgpu_syms[best].since) best = i;
    }
    return best >= 0 ? vgpu_syms[best].wrapper : real_fn;
}

CUresult vgpu_w_cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *symbolStatus) {
    CU_NEED(cuGetProcAddress_v2);
    CUresult r = REAL(cuGetProcAddress_v2)(symbol, pfn, cudaVersion, flags, symbolStatus);
    if (r == CUDA_SUCCESS && pfn && *pfn && symbol) *pfn = route(symbol, *pfn, cudaVersion, flags);
    return r;
}
VGPU_EXPORT(cuGetProcAddress_v2)

CUresult vgpu_w_cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
    CU_NEED(cuGetProcAddress);
    CUresult r = REAL(cuGetProcAddress)(symbol, pfn, cudaVersion, flags);
    if (r == CUDA_SUCCESS && pfn && *pfn && symbol) *pfn = route(symbol, *pfn, cudaVersion, flags);
    return r;
}
VGPU_EXPORT(cuGetProcAddress)
