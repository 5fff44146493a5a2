/* stackprog CHUNK: allocate CHUNK until refused (through the PLT, so the first preloaded interposer sees it),
 * then let a stacked shim (if preloaded) report what its dlsym(RTLD_NEXT) returned. */
#include "common.h"

int main(int argc, char **argv)
{
    uint64_t chunk = argc > 1 ? strtoull(argv[1], NULL, 0) : 4 * MiB;
    setup_ctx(0);
    int n = 0;
    CUresult rc;
    CUdeviceptr p;
    while (n < 100000 && (rc = cuMemAlloc(&p, chunk)) == CUDA_SUCCESS)
        n++;
    emit("\"event\":\"alloc\",\"granted\":%d,\"rc\":%d", n, rc);
    void (*report)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "shim_report");
    if (report)
        report();
    else
        emit("\"event\":\"noshim\"");
    return 0;
}
