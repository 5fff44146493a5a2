/*
 * Allocation bookkeeping: key (device pointer, VMM handle, array, context) -> (size, device, kind).
 * Open addressing with linear probing and backward-shift deletion, split into 64 shards, each
 * behind a tiny spinlock: O(1) per alloc/free however many allocations are live. Each shard also
 * keeps its 8 newest entries in a small "nursery" next to its lock: short-lived allocations (freed
 * soon after) never touch the big table, so their cost does not grow with the number of live ones.
 */
#include "vgpu.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64
#define MIN_CAP 64
#define NURSERY 8

typedef struct {
    uint64_t key;
    uint64_t val; /* size << 12 | kind << 8 | dev */
} ent_t;

typedef struct {
    _Atomic int lock;
    uint32_t cap, count;
    ent_t *ents;
    uint32_t nn;
    ent_t nursery[NURSERY];
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

/* under the shard lock */
static int table_put(shard_t *s, uint64_t key, uint64_t val) {
    if ((s->count + 1) * 2 > s->cap && grow(s) != 0) return -1; /* load <= 1/2 keeps probes short */
    uint32_t j = home(key, khash(key), s->cap - 1);
    while (s->ents[j].key && s->ents[j].key != key) j = (j + 1) & (s->cap - 1);
    if (!s->ents[j].key) s->count++;
    s->ents[j].key = key;
    s->ents[j].val = val;
    return 0;
}

/* under the shard lock; 0 found */
static int table_take(shard_t *s, uint64_t key, uint64_t *val) {
    if (!s->cap) return -1;
    uint32_t mask = s->cap - 1, j = home(key, khash(key), mask);
    while (s->ents[j].key && s->ents[j].key != key) j = (j + 1) & mask;
    if (!s->ents[j].key) return -1;
    *val = s->ents[j].val;
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
    return 0;
}

int vgpu_track_put(int table, uint64_t key, uint64_t size, int dev, int kind) {
    if (!key) return -1;
    shard_t *s = &shards[table][khash(key) >> 58];
    uint64_t val = size << 12 | (uint64_t)(kind & 0xf) << 8 | (uint64_t)(dev & 0xff);
    int rc = 0;
    lock(s);
    for (uint32_t i = 0; i < s->nn; i++)
        if (s->nursery[i].key == key) {
            s->nursery[i].val = val;
            unlock(s);
            return 0;
        }
    if (s->nn == NURSERY) { /* the oldest graduates to the table */
        if (table_put(s, s->nursery[0].key, s->nursery[0].val) != 0) rc = -1;
        memmove(&s->nursery[0], &s->nursery[1], sizeof(ent_t) * (NURSERY - 1));
        s->nn--;
    }
    s->nursery[s->nn].key = key;
    s->nursery[s->nn].val = val;
    s->nn++;
    unlock(s);
    return rc;
}

int vgpu_track_take(int table, uint64_t key, uint64_t *size, int *dev, int *kind) {
    if (!key) return -1;
    shard_t *s = &shards[table][khash(key) >> 58];
    uint64_t val = 0;
    int found = -1;
    lock(s);
    for (uint32_t i = 0; i < s->nn; i++)
        if (s->nursery[i].key == key) {
            val = s->nursery[i].val;
            memmove(&s->nursery[i], &s->nursery[i + 1], sizeof(ent_t) * (s->nn - i - 1));
            s->nn--;
            found = 0;
            break;
        }
    if (found != 0) found = table_take(s, key, &val);
    unlock(s);
    if (found != 0) return -1;
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
            s->nn = 0;
        }
}
