/* Device model shared by the fake CUDA driver and fake NVML: configuration from FAKE_* variables and the
 * mmapped cross-process state (memory in use, work queue tail, busy time per process). */

#include "fakegpu.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FG_MAGIC 0x46414b4547505533ULL /* "FAKEGPU3" */

static struct fg_config g_cfg;
static struct fg_state *g_state;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Atomic int g_self_pid;
static struct fg_proc *_Atomic g_self;
static __thread const char *t_last_call = "";

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

/* Fill out[0..n) from a comma list; the last given value repeats. */
static void parse_list_ll(const char *s, long long *out, int n, long long dflt)
{
    long long last = dflt;
    const char *p = s;
    for (int i = 0; i < n; i++) {
        if (p && *p) {
            char *end = NULL;
            long long v = strtoll(p, &end, 10);
            if (end != p)
                last = v;
            p = strchr(p, ',');
            if (p)
                p++;
        }
        out[i] = last;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void uuid_bytes(const char *uuid, unsigned char *out)
{
    memset(out, 0, 16);
    const char *p = strncmp(uuid, "GPU-", 4) == 0 ? uuid + 4 : uuid;
    int k = 0;
    while (*p && k < 32) {
        int h = hexval(*p++);
        if (h < 0)
            continue;
        if (k % 2 == 0)
            out[k / 2] = (unsigned char)(h << 4);
        else
            out[k / 2] |= (unsigned char)h;
        k++;
    }
}

/* CUDA_VISIBLE_DEVICES like the real driver: indices or UUIDs; enumeration stops at the first entry
 * that names no device (or repeats one). Unset: every device in order. */
static void parse_visible(struct fg_config *c)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    c->cuda_count = 0;
    if (!v) {
        for (int i = 0; i < c->ndev; i++)
            c->cuda_map[c->cuda_count++] = i;
        return;
    }
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", v);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && c->cuda_count < c->ndev; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        int idx = -1;
        char *end = NULL;
        long n = strtol(tok, &end, 10);
        if (end != tok && *end == '\0') {
            idx = (n >= 0 && n < c->ndev) ? (int)n : -1;
        } else {
            for (int i = 0; i < c->ndev; i++)
                if (strcmp(tok, c->dev[i].uuid) == 0)
                    idx = i;
        }
        for (int k = 0; k < c->cuda_count; k++)
            if (c->cuda_map[k] == idx)
                idx = -1;
        if (idx < 0)
            break;
        c->cuda_map[c->cuda_count++] = idx;
    }
}

static void load_config(void)
{
    struct fg_config *c = &g_cfg;
    memset(c, 0, sizeof(*c));
    c->ndev = atoi(env_or("FAKE_CUDA_DEVICES", "1"));
    if (c->ndev < 0)
        c->ndev = 0;
    if (c->ndev > FG_MAX_DEV)
        c->ndev = FG_MAX_DEV;
    long long v[FG_MAX_DEV];
    parse_list_ll(env_or("FAKE_CUDA_MEM_MB", "16384"), v, FG_MAX_DEV, 16384);
    for (int i = 0; i < FG_MAX_DEV; i++)
        c->dev[i].mem_bytes = (uint64_t)(v[i] > 0 ? v[i] : 0) << 20;
    parse_list_ll(env_or("FAKE_CUDA_SM_COUNT", "108"), v, FG_MAX_DEV, 108);
    for (int i = 0; i < FG_MAX_DEV; i++)
        c->dev[i].sm_count = (int)v[i];
    parse_list_ll(env_or("FAKE_CUDA_MAX_THREADS_PER_SM", "2048"), v, FG_MAX_DEV, 2048);
    for (int i = 0; i < FG_MAX_DEV; i++)
        c->dev[i].max_threads_per_sm = (int)v[i];
    parse_list_ll(env_or("FAKE_NVML_NUMA", "0"), v, FG_MAX_DEV, 0);
    for (int i = 0; i < FG_MAX_DEV; i++)
        c->dev[i].numa = (int)v[i];
    parse_list_ll(env_or("FAKE_NVML_MIG", "0"), v, FG_MAX_DEV, 0);
    for (int i = 0; i < FG_MAX_DEV; i++)
        c->dev[i].mig = (int)v[i];
    const char *uuids = getenv("FAKE_CUDA_UUIDS");
    for (int i = 0; i < FG_MAX_DEV; i++) {
        struct fg_device *d = &c->dev[i];
        snprintf(d->uuid, sizeof(d->uuid), "GPU-fa4e0000-0000-4000-8000-%012d", i);
        if (uuids && *uuids) {
            const char *end = strchr(uuids, ',');
            size_t len = end ? (size_t)(end - uuids) : strlen(uuids);
            if (len > 0 && len < sizeof(d->uuid)) {
                memcpy(d->uuid, uuids, len);
                d->uuid[len] = '\0';
            }
            uuids = end ? end + 1 : NULL;
        }
        uuid_bytes(d->uuid, d->uuid_bytes);
    }
    parse_visible(c);
    snprintf(c->name, sizeof(c->name), "%s", env_or("FAKE_CUDA_NAME", "NVIDIA Fake GPU"));
    c->kernel_us = strtoull(env_or("FAKE_CUDA_KERNEL_US", "100"), NULL, 10);
    c->queue_us = strtoull(env_or("FAKE_CUDA_QUEUE_US", "2000"), NULL, 10);
    c->ctx_bytes = strtoull(env_or("FAKE_CUDA_CTX_MB", "0"), NULL, 10) << 20;
    c->driver_version = atoi(env_or("FAKE_CUDA_DRIVER_VERSION", "13000"));
    snprintf(c->nvml_driver_version, sizeof(c->nvml_driver_version), "%s",
             env_or("FAKE_NVML_DRIVER_VERSION", "580.65.06"));
    snprintf(c->xid_file, sizeof(c->xid_file), "%s", env_or("FAKE_NVML_XID_FILE", ""));
    snprintf(c->fail, sizeof(c->fail), "%s", env_or("FAKE_FAIL", ""));
}

