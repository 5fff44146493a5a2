/* Fake CUDA driver: init, devices, contexts, streams, events, modules, kernel launches and graphs. */

#include "fake_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic int g_inited;
static struct CUctx_st g_primary[FG_MAX_DEV];
#define CTX_STACK 32
static __thread CUcontext t_stack[CTX_STACK];
static __thread int t_depth;

int fc_initialized(void)
{
    return atomic_load(&g_inited);
}

CUresult fc_check_dev(CUdevice d)
{
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (d < 0 || d >= fg_config()->cuda_count)
        return CUDA_ERROR_INVALID_DEVICE;
    return CUDA_SUCCESS;
}

int fc_phys(CUdevice d)
{
    return fg_config()->cuda_map[d];
}

CUdevice fc_ordinal(int phys)
{
    const struct fg_config *c = fg_config();
    for (int i = 0; i < c->cuda_count; i++)
        if (c->cuda_map[i] == phys)
            return i;
    return -1;
}

static CUcontext current(void)
{
    return t_depth > 0 ? t_stack[t_depth - 1] : NULL;
}

int fc_current_dev(CUresult *rc)
{
    if (!fc_initialized()) {
        *rc = CUDA_ERROR_NOT_INITIALIZED;
        return -1;
    }
    CUcontext c = current();
    if (!c) {
        *rc = CUDA_ERROR_INVALID_CONTEXT;
        return -1;
    }
    *rc = CUDA_SUCCESS;
    return c->dev;
}

int fc_stream_dev(CUstream s, CUresult *rc)
{
    if (s && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD) {
        *rc = CUDA_SUCCESS;
        return s->dev;
    }
    return fc_current_dev(rc);
}

/* Account a context's memory and make the process visible to NVML on that device. */
static CUresult ctx_acquire(int dev)
{
    uint64_t bytes = fg_config()->ctx_bytes;
    if (bytes && fg_mem_reserve(dev, bytes) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct fg_proc *p = fg_self();
    if (p)
        atomic_fetch_add(&p->ctx[dev], 1);
    return CUDA_SUCCESS;
}

static void ctx_release(int dev)
{
    uint64_t bytes = fg_config()->ctx_bytes;
    if (bytes)
        fg_mem_release(dev, bytes);
    struct fg_proc *p = fg_self();
    if (p)
        atomic_fetch_sub(&p->ctx[dev], 1);
}

EXPORT CUresult cuInit(unsigned int flags)
{
    ENTER("cuInit");
    if (flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    fg_config();
    fg_self();
    for (int i = 0; i < FG_MAX_DEV; i++) {
        g_primary[i].dev = i;
        g_primary[i].primary = 1;
    }
    atomic_store(&g_inited, 1);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDriverGetVersion(int *v)
{
    ENTER("cuDriverGetVersion");
    if (!v)
        return CUDA_ERROR_INVALID_VALUE;
    *v = fg_config()->driver_version;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
    ENTER("cuDeviceGet");
    CUresult rc = fc_check_dev(ordinal);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *count)
{
    ENTER("cuDeviceGetCount");
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    *count = fg_config()->cuda_count;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
    ENTER("cuDeviceGetName");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!name || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", fg_config()->name);
    return CUDA_SUCCESS;
}

static CUresult get_uuid(CUuuid *uuid, CUdevice dev)
{
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!uuid)
        return CUDA_ERROR_INVALID_VALUE;
    memcpy(uuid->bytes, fg_config()->dev[fc_phys(dev)].uuid_bytes, 16);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
    ENTER("cuDeviceGetUuid");
    return get_uuid(uuid, dev);
}

EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
    ENTER("cuDeviceGetUuid_v2");
    return get_uuid(uuid, dev);
}

EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
    ENTER("cuDeviceTotalMem");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!bytes)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t m = fg_config()->dev[fc_phys(dev)].mem_bytes;
    *bytes = m > 0xFFFFFFFFULL ? 0xFFFFFFFFu : (unsigned int)m;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    ENTER("cuDeviceTotalMem_v2");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!bytes)
        return CUDA_ERROR_INVALID_VALUE;
    *bytes = fg_config()->dev[fc_phys(dev)].mem_bytes;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    ENTER("cuDeviceGetAttribute");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    const struct fg_device *d = &fg_config()->dev[fc_phys(dev)];
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *pi = d->sm_count; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: *pi = d->max_threads_per_sm; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *pi = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *pi = 0; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = 1024; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *pi = 32; break;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: *pi = 0x10 + fc_phys(dev); break;
    case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID: *pi = 0; break;
    case CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID: *pi = 0; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: *pi = 1; break;
    default: *pi = 0; break;
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    ENTER("cuDeviceGetPCIBusId");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!pciBusId || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(pciBusId, (size_t)len, "0000:%02X:00.0", (unsigned)(0x10 + fc_phys(dev)) & 0xFFu);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceCanAccessPeer(int *can, CUdevice dev, CUdevice peer)
{
    ENTER("cuDeviceCanAccessPeer");
    CUresult rc = fc_check_dev(dev);
    if (rc == CUDA_SUCCESS)
        rc = fc_check_dev(peer);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!can)
        return CUDA_ERROR_INVALID_VALUE;
    *can = 0;
    return CUDA_SUCCESS;
}

