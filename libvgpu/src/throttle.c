/*
 * Compute (SM) limiter: a per-device token bucket, refilled by a background watcher thread.
 *
 * Controller: every control period T the watcher samples utilization (NVML per-process samples
 * of the container's processes) and the tokens this process consumed. It keeps an estimate e of
 * GPU-seconds per token (e = own_util * T / consumed, smoothed), so the refill rate for a target
 * of L percent is (L - others' util) * T / e. The gain is thus normalized by measurement: neither
 * the SM count nor the grid size enters it (HAMi-core's step grows with SM count squared). A
 * slow multiplicative trim removes residual bias. Buckets never block a launch larger than the
 * bucket: the balance may go negative and the next launches wait for it to recover.
 *
 * Policies: force (always), disable (never), default (only while the region's
 * utilization_switch is 1, i.e. the monitor sees contention). recent_kernel < 0 (set by the
 * monitor for a lower-priority container) blocks launches.
 */
#include "vgpu.h"
#include "hami_vgpu.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int vgpu_gate = VGPU_GATE_INIT;
_Atomic int vgpu_launched;

#define SUB 10 /* refills per control period */
#define MAX_SAMPLES 256

typedef struct {
    _Atomic int64_t tokens;
    _Atomic int active;
    _Atomic int64_t max_cost;
    _Atomic int waited;
    double rate;          /* tokens per control period, 0 = not calibrated (unthrottled) */
    double e;             /* GPU-seconds per token */
    double trim;
    int64_t after_refill;
    uint64_t consumed;    /* since the last refill bookkeeping (refill() adds, control() drains) */
    uint64_t acc_consumed; /* since the last fresh utilization sample */
    double acc_time;
    unsigned long long last_seen_us;
    int own_seen;
    int nvml_ok;
    nvmlDevice_t nvml;
} devctl_t;

static devctl_t ctl[VGPU_MAX_DEVICES];
static int ndev;
static _Atomic int watcher_state; /* 0 none, 1 starting/running */

static const hami_vgpu_test_hooks_t *test_hooks;

/* Test hook (exported): replace the utilization sampler and/or the controller clock. */
void hami_vgpu_set_test_hooks(const hami_vgpu_test_hooks_t *h) __attribute__((visibility("default")));
void hami_vgpu_set_test_hooks(const hami_vgpu_test_hooks_t *h) {
    if (h && h->version != HAMI_VGPU_TEST_HOOKS_VERSION) {
        LOG_ERROR("hami_vgpu_set_test_hooks: version %d unsupported (want %d); ignored", h->version,
                  HAMI_VGPU_TEST_HOOKS_VERSION);
        return;
    }
    __atomic_store_n(&test_hooks, h, __ATOMIC_RELEASE);
}

