/* Kernel-launch hooks. The unthrottled path is one relaxed load and a predictable branch. */
#include "vgpu.h"

static inline uint64_t grid_cost(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz) {
    uint64_t c = (uint64_t)gx * gy * gz * ((uint64_t)bx * by * bz);
    return c ? c : 1;
}
#define GRAPH_COST 65536 /* a graph's work is unknown at launch; the controller calibrates per token */

#define LAUNCH_KERNEL(fn)                                                                          \
    CUresult vgpu_w_##fn(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, \
                         unsigned int by, unsigned int bz, unsigned int shm, CUstream s, void **params,     \
                         void **extra) {                                                           \
        CU_NEED(fn);                                                                               \
        vgpu_launch_gate(grid_cost(gx, gy, gz, bx, by, bz));                                       \
        return REAL(fn)(f, gx, gy, gz, bx, by, bz, shm, s, params, extra);                         \
    }                                                                                              \
    VGPU_EXPORT(fn)
LAUNCH_KERNEL(cuLaunchKernel)
LAUNCH_KERNEL(cuLaunchKernel_ptsz)

#define LAUNCH_COOP(fn)                                                                            \
    CUresult vgpu_w_##fn(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, \
                         unsigned int by, unsigned int bz, unsigned int shm, CUstream s, void **params) { \
        CU_NEED(fn);                                                                               \
        vgpu_launch_gate(grid_cost(gx, gy, gz, bx, by, bz));                                       \
        return REAL(fn)(f, gx, gy, gz, bx, by, bz, shm, s, params);                                \
    }                                                                                              \
    VGPU_EXPORT(fn)
LAUNCH_COOP(cuLaunchCooperativeKernel)
LAUNCH_COOP(cuLaunchCooperativeKernel_ptsz)

#define LAUNCH_EX(fn)                                                                              \
    CUresult vgpu_w_##fn(const CUlaunchConfig *config, CUfunction f, void **params, void **extra) { \
        CU_NEED(fn);                                                                               \
        if (config)                                                                                \
            vgpu_launch_gate(grid_cost(config->gridDimX, config->gridDimY, config->gridDimZ,       \
                                       config->blockDimX, config->blockDimY, config->blockDimZ));  \
        return REAL(fn)(config, f, params, extra);                                                 \
    }                                                                                              \
    VGPU_EXPORT(fn)
LAUNCH_EX(cuLaunchKernelEx)
LAUNCH_EX(cuLaunchKernelEx_ptsz)

#define LAUNCH_GRAPH(fn)                                                                           \
    CUresult vgpu_w_##fn(CUgraphExec g, CUstream s) {                                              \
        CU_NEED(fn);                                                                               \
        vgpu_launch_gate(GRAPH_COST);                                                              \
        return REAL(fn)(g, s);                                                                     \
    }                                                                                              \
    VGPU_EXPORT(fn)
LAUNCH_GRAPH(cuGraphLaunch)
LAUNCH_GRAPH(cuGraphLaunch_ptsz)
