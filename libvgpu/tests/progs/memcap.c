/* memcap API SIZE COUNT: allocate SIZE bytes up to COUNT times through one allocation API until the driver
 * (or the limiter) refuses, print what was granted and what the memory queries report before, during and
 * after, then free everything. */
#include "common.h"

typedef CUresult (*alloc_v2_fn)(CUdeviceptr *, size_t);
typedef CUresult (*alloc_v1_fn)(unsigned int *, unsigned int);
typedef CUresult (*free_v2_fn)(CUdeviceptr);

struct held {
    int kind;
    uint64_t v;
    uint64_t extra;
};

/* NVML index (physical device) to query; CUDA always uses ordinal 0 of what CUDA_VISIBLE_DEVICES shows. */
static unsigned int g_nvml;

static void query(const char *when)
{
    size_t fr = 0, tot = 0, dtot = 0;
    int rc1 = cuMemGetInfo(&fr, &tot);
    int rc2 = cuDeviceTotalMem(&dtot, 0);
    nvmlDevice_t h;
    nvmlMemory_t m1 = {0};
    nvmlMemory_v2_t m2 = {0};
    m2.version = nvmlMemory_v2;
    int rc3 = nvmlInit();
    if (rc3 == 0)
        rc3 = nvmlDeviceGetHandleByIndex(g_nvml, &h);
    int rc4 = rc3 == 0 ? (int)nvmlDeviceGetMemoryInfo(h, &m1) : rc3;
    int rc5 = rc3 == 0 ? (int)nvmlDeviceGetMemoryInfo_v2(h, &m2) : rc3;
    emit("\"event\":\"query\",\"when\":\"%s\",\"meminfo_rc\":%d,\"free\":%zu,\"total\":%zu,\"totalmem_rc\":%d,"
         "\"totalmem\":%zu,\"nvml_rc\":%d,\"nvml_total\":%llu,\"nvml_used\":%llu,\"nvml_free\":%llu,"
         "\"nvml2_rc\":%d,\"nvml2_total\":%llu,\"nvml2_used\":%llu,\"nvml2_free\":%llu,\"driver_used\":%llu",
         when, rc1, fr, tot, rc2, dtot, rc3 ? rc3 : rc4, m1.total, m1.used, m1.free, rc5, m2.total, m2.used,
         m2.free, (unsigned long long)fake_used_bytes((int)g_nvml));
    /* NULL out-parameters must give an error code, never a crash. */
    int n1 = cuMemGetInfo(NULL, &tot), n2 = cuMemGetInfo(&fr, NULL), n3 = cuDeviceTotalMem(NULL, 0);
    int n4 = rc3 == 0 ? (int)nvmlDeviceGetMemoryInfo(h, NULL) : -1;
    emit("\"event\":\"nullq\",\"when\":\"%s\",\"rc\":[%d,%d,%d,%d]", when, n1, n2, n3, n4);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: memcap API SIZE COUNT\n");
        return 2;
    }
    const char *api = argv[1];
    uint64_t size = strtoull(argv[2], NULL, 0);
    int count = atoi(argv[3]);
    g_nvml = (unsigned int)env_ull("MEMCAP_NVML_INDEX", 0);
    setup_ctx(0);
    query("before");
    struct held *held = calloc((size_t)count + 1, sizeof(*held));
    CUmemoryPool pool = NULL;
    if (strcmp(api, "pool") == 0) {
        CUmemPoolProps props;
        memset(&props, 0, sizeof(props));
        props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
        props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        props.location.id = 0;
        CK(cuMemPoolCreate(&pool, &props));
    }
    if (getenv("MEMCAP_POOL_KEEP")) {
        /* Keep freed stream-ordered memory in the default pool (like PyTorch's cudaMallocAsync backend). */
        CUmemoryPool dflt = NULL;
        cuuint64_t keep = ~0ULL;
        CK(cuDeviceGetDefaultMemPool(&dflt, 0));
        CK(cuMemPoolSetAttribute(dflt, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep));
    }
    alloc_v2_fn dl_alloc = NULL;
    alloc_v1_fn legacy_alloc = NULL;
    if (strcmp(api, "dlsym") == 0) {
        void *lib = dlopen("libcuda.so.1", RTLD_NOW);
        dl_alloc = lib ? (alloc_v2_fn)dlsym(lib, "cuMemAlloc_v2") : NULL;
    } else if (strcmp(api, "gpa") == 0) {
        CUdriverProcAddressQueryResult st;
        CK(cuGetProcAddress("cuMemAlloc", (void **)&dl_alloc, 12090, 0, &st));
    } else if (strcmp(api, "gpa_legacy") == 0) {
        CUdriverProcAddressQueryResult st;
        CK(cuGetProcAddress("cuMemAlloc", (void **)&legacy_alloc, 3000, 0, &st));
    }
    int granted = 0;
    int last_rc = 0;
    uint64_t counted = 0;
    for (int i = 0; i < count; i++) {
        struct held *hd = &held[i];
        CUresult rc = CUDA_ERROR_INVALID_VALUE;
        CUdeviceptr p = 0;
        uint64_t bytes = size;
        if (strcmp(api, "alloc") == 0) {
            rc = cuMemAlloc(&p, size);
        } else if (strcmp(api, "dlsym") == 0 || strcmp(api, "gpa") == 0) {
            rc = dl_alloc ? dl_alloc(&p, size) : CUDA_ERROR_NOT_FOUND;
        } else if (strcmp(api, "gpa_legacy") == 0) {
            unsigned int p32 = 0;
            rc = legacy_alloc ? legacy_alloc(&p32, (unsigned int)size) : CUDA_ERROR_NOT_FOUND;
            p = p32;
            hd->kind = 9;
        } else if (strcmp(api, "pitch") == 0) {
            size_t pitch = 0;
            rc = cuMemAllocPitch(&p, &pitch, size / 16, 16, 4);
            bytes = (uint64_t)pitch * 16;
        } else if (strcmp(api, "managed") == 0) {
            rc = cuMemAllocManaged(&p, size, CU_MEM_ATTACH_GLOBAL);
        } else if (strcmp(api, "create") == 0) {
            CUmemAllocationProp prop;
            memset(&prop, 0, sizeof(prop));
            prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
            prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
            prop.location.id = 0;
            CUmemGenericAllocationHandle hdl = 0;
            rc = cuMemCreate(&hdl, size, &prop, 0);
            if (rc == CUDA_SUCCESS) {
                CUdeviceptr va = 0, va2 = 0;
                CK(cuMemAddressReserve(&va, size, 0, 0, 0));
                CK(cuMemMap(va, size, 0, hdl, 0));
                CK(cuMemAddressReserve(&va2, size, 0, 0, 0));
                CK(cuMemMap(va2, size, 0, hdl, 0)); /* mapped twice: still one physical allocation */
                CUmemAccessDesc acc;
                memset(&acc, 0, sizeof(acc));
                acc.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
                acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
                CK(cuMemSetAccess(va, size, &acc, 1));
                hd->extra = va;
                p = hdl;
            }
            hd->kind = 2;
        } else if (strcmp(api, "async") == 0) {
            rc = cuMemAllocAsync(&p, size, NULL);
            hd->kind = 3;
        } else if (strcmp(api, "pool") == 0) {
            rc = cuMemAllocFromPoolAsync(&p, size, pool, NULL);
            hd->kind = 3;
        } else if (strcmp(api, "array") == 0 || strcmp(api, "array3d") == 0 || strcmp(api, "mipmap") == 0) {
            CUarray arr = NULL;
            CUmipmappedArray mm = NULL;
            if (strcmp(api, "array") == 0) {
                CUDA_ARRAY_DESCRIPTOR d = {size / 4 / 16, 16, CU_AD_FORMAT_FLOAT, 1};
                rc = cuArrayCreate(&arr, &d);
                hd->kind = 4;
                p = (uint64_t)(uintptr_t)arr;
            } else {
                CUDA_ARRAY3D_DESCRIPTOR d = {size / 4 / 16, 4, 4, CU_AD_FORMAT_FLOAT, 1, 0};
                if (strcmp(api, "array3d") == 0) {
                    rc = cuArray3DCreate(&arr, &d);
                    hd->kind = 4;
                    p = (uint64_t)(uintptr_t)arr;
                } else {
                    rc = cuMipmappedArrayCreate(&mm, &d, 1);
                    hd->kind = 5;
                    p = (uint64_t)(uintptr_t)mm;
                }
            }
        } else {
            fprintf(stderr, "unknown api %s\n", api);
            return 2;
        }
        last_rc = rc;
        if (rc != CUDA_SUCCESS)
            break;
        hd->v = p;
        counted += bytes;
        granted++;
    }
    emit("\"event\":\"alloc\",\"api\":\"%s\",\"size\":%llu,\"granted\":%d,\"granted_bytes\":%llu,\"rc\":%d,"
         "\"driver_used\":%llu",
         api, (unsigned long long)size, granted, (unsigned long long)counted, last_rc,
         (unsigned long long)fake_used_bytes((int)g_nvml));
    query("during");
    int free_fail = 0;
    for (int i = 0; i < granted; i++) {
        struct held *hd = &held[i];
        int rc = 0;
        switch (hd->kind) {
        case 2:
            cuMemUnmap(hd->extra, size);
            rc = cuMemRelease(hd->v);
            break;
        case 3: rc = cuMemFreeAsync(hd->v, NULL); break;
        case 4: rc = cuArrayDestroy((CUarray)(uintptr_t)hd->v); break;
        case 5: rc = cuMipmappedArrayDestroy((CUmipmappedArray)(uintptr_t)hd->v); break;
        case 9: {
            CUresult (*f1)(unsigned int) = NULL;
            CUdriverProcAddressQueryResult st;
            cuGetProcAddress("cuMemFree", (void **)&f1, 3000, 0, &st);
            rc = f1 ? (int)f1((unsigned int)hd->v) : -1;
            break;
        }
        default: rc = cuMemFree(hd->v);
        }
        if (rc != 0)
            free_fail++;
    }
    if (strcmp(api, "async") == 0 || strcmp(api, "pool") == 0)
        CK(cuStreamSynchronize(NULL));
    emit("\"event\":\"freed\",\"failures\":%d", free_fail);
    query("after");
    if (getenv("MEMCAP_THEN_ALLOC")) {
        /* Second phase: plain cuMemAlloc after everything was freed. */
        int n2 = 0;
        CUresult rc2 = CUDA_SUCCESS;
        CUdeviceptr p2;
        while (n2 < count && (rc2 = cuMemAlloc(&p2, size)) == CUDA_SUCCESS)
            n2++;
        emit("\"event\":\"alloc2\",\"granted\":%d,\"rc\":%d,\"driver_used\":%llu", n2, rc2,
             (unsigned long long)fake_used_bytes((int)g_nvml));
    }
    /* A pointer nobody allocated: the driver's own answer must come back. */
    emit("\"event\":\"bogus_free\",\"rc\":%d", (int)cuMemFree((CUdeviceptr)0xdead0000ULL));
    return 0;
}
