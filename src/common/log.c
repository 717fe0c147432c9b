/* log.c — line logger; see log.h. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
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

static bool rmq_log_enabled(enum rmq_log_level lvl)
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

/* ---------- formats ---------- */

static _Atomic int log_format = RMQ_LOG_TEXT;

void rmq_log_set_format(enum rmq_log_format f)
{
    atomic_store(&log_format, (int)f);
}

struct out {
    char *p;
    size_t n; /* capacity, > 0 */
    size_t k; /* used (always < n) */
};

static void put(struct out *o, const char *s, size_t len)
{
    size_t room = o->n - 1 - o->k;
    if (len > room) {
        len = room;
    }
    memcpy(o->p + o->k, s, len);
    o->k += len;
    o->p[o->k] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A JSON string (quotes included); control characters escaped. */
static void put_json(struct out *o, const char *s, size_t len)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    put(o, "\"", 1);
}

/* Length of "key=" at s (key: [A-Za-z0-9_.-]+), 0 when s is not a pair. */
static size_t key_len(const char *s)
{
    size_t i = 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-') {
        i++;
    }
    return i > 0 && s[i] == '=' ? i : 0;
}

/* Start of the first key=value token of msg (or its end). */
static const char *first_pair(const char *msg)
{
    const char *p = msg;
    while (*p) {
        if ((p == msg || p[-1] == ' ') && key_len(p)) {
            return p;
        }
        p++;
    }
    return p;
}

/* Unquotes a "…" value at p into buf (cap bytes); returns the end. */
static const char *unquote(const char *p, char *buf, size_t cap, size_t *k)
{
    *k = 0;
    p++; /* opening quote */
    while (*p && *p != '"') {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
            p++;
        }
        if (*k < cap) {
            buf[(*k)++] = *p;
        }
        p++;
    }
    return *p == '"' ? p + 1 : p;
}

/* A logfmt value: bare when it is a plain word (and was not written quoted),
 * else "…" with \" \\ \n \t escaped. */
static void put_logfmt(struct out *o, const char *s, size_t len, bool quoted)
{
    bool plain = len > 0 && !quoted;
    for (size_t i = 0; i < len && plain; i++) {
        unsigned char c = (unsigned char)s[i];
        plain = c > 0x20 && c != 0x7f && c != '"' && c != '=' && c != '\\';
    }
    if (plain) {
        put(o, s, len);
        return;
    }
    put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c == '\n' || c == '\t') {
            put(o, c == '\n' ? "\\n" : "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    put(o, "\"", 1);
}

/*
 * The key=value pairs from p on, each written as a JSON field (json) or as
 * ` key=value` in logfmt. A value is "quoted" as written, or runs unquoted up
 * to the next token that is a pair (reason=client disconnect -> one value);
 * a quoted part followed by more text ("CN=x"#01:y) is kept whole, raw.
 */
static void put_pairs(struct out *o, const char *p, bool json)
{
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        size_t kl = key_len(p);
        if (!kl) {
            break; /* cannot happen after first_pair; be safe */
        }
        if (json) {
            put(o, ",", 1);
        } else if (o->k > 0 && o->p[o->k - 1] != ' ') {
            put(o, " ", 1);
        }
        if (json) {
            put_json(o, p, kl);
            put(o, ":", 1);
        } else {
            put(o, p, kl + 1);
        }
        p += kl + 1;
        const char *v = p;
        size_t vl;
        bool quoted = false;
        char buf[1024];
        const char *after = *p == '"' ? unquote(p, buf, sizeof buf, &vl) : NULL;
        if (after != NULL && (*after == '\0' || *after == ' ')) {
            v = buf; /* "…" as a whole value */
            p = after;
            quoted = true;
        } else {
            /* unquoted, or text after the closing quote ("CN=x"#01:y): the raw text */
            const char *cur = p, *end;
            for (;;) {
                const char *sp = strchr(cur, ' ');
                if (!sp) {
                    end = cur + strlen(cur);
                    break;
                }
                if (key_len(sp + 1)) {
                    end = sp;
                    break;
                }
                cur = sp + 1;
            }
            vl = (size_t)(end - v);
            while (vl > 0 && v[vl - 1] == ' ') {
                vl--;
            }
            p = end;
        }
        if (json) {
            put_json(o, v, vl);
        } else {
            put_logfmt(o, v, vl, quoted);
        }
    }
}

size_t rmq_log_format_line(enum rmq_log_format f, const char *time, const char *level,
                           const char *component, const char *msg, char *out, size_t n)
{
    struct out o = {out, n, 0};
    out[0] = '\0';
    if (f != RMQ_LOG_JSON) {
        puts_(&o, time);
        put(&o, " ", 1);
        puts_(&o, level);
        put(&o, " ", 1);
        puts_(&o, component);
        put(&o, ": ", 2);
    }
    const char *pairs = first_pair(msg);
    size_t ml = (size_t)(pairs - msg);
    while (ml > 0 && msg[ml - 1] == ' ') {
        ml--;
    }
    if (f != RMQ_LOG_JSON) {
        /* the message text, then its pairs in logfmt (values with spaces quoted) */
        put(&o, msg, *pairs != '\0' ? ml : strlen(msg));
        put_pairs(&o, pairs, false);
        return o.k;
    }
    puts_(&o, "{\"time\":");
    put_json(&o, time, strlen(time));
    puts_(&o, ",\"level\":");
    put_json(&o, level, strlen(level));
    puts_(&o, ",\"component\":");
    put_json(&o, component, strlen(component));
    puts_(&o, ",\"msg\":");
    put_json(&o, msg, ml);
    put_pairs(&o, pairs, true);
    if (o.k + 1 >= o.n) { /* truncated: keep it one valid object */
        o.k = 0;
        puts_(&o, "{\"time\":");
        put_json(&o, time, strlen(time));
        puts_(&o, ",\"level\":");
        put_json(&o, level, strlen(level));
        puts_(&o, ",\"component\":");
        put_json(&o, component, strlen(component));
        puts_(&o, ",\"msg\":\"(line too long)\"");
    }
    put(&o, "}", 1);
    return o.k;
}

