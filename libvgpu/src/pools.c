/*
 * Stream-ordered allocation pools (cuMemAllocAsync, cuMemAllocFromPoolAsync): a pool keeps freed
 * memory up to its release threshold (PyTorch's cudaMallocAsync backend keeps everything), so the
 * physical cost is what the pool reserves, not what is live. Each pool this process uses is
 * charged CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, re-read after every allocation, free, trim and
 * destroy. An allocation is admitted if the part the pool cannot serve from memory it already
 * holds (size - (reserved - used)) fits under the cap.
 */
#include "vgpu.h"

#include <pthread.h>

#define MAX_POOLS 256

typedef struct {
    CUmemoryPool pool;
    int dev;
    uint64_t charged;
} pool_t;

static pool_t pools[MAX_POOLS];
static int npools;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t attr(CUmemoryPool p, CUmemPool_attribute a) {
    cuuint64_t v = 0;
    if (!vgpu_real[VGPU_H_cuMemPoolGetAttribute] || REAL(cuMemPoolGetAttribute)(p, a, &v) != CUDA_SUCCESS)
        return UINT64_MAX;
    return v;
}

/* under mu */
static int slot_of(CUmemoryPool p, int dev) {
    for (int i = 0; i < npools; i++)
        if (pools[i].pool == p) return i;
    if (npools == MAX_POOLS) return -1;
    pools[npools] = (pool_t){p, dev, 0};
    return npools++;
}

/* under mu: bring the slot's charge to what its pool reserves now */
static void settle(int i) {
    uint64_t r = attr(pools[i].pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT);
    if (r == UINT64_MAX) return;
    if (r > pools[i].charged) vgpu_mem_add(pools[i].dev, r - pools[i].charged, VGPU_KIND_DATA);
    else if (r < pools[i].charged) vgpu_mem_release(pools[i].dev, pools[i].charged - r, VGPU_KIND_DATA);
    pools[i].charged = r;
}

int vgpu_pool_begin(vgpu_pool_op_t *op, size_t size, CUmemoryPool pool, int dev) {
    op->pool = pool;
    op->dev = dev;
    op->slot = -1;
    op->need = size;
    if (dev < 0 || dev >= VGPU_MAX_DEVICES) {
        op->need = 0;
        return 0;
    }
    if (!op->pool && vgpu_real[VGPU_H_cuDeviceGetMemPool] &&
        REAL(cuDeviceGetMemPool)(&op->pool, dev) != CUDA_SUCCESS)
        op->pool = NULL;
    if (op->pool && vgpu_real[VGPU_H_cuMemPoolGetAttribute]) {
        uint64_t reserved = attr(op->pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT);
        uint64_t used = attr(op->pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT);
        if (reserved != UINT64_MAX && used != UINT64_MAX) {
            uint64_t idle = reserved > used ? reserved - used : 0;
            op->need = size > idle ? size - idle : 0;
            pthread_mutex_lock(&mu);
            op->slot = slot_of(op->pool, dev);
            pthread_mutex_unlock(&mu);
            if (op->slot < 0) op->need = size; /* pool table full: live bytes */
        }
    }
    /* no pool information: charge live bytes (slot -1) */
    return vgpu_mem_reserve(dev, op->need, VGPU_KIND_DATA) == 0 ? 0 : -1;
}

void vgpu_pool_end(vgpu_pool_op_t *op, CUresult r, CUdeviceptr ptr) {
    if (op->slot < 0) { /* live-bytes fallback */
        if (r != CUDA_SUCCESS) vgpu_mem_release(op->dev, op->need, VGPU_KIND_DATA);
        else vgpu_track_put(VGPU_T_DPTR, ptr, op->need, op->dev, VGPU_KIND_DATA);
        return;
    }
    pthread_mutex_lock(&mu);
    settle(op->slot); /* charge the growth first, then drop the provisional part */
    pthread_mutex_unlock(&mu);
    vgpu_mem_release(op->dev, op->need, VGPU_KIND_DATA);
    if (r == CUDA_SUCCESS) vgpu_track_put(VGPU_T_DPTR, ptr, (uint64_t)op->slot, op->dev, VGPU_KIND_POOL);
}

void vgpu_pool_freed(uint64_t slot) {
    pthread_mutex_lock(&mu);
    if (slot < (uint64_t)npools) settle((int)slot);
    pthread_mutex_unlock(&mu);
}

void vgpu_pool_settle_handle(CUmemoryPool pool, int destroyed) {
    pthread_mutex_lock(&mu);
    for (int i = 0; i < npools; i++) {
        if (pools[i].pool != pool) continue;
        if (destroyed) {
            vgpu_mem_release(pools[i].dev, pools[i].charged, VGPU_KIND_DATA);
            pools[i].charged = 0;
        } else {
            settle(i);
        }
    }
    pthread_mutex_unlock(&mu);
}

void vgpu_pools_reset_after_fork(void) {
    /* the child has no CUDA state: its pools (if any) are new */
    pthread_mutex_init(&mu, NULL);
    npools = 0;
}
