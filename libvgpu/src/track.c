/*
 * Allocation bookkeeping: key (device pointer, VMM handle, array, context) -> (size, device, kind).
 * Open addressing with linear probing and backward-shift deletion, split into 64 shards, each
 * behind a tiny spinlock: O(1) per alloc/free however many allocations are live.
 */
#include "vgpu.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64
#define MIN_CAP 64

typedef struct {
    uint64_t key;
    uint64_t val; /* size << 12 | kind << 8 | dev */
} ent_t;

typedef struct {
    _Atomic int lock;
    uint32_t cap, count;
    ent_t *ents;
} __attribute__((aligned(64))) shard_t;

static shard_t shards[VGPU_T_COUNT][SHARDS];

static inline uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* The four 256-byte-aligned keys of one 1 KiB block share a hash and a 64-byte line of the table:
 * allocators hand out neighbouring addresses, so a new entry usually lands in a line that is
 * already cached (keeps the cost flat with 100k live allocations). */
static inline uint64_t khash(uint64_t k) { return mix(k >> 10); }
static inline uint32_t home(uint64_t k, uint64_t h, uint32_t mask) {
    return (((uint32_t)h & ~3u) | (uint32_t)(k >> 8 & 3)) & mask;
}

static inline void lock(shard_t *s) {
    while (atomic_exchange_explicit(&s->lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&s->lock, memory_order_relaxed)) sched_yield();
}
static inline void unlock(shard_t *s) { atomic_store_explicit(&s->lock, 0, memory_order_release); }

static int grow(shard_t *s) {
    uint32_t ncap = s->cap ? s->cap * 2 : MIN_CAP;
    ent_t *n = NULL;
    if (posix_memalign((void **)&n, 64, (size_t)ncap * sizeof *n) != 0) return -1;
    memset(n, 0, (size_t)ncap * sizeof *n);
    for (uint32_t i = 0; i < s->cap; i++) {
        if (!s->ents[i].key) continue;
        uint64_t k = s->ents[i].key;
        uint32_t j = home(k, khash(k), ncap - 1);
        while (n[j].key) j = (j + 1) & (ncap - 1);
        n[j] = s->ents[i];
    }
    free(s->ents);
    s->ents = n;
    s->cap = ncap;
    return 0;
}

int vgpu_track_put(int table, uint64_t key, uint64_t size, int dev, int kind) {
    if (!key) return -1;
    uint64_t h = khash(key);
    shard_t *s = &shards[table][h >> 58];
    uint64_t val = size << 12 | (uint64_t)(kind & 0xf) << 8 | (uint64_t)(dev & 0xff);
    lock(s);
    if ((s->count + 1) * 2 > s->cap && grow(s) != 0) { /* load <= 1/2 keeps probes short */
        unlock(s);
        return -1;
    }
    uint32_t j = home(key, h, s->cap - 1);
    while (s->ents[j].key && s->ents[j].key != key) j = (j + 1) & (s->cap - 1);
    if (!s->ents[j].key) s->count++;
    s->ents[j].key = key;
    s->ents[j].val = val;
    unlock(s);
    return 0;
}

int vgpu_track_take(int table, uint64_t key, uint64_t *size, int *dev, int *kind) {
    if (!key) return -1;
    uint64_t h = khash(key);
    shard_t *s = &shards[table][h >> 58];
    lock(s);
    if (!s->cap) {
        unlock(s);
        return -1;
    }
    uint32_t mask = s->cap - 1, j = home(key, h, mask);
    while (s->ents[j].key && s->ents[j].key != key) j = (j + 1) & mask;
    if (!s->ents[j].key) {
        unlock(s);
        return -1;
    }
    uint64_t val = s->ents[j].val;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    uint32_t hole = j, k = j;
    for (;;) {
        k = (k + 1) & mask;
        if (!s->ents[k].key) break;
        uint64_t kk = s->ents[k].key;
        uint32_t hm = home(kk, khash(kk), mask);
        if (((k - hm) & mask) >= ((k - hole) & mask)) {
            s->ents[hole] = s->ents[k];
            hole = k;
        }
    }
    s->ents[hole].key = 0;
    s->ents[hole].val = 0;
    s->count--;
    unlock(s);
    if (size) *size = val >> 12;
    if (kind) *kind = (int)(val >> 8 & 0xf);
    if (dev) *dev = (int)(val & 0xff);
    return 0;
}

void vgpu_track_reset_after_fork(void) {
    /* the child owns none of the parent's device allocations */
    for (int t = 0; t < VGPU_T_COUNT; t++)
        for (int i = 0; i < SHARDS; i++) {
            shard_t *s = &shards[t][i];
            atomic_store(&s->lock, 0);
            if (s->ents) memset(s->ents, 0, sizeof(ent_t) * s->cap);
            s->count = 0;
        }
}
