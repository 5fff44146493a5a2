/* monitor_tenant MIB SECONDS IDLE: a GPU "container" for the monitor tests. Allocates MIB MiB with
 * cuMemAlloc and holds it, then (IDLE 0) launches kernels back to back, printing every 0.5 s the
 * share of that interval the fake GPU spent on this process's kernels; IDLE 1 only sleeps.
 * Runs SECONDS (0 = until SIGTERM), then frees and exits 0. Built by the tests against the libvgpu
 * test kit's headers and fake driver (it includes libvgpu/tests/progs/common.h). */
#include "common.h"

#include <signal.h>

static volatile sig_atomic_t g_stop;

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    unsigned long long mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 64;
    double seconds = argc > 2 ? atof(argv[2]) : 0;
    int idle = argc > 3 ? atoi(argv[3]) : 0;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    setup_ctx(0);
    CUdeviceptr p = 0;
    if (mib)
        CK(cuMemAlloc(&p, (size_t)(mib * MiB)));
    CUmodule mod = NULL;
    CUfunction fn = NULL;
    static const char image[] = "fake-cubin";
    CK(cuModuleLoadData(&mod, image));
    CK(cuModuleGetFunction(&fn, mod, "k"));
    int pid = (int)getpid();
    emit("\"event\":\"ready\",\"pid\":%d,\"allocated\":%llu", pid, mib * MiB);
    uint64_t start = now_us(), t0 = start, busy0 = fake_busy_us(pid, 0);
    uint64_t end = seconds > 0 ? start + (uint64_t)(seconds * 1e6) : UINT64_MAX;
    while (!g_stop && now_us() < end) {
        if (idle) {
            usleep(50000);
        } else if (cuLaunchKernel(fn, 64, 64, 1, 1, 1, 1, 0, NULL, NULL, NULL) != CUDA_SUCCESS) {
            die("cuLaunchKernel", 1);
        }
        uint64_t now = now_us();
        if (now - t0 >= 500000) {
            uint64_t busy = fake_busy_us(pid, 0);
            emit("\"event\":\"util\",\"t\":%.3f,\"percent\":%.2f", (double)(now - start) / 1e6,
                 100.0 * (double)(busy - busy0) / (double)(now - t0));
            t0 = now;
            busy0 = busy;
        }
    }
    if (p)
        CK(cuMemFree(p));
    emit("\"event\":\"done\"");
    return 0;
}
