/* libvgpu internal interfaces. Everything here is hidden (-fvisibility=hidden). */
#ifndef VGPU_H
#define VGPU_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define __CUDA_API_VERSION_INTERNAL 1 /* legacy + _ptsz prototypes, no renaming macros */
#define NVML_NO_UNVERSIONED_FUNC_DEFS 1

#include <cuda.h>
#include <nvml.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu_legacy.h"
#include "vgpu_region.h"

#define VGPU_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- the symbol table, generated from hooks.def ---- */
enum {
#define VGPU_CU(name, base, since, ptds) VGPU_H_##name,
#define VGPU_NVML(name) VGPU_H_##name,
#include "hooks.def"
    VGPU_N_HOOKED,
    VGPU_H_REAL_BEFORE_ = VGPU_N_HOOKED - 1,
#define VGPU_CU_REAL(name) VGPU_H_##name,
#define VGPU_NVML_REAL(name) VGPU_H_##name,
#include "hooks.def"
    VGPU_N_SYMS
};

/* Prototypes of our wrappers: vgpu_w_<name> has the exact type of the driver's <name>. */
#define VGPU_CU(name, base, since, ptds) extern __typeof__(name) vgpu_w_##name VGPU_HIDDEN;
#define VGPU_NVML(name) extern __typeof__(name) vgpu_w_##name VGPU_HIDDEN;
#include "hooks.def"

