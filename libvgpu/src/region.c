/*
 * The shared region file (HAMi v1 layout) and this process's slot in it.
 *
 * Locking: slot registration/reclaim and initialization are serialized by a POSIX record lock on
 * one byte just past the region (released by the kernel when a holder dies, so a SIGKILLed holder
 * never wedges anyone) plus an in-process mutex (record locks are per process). Memory counters
 * are never locked: see mem.c.
 *
 * Fallback: if the file cannot be opened/created/mapped, has a foreign size, or has a bad magic,
 * we log an error and use a private anonymous region initialized from our environment. Limits
 * are then still enforced, but only per process (not summed over the container).
 */
#include "vgpu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static vgpu_region_t *region;
static int region_fd = -1;
static int region_shared;
static pthread_mutex_t region_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static vgpu_slot_t *my_slot;
static vgpu_slot_t private_slot; /* used when the slot table is full */
static _Atomic int atfork_done;

#define LOCK_OFFSET ((off_t)VGPU_REGION_SIZE + 1)

static int file_lock(int type) {
    if (region_fd < 0) return 0;
    struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET, .l_start = LOCK_OFFSET, .l_len = 1};
    for (;;) {
        if (fcntl(region_fd, F_SETLKW, &fl) == 0) return 0;
        if (errno != EINTR) {
            LOG_WARN("region lock failed: %s", strerror(errno));
            return -1;
        }
    }
}

static void region_lock(void) {
    pthread_mutex_lock(&region_mu);
    file_lock(F_WRLCK);
}
static void region_unlock(void) {
    file_lock(F_UNLCK);
    pthread_mutex_unlock(&region_mu);
}

static uint64_t proc_start_time(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    /* after ") " come fields 3..; starttime is field 22 */
    int field = 2;
    for (; *p && field < 22; p++)
        if (*p == ' ') field++;
    return strtoull(p, NULL, 10);
}

/* alive: 1, dead: 0 (no such pid, zombie, or pid reused by another process) */
static int proc_alive(const vgpu_slot_t *s) {
    pid_t pid = s->pid;
    if (pid <= 0) return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1; /* no /proc: trust kill() */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) return 0;
    if (s->unused[0] && s->unused[0] != proc_start_time(pid)) return 0;
    return 1;
}

static void fill_from_config(vgpu_region_t *r) {
    for (int i = 0; i < VGPU_MAX_DEVICES; i++) {
        r->limit[i] = vgpu_cfg.mem_limit[i];
        r->sm_limit[i] = (uint64_t)vgpu_cfg.sm_limit[i];
    }
    r->priority = vgpu_cfg.priority;
}

static void init_fresh(vgpu_region_t *r) {
    memset((char *)r + 4, 0, sizeof *r - 4);
    r->major_version = VGPU_REGION_MAJOR;
    r->minor_version = VGPU_REGION_MINOR;
    fill_from_config(r);
    r->utilization_switch = 1;
    r->recent_kernel = 2;
    r->proc_num = 0;
    atomic_store_explicit((_Atomic int32_t *)&r->initialized_flag, VGPU_REGION_MAGIC, memory_order_release);
}

static vgpu_region_t *private_region(const char *why) {
    LOG_ERROR("shared region %s unusable (%s); falling back to a private region: limits apply per process, "
              "not per container", vgpu_cfg.cache_path, why);
    vgpu_region_t *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
        static vgpu_region_t emergency; /* last resort; bss */
        r = &emergency;
    }
    init_fresh(r);
    if (region_fd >= 0) close(region_fd);
    region_fd = -1;
    return r;
}

static vgpu_region_t *open_region(void) {
    const char *path = vgpu_cfg.cache_path;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        char why[128];
        snprintf(why, sizeof why, "open: %s", strerror(errno));
        return private_region(why);
    }
    region_fd = fd;
    if (file_lock(F_WRLCK) != 0) return private_region("lock");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        file_lock(F_UNLCK);
        return private_region("fstat");
    }
    if (st.st_size == 0) {
        (void)fchmod(fd, 0666); /* processes of other users in the container share it */
        if (ftruncate(fd, (off_t)VGPU_REGION_SIZE + 1) != 0) {
            file_lock(F_UNLCK);
            return private_region("ftruncate");
        }
    } else if (st.st_size != (off_t)VGPU_REGION_SIZE + 1 && st.st_size != (off_t)VGPU_REGION_SIZE) {
        file_lock(F_UNLCK);
        return private_region("foreign file size");
    }
    void *m = mmap(NULL, VGPU_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        file_lock(F_UNLCK);
        return private_region("mmap");
    }
    vgpu_region_t *r = m;
    int32_t flag = atomic_load_explicit((_Atomic int32_t *)&r->initialized_flag, memory_order_acquire);
    if (flag == 0) {
        init_fresh(r);
        LOG_INFO("created shared region %s", path);
    } else if (flag != VGPU_REGION_MAGIC || r->major_version != VGPU_REGION_MAJOR ||
               r->proc_num < 0 || r->proc_num > VGPU_MAX_PROCS) {
        file_lock(F_UNLCK);
        munmap(m, VGPU_REGION_SIZE);
        return private_region("bad magic or version (corrupt or foreign)");
    }
    file_lock(F_UNLCK);
    region_shared = 1;
    return r;
}

