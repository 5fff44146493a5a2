/* Configuration: every environment variable is read exactly once, here, into vgpu_cfg. */
#include "vgpu.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

vgpu_config_t vgpu_cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

int vgpu_parse_size(const char *s, uint64_t *out) {
    if (!s) return -1;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s || *s == '-' || *s == '+') return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return -1;
    /* reject hex/inf/nan forms strtod accepts */
    for (const char *p = s; p < end; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.')) return -1;
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mult = 1024.0; break;
        case 'm': case 'M': mult = 1024.0 * 1024; break;
        case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
        case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; break;
        case 'b': case 'B': mult = 1; break;
        default: return -1;
        }
        end++;
        if (mult > 1 && *end == 'i') end++;
        if (mult > 1 && (*end == 'b' || *end == 'B')) end++;
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (*end) return -1;
    }
    double bytes = v * mult;
    if (bytes >= 18446744073709551615.0) return -1;
    *out = (uint64_t)bytes;
    return 0;
}

static int parse_percent(const char *s, int *out) {
    if (!s) return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno || v < 0) return -1;
    while (*end == ' ' || *end == '\n') end++;
    if (*end) return -1;
    *out = v == 0 || v > 100 ? 100 : (int)v;
    return 0;
}

static int parse_bool(const char *s) {
    return s && (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"));
}

static void parse_visible(const char *s) {
    vgpu_cfg.visible_n = -1;
    if (!s) return;
    vgpu_cfg.visible_n = 0;
    while (*s && vgpu_cfg.visible_n < VGPU_MAX_DEVICES) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        while (len && (*s == ' ')) { s++; len--; }
        while (len && s[len - 1] == ' ') len--;
        if (len >= VGPU_UUID_LEN) len = VGPU_UUID_LEN - 1;
        memcpy(vgpu_cfg.visible[vgpu_cfg.visible_n], s, len);
        vgpu_cfg.visible[vgpu_cfg.visible_n][len] = 0;
        vgpu_cfg.visible_n++;
        if (!comma) break;
        s = comma + 1;
    }
}

static void config_read(void) {
    vgpu_config_t *c = &vgpu_cfg;
    const char *lvl = getenv("LIBCUDA_LOG_LEVEL");
    c->log_level = VGPU_LOG_WARN;
    if (lvl && *lvl) {
        char *end;
        long v = strtol(lvl, &end, 10);
        if (end != lvl && !*end && v >= 0) c->log_level = v > 4 ? 4 : (int)v;
    }
    vgpu_log_level = c->log_level;

    uint64_t common = 0;
    const char *s = getenv("CUDA_DEVICE_MEMORY_LIMIT");
    if (s && *s && vgpu_parse_size(s, &common) != 0) {
        LOG_ERROR("CUDA_DEVICE_MEMORY_LIMIT=%s is not a size (e.g. 3000m, 1.5Gi); ignoring it", s);
        common = 0;
    }
    int sm_common = 100;
    s = getenv("CUDA_DEVICE_SM_LIMIT");
    if (s && *s && parse_percent(s, &sm_common) != 0) {
        LOG_ERROR("CUDA_DEVICE_SM_LIMIT=%s is not a percentage; ignoring it", s);
        sm_common = 100;
    }
    for (int i = 0; i < VGPU_MAX_DEVICES; i++) {
        char name[64];
        uint64_t v = 0;
        snprintf(name, sizeof name, "CUDA_DEVICE_MEMORY_LIMIT_%d", i);
        s = getenv(name);
        if (s && *s && vgpu_parse_size(s, &v) != 0) {
            LOG_ERROR("%s=%s is not a size (e.g. 3000m, 1.5Gi); ignoring it", name, s);
            v = 0;
        }
        c->mem_limit[i] = v ? v : common;
        int p = sm_common;
        snprintf(name, sizeof name, "CUDA_DEVICE_SM_LIMIT_%d", i);
        s = getenv(name);
        if (s && *s && parse_percent(s, &p) != 0) {
            LOG_ERROR("%s=%s is not a percentage; ignoring it", name, s);
            p = sm_common;
        }
        c->sm_limit[i] = p;
    }
    c->priority = 1;
    s = getenv("CUDA_TASK_PRIORITY");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || *end) LOG_ERROR("CUDA_TASK_PRIORITY=%s is not an integer; using 1", s);
        else c->priority = (int)v;
    }
    c->policy = VGPU_POLICY_DEFAULT;
    s = getenv("GPU_CORE_UTILIZATION_POLICY");
    if (s && !strcasecmp(s, "force")) c->policy = VGPU_POLICY_FORCE;
    else if (s && !strcasecmp(s, "disable")) c->policy = VGPU_POLICY_DISABLE;
    else if (s && *s && strcasecmp(s, "default"))
        LOG_WARN("GPU_CORE_UTILIZATION_POLICY=%s unknown; using default", s);
    c->oversubscribe = parse_bool(getenv("CUDA_OVERSUBSCRIBE"));
    parse_visible(getenv("CUDA_VISIBLE_DEVICES"));
    c->sample_period_ms = 100;
    s = getenv("LIBVGPU_SAMPLE_PERIOD_MS");
    if (s && *s) {
        long v = strtol(s, NULL, 10);
        if (v >= 5 && v <= 10000) c->sample_period_ms = (int)v;
    }
    s = getenv("CUDA_DEVICE_MEMORY_SHARED_CACHE");
    snprintf(c->cache_path, sizeof c->cache_path, "%s", s && *s ? s : "/tmp/cudevshr.cache");
    LOG_INFO("config: limit0=%llu sm0=%d policy=%d priority=%d cache=%s", (unsigned long long)c->mem_limit[0],
             c->sm_limit[0], c->policy, c->priority, c->cache_path);
}

void vgpu_config_init(void) { pthread_once(&cfg_once, config_read); }