static uint64_t now_ns(void) {
    const hami_vgpu_test_hooks_t *h = __atomic_load_n(&test_hooks, __ATOMIC_ACQUIRE);
    if (h && h->now_ns) return h->now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned long long wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

static void nap_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* ---- sampling ---- */
static int container_pid(vgpu_region_t *r, unsigned int pid) {
    int n = r->proc_num;
    for (int i = 0; i < n && i < VGPU_MAX_PROCS; i++) {
        const vgpu_slot_t *s = &r->procs[i];
        if (s->pid && ((unsigned)s->hostpid == pid || (!s->hostpid && (unsigned)s->pid == pid))) return 1;
    }
    return 0;
}

static int sample_nvml(int dev, double *total, double *own) {
    devctl_t *c = &ctl[dev];
    if (!c->nvml_ok || !vgpu_real[VGPU_H_nvmlDeviceGetProcessUtilization]) return -1;
    nvmlProcessUtilizationSample_t buf[MAX_SAMPLES]; /* watcher thread only: stack, not TLS */
    unsigned int n = MAX_SAMPLES;
    nvmlReturn_t r = REAL(nvmlDeviceGetProcessUtilization)(c->nvml, buf, &n, c->last_seen_us);
    unsigned long long now = wall_us();
    if (r == NVML_ERROR_NOT_FOUND) n = 0; /* no sample since last_seen (idle, or not sampled yet) */
    else if (r != NVML_SUCCESS) return -1;
    vgpu_region_t *reg = vgpu_region();
    vgpu_slot_t *me = vgpu_my_slot();
    unsigned int self = (unsigned)getpid();
    unsigned int hostpid = me->hostpid ? (unsigned)me->hostpid : self;
    double t = 0, o = 0;
    unsigned long long newest = c->last_seen_us;
    /* average per pid if a pid has several samples */
    for (unsigned i = 0; i < n && i < MAX_SAMPLES; i++) {
        unsigned pid = buf[i].pid;
        int dup = 0;
        for (unsigned j = 0; j < i; j++) if (buf[j].pid == pid) { dup = 1; break; }
        if (buf[i].timeStamp > newest) newest = buf[i].timeStamp;
        if (dup) continue;
        double sum = 0;
        int cnt = 0;
        for (unsigned j = i; j < n && j < MAX_SAMPLES; j++)
            if (buf[j].pid == pid) { sum += buf[j].smUtil; cnt++; }
        double u = cnt ? sum / cnt : 0;
        if (pid == hostpid || pid == self) {
            o += u;
            t += u;
            c->own_seen = 1;
            if (!me->hostpid && pid == self) me->hostpid = (int32_t)self;
        } else if (container_pid(reg, pid)) {
            t += u;
        }
    }
    int fresh = n > 0;
    if (fresh) c->last_seen_us = newest > c->last_seen_us ? newest : now;
    if (!c->own_seen && c->acc_consumed && vgpu_real[VGPU_H_nvmlDeviceGetUtilizationRates]) {
        /* our host pid is unknown (separate pid namespace): fall back to whole-device utilization */
        nvmlUtilization_t ur;
        if (REAL(nvmlDeviceGetUtilizationRates)(c->nvml, &ur) == NVML_SUCCESS) {
            t = o = ur.gpu;
            fresh = 1;
        }
    }
    if (!fresh) return -1;
    *total = t > 100 ? 100 : t;
    *own = o > 100 ? 100 : o;
    return 0;
}

static int sample(int dev, double *total, double *own) {
    const hami_vgpu_test_hooks_t *h = __atomic_load_n(&test_hooks, __ATOMIC_ACQUIRE);
    if (h && h->sample) return h->sample(dev, total, own);
    return sample_nvml(dev, total, own);
}

/* ---- bucket ---- */
static void refill(devctl_t *c) {
    int64_t add = c->rate > 0 ? (int64_t)(c->rate / SUB) : INT64_MAX / 4;
    if (add < 1) add = 1;
    int64_t mc = atomic_load_explicit(&c->max_cost, memory_order_relaxed);
    int64_t cap = c->rate > 0 ? (int64_t)(c->rate / SUB) * 2 : INT64_MAX / 4;
    if (cap < mc) cap = mc;
    if (cap < 1) cap = 1;
    int64_t bal = atomic_load(&c->tokens), nb;
    do {
        nb = bal > cap - add ? cap : bal + add;
    } while (!atomic_compare_exchange_weak(&c->tokens, &bal, nb));
    if (c->after_refill > bal) c->consumed += (uint64_t)(c->after_refill - bal);
    c->after_refill = nb;
}

static void control(int dev, int limit, double period_s) {
    devctl_t *c = &ctl[dev];
    double tick_s = period_s; /* the refill rate is per control period */
    /* utilization samples may arrive less often than control periods: pair each fresh sample with
     * everything consumed since the previous one */
    c->acc_consumed += c->consumed;
    c->consumed = 0;
    c->acc_time += period_s;
    double total = 0, own = 0;
    if (sample(dev, &total, &own) != 0) {
        if (c->acc_time > 5.0) c->acc_consumed = 0, c->acc_time = 0; /* stale: start over */
        return;
    }
    vgpu_slot_t *me = vgpu_my_slot();
    me->device_util[dev].sm_util = (uint64_t)(own + 0.5);
    uint64_t consumed = c->acc_consumed;
    period_s = c->acc_time; /* the time the sample and the consumption cover */
    c->acc_consumed = 0;
    c->acc_time = 0;
    if (period_s <= 0) return;
    if (own > 0.5 && consumed > 0) {
        double e_new = own / 100.0 * period_s / (double)consumed;
        c->e = c->e > 0 ? 0.6 * c->e + 0.4 * e_new : e_new;
    }
    if (c->e <= 0) return;
    int waited = atomic_exchange(&c->waited, 0);
    double err = (limit - total) / 100.0;
    /* trim only corrects a calibrated bucket (the open first period says nothing about bias), and
     * only upwards when the bucket actually held launches back */
    if (c->rate > 0 && (err < 0 || waited)) c->trim *= 1.0 + 0.5 * err;
    if (c->trim < 0.5) c->trim = 0.5;
    if (c->trim > 2.0) c->trim = 2.0;
    double target = limit - (total - own);
    if (target < limit * 0.05) target = limit * 0.05;
    if (target > limit) target = limit;
    c->rate = target / 100.0 * tick_s / c->e * c->trim;
    if (c->rate < 1) c->rate = 1;
    LOG_DEBUG("dev %d: util total %.1f own %.1f consumed %llu e %.3g trim %.2f rate %.0f", dev, total, own,
              (unsigned long long)consumed, c->e, c->trim, c->rate);
}

static void *watcher(void *arg) {
    (void)arg;
    vgpu_region_t *r = vgpu_region();
    vgpu_slot_t *me = vgpu_my_slot();
    long sub_us = (long)vgpu_cfg.sample_period_ms * 1000 / SUB;
    uint64_t last = now_ns();
    int any = 0;
    for (;;) {
        if (any) { /* throttling: refill SUB times per period */
            for (int i = 0; i < SUB; i++) {
                nap_us(sub_us);
                for (int d = 0; d < ndev; d++)
                    if (atomic_load_explicit(&ctl[d].active, memory_order_relaxed)) refill(&ctl[d]);
            }
        } else {
            nap_us(sub_us * SUB); /* idle: one wake-up per period */
        }
        any = 0;
        uint64_t now = now_ns();
        double period_s = (double)(now - last) / 1e9;
        last = now;
        /* activity and priority signals for the monitor */
        int launched = atomic_exchange_explicit(&vgpu_launched, 0, memory_order_relaxed);
        if (launched) {
            uint64_t t = (uint64_t)time(NULL);
            _Atomic uint64_t *lk = (_Atomic uint64_t *)&r->last_kernel_time;
            uint64_t old = atomic_load(lk);
            while (old < t && !atomic_compare_exchange_weak(lk, &old, t)) {}
            _Atomic int32_t *rk = (_Atomic int32_t *)&r->recent_kernel;
            int32_t v = atomic_load(rk);
            if (v >= 0 && v != 2) atomic_compare_exchange_strong(rk, &v, 2);
        }
        int blocked = atomic_load((_Atomic int32_t *)&r->recent_kernel) < 0;
        int on = vgpu_cfg.policy == VGPU_POLICY_FORCE ||
                 (vgpu_cfg.policy == VGPU_POLICY_DEFAULT && atomic_load((_Atomic int32_t *)&r->utilization_switch) == 1);
        for (int d = 0; d < ndev; d++) {
            int limit = (int)r->sm_limit[d];
            int act = on && limit > 0 && limit < 100;
            if (act) {
                if (!atomic_load(&ctl[d].active)) { /* (re)start open, then calibrate */
                    ctl[d].rate = 0;
                    ctl[d].trim = 1;
                    ctl[d].after_refill = atomic_load(&ctl[d].tokens);
                    ctl[d].consumed = 0;
                    ctl[d].acc_consumed = 0;
                    ctl[d].acc_time = 0;
                }
                control(d, limit, period_s);
                any = 1;
            } else { /* not throttled: still report utilization for the monitor */
                double total = 0, own = 0;
                if (!launched) me->device_util[d].sm_util = 0;
                else if (sample(d, &total, &own) == 0) me->device_util[d].sm_util = (uint64_t)(own + 0.5);
            }
            atomic_store(&ctl[d].active, act);
        }
        atomic_store(&vgpu_gate, (any ? VGPU_GATE_THROTTLE : 0) | (blocked ? VGPU_GATE_BLOCKED : 0));
    }
    return NULL;
}

void vgpu_watcher_start(void) {
    int expect = 0;
    if (!atomic_compare_exchange_strong(&watcher_state, &expect, 1)) return;
    vgpu_config_init();
    vgpu_cuda_ready();
    vgpu_region_t *r = vgpu_region();
    vgpu_my_slot();
    int count = 0;
    if (vgpu_real[VGPU_H_cuDeviceGetCount] && REAL(cuDeviceGetCount)(&count) != CUDA_SUCCESS) count = 0;
    ndev = count > VGPU_MAX_DEVICES ? VGPU_MAX_DEVICES : count;
    for (int d = 0; d < ndev; d++) {
        ctl[d].trim = 1;
        ctl[d].nvml_ok = vgpu_cuda_to_nvml(d, &ctl[d].nvml) == 0;
        ctl[d].last_seen_us = wall_us();
        atomic_store(&ctl[d].tokens, INT64_MAX / 4);
        ctl[d].after_refill = INT64_MAX / 4;
    }
    (void)r;
    vgpu_region_set_devices();
    /* the thread also feeds the monitor (utilization, last kernel time), so start it whenever a
     * device exists; it blocks all signals so the application's handlers never run on it */
    if (ndev > 0) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, watcher, NULL) != 0) LOG_WARN("cannot start the utilization watcher");
        pthread_attr_destroy(&a);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
}