static void init_mutex(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static struct fg_state *map_state(void)
{
    size_t size = sizeof(struct fg_state);
    const char *path = getenv("FAKE_CUDA_STATE");
    if (path && *path) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0) {
            flock(fd, LOCK_EX);
            struct stat st;
            if (fstat(fd, &st) == 0 && (size_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0) {
                flock(fd, LOCK_UN);
                close(fd);
                fd = -1;
            }
            if (fd >= 0) {
                void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (p != MAP_FAILED) {
                    struct fg_state *s = p;
                    if (s->magic != FG_MAGIC) {
                        memset(s, 0, size);
                        init_mutex(&s->lock);
                        s->magic = FG_MAGIC;
                    }
                    flock(fd, LOCK_UN);
                    close(fd);
                    return s;
                }
                flock(fd, LOCK_UN);
                close(fd);
            }
        }
        fprintf(stderr, "[fakegpu] cannot map FAKE_CUDA_STATE=%s: %s; using private state\n", path,
                strerror(errno));
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct fg_state *s = p;
    init_mutex(&s->lock);
    s->magic = FG_MAGIC;
    return s;
}

static void forget_self(void)
{
    atomic_store(&g_self, NULL);
    atomic_store(&g_self_pid, 0);
}

static void init_once(void)
{
    load_config();
    g_state = map_state();
    pthread_atfork(NULL, NULL, forget_self); /* a child registers its own slot on first use */
}

const struct fg_config *fg_config(void)
{
    pthread_once(&g_once, init_once);
    return &g_cfg;
}

struct fg_state *fg_state(void)
{
    pthread_once(&g_once, init_once);
    return g_state;
}

uint64_t fg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

void fg_lock(void)
{
    struct fg_state *s = fg_state();
    int rc = pthread_mutex_lock(&s->lock);
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&s->lock);
}

void fg_unlock(void)
{
    pthread_mutex_unlock(&fg_state()->lock);
}

int fg_pid_alive(int pid)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) == 0 || errno == EPERM) {
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "re");
        if (!f)
            return 1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        if (rp && (rp[2] == 'Z' || rp[2] == 'X'))
            return 0;
        return 1;
    }
    return 0;
}

/* dev_used -= bytes, saturating at 0. */
static void used_sub(struct fg_state *s, int dev, uint64_t bytes)
{
    uint64_t cur = atomic_load(&s->dev_used[dev]);
    while (!atomic_compare_exchange_weak(&s->dev_used[dev], &cur, cur > bytes ? cur - bytes : 0))
        ;
}

/* Give a dead process's memory back to the device (the driver frees it at process exit). */
static void reclaim_slot_locked(struct fg_state *s, struct fg_proc *p)
{
    for (int d = 0; d < FG_MAX_DEV; d++) {
        uint64_t m = atomic_exchange(&p->mem[d], 0);
        if (m)
            used_sub(s, d, m);
    }
    memset((char *)p + sizeof(p->pid), 0, sizeof(*p) - sizeof(p->pid));
    atomic_store(&p->pid, 0);
}

