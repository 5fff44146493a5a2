/* Fake libnvidia-ml.so.1: the NVML subset used by libvgpu and by the device plugin (through nvidia-ml-py),
 * answering from the shared device model in libfakegpu.so. */

#define NVML_NO_UNVERSIONED_FUNC_DEFS 1
#include <nvml.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakegpu.h"

#define EXPORT __attribute__((visibility("default")))

struct nvmlDevice_st {
    int index;
};

#define MAX_SET_DEVS FG_MAX_DEV
struct nvmlEventSet_st {
    unsigned long long types[MAX_SET_DEVS];
    long offset; /* bytes of the XID file already consumed */
};

static struct nvmlDevice_st g_devs[FG_MAX_DEV];
static _Atomic int g_init_count;

#define ENTER(name)                                                                                    \
    do {                                                                                               \
        fakegpu_set_last_call(name);                                                                   \
        if (fg_should_fail(name))                                                                      \
            return NVML_ERROR_UNKNOWN;                                                                 \
    } while (0)

#define NEED_INIT()                                                                                    \
    do {                                                                                               \
        if (atomic_load(&g_init_count) <= 0)                                                           \
            return NVML_ERROR_UNINITIALIZED;                                                           \
    } while (0)

static int dev_index(nvmlDevice_t d)
{
    if (!d)
        return -1;
    for (int i = 0; i < fg_config()->ndev; i++)
        if (d == &g_devs[i])
            return i;
    return -1;
}

#define NEED_DEV(d, idx)                                                                               \
    int idx = dev_index(d);                                                                            \
    if (idx < 0)                                                                                       \
    return NVML_ERROR_INVALID_ARGUMENT

static nvmlReturn_t do_init(void)
{
    const struct fg_config *c = fg_config();
    for (int i = 0; i < FG_MAX_DEV; i++)
        g_devs[i].index = i;
    (void)c;
    atomic_fetch_add(&g_init_count, 1);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInit(void)
{
    ENTER("nvmlInit");
    return do_init();
}

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    ENTER("nvmlInit_v2");
    return do_init();
}

EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    ENTER("nvmlInitWithFlags");
    (void)flags;
    return do_init();
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    ENTER("nvmlShutdown");
    if (atomic_load(&g_init_count) <= 0)
        return NVML_ERROR_UNINITIALIZED;
    atomic_fetch_sub(&g_init_count, 1);
    return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

static nvmlReturn_t copy_str(char *dst, unsigned int len, const char *src)
{
    if (!dst)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > len)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    ENTER("nvmlSystemGetDriverVersion");
    NEED_INIT();
    return copy_str(version, length, fg_config()->nvml_driver_version);
}

EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    ENTER("nvmlSystemGetNVMLVersion");
    char buf[96];
    snprintf(buf, sizeof(buf), "13.%s", fg_config()->nvml_driver_version);
    return copy_str(version, length, buf);
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v)
{
    ENTER("nvmlSystemGetCudaDriverVersion");
    if (!v)
        return NVML_ERROR_INVALID_ARGUMENT;
    *v = fg_config()->driver_version;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v)
{
    ENTER("nvmlSystemGetCudaDriverVersion_v2");
    if (!v)
        return NVML_ERROR_INVALID_ARGUMENT;
    *v = fg_config()->driver_version;
    return NVML_SUCCESS;
}

static nvmlReturn_t get_count(unsigned int *n)
{
    NEED_INIT();
    if (!n)
        return NVML_ERROR_INVALID_ARGUMENT;
    *n = (unsigned int)fg_config()->ndev;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *n)
{
    ENTER("nvmlDeviceGetCount");
    return get_count(n);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
    ENTER("nvmlDeviceGetCount_v2");
    return get_count(n);
}

static nvmlReturn_t by_index(unsigned int i, nvmlDevice_t *d)
{
    NEED_INIT();
    if (!d || i >= (unsigned int)fg_config()->ndev)
        return NVML_ERROR_INVALID_ARGUMENT;
    *d = &g_devs[i];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d)
{
    ENTER("nvmlDeviceGetHandleByIndex");
    return by_index(i, d);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
    ENTER("nvmlDeviceGetHandleByIndex_v2");
    return by_index(i, d);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *d)
{
    ENTER("nvmlDeviceGetHandleByUUID");
    NEED_INIT();
    if (!uuid || !d)
        return NVML_ERROR_INVALID_ARGUMENT;
    const struct fg_config *c = fg_config();
    for (int i = 0; i < c->ndev; i++)
        if (strcmp(uuid, c->dev[i].uuid) == 0) {
            *d = &g_devs[i];
            return NVML_SUCCESS;
        }
    return NVML_ERROR_NOT_FOUND;
}