/* Export the wrapper under the driver's name (alias, so our own tables never get interposed). */
#define VGPU_EXPORT(name) \
    extern __typeof__(name) name __attribute__((alias("vgpu_w_" #name), visibility("default")));

typedef struct {
    const char *name;
    const char *base;
    int since;
    int ptds;
    int is_cuda; /* 1 CUDA, 0 NVML */
    int hooked;
    void *wrapper;
} vgpu_sym_t;

extern const vgpu_sym_t vgpu_syms[VGPU_N_SYMS] VGPU_HIDDEN;
extern void *vgpu_real[VGPU_N_SYMS] VGPU_HIDDEN;
extern _Atomic int vgpu_cuda_state VGPU_HIDDEN; /* 0 not loaded, 1 loading, 2 done */
extern _Atomic int vgpu_nvml_state VGPU_HIDDEN;

void vgpu_cuda_load(void) VGPU_HIDDEN;
void vgpu_nvml_load(void) VGPU_HIDDEN;
int vgpu_sym_lookup(const char *name) VGPU_HIDDEN;  /* index or -1 */
int vgpu_sym_by_real(void *fn) VGPU_HIDDEN;         /* index of the hooked symbol whose real is fn */

static inline void vgpu_cuda_ready(void) {
    if (unlikely(atomic_load_explicit(&vgpu_cuda_state, memory_order_acquire) != 2)) vgpu_cuda_load();
}
static inline void vgpu_nvml_ready(void) {
    if (unlikely(atomic_load_explicit(&vgpu_nvml_state, memory_order_acquire) != 2)) vgpu_nvml_load();
}
#define REAL(name) ((__typeof__(&name))vgpu_real[VGPU_H_##name])
/* At the top of a CUDA wrapper: make sure the driver is loaded and the real symbol exists. */
#define CU_NEED(name)                                                              \
    do {                                                                           \
        vgpu_cuda_ready();                                                         \
        if (unlikely(!vgpu_real[VGPU_H_##name])) return vgpu_missing(VGPU_H_##name); \
    } while (0)
#define NVML_NEED(name)                                                            \
    do {                                                                           \
        vgpu_nvml_ready();                                                         \
        if (unlikely(!vgpu_real[VGPU_H_##name])) {                                 \
            vgpu_missing(VGPU_H_##name);                                           \
            return NVML_ERROR_FUNCTION_NOT_FOUND;                                  \
        }                                                                          \
    } while (0)
CUresult vgpu_missing(int idx) VGPU_HIDDEN;

/* ---- logging ---- */
enum { VGPU_LOG_ERROR = 0, VGPU_LOG_WARN = 2, VGPU_LOG_INFO = 3, VGPU_LOG_DEBUG = 4 };
extern int vgpu_log_level VGPU_HIDDEN;
void vgpu_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3))) VGPU_HIDDEN;
#define LOG_ERROR(...) vgpu_log(VGPU_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) do { if (vgpu_log_level >= VGPU_LOG_WARN) vgpu_log(VGPU_LOG_WARN, __VA_ARGS__); } while (0)
#define LOG_INFO(...) do { if (vgpu_log_level >= VGPU_LOG_INFO) vgpu_log(VGPU_LOG_INFO, __VA_ARGS__); } while (0)
#define LOG_DEBUG(...) do { if (vgpu_log_level >= VGPU_LOG_DEBUG) vgpu_log(VGPU_LOG_DEBUG, __VA_ARGS__); } while (0)

/* ---- configuration, read once ---- */
enum { VGPU_POLICY_DEFAULT = 0, VGPU_POLICY_FORCE = 1, VGPU_POLICY_DISABLE = 2 };
typedef struct {
    uint64_t mem_limit[VGPU_MAX_DEVICES]; /* bytes, 0 = none */
    int sm_limit[VGPU_MAX_DEVICES];       /* percent 1..100, 100 = none */
    int priority;
    int policy;
    int oversubscribe;
    int log_level;
    int visible_n;                        /* CUDA_VISIBLE_DEVICES entries, -1 = unset */
    char visible[VGPU_MAX_DEVICES][VGPU_UUID_LEN];
    int sample_period_ms;
    char cache_path[4096];
} vgpu_config_t;
extern vgpu_config_t vgpu_cfg VGPU_HIDDEN;
void vgpu_config_init(void) VGPU_HIDDEN; /* idempotent, thread-safe */
/* Parse a memory size ("3000m", "1.5Gi", "4096"); returns 0 ok, -1 garbage. Exposed for tests. */
int vgpu_parse_size(const char *s, uint64_t *out) VGPU_HIDDEN;

/* ---- shared region ---- */
vgpu_region_t *vgpu_region(void) VGPU_HIDDEN;  /* never NULL after init (private fallback) */
vgpu_slot_t *vgpu_my_slot(void) VGPU_HIDDEN;   /* this process's slot (registers on first use) */
int vgpu_region_is_shared(void) VGPU_HIDDEN;
void vgpu_region_reclaim(void) VGPU_HIDDEN;    /* reclaim dead slots (takes the region lock) */
void vgpu_region_set_devices(void) VGPU_HIDDEN; /* write device_num/uuids once CUDA is up */

/* ---- memory accounting ---- */
enum { VGPU_KIND_CTX = 0, VGPU_KIND_MODULE = 1, VGPU_KIND_DATA = 2, VGPU_KIND_POOL = 3 };
int vgpu_mem_reserve(int dev, uint64_t bytes, int kind) VGPU_HIDDEN; /* 0 ok, -1 over the cap */
void vgpu_mem_release(int dev, uint64_t bytes, int kind) VGPU_HIDDEN;
void vgpu_mem_add(int dev, uint64_t bytes, int kind) VGPU_HIDDEN; /* unconditional charge */

/* ---- stream-ordered pools: charged by what the pool reserves, not by live bytes ---- */
typedef struct {
    CUmemoryPool pool;
    int dev;
    int slot;
    uint64_t need; /* provisional charge while the driver allocates */
} vgpu_pool_op_t;
int vgpu_pool_begin(vgpu_pool_op_t *op, size_t size, CUmemoryPool pool, int dev) VGPU_HIDDEN; /* -1: OOM */
void vgpu_pool_end(vgpu_pool_op_t *op, CUresult r, CUdeviceptr ptr) VGPU_HIDDEN;
void vgpu_pool_freed(uint64_t pool_slot) VGPU_HIDDEN; /* a pointer of that pool was freed */
void vgpu_pool_settle_handle(CUmemoryPool pool, int destroyed) VGPU_HIDDEN;
void vgpu_pools_reset_after_fork(void) VGPU_HIDDEN;
uint64_t vgpu_mem_used(int dev) VGPU_HIDDEN;
uint64_t vgpu_mem_limit(int dev) VGPU_HIDDEN;
int vgpu_current_device(void) VGPU_HIDDEN;
int vgpu_nvml_to_cuda(nvmlDevice_t dev) VGPU_HIDDEN; /* CUDA ordinal of an NVML device, -1 unknown */
int vgpu_cuda_to_nvml(int cudadev, nvmlDevice_t *out) VGPU_HIDDEN;
/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" of a CUDA device; 0 ok */
int vgpu_cuda_uuid(int cudadev, char out[VGPU_UUID_LEN]) VGPU_HIDDEN;

/* ---- allocation tracking: key -> (size, dev, kind), O(1) ---- */
enum { VGPU_T_DPTR = 0, VGPU_T_HANDLE = 1, VGPU_T_OBJECT = 2, VGPU_T_COUNT = 3 };
int vgpu_track_put(int table, uint64_t key, uint64_t size, int dev, int kind) VGPU_HIDDEN;
int vgpu_track_take(int table, uint64_t key, uint64_t *size, int *dev, int *kind) VGPU_HIDDEN;
void vgpu_track_reset_after_fork(void) VGPU_HIDDEN;

/* ---- compute limiter ---- */
enum { VGPU_GATE_INIT = 1, VGPU_GATE_THROTTLE = 2, VGPU_GATE_BLOCKED = 4 };
extern _Atomic int vgpu_gate VGPU_HIDDEN;
extern _Atomic int vgpu_launched VGPU_HIDDEN;
void vgpu_launch_slow(uint64_t cost) VGPU_HIDDEN;
static inline void vgpu_launch_gate(uint64_t cost) {
    if (unlikely(atomic_load_explicit(&vgpu_gate, memory_order_relaxed))) vgpu_launch_slow(cost);
    if (unlikely(!atomic_load_explicit(&vgpu_launched, memory_order_relaxed)))
        atomic_store_explicit(&vgpu_launched, 1, memory_order_relaxed);
}
void vgpu_watcher_start(void) VGPU_HIDDEN;
void vgpu_after_fork_child(void) VGPU_HIDDEN;

#endif
