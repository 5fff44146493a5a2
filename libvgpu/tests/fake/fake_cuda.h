/* Internal declarations shared by the fake CUDA driver's translation units. Compiled with
 * __CUDA_API_VERSION_INTERNAL so cuda.h declares every ABI variant (v1, _v2, _ptsz) with its real
 * signature, which the compiler then checks against our definitions. */
#ifndef FAKE_CUDA_H
#define FAKE_CUDA_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include "fakegpu.h"

#define EXPORT __attribute__((visibility("default")))

#define ENTER(name)                                                                                    \
    do {                                                                                               \
        fakegpu_set_last_call(name);                                                                   \
        if (fg_should_fail(name))                                                                      \
            return CUDA_ERROR_UNKNOWN;                                                                 \
    } while (0)

struct CUctx_st {
    int dev;
    int primary;
    _Atomic int refs;
    unsigned int flags;
};

struct CUstream_st {
    int dev;
};

struct CUevent_st {
    int dev;
    uint64_t t_us;
};

struct CUmod_st {
    int dummy;
};

struct CUfunc_st {
    int dummy;
};

struct CUgraph_st {
    _Atomic int kernels;
};

struct CUgraphExec_st {
    int dev;
    int kernels;
};

struct CUgraphNode_st {
    int kind;
};

struct CUmemPoolHandle_st {
    int dev;
    pthread_mutex_t m;
    uint64_t used, used_high, reserved, reserved_high, threshold;
};

struct CUarray_st {
    int dev;
    uint64_t bytes;
};

struct CUmipmappedArray_st {
    int dev;
    uint64_t bytes;
};

/* fake_cuda_core.c */
int fc_initialized(void);
/* Device of the current context, or -1 (sets *rc). */
int fc_current_dev(CUresult *rc);
int fc_stream_dev(CUstream s, CUresult *rc);
CUresult fc_check_dev(CUdevice d);
/* Physical index of CUDA ordinal d (after fc_check_dev succeeded), and back. */
int fc_phys(CUdevice d);
CUdevice fc_ordinal(int phys);

/* fake_cuda_mem.c */
uint64_t fc_round_up(uint64_t v, uint64_t a);

#endif
