/* Helpers shared by the test programs: JSON-line output, context setup, fake-driver test hooks. */
#ifndef PROGS_COMMON_H
#define PROGS_COMMON_H

#include <cuda.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <nvml.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024ULL * 1024ULL)

static inline void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void emit(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printf("{%s}\n", buf);
    fflush(stdout);
}

static inline void die(const char *what, int rc)
{
    emit("\"event\":\"fatal\",\"what\":\"%s\",\"rc\":%d", what, rc);
    exit(3);
}

#define CK(call)                                                                                       \
    do {                                                                                               \
        int rc_ = (int)(call);                                                                         \
        if (rc_ != 0)                                                                                  \
            die(#call, rc_);                                                                           \
    } while (0)

/* cuInit + retain and make current the primary context of dev. */
static inline CUcontext setup_ctx(int dev)
{
    CUcontext ctx = NULL;
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    return ctx;
}

/* Fake-driver test hooks, looked up at run time (absent with a real driver). */
static inline void *fake_sym(const char *name)
{
    void *h = dlopen("libfakegpu.so", RTLD_NOW | RTLD_NOLOAD);
    return h ? dlsym(h, name) : NULL;
}

static inline const char *fake_last_call(void)
{
    const char *(*fn)(void) = (const char *(*)(void))fake_sym("fakegpu_last_call");
    return fn ? fn() : "?";
}

static inline uint64_t fake_used_bytes(int dev)
{
    uint64_t (*fn)(int) = (uint64_t(*)(int))fake_sym("fakegpu_used_bytes");
    return fn ? fn(dev) : 0;
}

static inline uint64_t fake_busy_us(int pid, int dev)
{
    uint64_t (*fn)(int, int) = (uint64_t(*)(int, int))fake_sym("fakegpu_busy_us");
    return fn ? fn(pid, dev) : 0;
}

static inline uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static inline unsigned long long env_ull(const char *name, unsigned long long dflt)
{
    const char *v = getenv(name);
    return (v && *v) ? strtoull(v, NULL, 0) : dflt;
}

#endif