/* ---- contexts ---- */

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    ENTER("cuDevicePrimaryCtxRetain");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    dev = fc_phys(dev);
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (atomic_fetch_add(&g_primary[dev].refs, 1) == 0) {
        rc = ctx_acquire(dev);
        if (rc != CUDA_SUCCESS) {
            atomic_fetch_sub(&g_primary[dev].refs, 1);
            return rc;
        }
    }
    *pctx = &g_primary[dev];
    return CUDA_SUCCESS;
}

static CUresult primary_release(CUdevice dev)
{
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    dev = fc_phys(dev);
    int prev = atomic_load(&g_primary[dev].refs);
    do {
        if (prev <= 0)
            return CUDA_ERROR_INVALID_CONTEXT;
    } while (!atomic_compare_exchange_weak(&g_primary[dev].refs, &prev, prev - 1));
    if (prev == 1)
        ctx_release(dev);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
    ENTER("cuDevicePrimaryCtxRelease");
    return primary_release(dev);
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    ENTER("cuDevicePrimaryCtxRelease_v2");
    return primary_release(dev);
}

EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    ENTER("cuDevicePrimaryCtxGetState");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    dev = fc_phys(dev);
    if (!flags || !active)
        return CUDA_ERROR_INVALID_VALUE;
    *flags = g_primary[dev].flags;
    *active = atomic_load(&g_primary[dev].refs) > 0;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
    ENTER("cuDevicePrimaryCtxSetFlags_v2");
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    dev = fc_phys(dev);
    g_primary[dev].flags = flags;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    ENTER("cuDevicePrimaryCtxReset_v2");
    return fc_check_dev(dev);
}

