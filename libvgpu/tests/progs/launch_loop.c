/* launch_loop MODE SECONDS WARMUP: launch kernels back to back (MODE kernel|ex|coop|graph|ptsz) and report
 * the share of wall time the fake GPU spent running this process's kernels after WARMUP seconds. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "kernel";
    double seconds = argc > 2 ? atof(argv[2]) : 4.0;
    double warmup = argc > 3 ? atof(argv[3]) : 2.0;
    setup_ctx(0);
    CUmodule mod = NULL;
    CUfunction fn = NULL;
    static const char image[] = "fake-cubin";
    CK(cuModuleLoadData(&mod, image));
    CK(cuModuleGetFunction(&fn, mod, "k"));
    CUgraphExec exec = NULL;
    if (strcmp(mode, "graph") == 0) {
        CUgraph g = NULL;
        CK(cuGraphCreate(&g, 0));
        CUDA_KERNEL_NODE_PARAMS params;
        memset(&params, 0, sizeof(params));
        params.func = fn;
        params.gridDimX = params.gridDimY = params.gridDimZ = 1;
        params.blockDimX = params.blockDimY = params.blockDimZ = 1;
        CUgraphNode node;
        for (int i = 0; i < 4; i++)
            CK(cuGraphAddKernelNode(&node, g, NULL, 0, &params));
        CK(cuGraphInstantiateWithFlags(&exec, g, 0));
    }
    CUresult (*launch_ptsz)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                            void **, void **) = NULL;
    if (strcmp(mode, "ptsz") == 0) {
        CUdriverProcAddressQueryResult st;
        CK(cuGetProcAddress("cuLaunchKernel", (void **)&launch_ptsz, 12090, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
                            &st));
    }
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 64;
    cfg.blockDimX = cfg.blockDimY = cfg.blockDimZ = 1;
    uint64_t start = now_us(), t0 = 0, busy0 = 0;
    uint64_t end = start + (uint64_t)((warmup + seconds) * 1e6);
    unsigned long long launches = 0, errors = 0;
    int pid = (int)getpid();
    for (;;) {
        uint64_t now = now_us();
        if (!t0 && now >= start + (uint64_t)(warmup * 1e6)) {
            t0 = now;
            busy0 = fake_busy_us(pid, 0);
            launches = 0;
        }
        if (now >= end)
            break;
        CUresult rc;
        if (strcmp(mode, "ex") == 0)
            rc = cuLaunchKernelEx(&cfg, fn, NULL, NULL);
        else if (strcmp(mode, "coop") == 0)
            rc = cuLaunchCooperativeKernel(fn, 64, 64, 64, 1, 1, 1, 0, NULL, NULL);
        else if (strcmp(mode, "graph") == 0)
            rc = cuGraphLaunch(exec, NULL);
        else if (launch_ptsz)
            rc = launch_ptsz(fn, 64, 64, 64, 1, 1, 1, 0, NULL, NULL, NULL);
        else
            rc = cuLaunchKernel(fn, 64, 64, 64, 1, 1, 1, 0, NULL, NULL, NULL);
        if (rc != CUDA_SUCCESS)
            errors++;
        launches++;
    }
    CK(cuCtxSynchronize());
    uint64_t t1 = now_us(), busy1 = fake_busy_us(pid, 0);
    double pct = t1 > t0 ? 100.0 * (double)(busy1 - busy0) / (double)(t1 - t0) : 0.0;
    emit("\"event\":\"util\",\"mode\":\"%s\",\"percent\":%.2f,\"launches\":%llu,\"errors\":%llu,\"seconds\":%.3f", mode,
         pct, launches, errors, (double)(t1 - t0) / 1e6);
    return 0;
}
