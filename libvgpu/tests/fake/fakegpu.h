/* Device model shared by the fake CUDA driver and the fake NVML (libfakegpu.so).
 *
 * The model is configured from FAKE_* environment variables (see ../README.md) and keeps its
 * cross-process state (memory in use, device work-queue tail, per-process busy time) in an mmapped
 * file so that several processes see one consistent GPU. */
#ifndef FAKEGPU_H
#define FAKEGPU_H

#include <stdatomic.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#define FG_API __attribute__((visibility("default")))

#define FG_MAX_DEV 8
#define FG_MAX_PROC 256
#define FG_BUCKETS 128
#define FG_BUCKET_US 10000ULL
#define FG_GRANULARITY (2ULL << 20)

struct fg_bucket {
    uint64_t epoch;
    uint64_t busy_us;
};

struct fg_proc {
    _Atomic int32_t pid;
    int32_t pad;
    _Atomic uint64_t mem[FG_MAX_DEV];
    _Atomic uint32_t ctx[FG_MAX_DEV];
    _Atomic uint64_t busy_total_us[FG_MAX_DEV];
    struct fg_bucket busy[FG_MAX_DEV][FG_BUCKETS]; /* guarded by fg_state.lock */
};

struct fg_state {
    uint64_t magic;
    pthread_mutex_t lock; /* robust, process-shared */
    _Atomic uint64_t dev_used[FG_MAX_DEV];
    uint64_t dev_tail_us[FG_MAX_DEV]; /* guarded by lock */
    struct fg_bucket dev_busy[FG_MAX_DEV][FG_BUCKETS];
    struct fg_proc procs[FG_MAX_PROC];
};

struct fg_device {
    uint64_t mem_bytes;
    int sm_count;
    int max_threads_per_sm;
    int numa;
    int mig;
    char uuid[96];
    unsigned char uuid_bytes[16];
};

struct fg_config {
    int ndev;              /* physical devices (NVML's view) */
    int cuda_count;        /* devices CUDA enumerates after CUDA_VISIBLE_DEVICES */
    int cuda_map[FG_MAX_DEV]; /* CUDA ordinal -> physical index */
    struct fg_device dev[FG_MAX_DEV];
    char name[96];
    uint64_t kernel_us;
    uint64_t queue_us;
    uint64_t ctx_bytes;
    int driver_version;
    char nvml_driver_version[80];
    char xid_file[512];
    char fail[1024];
};

/* Lazily initialised model (config + state mapping); never NULL. */
FG_API const struct fg_config *fg_config(void);
FG_API struct fg_state *fg_state(void);
/* This process's slot (registers on first use and after fork). NULL if the table is full. */
FG_API struct fg_proc *fg_self(void);
FG_API uint64_t fg_now_us(void);
FG_API void fg_lock(void);
FG_API void fg_unlock(void);
/* Reserve bytes of physical memory on dev for this process: 0 or -1 when it does not fit. */
FG_API int fg_mem_reserve(int dev, uint64_t bytes);
FG_API void fg_mem_release(int dev, uint64_t bytes);
/* Queue `us` of kernel work on dev for this process; returns the end time. Sleeps if the queue is full. */
FG_API uint64_t fg_run_kernel(int dev, uint64_t us);
/* Sleep until dev's queue is drained. */
FG_API void fg_sync_device(int dev);
FG_API uint64_t fg_tail_us(int dev);
/* Busy µs of pid (0 = whole device) on dev in [from, to). */
FG_API uint64_t fg_busy_between(int pid, int dev, uint64_t from_us, uint64_t to_us);
/* Is name in FAKE_FAIL? */
FG_API int fg_should_fail(const char *name);
FG_API int fg_pid_alive(int pid);
FG_API int fg_uuid_to_index(const char *s);

/* Test hooks. */
FG_API const char *fakegpu_last_call(void);
FG_API void fakegpu_set_last_call(const char *name);
/* Per-thread call log: number of fake entry points called so far, and the name of call number i. */
FG_API uint64_t fakegpu_call_seq(void);
FG_API const char *fakegpu_call_at(uint64_t i);
FG_API uint64_t fakegpu_busy_us(int pid, int dev);
FG_API uint64_t fakegpu_used_bytes(int dev);
FG_API uint64_t fakegpu_proc_used_bytes(int pid, int dev);

#endif
