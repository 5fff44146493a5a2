/*
 * Legacy driver ABI variants libvgpu hooks. CUDA 13's cuda.h still declares most legacy entry
 * points when __CUDA_API_VERSION_INTERNAL is defined (we define it in vgpu.h); this header adds
 * only what that section no longer declares, in our own words, so we stay buildable when a future
 * header drops more of them.
 */
#ifndef VGPU_LEGACY_H
#define VGPU_LEGACY_H

#include <cuda.h>

/* The 32-bit device-pointer type of the pre-3.2 ABI (cuMemAlloc, cuMemFree, cuMemGetInfo v1). */
typedef unsigned int vgpu_devptr_v1_t;

#endif
