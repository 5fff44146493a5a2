/*
 * Memory accounting against the per-device cap, summed over every process of the container.
 *
 * Check-and-commit is lock-free and never over-admits: a process first adds the request to its
 * own slot's counter (seq_cst), then sums all slots. If the sum exceeds the cap it withdraws and
 * fails. Of any set of concurrent requests that would together exceed the cap, the last one to
 * add sees all the others, so it fails (two racers may both fail; we retry while there is room).
 */
#include "vgpu.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline _Atomic uint64_t *A64(uint64_t *p) { return (_Atomic uint64_t *)p; }

static uint64_t sum_total(vgpu_region_t *r, int dev) {
    int n = atomic_load((_Atomic int32_t *)&r->proc_num);
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        vgpu_slot_t *s = &r->procs[i];
        if (atomic_load_explicit((_Atomic int32_t *)&s->pid, memory_order_relaxed) == 0) continue;
        sum += atomic_load(A64(&s->used[dev].total));
    }
    return sum;
}

static uint64_t *kind_field(vgpu_slot_t *s, int dev, int kind) {
    switch (kind) {
    case VGPU_KIND_CTX: return &s->used[dev].context_size;
    case VGPU_KIND_MODULE: return &s->used[dev].module_size;
    default: return &s->used[dev].data_size;
    }
}

uint64_t vgpu_mem_limit(int dev) {
    if (dev < 0 || dev >= VGPU_MAX_DEVICES) return 0;
    return atomic_load_explicit(A64(&vgpu_region()->limit[dev]), memory_order_relaxed);
}

uint64_t vgpu_mem_used(int dev) {
    if (dev < 0 || dev >= VGPU_MAX_DEVICES) return 0;
    vgpu_region_t *r = vgpu_region();
    vgpu_slot_t *me = vgpu_my_slot();
    /* queries are not hot: drop processes that exited since (a sibling's stale usage must not show) */
    int n = atomic_load((_Atomic int32_t *)&r->proc_num);
    for (int i = 0; i < n; i++)
        if (r->procs[i].pid && r->procs[i].status == 0 && &r->procs[i] != me) {
            vgpu_region_reclaim();
            break;
        }
    uint64_t sum = sum_total(r, dev);
    if (me < r->procs || me >= r->procs + VGPU_MAX_PROCS) sum += atomic_load(A64(&me->used[dev].total));
    return sum;
}

int vgpu_mem_reserve(int dev, uint64_t bytes, int kind) {
    if (dev < 0 || dev >= VGPU_MAX_DEVICES || bytes == 0) return 0;
    int must = kind == VGPU_KIND_CTX; /* contexts are counted, never refused */
    vgpu_region_t *r = vgpu_region();
    vgpu_slot_t *me = vgpu_my_slot();
    int in_region = me >= r->procs && me < r->procs + VGPU_MAX_PROCS;
    int reclaimed = 0;
    for (int attempt = 0;; attempt++) {
        atomic_fetch_add(A64(&me->used[dev].total), bytes);
        uint64_t limit = atomic_load_explicit(A64(&r->limit[dev]), memory_order_relaxed);
        if (limit == 0 || must) break;
        uint64_t sum = sum_total(r, dev);
        if (!in_region) sum += atomic_load(A64(&me->used[dev].total));
        if (sum <= limit) break;
        atomic_fetch_sub(A64(&me->used[dev].total), bytes);
        if (!reclaimed) { /* dead processes may still hold usage */
            reclaimed = 1;
            vgpu_region_reclaim();
            continue;
        }
        uint64_t now = sum_total(r, dev) + (in_region ? 0 : atomic_load(A64(&me->used[dev].total)));
        if (attempt < 16 && now + bytes <= limit) { /* lost a race with a request that withdrew */
            sched_yield();
            continue;
        }
        LOG_WARN("device %d: out of memory: %llu + %llu > limit %llu", dev, (unsigned long long)now,
                 (unsigned long long)bytes, (unsigned long long)limit);
        return -1;
    }
    atomic_fetch_add_explicit(A64(kind_field(me, dev, kind)), bytes, memory_order_relaxed);
    return 0;
}

void vgpu_mem_add(int dev, uint64_t bytes, int kind) {
    if (dev < 0 || dev >= VGPU_MAX_DEVICES || bytes == 0) return;
    vgpu_slot_t *me = vgpu_my_slot();
    atomic_fetch_add(A64(&me->used[dev].total), bytes);
    atomic_fetch_add_explicit(A64(kind_field(me, dev, kind)), bytes, memory_order_relaxed);
}

