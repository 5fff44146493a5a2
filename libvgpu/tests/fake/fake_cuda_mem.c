/* Fake CUDA driver: device memory (linear, pitched, managed, VMM handles, stream-ordered pools, arrays),
 * host memory, and no-op copies. Every device byte is reserved against the shared physical model. */

#include "fake_cuda.h"

#include <stdlib.h>
#include <string.h>

enum kind { K_LINEAR = 1, K_POOL, K_HANDLE };

struct entry {
    uint64_t key; /* 0 = empty */
    uint64_t size;
    int dev;
    int kind;
    CUmemoryPool pool;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *g_tab;
static size_t g_cap, g_used; /* live entries */
static _Atomic uint64_t g_next_ptr = 0x7f0000200000ULL; /* low 32 bits never 0 for v1 callers */
static _Atomic uint64_t g_next_handle = 0x1000;
static struct CUmemPoolHandle_st g_default_pool[FG_MAX_DEV];
static CUmemoryPool g_current_pool[FG_MAX_DEV];
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

uint64_t fc_round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int grow_locked(void)
{
    size_t ncap = g_cap ? g_cap * 2 : 1024;
    struct entry *n = calloc(ncap, sizeof(*n));
    if (!n)
        return -1;
    size_t live = 0;
    for (size_t i = 0; i < g_cap; i++) {
        if (g_tab[i].key <= 1)
            continue;
        size_t j = slot_of(g_tab[i].key, ncap);
        while (n[j].key)
            j = (j + 1) & (ncap - 1);
        n[j] = g_tab[i];
        live++;
    }
    free(g_tab);
    g_tab = n;
    g_cap = ncap;
    g_used = live;
    return 0;
}

static int tab_put(const struct entry *e)
{
    pthread_mutex_lock(&g_mu);
    if ((g_used + 1) * 2 > g_cap && grow_locked() != 0) {
        pthread_mutex_unlock(&g_mu);
        return -1;
    }
    size_t j = slot_of(e->key, g_cap);
    while (g_tab[j].key)
        j = (j + 1) & (g_cap - 1);
    g_used++;
    g_tab[j] = *e;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

/* Empty slot i and shift later entries of its probe chain back (linear probing without tombstones). */
static void erase_locked(size_t i)
{
    size_t mask = g_cap - 1, k = i;
    for (;;) {
        g_tab[i].key = 0;
        for (;;) {
            k = (k + 1) & mask;
            if (g_tab[k].key == 0)
                return;
            size_t ideal = slot_of(g_tab[k].key, g_cap);
            int stays = i <= k ? (i < ideal && ideal <= k) : (i < ideal || ideal <= k);
            if (!stays)
                break;
        }
        g_tab[i] = g_tab[k];
        i = k;
    }
}

/* Remove key (of kind `kind`; 0 = any) into *out. Returns 0 if found. */
static int tab_take(uint64_t key, int kind, struct entry *out)
{
    int rc = -1;
    pthread_mutex_lock(&g_mu);
    if (g_cap && key > 1) {
        size_t j = slot_of(key, g_cap);
        while (g_tab[j].key) {
            if (g_tab[j].key == key) {
                if (kind == 0 || g_tab[j].kind == kind) {
                    *out = g_tab[j];
                    erase_locked(j);
                    g_used--;
                    rc = 0;
                }
                break;
            }
            j = (j + 1) & (g_cap - 1);
        }
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

static int tab_has(uint64_t key, int kind)
{
    int found = 0;
    pthread_mutex_lock(&g_mu);
    if (g_cap && key > 1) {
        size_t j = slot_of(key, g_cap);
        while (g_tab[j].key) {
            if (g_tab[j].key == key) {
                found = g_tab[j].kind == kind;
                break;
            }
            j = (j + 1) & (g_cap - 1);
        }
    }
    pthread_mutex_unlock(&g_mu);
    return found;
}

static uint64_t new_ptr(uint64_t size)
{
    return atomic_fetch_add(&g_next_ptr, fc_round_up(size ? size : 1, 512));
}

static CUresult alloc_linear(int dev, uint64_t size, uint64_t *out)
{
    if (size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (fg_mem_reserve(dev, size) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct entry e = {new_ptr(size), size, dev, K_LINEAR, NULL};
    if (tab_put(&e) != 0) {
        fg_mem_release(dev, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *out = e.key;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    ENTER("cuMemAlloc_v2");
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p = 0;
    rc = alloc_linear(dev, bytesize, &p);
    if (rc == CUDA_SUCCESS)
        *dptr = p;
    return rc;
}

/* Legacy 32-bit ABI (cudaVersion < 3020): the pointer is an unsigned int. */
EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
    ENTER("cuMemAlloc");
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p = 0;
    rc = alloc_linear(dev, bytesize, &p);
    if (rc == CUDA_SUCCESS)
        *dptr = (CUdeviceptr_v1)(p & 0xFFFFFFFFu);
    return rc;
}

static CUresult pool_free(struct entry *e);

static CUresult free_ptr(uint64_t p)
{
    if (p == 0)
        return CUDA_SUCCESS;
    struct entry e;
    if (tab_take(p, K_LINEAR, &e) == 0) {
        fg_mem_release(e.dev, e.size);
        return CUDA_SUCCESS;
    }
    if (tab_take(p, K_POOL, &e) == 0)
        return pool_free(&e);
    return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    ENTER("cuMemFree_v2");
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    return free_ptr(dptr);
}

EXPORT CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
    ENTER("cuMemFree");
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    return free_ptr(dptr ? (0x7f0000000000ULL & ~0xFFFFFFFFULL) | dptr : 0);
}

static CUresult mem_info(uint64_t *free_b, uint64_t *total_b)
{
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!free_b || !total_b)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t total = fg_config()->dev[dev].mem_bytes, used = fakegpu_used_bytes(dev);
    *total_b = total;
    *free_b = used > total ? 0 : total - used;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total_b)
{
    ENTER("cuMemGetInfo_v2");
    uint64_t f = 0, t = 0;
    if (!free_b || !total_b)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = mem_info(&f, &t);
    if (rc == CUDA_SUCCESS) {
        *free_b = f;
        *total_b = t;
    }
    return rc;
}

EXPORT CUresult cuMemGetInfo(unsigned int *free_b, unsigned int *total_b)
{
    ENTER("cuMemGetInfo");
    uint64_t f = 0, t = 0;
    if (!free_b || !total_b)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = mem_info(&f, &t);
    if (rc == CUDA_SUCCESS) {
        *free_b = f > 0xFFFFFFFFULL ? 0xFFFFFFFFu : (unsigned int)f;
        *total_b = t > 0xFFFFFFFFULL ? 0xFFFFFFFFu : (unsigned int)t;
    }
    return rc;
}

EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
                                   unsigned int elem)
{
    ENTER("cuMemAllocPitch_v2");
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!dptr || !pitch || width == 0 || height == 0 || (elem != 4 && elem != 8 && elem != 16))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p = 0, pt = fc_round_up(width, 512);
    rc = alloc_linear(dev, pt * height, &p);
    if (rc == CUDA_SUCCESS) {
        *dptr = p;
        *pitch = pt;
    }
    return rc;
}

EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    ENTER("cuMemAllocManaged");
    (void)flags;
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t p = 0;
    rc = alloc_linear(dev, bytesize, &p);
    if (rc == CUDA_SUCCESS)
        *dptr = p;
    return rc;
}

/* ---- host memory (real host memory so callers may touch it) ---- */

EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    ENTER("cuMemAllocHost_v2");
    if (!pp || bytesize == 0)
        return CUDA_ERROR_INVALID_VALUE;
    *pp = malloc(bytesize);
    return *pp ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags)
{
    ENTER("cuMemHostAlloc");
    (void)flags;
    if (!pp || bytesize == 0)
        return CUDA_ERROR_INVALID_VALUE;
    *pp = malloc(bytesize);
    return *pp ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

EXPORT CUresult cuMemFreeHost(void *p)
{
    ENTER("cuMemFreeHost");
    free(p);
    return CUDA_SUCCESS;
}

/* ---- virtual memory management ---- */

EXPORT CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                              CUmemAllocationGranularity_flags option)
{
    ENTER("cuMemGetAllocationGranularity");
    (void)option;
    if (!granularity || !prop)
        return CUDA_ERROR_INVALID_VALUE;
    *granularity = FG_GRANULARITY;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                            unsigned long long flags)
{
    ENTER("cuMemCreate");
    (void)flags;
    if (!fc_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!handle || !prop || size == 0 || size % FG_GRANULARITY != 0)
        return CUDA_ERROR_INVALID_VALUE;
    int dev = -1;
    if (prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE) {
        dev = prop->location.id;
        if (fc_check_dev(dev) != CUDA_SUCCESS)
            return CUDA_ERROR_INVALID_DEVICE;
        dev = fc_phys(dev);
        if (fg_mem_reserve(dev, size) != 0)
            return CUDA_ERROR_OUT_OF_MEMORY;
    }
    struct entry e = {atomic_fetch_add(&g_next_handle, 1), size, dev, K_HANDLE, NULL};
    if (tab_put(&e) != 0) {
        if (dev >= 0)
            fg_mem_release(dev, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *handle = e.key;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
    ENTER("cuMemRelease");
    struct entry e;
    if (tab_take(handle, K_HANDLE, &e) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (e.dev >= 0)
        fg_mem_release(e.dev, e.size);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                    unsigned long long flags)
{
    ENTER("cuMemAddressReserve");
    (void)alignment, (void)addr, (void)flags;
    if (!ptr || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    *ptr = new_ptr(size);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    ENTER("cuMemAddressFree");
    (void)size;
    return ptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                         unsigned long long flags)
{
    ENTER("cuMemMap");
    (void)size, (void)offset, (void)flags;
    if (!ptr || !tab_has(handle, K_HANDLE))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    ENTER("cuMemUnmap");
    (void)size;
    return ptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
    ENTER("cuMemSetAccess");
    (void)size, (void)count;
    return ptr && desc ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- stream-ordered pools: reserved memory grows in granularity steps and counts as physical ---- */

static void pools_init(void)
{
    for (int i = 0; i < FG_MAX_DEV; i++) {
        g_default_pool[i].dev = i;
        pthread_mutex_init(&g_default_pool[i].m, NULL);
        g_current_pool[i] = &g_default_pool[i];
    }
}

/* Shrink the reservation to max(used, keep) rounded up. Pool mutex held. */
static void pool_trim_locked(CUmemoryPool pool, uint64_t keep)
{
    uint64_t floor_bytes = pool->used > keep ? pool->used : keep;
    if (floor_bytes >= pool->reserved)
        return;
    uint64_t target = fc_round_up(floor_bytes, FG_GRANULARITY);
    if (pool->reserved > target) {
        fg_mem_release(pool->dev, pool->reserved - target);
        pool->reserved = target;
    }
}

static CUresult pool_alloc(CUmemoryPool pool, uint64_t size, uint64_t *out)
{
    if (size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&pool->m);
    uint64_t need = fc_round_up(pool->used + size, FG_GRANULARITY);
    if (need > pool->reserved) {
        if (fg_mem_reserve(pool->dev, need - pool->reserved) != 0) {
            pthread_mutex_unlock(&pool->m);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        pool->reserved = need;
        if (need > pool->reserved_high)
            pool->reserved_high = need;
    }
    pool->used += size;
    if (pool->used > pool->used_high)
        pool->used_high = pool->used;
    pthread_mutex_unlock(&pool->m);
    struct entry e = {new_ptr(size), size, pool->dev, K_POOL, pool};
    if (tab_put(&e) != 0) {
        pool_free(&e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *out = e.key;
    return CUDA_SUCCESS;
}

static CUresult pool_free(struct entry *e)
{
    CUmemoryPool pool = e->pool;
    pthread_mutex_lock(&pool->m);
    pool->used -= e->size;
    pool_trim_locked(pool, pool->threshold);
    pthread_mutex_unlock(&pool->m);
    return CUDA_SUCCESS;
}

static CUresult alloc_async(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream s)
{
    pthread_once(&g_pool_once, pools_init);
    CUresult rc;
    int dev = fc_stream_dev(s, &rc);
    if (dev < 0)
        return rc;
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    if (!pool)
        pool = g_current_pool[dev];
    uint64_t p = 0;
    rc = pool_alloc(pool, bytesize, &p);
    if (rc == CUDA_SUCCESS)
        *dptr = p;
    return rc;
}

EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream s)
{
    ENTER("cuMemAllocAsync");
    return alloc_async(dptr, bytesize, NULL, s);
}

EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream s)
{
    ENTER("cuMemAllocAsync_ptsz");
    return alloc_async(dptr, bytesize, NULL, s);
}

EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream s)
{
    ENTER("cuMemAllocFromPoolAsync");
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    return alloc_async(dptr, bytesize, pool, s);
}

EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream s)
{
    ENTER("cuMemAllocFromPoolAsync_ptsz");
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    return alloc_async(dptr, bytesize, pool, s);
}

EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream s)
{
    ENTER("cuMemFreeAsync");
    (void)s;
    return free_ptr(dptr);
}

EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream s)
{
    ENTER("cuMemFreeAsync_ptsz");
    (void)s;
    return free_ptr(dptr);
}

EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool, CUdevice dev)
{
    ENTER("cuDeviceGetDefaultMemPool");
    pthread_once(&g_pool_once, pools_init);
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    *pool = &g_default_pool[fc_phys(dev)];
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
    ENTER("cuDeviceGetMemPool");
    pthread_once(&g_pool_once, pools_init);
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    *pool = g_current_pool[fc_phys(dev)];
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
    ENTER("cuDeviceSetMemPool");
    pthread_once(&g_pool_once, pools_init);
    CUresult rc = fc_check_dev(dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!pool || pool->dev != fc_phys(dev))
        return CUDA_ERROR_INVALID_VALUE;
    g_current_pool[pool->dev] = pool;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props)
{
    ENTER("cuMemPoolCreate");
    if (!pool || !props || props->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = fc_check_dev(props->location.id);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUmemPoolHandle_st *p = calloc(1, sizeof(*p));
    if (!p)
        return CUDA_ERROR_OUT_OF_MEMORY;
    p->dev = fc_phys(props->location.id);
    pthread_mutex_init(&p->m, NULL);
    *pool = p;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
    ENTER("cuMemPoolDestroy");
    pthread_once(&g_pool_once, pools_init);
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; i < FG_MAX_DEV; i++)
        if (pool == &g_default_pool[i])
            return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&pool->m);
    if (pool->reserved)
        fg_mem_release(pool->dev, pool->reserved);
    pool->reserved = 0;
    pthread_mutex_unlock(&pool->m);
    return CUDA_SUCCESS; /* leaked on purpose: pointers may still name it */
}

EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep)
{
    ENTER("cuMemPoolTrimTo");
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&pool->m);
    pool_trim_locked(pool, keep);
    pthread_mutex_unlock(&pool->m);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    ENTER("cuMemPoolGetAttribute");
    if (!pool || !value)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t v;
    pthread_mutex_lock(&pool->m);
    switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: v = pool->threshold; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: v = pool->reserved; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: v = pool->reserved_high; break;
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: v = pool->used; break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: v = pool->used_high; break;
    default:
        pthread_mutex_unlock(&pool->m);
        *(int *)value = 0;
        return CUDA_SUCCESS;
    }
    pthread_mutex_unlock(&pool->m);
    memcpy(value, &v, sizeof(v));
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    ENTER("cuMemPoolSetAttribute");
    if (!pool || !value)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t v;
    memcpy(&v, value, sizeof(v));
    pthread_mutex_lock(&pool->m);
    switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: pool->threshold = v; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: pool->reserved_high = pool->reserved; break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: pool->used_high = pool->used; break;
    default: break;
    }
    pthread_mutex_unlock(&pool->m);
    return CUDA_SUCCESS;
}