static CUresult ctx_create(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    dev = fc_phys(dev);
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    rc = ctx_acquire(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUctx_st *c = calloc(1, sizeof(*c));
    if (!c) {
        ctx_release(dev);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    c->dev = dev;
    c->flags = flags;
    atomic_store(&c->refs, 1);
    if (t_depth < CTX_STACK)
        t_stack[t_depth++] = c;
    *pctx = c;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    ENTER("cuCtxCreate");
    return ctx_create(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    ENTER("cuCtxCreate_v2");
    return ctx_create(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *params, int n, unsigned int flags, CUdevice dev)
{
    ENTER("cuCtxCreate_v3");
    if (n < 0 || (n > 0 && !params))
        return CUDA_ERROR_INVALID_VALUE;
    return ctx_create(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev)
{
    ENTER("cuCtxCreate_v4");
    (void)params;
    return ctx_create(pctx, flags, dev);
}

static CUresult ctx_destroy(CUcontext ctx)
{
    if (!ctx || ctx->primary)
        return CUDA_ERROR_INVALID_CONTEXT;
    for (int i = 0; i < t_depth; i++)
        if (t_stack[i] == ctx) {
            memmove(&t_stack[i], &t_stack[i + 1], (size_t)(t_depth - i - 1) * sizeof(CUcontext));
            t_depth--;
            i--;
        }
    ctx_release(ctx->dev);
    free(ctx);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
    ENTER("cuCtxDestroy");
    return ctx_destroy(ctx);
}

EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
    ENTER("cuCtxDestroy_v2");
    return ctx_destroy(ctx);
}

EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
    ENTER("cuCtxGetCurrent");
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = current();
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
    ENTER("cuCtxSetCurrent");
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!ctx) {
        if (t_depth > 0)
            t_depth--;
        return CUDA_SUCCESS;
    }
    if (t_depth == 0)
        t_depth = 1;
    t_stack[t_depth - 1] = ctx;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
    ENTER("cuCtxPushCurrent_v2");
    if (!ctx || t_depth >= CTX_STACK)
        return CUDA_ERROR_INVALID_VALUE;
    t_stack[t_depth++] = ctx;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
    ENTER("cuCtxPopCurrent_v2");
    if (t_depth == 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    CUcontext c = t_stack[--t_depth];
    if (pctx)
        *pctx = c;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetDevice(CUdevice *device)
{
    ENTER("cuCtxGetDevice");
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    *device = fc_ordinal(dev);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSynchronize(void)
{
    ENTER("cuCtxSynchronize");
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    fg_sync_device(dev);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
    ENTER("cuCtxGetApiVersion");
    (void)ctx;
    if (!version)
        return CUDA_ERROR_INVALID_VALUE;
    *version = 13000;
    return CUDA_SUCCESS;
}

/* ---- streams and events ---- */

EXPORT CUresult cuStreamCreate(CUstream *ph, unsigned int flags)
{
    ENTER("cuStreamCreate");
    (void)flags;
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!ph)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st *s = calloc(1, sizeof(*s));
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    s->dev = dev;
    *ph = s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(CUstream s)
{
    ENTER("cuStreamDestroy_v2");
    if (!s)
        return CUDA_ERROR_INVALID_HANDLE;
    free(s);
    return CUDA_SUCCESS;
}

static CUresult stream_sync(CUstream s)
{
    CUresult rc;
    int dev = fc_stream_dev(s, &rc);
    if (dev < 0)
        return rc;
    fg_sync_device(dev);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream s)
{
    ENTER("cuStreamSynchronize");
    return stream_sync(s);
}

EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s)
{
    ENTER("cuStreamSynchronize_ptsz");
    return stream_sync(s);
}

EXPORT CUresult cuEventCreate(CUevent *ph, unsigned int flags)
{
    ENTER("cuEventCreate");
    (void)flags;
    if (!ph)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUevent_st *e = calloc(1, sizeof(*e));
    if (!e)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *ph = e;
    return CUDA_SUCCESS;
}

static CUresult event_record(CUevent e, CUstream s)
{
    if (!e)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult rc;
    int dev = fc_stream_dev(s, &rc);
    if (dev < 0)
        return rc;
    uint64_t tail = fg_tail_us(dev), now = fg_now_us();
    e->dev = dev;
    e->t_us = tail > now ? tail : now;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord(CUevent e, CUstream s)
{
    ENTER("cuEventRecord");
    return event_record(e, s);
}

EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s)
{
    ENTER("cuEventRecord_ptsz");
    return event_record(e, s);
}

EXPORT CUresult cuEventSynchronize(CUevent e)
{
    ENTER("cuEventSynchronize");
    if (!e)
        return CUDA_ERROR_INVALID_HANDLE;
    uint64_t now = fg_now_us();
    if (e->t_us > now) {
        struct timespec ts = {(time_t)((e->t_us - now) / 1000000ULL), (long)((e->t_us - now) % 1000000ULL) * 1000L};
        nanosleep(&ts, NULL);
    }
    return CUDA_SUCCESS;
}

static CUresult elapsed(float *ms, CUevent a, CUevent b)
{
    if (!ms || !a || !b)
        return CUDA_ERROR_INVALID_VALUE;
    *ms = (float)((double)((int64_t)b->t_us - (int64_t)a->t_us) / 1000.0);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b)
{
    ENTER("cuEventElapsedTime");
    return elapsed(ms, a, b);
}

EXPORT CUresult cuEventElapsedTime_v2(float *ms, CUevent a, CUevent b)
{
    ENTER("cuEventElapsedTime_v2");
    return elapsed(ms, a, b);
}

EXPORT CUresult cuEventDestroy_v2(CUevent e)
{
    ENTER("cuEventDestroy_v2");
    if (!e)
        return CUDA_ERROR_INVALID_HANDLE;
    free(e);
    return CUDA_SUCCESS;
}

/* ---- modules and launches ---- */

static struct CUmod_st g_module;
static struct CUfunc_st g_function;

EXPORT CUresult cuModuleLoadData(CUmodule *mod, const void *image)
{
    ENTER("cuModuleLoadData");
    if (!mod || !image)
        return CUDA_ERROR_INVALID_VALUE;
    *mod = &g_module;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *f, CUmodule mod, const char *name)
{
    ENTER("cuModuleGetFunction");
    if (!f || !mod || !name)
        return CUDA_ERROR_INVALID_VALUE;
    *f = &g_function;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleUnload(CUmodule mod)
{
    ENTER("cuModuleUnload");
    return mod ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult launch(CUfunction f, CUstream s, uint64_t kernels)
{
    if (!f)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult rc;
    int dev = fc_stream_dev(s, &rc);
    if (dev < 0)
        return rc;
    fg_run_kernel(dev, fg_config()->kernel_us * kernels);
    return CUDA_SUCCESS;
}

#define LAUNCH_ARGS                                                                                    \
    CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,      \
        unsigned int bz, unsigned int shmem, CUstream s, void **params, void **extra
#define UNUSED_LAUNCH_ARGS (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shmem, (void)params, (void)extra

EXPORT CUresult cuLaunchKernel(LAUNCH_ARGS)
{
    ENTER("cuLaunchKernel");
    UNUSED_LAUNCH_ARGS;
    return launch(f, s, 1);
}

EXPORT CUresult cuLaunchKernel_ptsz(LAUNCH_ARGS)
{
    ENTER("cuLaunchKernel_ptsz");
    UNUSED_LAUNCH_ARGS;
    return launch(f, s, 1);
}

EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                          unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                                          CUstream s, void **params)
{
    ENTER("cuLaunchCooperativeKernel");
    (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shmem, (void)params;
    return launch(f, s, 1);
}

EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                               unsigned int bx, unsigned int by, unsigned int bz,
                                               unsigned int shmem, CUstream s, void **params)
{
    ENTER("cuLaunchCooperativeKernel_ptsz");
    (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shmem, (void)params;
    return launch(f, s, 1);
}

EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra)
{
    ENTER("cuLaunchKernelEx");
    (void)params, (void)extra;
    if (!config)
        return CUDA_ERROR_INVALID_VALUE;
    return launch(f, config->hStream, 1);
}

EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **params, void **extra)
{
    ENTER("cuLaunchKernelEx_ptsz");
    (void)params, (void)extra;
    if (!config)
        return CUDA_ERROR_INVALID_VALUE;
    return launch(f, config->hStream, 1);
}

/* ---- graphs ---- */

static struct CUgraphNode_st g_kernel_node = {1};

EXPORT CUresult cuGraphCreate(CUgraph *ph, unsigned int flags)
{
    ENTER("cuGraphCreate");
    (void)flags;
    if (!ph)
        return CUDA_ERROR_INVALID_VALUE;
    *ph = calloc(1, sizeof(struct CUgraph_st));
    return *ph ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult add_kernel_node(CUgraphNode *node, CUgraph g, const void *params)
{
    if (!node || !g || !params)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_fetch_add(&g->kernels, 1);
    *node = &g_kernel_node;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphAddKernelNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t ndeps,
                                     const CUDA_KERNEL_NODE_PARAMS_v1 *params)
{
    ENTER("cuGraphAddKernelNode");
    (void)deps, (void)ndeps;
    return add_kernel_node(node, g, params);
}

EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t ndeps,
                                        const CUDA_KERNEL_NODE_PARAMS *params)
{
    ENTER("cuGraphAddKernelNode_v2");
    (void)deps, (void)ndeps;
    return add_kernel_node(node, g, params);
}

EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *ph, CUgraph g, unsigned long long flags)
{
    ENTER("cuGraphInstantiateWithFlags");
    (void)flags;
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!ph || !g)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUgraphExec_st *e = calloc(1, sizeof(*e));
    if (!e)
        return CUDA_ERROR_OUT_OF_MEMORY;
    e->dev = dev;
    e->kernels = atomic_load(&g->kernels);
    *ph = e;
    return CUDA_SUCCESS;
}

static CUresult graph_launch(CUgraphExec e, CUstream s)
{
    if (!e)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult rc;
    if (fc_stream_dev(s, &rc) < 0)
        return rc;
    if (e->kernels > 0)
        fg_run_kernel(e->dev, fg_config()->kernel_us * (uint64_t)e->kernels);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphLaunch(CUgraphExec e, CUstream s)
{
    ENTER("cuGraphLaunch");
    return graph_launch(e, s);
}

EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec e, CUstream s)
{
    ENTER("cuGraphLaunch_ptsz");
    return graph_launch(e, s);
}

EXPORT CUresult cuGraphExecDestroy(CUgraphExec e)
{
    ENTER("cuGraphExecDestroy");
    free(e);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphDestroy(CUgraph g)
{
    ENTER("cuGraphDestroy");
    free(g);
    return CUDA_SUCCESS;
}

/* ---- errors ---- */

EXPORT CUresult cuGetErrorString(CUresult error, const char **str)
{
    if (!str)
        return CUDA_ERROR_INVALID_VALUE;
    switch (error) {
    case CUDA_SUCCESS: *str = "no error"; break;
    case CUDA_ERROR_INVALID_VALUE: *str = "invalid argument"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *str = "out of memory"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *str = "initialization error"; break;
    case CUDA_ERROR_INVALID_CONTEXT: *str = "invalid device context"; break;
    case CUDA_ERROR_NOT_FOUND: *str = "named symbol not found"; break;
    default: *str = "unknown error"; break;
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGetErrorName(CUresult error, const char **str)
{
    if (!str)
        return CUDA_ERROR_INVALID_VALUE;
    switch (error) {
    case CUDA_SUCCESS: *str = "CUDA_SUCCESS"; break;
    case CUDA_ERROR_INVALID_VALUE: *str = "CUDA_ERROR_INVALID_VALUE"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *str = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *str = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case CUDA_ERROR_INVALID_CONTEXT: *str = "CUDA_ERROR_INVALID_CONTEXT"; break;
    case CUDA_ERROR_NOT_FOUND: *str = "CUDA_ERROR_NOT_FOUND"; break;
    default: *str = "CUDA_ERROR_UNKNOWN"; break;
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGetExportTable(const void **table, const CUuuid *id)
{
    ENTER("cuGetExportTable");
    (void)id;
    if (table)
        *table = NULL;
    return CUDA_ERROR_NOT_FOUND;
}