vgpu_region_t *vgpu_region(void) {
    vgpu_region_t *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    if (likely(r)) return r;
    pthread_mutex_lock(&init_mu);
    if (!region) {
        vgpu_config_init();
        vgpu_region_t *n = open_region();
        __atomic_store_n(&region, n, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&init_mu);
    return region;
}

int vgpu_region_is_shared(void) { return vgpu_region() && region_shared; }

static void reclaim_locked(vgpu_region_t *r) {
    int n = r->proc_num;
    for (int i = 0; i < n; i++) {
        vgpu_slot_t *s = &r->procs[i];
        if (s->pid && s != my_slot && !proc_alive(s)) {
            LOG_INFO("reclaiming slot %d of dead pid %d", i, s->pid);
            memset(s->used, 0, sizeof s->used);
            memset(s->device_util, 0, sizeof s->device_util);
            memset(s->monitorused, 0, sizeof s->monitorused);
            s->status = 0;
            s->hostpid = 0;
            atomic_store((_Atomic int32_t *)&s->pid, 0);
        }
    }
    while (n > 0 && r->procs[n - 1].pid == 0) n--;
    atomic_store((_Atomic int32_t *)&r->proc_num, n);
}

void vgpu_region_reclaim(void) {
    vgpu_region_t *r = vgpu_region();
    if (!region_shared) return;
    region_lock();
    reclaim_locked(r);
    region_unlock();
}

static void atfork_prepare(void) { pthread_mutex_lock(&region_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&region_mu); }
static void atfork_child(void) {
    pthread_mutex_unlock(&region_mu);
    my_slot = NULL; /* the child registers its own slot on first use */
    vgpu_track_reset_after_fork();
    vgpu_pools_reset_after_fork();
    vgpu_after_fork_child();
}

static void exit_handler(void) {
    vgpu_slot_t *s = my_slot;
    if (!s || s == &private_slot || !region_shared) return;
    if (s->pid != (int32_t)getpid()) return;
    /* Only mark the slot exited (the monitor skips it): other threads may still run, so the slot
     * is not handed back here; it is reclaimed once the process is really gone. */
    atomic_store((_Atomic int32_t *)&s->status, 0);
}

vgpu_slot_t *vgpu_my_slot(void) {
    vgpu_slot_t *s = __atomic_load_n(&my_slot, __ATOMIC_ACQUIRE);
    if (likely(s)) return s;
    vgpu_region_t *r = vgpu_region();
    if (!atomic_exchange(&atfork_done, 1)) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        atexit(exit_handler);
    }
    pid_t pid = getpid();
    region_lock();
    if (my_slot) {
        region_unlock();
        return my_slot;
    }
    reclaim_locked(r);
    int n = r->proc_num, found = -1, hole = -1;
    for (int i = 0; i < n; i++) {
        if (r->procs[i].pid == pid) found = i;
        else if (r->procs[i].pid == 0 && hole < 0) hole = i;
    }
    if (n == 0 && region_shared) {
        /* nobody alive uses the region: our environment's limits become the region's (a stale file
         * left over from an earlier run with other limits must not win) */
        fill_from_config(r);
        r->recent_kernel = 2;
        r->utilization_switch = 1;
    } else {
        for (int i = 0; i < VGPU_MAX_DEVICES; i++)
            if (r->limit[i] != vgpu_cfg.mem_limit[i] || r->sm_limit[i] != (uint64_t)vgpu_cfg.sm_limit[i]) {
                LOG_WARN("device %d: the region's limits (%llu bytes, %llu%%) differ from this process's "
                         "environment; the region's apply", i, (unsigned long long)r->limit[i],
                         (unsigned long long)r->sm_limit[i]);
                break;
            }
    }
    int idx = found >= 0 ? found : hole;
    if (idx < 0 && n < VGPU_MAX_PROCS) idx = n;
    if (idx < 0) {
        LOG_ERROR("shared region has no free slot (%d processes); this process is accounted privately", n);
        s = &private_slot;
    } else {
        s = &r->procs[idx];
        memset(s, 0, sizeof *s);
        s->unused[0] = proc_start_time(pid);
        s->status = 1;
        atomic_store((_Atomic int32_t *)&s->pid, (int32_t)pid);
        if (idx >= n) atomic_store((_Atomic int32_t *)&r->proc_num, idx + 1);
    }
    __atomic_store_n(&my_slot, s, __ATOMIC_RELEASE);
    region_unlock();
    LOG_DEBUG("registered in slot %ld", (long)(s - r->procs));
    return s;
}

void vgpu_region_set_devices(void) {
    vgpu_region_t *r = vgpu_region();
    if (!vgpu_real[VGPU_H_cuDeviceGetCount] || !vgpu_real[VGPU_H_cuDeviceGetUuid_v2]) return;
    int count = 0;
    if (REAL(cuDeviceGetCount)(&count) != CUDA_SUCCESS || count <= 0) return;
    if (count > VGPU_MAX_DEVICES) count = VGPU_MAX_DEVICES;
    region_lock();
    for (int d = 0; d < count; d++) {
        char buf[VGPU_UUID_LEN];
        if (vgpu_cuda_uuid(d, buf) == 0) memcpy(r->uuids[d], buf, sizeof buf);
    }
    if (r->device_num < (uint64_t)count) r->device_num = (uint64_t)count;
    region_unlock();
}