/* ---------- the rotated file ---------- */

static pthread_mutex_t file_mu = PTHREAD_MUTEX_INITIALIZER; /* protects the file_* below */
static int file_fd = -1;
static char file_path[4096];
static uint64_t file_max;
static uint64_t file_size;
static unsigned file_keep;
static _Atomic bool file_on;

static int open_log(const char *path, bool trunc)
{
    return open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (trunc ? O_TRUNC : O_APPEND), 0640);
}

rmq_err rmq_log_open_file(const char *path, uint64_t max_bytes, unsigned keep)
{
    if (strlen(path) + 16 > sizeof file_path) {
        return RMQ_ERR_INVALID;
    }
    int fd = open_log(path, false);
    if (fd < 0) {
        return RMQ_ERR_IO;
    }
    struct stat st;
    pthread_mutex_lock(&file_mu);
    if (file_fd >= 0) {
        close(file_fd);
    }
    file_fd = fd;
    snprintf(file_path, sizeof file_path, "%s", path);
    file_max = max_bytes;
    file_keep = keep;
    file_size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    pthread_mutex_unlock(&file_mu);
    atomic_store(&file_on, true);
    return RMQ_OK;
}

void rmq_log_close_file(void)
{
    atomic_store(&file_on, false);
    pthread_mutex_lock(&file_mu);
    if (file_fd >= 0) {
        close(file_fd);
        file_fd = -1;
    }
    pthread_mutex_unlock(&file_mu);
}

/* With file_mu held: path.<keep-1> -> path.<keep> … path -> path.1, reopen. */
static void rotate_locked(void)
{
    char from[sizeof file_path + 16], to[sizeof file_path + 16];
    close(file_fd);
    for (unsigned i = file_keep; i > 1; i--) {
        snprintf(from, sizeof from, "%s.%u", file_path, i - 1);
        snprintf(to, sizeof to, "%s.%u", file_path, i);
        (void)rename(from, to);
    }
    if (file_keep > 0) {
        snprintf(to, sizeof to, "%s.1", file_path);
        (void)rename(file_path, to);
    }
    file_fd = open_log(file_path, true);
    file_size = 0;
}

static void write_file(const char *line, size_t len)
{
    pthread_mutex_lock(&file_mu);
    if (file_fd >= 0) {
        if (file_max && file_size > 0 && file_size + len > file_max) {
            rotate_locked();
        }
        if (file_fd >= 0) {
            ssize_t w = write(file_fd, line, len);
            file_size += w > 0 ? (uint64_t)w : 0;
        }
    }
    pthread_mutex_unlock(&file_mu);
}

static _Atomic bool syslog_on;

void rmq_log_open_syslog(const char *ident)
{
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    atomic_store(&syslog_on, true);
}

void rmq_log_close_syslog(void)
{
    if (atomic_exchange(&syslog_on, false)) {
        closelog();
    }
}

static void write_syslog(enum rmq_log_level lvl, const char *line, size_t skip)
{
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR, LOG_CRIT};
    syslog(prio[(unsigned)lvl <= RMQ_LOG_CRITICAL ? lvl : RMQ_LOG_CRITICAL], "%s", line + skip);
}

__attribute__((format(printf, 3, 0))) static void
log_v(enum rmq_log_level lvl, const char *component, const char *fmt, va_list ap)
{
    char msg[2048], ts_s[96], line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(ts_s, sizeof ts_s, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0) {
        return;
    }
    /* One event, one line: fold embedded newlines. */
    for (char *c = msg; *c; c++) {
        if (*c == '\n' || *c == '\r') {
            *c = ' ';
        }
    }
    size_t used =
        rmq_log_format_line((enum rmq_log_format)atomic_load(&log_format), ts_s,
                            rmq_log_level_name(lvl), component, msg, line, sizeof line - 1);
    if (atomic_load(&syslog_on)) {
        /* text: without "<time> <level> " (syslog records both) */
        bool text = atomic_load(&log_format) != RMQ_LOG_JSON;
        size_t skip = text ? strlen(ts_s) + strlen(rmq_log_level_name(lvl)) + 2 : 0;
        write_syslog(lvl, line, skip < used ? skip : 0);
    }
    line[used++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), line, used);
    (void)w;
    if (atomic_load(&file_on)) {
        write_file(line, used);
    }
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
    /* Several threads may pass here at once: the one that moves the window
     * reports what the last one suppressed; a line counted just before the
     * reset may let one extra through (never fewer than per_sec). */
    long w = atomic_load(&rl->window);
    if (w != (long)ts.tv_sec && atomic_compare_exchange_strong(&rl->window, &w, (long)ts.tv_sec)) {
        unsigned suppressed = atomic_exchange(&rl->suppressed, 0);
        atomic_store(&rl->count, 0);
        if (suppressed > 0) {
            rmq_log(lvl, component, "suppressed=%u similar lines in the last second", suppressed);
        }
    }
    if (atomic_fetch_add(&rl->count, 1) >= per_sec) {
        atomic_fetch_add(&rl->suppressed, 1);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_v(lvl, component, fmt, ap);
    va_end(ap);
}
