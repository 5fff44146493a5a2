/* forkprog CHUNK: the parent allocates CHUNK, forks; the child (own process, own slot) initialises CUDA and
 * allocates CHUNK-sized blocks until refused, reports, exits; then the parent allocates until refused.
 * Under a cap C both see the same container-wide budget. */
#include "common.h"

#include <sys/wait.h>

static int fill(uint64_t chunk, CUdeviceptr *out, int max, int *rc_out)
{
    int n = 0;
    CUresult rc = CUDA_SUCCESS;
    while (n < max && (rc = cuMemAlloc(&out[n], chunk)) == CUDA_SUCCESS)
        n++;
    *rc_out = rc;
    return n;
}

int main(int argc, char **argv)
{
    uint64_t chunk = argc > 1 ? strtoull(argv[1], NULL, 0) : 4 * MiB;
    setup_ctx(0);
    CUdeviceptr first = 0;
    CK(cuMemAlloc(&first, chunk));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setup_ctx(0);
        CUdeviceptr held[1024];
        int rc = 0;
        int n = fill(chunk, held, 1024, &rc);
        emit("\"event\":\"child\",\"pid\":%d,\"granted\":%d,\"rc\":%d", (int)getpid(), n, rc);
        for (int i = 0; i < n; i++)
            cuMemFree(held[i]);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CUdeviceptr held[1024];
    int rc = 0;
    int n = fill(chunk, held, 1024, &rc);
    emit("\"event\":\"parent\",\"child_status\":%d,\"granted\":%d,\"rc\":%d", status, n, rc);
    return 0;
}