void vgpu_mem_release(int dev, uint64_t bytes, int kind) {
    if (dev < 0 || dev >= VGPU_MAX_DEVICES || bytes == 0) return;
    vgpu_slot_t *me = vgpu_my_slot();
    atomic_fetch_sub_explicit(A64(kind_field(me, dev, kind)), bytes, memory_order_relaxed);
    atomic_fetch_sub(A64(&me->used[dev].total), bytes);
}

int vgpu_current_device(void) {
    vgpu_cuda_ready();
    CUdevice d;
    if (vgpu_real[VGPU_H_cuCtxGetDevice] && REAL(cuCtxGetDevice)(&d) == CUDA_SUCCESS) return d;
    return -1;
}

int vgpu_cuda_uuid(int cudadev, char out[VGPU_UUID_LEN]) {
    CUuuid u;
    if (!vgpu_real[VGPU_H_cuDeviceGetUuid_v2] || REAL(cuDeviceGetUuid_v2)(&u, cudadev) != CUDA_SUCCESS) return -1;
    const unsigned char *b = (const unsigned char *)u.bytes;
    snprintf(out, VGPU_UUID_LEN, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* NVML device -> CUDA ordinal. By UUID when this process already uses CUDA (immune to device
 * ordering and CUDA_VISIBLE_DEVICES); otherwise from CUDA_VISIBLE_DEVICES (indices or UUID
 * prefixes), identity when unset. */
int vgpu_nvml_to_cuda(nvmlDevice_t dev) {
    vgpu_nvml_ready();
    vgpu_config_init();
    char uuid[VGPU_UUID_LEN] = {0};
    if (vgpu_real[VGPU_H_nvmlDeviceGetUUID]) REAL(nvmlDeviceGetUUID)(dev, uuid, sizeof uuid - 1);
    int count = 0;
    if (uuid[0] && atomic_load_explicit(&vgpu_cuda_state, memory_order_acquire) == 2 &&
        vgpu_real[VGPU_H_cuDeviceGetCount] && REAL(cuDeviceGetCount)(&count) == CUDA_SUCCESS) {
        for (int d = 0; d < count && d < VGPU_MAX_DEVICES; d++) {
            char cu[VGPU_UUID_LEN];
            if (vgpu_cuda_uuid(d, cu) == 0 && !strcmp(cu, uuid)) return d;
        }
        return -1;
    }
    unsigned int idx = 0;
    if (!vgpu_real[VGPU_H_nvmlDeviceGetIndex] || REAL(nvmlDeviceGetIndex)(dev, &idx) != NVML_SUCCESS) return -1;
    if (vgpu_cfg.visible_n < 0) return (int)idx;
    for (int i = 0; i < vgpu_cfg.visible_n; i++) {
        const char *e = vgpu_cfg.visible[i];
        if (e[0] >= '0' && e[0] <= '9') {
            if ((unsigned)atoi(e) == idx) return i;
        } else if (*e && uuid[0] && !strncmp(uuid, e, strlen(e))) {
            return i;
        }
    }
    return -1;
}

int vgpu_cuda_to_nvml(int cudadev, nvmlDevice_t *out) {
    vgpu_nvml_ready();
    vgpu_cuda_ready();
    static _Atomic int inited;
    if (!atomic_load(&inited)) {
        if (!vgpu_real[VGPU_H_nvmlInit_v2] || REAL(nvmlInit_v2)() != NVML_SUCCESS) return -1;
        atomic_store(&inited, 1);
    }
    char buf[VGPU_UUID_LEN];
    if (vgpu_real[VGPU_H_nvmlDeviceGetHandleByUUID] && vgpu_cuda_uuid(cudadev, buf) == 0 &&
        REAL(nvmlDeviceGetHandleByUUID)(buf, out) == NVML_SUCCESS)
        return 0;
    if (!vgpu_real[VGPU_H_nvmlDeviceGetHandleByIndex_v2]) return -1;
    unsigned int idx = (unsigned)cudadev;
    if (vgpu_cfg.visible_n > cudadev && vgpu_cfg.visible[cudadev][0] >= '0' && vgpu_cfg.visible[cudadev][0] <= '9')
        idx = (unsigned)atoi(vgpu_cfg.visible[cudadev]);
    return REAL(nvmlDeviceGetHandleByIndex_v2)(idx, out) == NVML_SUCCESS ? 0 : -1;
}