static void bus_id(int idx, char *out, size_t n)
{
    snprintf(out, n, "00000000:%02X:00.0", (unsigned)(0x10 + idx) & 0xFFu);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *busid, nvmlDevice_t *d)
{
    ENTER("nvmlDeviceGetHandleByPciBusId_v2");
    NEED_INIT();
    if (!busid || !d)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < fg_config()->ndev; i++) {
        char b[32];
        bus_id(i, b, sizeof(b));
        if (strcasecmp(b, busid) == 0) {
            *d = &g_devs[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    ENTER("nvmlDeviceGetPciInfo_v3");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!pci)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof(*pci));
    bus_id(idx, pci->busId, sizeof(pci->busId));
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "0000:%02X:00.0", (unsigned)(0x10 + idx) & 0xFFu);
    pci->bus = (unsigned int)(0x10 + idx);
    pci->pciDeviceId = 0x20b010de;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    ENTER("nvmlDeviceGetUUID");
    NEED_INIT();
    NEED_DEV(device, idx);
    return copy_str(uuid, length, fg_config()->dev[idx].uuid);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    ENTER("nvmlDeviceGetName");
    NEED_INIT();
    NEED_DEV(device, idx);
    (void)idx;
    return copy_str(name, length, fg_config()->name);
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    ENTER("nvmlDeviceGetIndex");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!index)
        return NVML_ERROR_INVALID_ARGUMENT;
    *index = (unsigned int)idx;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor)
{
    ENTER("nvmlDeviceGetMinorNumber");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!minor)
        return NVML_ERROR_INVALID_ARGUMENT;
    *minor = (unsigned int)idx;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    ENTER("nvmlDeviceGetCudaComputeCapability");
    NEED_INIT();
    NEED_DEV(device, idx);
    (void)idx;
    if (!major || !minor)
        return NVML_ERROR_INVALID_ARGUMENT;
    *major = 9;
    *minor = 0;
    return NVML_SUCCESS;
}

/* Per-device bytes in use as NVML sees them: allocations plus live contexts. */
static unsigned long long used_bytes(int idx)
{
    return fakegpu_used_bytes(idx);
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    ENTER("nvmlDeviceGetMemoryInfo");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned long long total = fg_config()->dev[idx].mem_bytes, used = used_bytes(idx);
    memory->total = total;
    memory->used = used;
    memory->free = used > total ? 0 : total - used;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    ENTER("nvmlDeviceGetMemoryInfo_v2");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != nvmlMemory_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    unsigned long long total = fg_config()->dev[idx].mem_bytes, used = used_bytes(idx);
    memory->total = total;
    memory->reserved = 0;
    memory->used = used;
    memory->free = used > total ? 0 : total - used;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int *node)
{
    ENTER("nvmlDeviceGetNumaNodeId");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!node)
        return NVML_ERROR_INVALID_ARGUMENT;
    int n = fg_config()->dev[idx].numa;
    if (n < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *node = (unsigned int)n;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending)
{
    ENTER("nvmlDeviceGetMigMode");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!current || !pending)
        return NVML_ERROR_INVALID_ARGUMENT;
    *current = *pending = fg_config()->dev[idx].mig ? 1u : 0u;
    return NVML_SUCCESS;
}

static nvmlReturn_t running_procs(int idx, unsigned int *count, nvmlProcessInfo_t *infos)
{
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct fg_state *s = fg_state();
    unsigned int n = 0, cap = *count;
    nvmlReturn_t rc = NVML_SUCCESS;
    for (int i = 0; s && i < FG_MAX_PROC; i++) {
        struct fg_proc *p = &s->procs[i];
        int pid = atomic_load(&p->pid);
        if (pid == 0 || (!atomic_load(&p->ctx[idx]) && !atomic_load(&p->mem[idx])) || !fg_pid_alive(pid))
            continue;
        if (n < cap && infos) {
            infos[n].pid = (unsigned int)pid;
            infos[n].usedGpuMemory = atomic_load(&p->mem[idx]);
            infos[n].gpuInstanceId = 0xFFFFFFFFu;
            infos[n].computeInstanceId = 0xFFFFFFFFu;
        } else {
            rc = NVML_ERROR_INSUFFICIENT_SIZE;
        }
        n++;
    }
    *count = n;
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                            nvmlProcessInfo_t *infos)
{
    ENTER("nvmlDeviceGetComputeRunningProcesses_v3");
    NEED_INIT();
    NEED_DEV(device, idx);
    return running_procs(idx, count, infos);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *count,
                                                            nvmlProcessInfo_v2_t *infos)
{
    ENTER("nvmlDeviceGetComputeRunningProcesses_v2");
    NEED_INIT();
    NEED_DEV(device, idx);
    return running_procs(idx, count, infos);
}

#define WINDOW_MAX_US 1000000ULL
#define WINDOW_MIN_US FG_BUCKET_US

EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *util,
                                                    unsigned int *count, unsigned long long lastSeen)
{
    ENTER("nvmlDeviceGetProcessUtilization");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct fg_state *s = fg_state();
    uint64_t now = fg_now_us();
    /* lastSeen is in the caller's clock (usually wall-clock µs); convert it to a window length. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
    uint64_t window = WINDOW_MAX_US;
    if (lastSeen > 0 && lastSeen < wall && wall - lastSeen < WINDOW_MAX_US)
        window = wall - lastSeen;
    if (window < WINDOW_MIN_US)
        window = WINDOW_MIN_US;
    unsigned int n = 0, cap = *count;
    nvmlReturn_t rc = NVML_SUCCESS;
    for (int i = 0; s && i < FG_MAX_PROC; i++) {
        int pid = atomic_load(&s->procs[i].pid);
        if (pid == 0 || !fg_pid_alive(pid))
            continue;
        uint64_t busy = fg_busy_between(pid, idx, now - window, now);
        if (busy == 0)
            continue;
        if (util && n < cap) {
            util[n].pid = (unsigned int)pid;
            util[n].timeStamp = wall;
            unsigned int pct = (unsigned int)((busy * 100 + window / 2) / window);
            util[n].smUtil = pct > 100 ? 100 : pct;
            util[n].memUtil = 0;
            util[n].encUtil = 0;
            util[n].decUtil = 0;
        } else {
            rc = NVML_ERROR_INSUFFICIENT_SIZE;
        }
        n++;
    }
    if (n == 0) {
        *count = 0;
        return NVML_ERROR_NOT_FOUND;
    }
    *count = n;
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    ENTER("nvmlDeviceGetUtilizationRates");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!utilization)
        return NVML_ERROR_INVALID_ARGUMENT;
    uint64_t now = fg_now_us();
    uint64_t busy = fg_busy_between(0, idx, now - WINDOW_MAX_US, now);
    unsigned int pct = (unsigned int)((busy * 100 + WINDOW_MAX_US / 2) / WINDOW_MAX_US);
    utilization->gpu = pct > 100 ? 100 : pct;
    utilization->memory = 0;
    return NVML_SUCCESS;
}

/* ---- events: XIDs injected through FAKE_NVML_XID_FILE ---- */

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    ENTER("nvmlEventSetCreate");
    NEED_INIT();
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct nvmlEventSet_st *s = calloc(1, sizeof(*s));
    if (!s)
        return NVML_ERROR_MEMORY;
    const char *path = fg_config()->xid_file;
    if (*path) {
        FILE *f = fopen(path, "re");
        if (f) {
            fseek(f, 0, SEEK_END);
            s->offset = ftell(f);
            fclose(f);
        }
    }
    *set = s;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types)
{
    ENTER("nvmlDeviceGetSupportedEventTypes");
    NEED_INIT();
    NEED_DEV(device, idx);
    (void)idx;
    if (!types)
        return NVML_ERROR_INVALID_ARGUMENT;
    *types = nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set)
{
    ENTER("nvmlDeviceRegisterEvents");
    NEED_INIT();
    NEED_DEV(device, idx);
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    set->types[idx] |= types;
    return NVML_SUCCESS;
}

/* Read the next complete XID line after set->offset for a registered device; 1 if one was found. */
static int next_xid(nvmlEventSet_t set, nvmlEventData_t *data)
{
    const char *path = fg_config()->xid_file;
    if (!*path)
        return 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    char line[256];
    if (fseek(f, set->offset, SEEK_SET) == 0) {
        while (!found && fgets(line, sizeof(line), f)) {
            size_t len = strlen(line);
            if (len == 0 || line[len - 1] != '\n')
                break; /* incomplete line: wait for the writer */
            set->offset += (long)len;
            char who[128];
            unsigned long long xid = 0;
            if (sscanf(line, "%127s %llu", who, &xid) != 2)
                continue;
            int idx = fg_uuid_to_index(who);
            if (idx < 0 || !(set->types[idx] & nvmlEventTypeXidCriticalError))
                continue;
            memset(data, 0, sizeof(*data));
            data->device = &g_devs[idx];
            data->eventType = nvmlEventTypeXidCriticalError;
            data->eventData = xid;
            data->gpuInstanceId = 0xFFFFFFFFu;
            data->computeInstanceId = 0xFFFFFFFFu;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    ENTER("nvmlEventSetWait_v2");
    NEED_INIT();
    if (!set || !data)
        return NVML_ERROR_INVALID_ARGUMENT;
    uint64_t deadline = fg_now_us() + (uint64_t)timeoutms * 1000ULL;
    for (;;) {
        if (next_xid(set, data))
            return NVML_SUCCESS;
        if (fg_now_us() >= deadline)
            return NVML_ERROR_TIMEOUT;
        usleep(10000);
    }
}

EXPORT nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return nvmlEventSetWait_v2(set, data, timeoutms);
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    ENTER("nvmlEventSetFree");
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    free(set);
    return NVML_SUCCESS;
}
