/* Logging: "[hami-vgpu pid:tid] LEVEL: message" on stderr, one write(2) per line. */
#include "vgpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int vgpu_log_level = VGPU_LOG_WARN;

void vgpu_log(int level, const char *fmt, ...) {
    if (level > vgpu_log_level) return;
    static const char *const names[] = {"ERROR", "ERROR", "WARN", "INFO", "DEBUG"};
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "[hami-vgpu %d:%ld] %s: ", (int)getpid(), (long)syscall(SYS_gettid),
                     names[level < 0 ? 0 : level > 4 ? 4 : level]);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof buf - 2) len = sizeof buf - 2;
    buf[len++] = '\n';
    ssize_t w = write(2, buf, len);
    (void)w;
}