/* The driver frees a process's memory when it dies: give back every dead slot. Returns slots freed. */
static int reclaim_dead_locked(struct fg_state *s)
{
    int n = 0;
    for (int i = 0; i < FG_MAX_PROC; i++) {
        int pid = atomic_load(&s->procs[i].pid);
        if (pid != 0 && !fg_pid_alive(pid)) {
            reclaim_slot_locked(s, &s->procs[i]);
            n++;
        }
    }
    return n;
}

static int reclaim_dead(void)
{
    struct fg_state *s = fg_state();
    if (!s)
        return 0;
    fg_lock();
    int n = reclaim_dead_locked(s);
    fg_unlock();
    return n;
}

struct fg_proc *fg_self(void)
{
    struct fg_proc *cached = atomic_load(&g_self);
    if (cached)
        return cached;
    int me = getpid();
    struct fg_state *s = fg_state();
    if (!s)
        return NULL;
    struct fg_proc *found = NULL;
    fg_lock();
    reclaim_dead_locked(s);
    for (int i = 0; i < FG_MAX_PROC && !found; i++)
        if (atomic_load(&s->procs[i].pid) == me)
            found = &s->procs[i];
    for (int i = 0; i < FG_MAX_PROC && !found; i++) {
        int pid = atomic_load(&s->procs[i].pid);
        if (pid == 0 || !fg_pid_alive(pid)) {
            if (pid != 0)
                reclaim_slot_locked(s, &s->procs[i]);
            found = &s->procs[i];
            atomic_store(&found->pid, me);
        }
    }
    fg_unlock();
    if (found) {
        atomic_store(&g_self, found);
        atomic_store(&g_self_pid, me);
    }
    return found;
}

int fg_mem_reserve(int dev, uint64_t bytes)
{
    const struct fg_config *c = fg_config();
    struct fg_state *s = fg_state();
    if (dev < 0 || dev >= c->ndev || !s)
        return -1;
    for (int attempt = 0;; attempt++) {
        uint64_t cur = atomic_load(&s->dev_used[dev]);
        int fits = 1;
        do {
            if (bytes > c->dev[dev].mem_bytes || cur > c->dev[dev].mem_bytes - bytes) {
                fits = 0;
                break;
            }
        } while (!atomic_compare_exchange_weak(&s->dev_used[dev], &cur, cur + bytes));
        if (fits)
            break;
        if (attempt > 0 || reclaim_dead() == 0)
            return -1;
    }
    struct fg_proc *p = fg_self();
    if (p)
        atomic_fetch_add(&p->mem[dev], bytes);
    return 0;
}

void fg_mem_release(int dev, uint64_t bytes)
{
    struct fg_state *s = fg_state();
    if (dev < 0 || dev >= FG_MAX_DEV || !s)
        return;
    /* Own slot first: a SIGKILL between the two steps then leaks (bounded) instead of counting twice
     * when the dead slot is reclaimed. */
    struct fg_proc *p = fg_self();
    if (p)
        atomic_fetch_sub(&p->mem[dev], bytes);
    used_sub(s, dev, bytes);
}

static void bucket_add(struct fg_bucket *b, uint64_t start, uint64_t end)
{
    while (start < end) {
        uint64_t e = start / FG_BUCKET_US;
        uint64_t bend = (e + 1) * FG_BUCKET_US;
        uint64_t stop = end < bend ? end : bend;
        struct fg_bucket *k = &b[e % FG_BUCKETS];
        if (k->epoch != e) {
            k->epoch = e;
            k->busy_us = 0;
        }
        k->busy_us += stop - start;
        start = stop;
    }
}

static uint64_t bucket_sum(const struct fg_bucket *b, uint64_t from, uint64_t to)
{
    uint64_t total = 0;
    while (from < to) {
        uint64_t e = from / FG_BUCKET_US;
        uint64_t bstart = e * FG_BUCKET_US, bend = bstart + FG_BUCKET_US;
        uint64_t stop = to < bend ? to : bend;
        const struct fg_bucket *k = &b[e % FG_BUCKETS];
        if (k->epoch == e) {
            uint64_t busy = k->busy_us > FG_BUCKET_US ? FG_BUCKET_US : k->busy_us;
            total += busy * (stop - from) / FG_BUCKET_US;
        }
        from = stop;
    }
    return total;
}

