/* hook_overhead: ns per cuMemAlloc_v2+cuMemFree_v2 pair and per cuLaunchKernel, with LIVE allocations held
 * (argv[1]). Run it with and without LD_PRELOAD=libvgpu.so against the fake driver; run.py does both and
 * prints the difference. Best of REPS rounds of ITERS operations each. */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 5

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define CK(x)                                                                                          \
    do {                                                                                               \
        CUresult r_ = (x);                                                                             \
        if (r_ != CUDA_SUCCESS) {                                                                      \
            fprintf(stderr, "%s failed: %d\n", #x, (int)r_);                                           \
            return 1;                                                                                  \
        }                                                                                              \
    } while (0)

int main(int argc, char **argv)
{
    long live = argc > 1 ? atol(argv[1]) : 0;
    long iters = argc > 2 ? atol(argv[2]) : 200000;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    static const char image[] = "fake-cubin";
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, image));
    CK(cuModuleGetFunction(&fn, mod, "k"));
    CUdeviceptr *held = calloc((size_t)live + 1, sizeof(*held));
    for (long i = 0; i < live; i++)
        CK(cuMemAlloc(&held[i], 512));
    double best_pair = 1e18, best_launch = 1e18;
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            CUdeviceptr p;
            CK(cuMemAlloc(&p, 1 << 20));
            CK(cuMemFree(p));
        }
        uint64_t t1 = now_ns();
        for (long i = 0; i < iters; i++)
            CK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
        uint64_t t2 = now_ns();
        double pair = (double)(t1 - t0) / (double)iters, launch = (double)(t2 - t1) / (double)iters;
        if (pair < best_pair)
            best_pair = pair;
        if (launch < best_launch)
            best_launch = launch;
    }
    for (long i = 0; i < live; i++)
        CK(cuMemFree(held[i]));
    printf("{\"live\":%ld,\"iters\":%ld,\"pair_ns\":%.1f,\"launch_ns\":%.1f}\n", live, iters, best_pair, best_launch);
    return 0;
}
