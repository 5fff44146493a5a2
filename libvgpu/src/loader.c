/*
 * Finding the real driver: dlopen("libcuda.so.1") / dlopen("libnvidia-ml.so.1") and resolve every
 * name of hooks.def with the real dlsym. Nothing is linked against the driver, so the library loads
 * on machines without a GPU and tests can point LD_LIBRARY_PATH at a fake.
 */
#include "vgpu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

const vgpu_sym_t vgpu_syms[VGPU_N_SYMS] = {
#define VGPU_CU(name, base, since, ptds) {#name, #base, since, ptds, 1, 1, (void *)vgpu_w_##name},
#define VGPU_NVML(name) {#name, #name, 0, 0, 0, 1, (void *)vgpu_w_##name},
#include "hooks.def"
#define VGPU_CU_REAL(name) {#name, #name, 0, 0, 1, 0, NULL},
#define VGPU_NVML_REAL(name) {#name, #name, 0, 0, 0, 0, NULL},
#include "hooks.def"
};
_Static_assert(sizeof(vgpu_syms) / sizeof(vgpu_syms[0]) == VGPU_N_SYMS, "symbol table and enum disagree");

void *vgpu_real[VGPU_N_SYMS];
_Atomic int vgpu_cuda_state;
_Atomic int vgpu_nvml_state;
static void *cuda_handle, *nvml_handle;
/* set while this thread is loading: dlopen may re-enter dlsym and the wrappers */
static __thread int loading;

typedef void *(*dlsym_fn)(void *, const char *);
extern dlsym_fn vgpu_real_dlsym VGPU_HIDDEN;
void vgpu_find_real_dlsym(void) VGPU_HIDDEN;

static void load(int cuda, _Atomic int *state, const char *lib, void **handle) {
    int expect = 0;
    if (!atomic_compare_exchange_strong(state, &expect, 1)) {
        if (loading) return; /* re-entered from our own dlopen: callers see missing symbols */
        while (atomic_load_explicit(state, memory_order_acquire) != 2) sched_yield();
        return;
    }
    int outer = loading;
    loading = 1;
    vgpu_config_init();
    vgpu_find_real_dlsym();
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        LOG_WARN("cannot load %s (%s); its hooked calls return errors", lib, dlerror());
    } else if (vgpu_real_dlsym) {
        for (int i = 0; i < VGPU_N_SYMS; i++)
            if (vgpu_syms[i].is_cuda == cuda) vgpu_real[i] = vgpu_real_dlsym(h, vgpu_syms[i].name);
    }
    *handle = h;
    loading = outer;
    atomic_store_explicit(state, 2, memory_order_release);
}

void vgpu_cuda_load(void) { load(1, &vgpu_cuda_state, "libcuda.so.1", &cuda_handle); }
void vgpu_nvml_load(void) { load(0, &vgpu_nvml_state, "libnvidia-ml.so.1", &nvml_handle); }

CUresult vgpu_missing(int idx) {
    static _Atomic int warned[VGPU_N_SYMS];
    if (!atomic_exchange(&warned[idx], 1))
        LOG_WARN("driver has no %s; returning CUDA_ERROR_NOT_FOUND", vgpu_syms[idx].name);
    return CUDA_ERROR_NOT_FOUND;
}

static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* open-addressed name -> index table over the hooked symbols, built once */
#define NAME_BUCKETS 256
static int16_t name_tab[NAME_BUCKETS];
static pthread_once_t name_once = PTHREAD_ONCE_INIT;
static void build_names(void) {
    for (int i = 0; i < NAME_BUCKETS; i++) name_tab[i] = -1;
    for (int i = 0; i < VGPU_N_HOOKED; i++) {
        uint32_t b = name_hash(vgpu_syms[i].name) & (NAME_BUCKETS - 1);
        while (name_tab[b] >= 0) b = (b + 1) & (NAME_BUCKETS - 1);
        name_tab[b] = (int16_t)i;
    }
}
_Static_assert(VGPU_N_HOOKED < NAME_BUCKETS / 2, "grow NAME_BUCKETS");

int vgpu_sym_lookup(const char *name) {
    if (!name || (name[0] != 'c' && name[0] != 'n')) return -1;
    pthread_once(&name_once, build_names);
    uint32_t b = name_hash(name) & (NAME_BUCKETS - 1);
    while (name_tab[b] >= 0) {
        if (!strcmp(vgpu_syms[name_tab[b]].name, name)) return name_tab[b];
        b = (b + 1) & (NAME_BUCKETS - 1);
    }
    return -1;
}

int vgpu_sym_by_real(void *fn) {
    if (!fn) return -1;
    for (int i = 0; i < VGPU_N_HOOKED; i++)
        if (vgpu_real[i] == fn) return i;
    return -1;
}