uint64_t fg_run_kernel(int dev, uint64_t us)
{
    struct fg_state *s = fg_state();
    const struct fg_config *c = fg_config();
    struct fg_proc *p = fg_self();
    if (!s || dev < 0 || dev >= FG_MAX_DEV)
        return fg_now_us();
    fg_lock();
    uint64_t now = fg_now_us();
    uint64_t start = s->dev_tail_us[dev] > now ? s->dev_tail_us[dev] : now;
    uint64_t end = start + us;
    s->dev_tail_us[dev] = end;
    bucket_add(s->dev_busy[dev], start, end);
    if (p) {
        bucket_add(p->busy[dev], start, end);
        atomic_fetch_add(&p->busy_total_us[dev], us);
    }
    fg_unlock();
    if (end > now + c->queue_us) {
        uint64_t wait = end - now - c->queue_us;
        struct timespec ts = {(time_t)(wait / 1000000ULL), (long)(wait % 1000000ULL) * 1000L};
        nanosleep(&ts, NULL);
    }
    return end;
}

uint64_t fg_tail_us(int dev)
{
    struct fg_state *s = fg_state();
    if (!s || dev < 0 || dev >= FG_MAX_DEV)
        return 0;
    fg_lock();
    uint64_t t = s->dev_tail_us[dev];
    fg_unlock();
    return t;
}

void fg_sync_device(int dev)
{
    uint64_t tail = fg_tail_us(dev), now = fg_now_us();
    if (tail > now) {
        uint64_t wait = tail - now;
        struct timespec ts = {(time_t)(wait / 1000000ULL), (long)(wait % 1000000ULL) * 1000L};
        nanosleep(&ts, NULL);
    }
}

uint64_t fg_busy_between(int pid, int dev, uint64_t from_us, uint64_t to_us)
{
    struct fg_state *s = fg_state();
    if (!s || dev < 0 || dev >= FG_MAX_DEV || to_us <= from_us)
        return 0;
    uint64_t total = 0;
    fg_lock();
    if (pid == 0) {
        total = bucket_sum(s->dev_busy[dev], from_us, to_us);
    } else {
        for (int i = 0; i < FG_MAX_PROC; i++)
            if (atomic_load(&s->procs[i].pid) == pid)
                total = bucket_sum(s->procs[i].busy[dev], from_us, to_us);
    }
    fg_unlock();
    return total;
}

int fg_should_fail(const char *name)
{
    const char *list = fg_config()->fail;
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int fg_uuid_to_index(const char *s)
{
    const struct fg_config *c = fg_config();
    while (*s == ' ' || *s == '\t')
        s++;
    for (int i = 0; i < c->ndev; i++) {
        size_t n = strlen(c->dev[i].uuid);
        if (strncmp(s, c->dev[i].uuid, n) == 0 && (s[n] == '\0' || s[n] == ' ' || s[n] == '\t'))
            return i;
    }
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end != s && v >= 0 && v < c->ndev)
        return (int)v;
    return -1;
}

const char *fakegpu_last_call(void)
{
    return t_last_call;
}

#define CALL_LOG 64
static __thread const char *t_log[CALL_LOG];
static __thread uint64_t t_seq;

void fakegpu_set_last_call(const char *name)
{
    t_last_call = name;
    t_log[t_seq++ % CALL_LOG] = name;
}

uint64_t fakegpu_call_seq(void)
{
    return t_seq;
}

const char *fakegpu_call_at(uint64_t i)
{
    if (i >= t_seq || t_seq - i > CALL_LOG)
        return NULL;
    return t_log[i % CALL_LOG];
}

uint64_t fakegpu_busy_us(int pid, int dev)
{
    struct fg_state *s = fg_state();
    if (!s || dev < 0 || dev >= FG_MAX_DEV)
        return 0;
    for (int i = 0; i < FG_MAX_PROC; i++)
        if (atomic_load(&s->procs[i].pid) == pid)
            return atomic_load(&s->procs[i].busy_total_us[dev]);
    return 0;
}

uint64_t fakegpu_used_bytes(int dev)
{
    struct fg_state *s = fg_state();
    if (!s || dev < 0 || dev >= FG_MAX_DEV)
        return 0;
    return atomic_load(&s->dev_used[dev]);
}

uint64_t fakegpu_proc_used_bytes(int pid, int dev)
{
    struct fg_state *s = fg_state();
    if (!s || dev < 0 || dev >= FG_MAX_DEV)
        return 0;
    for (int i = 0; i < FG_MAX_PROC; i++)
        if (atomic_load(&s->procs[i].pid) == pid)
            return atomic_load(&s->procs[i].mem[dev]);
    return 0;
}