void vgpu_launch_slow(uint64_t cost) {
    int g = atomic_load(&vgpu_gate);
    if (g & VGPU_GATE_INIT) {
        vgpu_watcher_start();
        atomic_fetch_and(&vgpu_gate, ~VGPU_GATE_INIT);
        g = atomic_load(&vgpu_gate);
    }
    while (atomic_load(&vgpu_gate) & VGPU_GATE_BLOCKED) nap_us(100000); /* higher priority task runs */
    if (!(g & VGPU_GATE_THROTTLE)) return;
    int dev = vgpu_current_device();
    if (dev < 0 || dev >= ndev) return;
    devctl_t *c = &ctl[dev];
    if (cost > (1ull << 40)) cost = 1ull << 40;
    int64_t mc = atomic_load_explicit(&c->max_cost, memory_order_relaxed);
    if ((int64_t)cost > mc) atomic_store_explicit(&c->max_cost, (int64_t)cost, memory_order_relaxed);
    int waited = 0;
    while (atomic_load_explicit(&c->tokens, memory_order_acquire) <= 0 && atomic_load(&c->active) &&
           (atomic_load(&vgpu_gate) & VGPU_GATE_THROTTLE)) {
        waited = 1;
        nap_us(500);
    }
    if (waited) atomic_store_explicit(&c->waited, 1, memory_order_relaxed);
    atomic_fetch_sub(&c->tokens, (int64_t)cost);
}

void vgpu_after_fork_child(void) {
    /* threads do not survive fork: restart the watcher on the child's first launch */
    atomic_store(&watcher_state, 0);
    atomic_store(&vgpu_gate, VGPU_GATE_INIT);
    for (int d = 0; d < VGPU_MAX_DEVICES; d++) atomic_store(&ctl[d].active, 0);
}
