/* log.c — line logger; see log.h. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = RMQ_LOG_INFO;
static _Atomic int log_fd = 2;

static const char *const level_names[] = {"debug",   "info",  "notice",
                                          "warning", "error", "critical"};

const char *rmq_log_level_name(enum rmq_log_level lvl)
{
    if ((unsigned)lvl > RMQ_LOG_CRITICAL) {
        return "?";
    }
    return level_names[lvl];
}

rmq_err rmq_log_level_parse(const char *s, enum rmq_log_level *out)
{
    for (int i = 0; i <= RMQ_LOG_CRITICAL; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum rmq_log_level)i;
            return RMQ_OK;
        }
    }
    if (strcmp(s, "warn") == 0) {
        *out = RMQ_LOG_WARNING;
        return RMQ_OK;
    }
    if (strcmp(s, "err") == 0) {
        *out = RMQ_LOG_ERROR;
        return RMQ_OK;
    }
    return RMQ_ERR_INVALID;
}

void rmq_log_set_level(enum rmq_log_level lvl)
{
    atomic_store(&log_level, (int)lvl);
}

bool rmq_log_enabled(enum rmq_log_level lvl)
{
    return (int)lvl >= atomic_load(&log_level);
}

rmq_err rmq_log_set_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        return RMQ_ERR_IO;
    }
    int old = atomic_exchange(&log_fd, fd);
    if (old > 2) {
        close(old);
    }
    return RMQ_OK;
}

__attribute__((format(printf, 3, 0))) static void
log_v(enum rmq_log_level lvl, const char *component, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, rmq_log_level_name(lvl), component);
    if (n < 0) {
        return;
    }
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
    if (m > 0) {
        used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
    }
    /* One event, one line: fold embedded newlines. */
    for (size_t i = 0; i < used; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    if (used >= sizeof line - 1) {
        used = sizeof line - 2;
    }
    line[used++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), line, used);
    (void)w;
}

void rmq_log(enum rmq_log_level lvl, const char *component, const char *fmt, ...)
{
    if (!rmq_log_enabled(lvl)) {
        return;
    }
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_v(lvl, component, fmt, ap);
    va_end(ap);
    errno = saved;
}

void rmq_log_rl(struct rmq_log_ratelimit *rl, unsigned per_sec, enum rmq_log_level lvl,
                const char *component, const char *fmt, ...)
{
    if (!rmq_log_enabled(lvl)) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Benign race between threads: at worst a few extra or fewer lines. */
    if (rl->window != ts.tv_sec) {
        if (rl->suppressed > 0) {
            rmq_log(lvl, component, "suppressed=%u similar lines in the last second",
                    rl->suppressed);
        }
        rl->window = ts.tv_sec;
        rl->count = 0;
        rl->suppressed = 0;
    }
    if (rl->count >= per_sec) {
        rl->suppressed++;
        return;
    }
    rl->count++;
    va_list ap;
    va_start(ap, fmt);
    log_v(lvl, component, fmt, ap);
    va_end(ap);
}
