/*
 * Public test interface of libvgpu.so (the only export besides the driver ABI names and dlsym).
 * Look it up with dlsym(RTLD_DEFAULT, "hami_vgpu_set_test_hooks"); pass NULL to restore defaults.
 */
#ifndef HAMI_VGPU_H
#define HAMI_VGPU_H

#include <stdint.h>

#define HAMI_VGPU_TEST_HOOKS_VERSION 1

typedef struct {
    int version; /* HAMI_VGPU_TEST_HOOKS_VERSION */
    /* Utilization of CUDA device `dev` in percent, by the whole container and by this process.
     * Return 0 when the values are fresh, -1 when there is no new data. NULL: NVML is sampled. */
    int (*sample)(int dev, double *util_total, double *util_own);
    /* Clock of the compute controller in nanoseconds. NULL: CLOCK_MONOTONIC. */
    uint64_t (*now_ns)(void);
} hami_vgpu_test_hooks_t;

typedef void (*hami_vgpu_set_test_hooks_fn)(const hami_vgpu_test_hooks_t *hooks);

#endif
