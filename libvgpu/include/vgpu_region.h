/*
 * Shared-region layout v1 (CUDA_DEVICE_MEMORY_SHARED_CACHE), byte-compatible with HAMi-core's
 * shared_region_t (major 1, minor 2) so HAMi's vGPUmonitor and our monitor can read it.
 * Our own description of the layout (spec hami-core.md section 3); offsets are checked by
 * tests/layout/layout.c and tests/libvgpu/test_layout.py.
 */
#ifndef VGPU_REGION_H
#define VGPU_REGION_H

#include <stddef.h>
#include <stdint.h>

#define VGPU_REGION_MAGIC 19920718
#define VGPU_REGION_MAJOR 1u
#define VGPU_REGION_MINOR 2u
#define VGPU_MAX_DEVICES 16
#define VGPU_MAX_PROCS 1024
#define VGPU_UUID_LEN 96
#define VGPU_REGION_SIZE 2008952u

/* Per-device memory counters of one process (64 bytes). `total` is what limits use. */
typedef struct {
    uint64_t context_size;
    uint64_t module_size;
    uint64_t data_size;
    uint64_t offset;
    uint64_t total;
    uint64_t unused[3];
} vgpu_devmem_t;

/* Per-device utilization of one process (48 bytes); only sm_util is written. */
typedef struct {
    uint64_t dec_util;
    uint64_t enc_util;
    uint64_t sm_util;
    uint64_t unused[3];
} vgpu_devutil_t;

/* One process slot (1960 bytes). */
typedef struct {
    int32_t pid;                                /* container-namespace pid, 0 = free */
    int32_t hostpid;                            /* host pid as NVML reports it, 0 = unknown */
    vgpu_devmem_t used[VGPU_MAX_DEVICES];
    uint64_t monitorused[VGPU_MAX_DEVICES];
    vgpu_devutil_t device_util[VGPU_MAX_DEVICES];
    int32_t status;                             /* 1 running, 2 suspended, 0 exited */
    int32_t pad0;
    uint64_t seqlock;
    uint64_t unused[2];                         /* ours: [0] = process start time (pid-reuse check) */
} vgpu_slot_t;

/* The whole region (2,008,952 bytes on LP64). */
typedef struct {
    int32_t initialized_flag;                   /* VGPU_REGION_MAGIC once initialized */
    uint32_t major_version;
    uint32_t minor_version;
    int32_t sm_init_flag;
    uint64_t owner_pid;
    unsigned char sem[32];                      /* HAMi sem_t; unused by us (we lock with fcntl) */
    uint64_t device_num;
    char uuids[VGPU_MAX_DEVICES][VGPU_UUID_LEN];
    uint64_t limit[VGPU_MAX_DEVICES];           /* bytes, 0 = unlimited */
    uint64_t sm_limit[VGPU_MAX_DEVICES];        /* percent, 100 = unlimited */
    vgpu_slot_t procs[VGPU_MAX_PROCS];
    int32_t proc_num;
    int32_t utilization_switch;
    int32_t recent_kernel;
    int32_t priority;
    uint64_t last_kernel_time;
    unsigned char sem_postinit[32];
} vgpu_region_t;

_Static_assert(sizeof(vgpu_devmem_t) == 64, "devmem size");
_Static_assert(sizeof(vgpu_devutil_t) == 48, "devutil size");
_Static_assert(sizeof(vgpu_slot_t) == 1960, "slot size");
_Static_assert(offsetof(vgpu_slot_t, status) == 1928, "slot status offset");
_Static_assert(offsetof(vgpu_slot_t, seqlock) == 1936, "slot seqlock offset");
_Static_assert(offsetof(vgpu_region_t, procs) == 1856, "procs offset");
_Static_assert(offsetof(vgpu_region_t, proc_num) == 2008896, "proc_num offset");
_Static_assert(offsetof(vgpu_region_t, sem_postinit) == 2008920, "sem_postinit offset");
_Static_assert(sizeof(vgpu_region_t) == VGPU_REGION_SIZE, "region size");

#endif