/* ---- arrays ---- */

static uint64_t format_bytes(CUarray_format f)
{
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8: return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF: return 2;
    default: return 4;
    }
}

static uint64_t array_bytes(uint64_t w, uint64_t h, uint64_t d, CUarray_format f, unsigned int ch)
{
    uint64_t row = fc_round_up(w * format_bytes(f) * (ch ? ch : 1), 512);
    return row * (h ? h : 1) * (d ? d : 1);
}

static CUresult array_create(CUarray *ph, uint64_t bytes)
{
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!ph || bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (fg_mem_reserve(dev, bytes) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct CUarray_st *a = calloc(1, sizeof(*a));
    if (!a) {
        fg_mem_release(dev, bytes);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    a->dev = dev;
    a->bytes = bytes;
    *ph = a;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuArrayCreate_v2(CUarray *ph, const CUDA_ARRAY_DESCRIPTOR *d)
{
    ENTER("cuArrayCreate_v2");
    if (!d || d->Width == 0)
        return CUDA_ERROR_INVALID_VALUE;
    return array_create(ph, array_bytes(d->Width, d->Height, 1, d->Format, d->NumChannels));
}

EXPORT CUresult cuArrayCreate(CUarray *ph, const CUDA_ARRAY_DESCRIPTOR_v1 *d)
{
    ENTER("cuArrayCreate");
    if (!d || d->Width == 0)
        return CUDA_ERROR_INVALID_VALUE;
    return array_create(ph, array_bytes(d->Width, d->Height, 1, d->Format, d->NumChannels));
}

EXPORT CUresult cuArray3DCreate_v2(CUarray *ph, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    ENTER("cuArray3DCreate_v2");
    if (!d || d->Width == 0)
        return CUDA_ERROR_INVALID_VALUE;
    return array_create(ph, array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels));
}

EXPORT CUresult cuArrayDestroy(CUarray a)
{
    ENTER("cuArrayDestroy");
    if (!a)
        return CUDA_ERROR_INVALID_HANDLE;
    fg_mem_release(a->dev, a->bytes);
    free(a);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *ph, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels)
{
    ENTER("cuMipmappedArrayCreate");
    CUresult rc;
    int dev = fc_current_dev(&rc);
    if (dev < 0)
        return rc;
    if (!ph || !d || d->Width == 0 || levels == 0)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t bytes = 0, w = d->Width, h = d->Height, z = d->Depth;
    for (unsigned int l = 0; l < levels; l++) {
        bytes += array_bytes(w, h, z, d->Format, d->NumChannels);
        w = w > 1 ? w / 2 : 1;
        h = h > 1 ? h / 2 : h;
        z = z > 1 ? z / 2 : z;
    }
    if (fg_mem_reserve(dev, bytes) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct CUmipmappedArray_st *m = calloc(1, sizeof(*m));
    if (!m) {
        fg_mem_release(dev, bytes);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    m->dev = dev;
    m->bytes = bytes;
    *ph = m;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray m)
{
    ENTER("cuMipmappedArrayDestroy");
    if (!m)
        return CUDA_ERROR_INVALID_HANDLE;
    fg_mem_release(m->dev, m->bytes);
    free(m);
    return CUDA_SUCCESS;
}

/* ---- copies, sets, advice: accepted, no data moves ---- */

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
    ENTER("cuMemcpyHtoD_v2");
    (void)dst, (void)src, (void)n;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
    ENTER("cuMemcpyDtoH_v2");
    (void)dst, (void)src, (void)n;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
    ENTER("cuMemcpyHtoDAsync_v2");
    (void)dst, (void)src, (void)n, (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
    ENTER("cuMemcpyHtoDAsync_v2_ptsz");
    (void)dst, (void)src, (void)n, (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n)
{
    ENTER("cuMemsetD8_v2");
    (void)dst, (void)v, (void)n;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAdvise(CUdeviceptr p, size_t n, CUmem_advise advice, CUdevice dev)
{
    ENTER("cuMemAdvise");
    (void)p, (void)n, (void)advice, (void)dev;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAdvise_v2(CUdeviceptr p, size_t n, CUmem_advise advice, CUmemLocation loc)
{
    ENTER("cuMemAdvise_v2");
    (void)p, (void)n, (void)advice, (void)loc;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPrefetchAsync(CUdeviceptr p, size_t n, CUdevice dev, CUstream s)
{
    ENTER("cuMemPrefetchAsync");
    (void)p, (void)n, (void)dev, (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr p, size_t n, CUdevice dev, CUstream s)
{
    ENTER("cuMemPrefetchAsync_ptsz");
    (void)p, (void)n, (void)dev, (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPrefetchAsync_v2(CUdeviceptr p, size_t n, CUmemLocation loc, unsigned int flags, CUstream s)
{
    ENTER("cuMemPrefetchAsync_v2");
    (void)p, (void)n, (void)loc, (void)flags, (void)s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr p, size_t n, CUmemLocation loc, unsigned int flags,
                                           CUstream s)
{
    ENTER("cuMemPrefetchAsync_v2_ptsz");
    (void)p, (void)n, (void)loc, (void)flags, (void)s;
    return CUDA_SUCCESS;
}
