/* contend THREADS ITERS CHUNK HOLD: every thread allocates CHUNK bytes repeatedly, holding at most HOLD
 * allocations (freeing the oldest), and after each grant reads the driver's physical usage (all processes
 * sharing FAKE_CUDA_STATE). ITERS 0 = loop until killed (churn for the SIGKILL test). */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

static uint64_t g_chunk;
static int g_iters, g_hold;
static CUcontext g_ctx;
static pthread_barrier_t g_start, g_filled;
static _Atomic unsigned long long g_granted, g_oom, g_other, g_free_fail, g_max_used;

static void *worker(void *arg)
{
    (void)arg;
    CK(cuCtxSetCurrent(g_ctx));
    pthread_barrier_wait(&g_start); /* all threads contend from the same moment */
    CUdeviceptr *held = calloc((size_t)g_hold, sizeof(*held));
    int n = 0, head = 0;
    /* Fill phase: everyone takes HOLD chunks, then all churn together (demand is threads x HOLD). */
    for (int i = 0; i < g_hold; i++) {
        CUresult rc = cuMemAlloc(&held[n], g_chunk);
        if (rc == CUDA_SUCCESS) {
            n++;
            atomic_fetch_add(&g_granted, 1);
        } else if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
            atomic_fetch_add(&g_oom, 1);
        } else {
            atomic_fetch_add(&g_other, 1);
        }
    }
    pthread_barrier_wait(&g_filled);
    for (int i = 0; g_iters == 0 || i < g_iters; i++) {
        if (n == g_hold) {
            if (cuMemFree(held[head]) != CUDA_SUCCESS)
                atomic_fetch_add(&g_free_fail, 1);
            head = (head + 1) % g_hold;
            n--;
        }
        CUdeviceptr p = 0;
        CUresult rc = cuMemAlloc(&p, g_chunk);
        if (rc == CUDA_SUCCESS) {
            held[(head + n) % g_hold] = p;
            n++;
            atomic_fetch_add(&g_granted, 1);
            unsigned long long used = fake_used_bytes(0), cur = atomic_load(&g_max_used);
            while (used > cur && !atomic_compare_exchange_weak(&g_max_used, &cur, used))
                ;
        } else if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
            atomic_fetch_add(&g_oom, 1);
        } else {
            atomic_fetch_add(&g_other, 1);
        }
    }
    while (n > 0) {
        if (cuMemFree(held[head]) != CUDA_SUCCESS)
            atomic_fetch_add(&g_free_fail, 1);
        head = (head + 1) % g_hold;
        n--;
    }
    free(held);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: contend THREADS ITERS CHUNK HOLD\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    g_iters = atoi(argv[2]);
    g_chunk = strtoull(argv[3], NULL, 0);
    g_hold = atoi(argv[4]);
    g_ctx = setup_ctx(0);
    emit("\"event\":\"ready\",\"pid\":%d", (int)getpid());
    pthread_t *t = calloc((size_t)threads, sizeof(*t));
    pthread_barrier_init(&g_start, NULL, (unsigned)threads);
    pthread_barrier_init(&g_filled, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    emit("\"event\":\"done\",\"granted\":%llu,\"oom\":%llu,\"other\":%llu,\"free_fail\":%llu,\"max_used\":%llu,"
         "\"used_after\":%llu",
         atomic_load(&g_granted), atomic_load(&g_oom), atomic_load(&g_other), atomic_load(&g_free_fail),
         atomic_load(&g_max_used), (unsigned long long)fake_used_bytes(0));
    return 0;
}
