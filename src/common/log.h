/*
 * log.h — one line per event: `<time> <level> component: message key=value …`.
 *
 * Writes to stderr (or the file set with rmq_log_set_file), and also to a
 * rotated log file when rmq_log_open_file was called. Thread-safe: one
 * write(2) per line and sink. Levels follow EMQX's `log.level`: debug, info,
 * notice, warning, error, critical.
 *
 * Formats (rmq_log_set_format, EMQX's log.formatter):
 * - text (logfmt): `<time> <level> component: message key=value …`; the
 *   logger splits the message into pairs as for json below and writes a
 *   value quoted (key="a b", with \" \\ \n escaped) when it is empty or
 *   holds a space, '=', '"', '\\' or a control character, so logfmt parsers
 *   read every field. Call sites write plain printf text.
 * - json: one object per line: {"time","level","component","msg", then every
 *   key=value of the message as a string field}. The message text before the
 *   first key=value is "msg"; a quoted value is unquoted; a bare word after
 *   an unquoted value belongs to that value (reason=client disconnect ->
 *   "reason":"client disconnect").
 *
 * Rate-limited logging for events a peer can trigger: RMQ_LOG_RL keeps at most
 * `per_sec` lines per second per call site and reports the suppressed count.
 */
#ifndef RMQ_LOG_H
#define RMQ_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum rmq_log_level {
    RMQ_LOG_DEBUG,
    RMQ_LOG_INFO,
    RMQ_LOG_NOTICE,
    RMQ_LOG_WARNING,
    RMQ_LOG_ERROR,
    RMQ_LOG_CRITICAL,
};

/* Parses "debug".."critical" (also "warn", "err"); RMQ_ERR_INVALID otherwise. */
RMQ_MUST_USE rmq_err rmq_log_level_parse(const char *s, enum rmq_log_level *out);
const char *rmq_log_level_name(enum rmq_log_level lvl);

void rmq_log_set_level(enum rmq_log_level lvl);
/* Appends to path; RMQ_ERR_IO if it cannot be opened (stderr stays in use). */
RMQ_MUST_USE rmq_err rmq_log_set_file(const char *path);

enum rmq_log_format { RMQ_LOG_TEXT, RMQ_LOG_JSON };
void rmq_log_set_format(enum rmq_log_format f);

/* Also writes every line to `path` (appending), rotated when it would grow
 * past max_bytes: path -> path.1 -> … -> path.<keep> (the oldest is
 * dropped). keep 0: truncate in place. RMQ_ERR_IO when it cannot be opened
 * (nothing changed). Call before other threads log (start-up). */
RMQ_MUST_USE rmq_err rmq_log_open_file(const char *path, uint64_t max_bytes, unsigned keep);
/* Closes the rotated file (shutdown); lines go to stderr only. */
void rmq_log_close_file(void);

/* Also sends every line to syslog(3) as `ident` (facility daemon), priority
 * from the level, without the time and level in text format (syslog adds
 * them). Call at start-up; rmq_log_close_syslog at shutdown. */
void rmq_log_open_syslog(const char *ident);
void rmq_log_close_syslog(void);

/* Formats one line (without the newline) as the logger would, for tests:
 * returns the length written to out (NUL-terminated, truncated to n-1). */
size_t rmq_log_format_line(enum rmq_log_format f, const char *time, const char *level,
                           const char *component, const char *msg, char *out, size_t n);

void rmq_log(enum rmq_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One per call site (static, zero-initialised), shared by every thread that
 * passes there (e.g. handshakes on several workers): atomics, no lock. */
struct rmq_log_ratelimit {
    _Atomic long window; /* second of the current window */
    _Atomic unsigned count;
    _Atomic unsigned suppressed;
};

/* Like rmq_log, but at most per_sec lines a second through `rl`. */
void rmq_log_rl(struct rmq_log_ratelimit *rl, unsigned per_sec, enum rmq_log_level lvl,
                const char *component, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define RMQ_LOG_RL(per_sec, lvl, comp, ...)                                                        \
    do {                                                                                           \
        static struct rmq_log_ratelimit rmq_rl_;                                                   \
        rmq_log_rl(&rmq_rl_, (per_sec), (lvl), (comp), __VA_ARGS__);                               \
    } while (0)

#define rmq_debug(comp, ...) rmq_log(RMQ_LOG_DEBUG, comp, __VA_ARGS__)
#define rmq_info(comp, ...) rmq_log(RMQ_LOG_INFO, comp, __VA_ARGS__)
#define rmq_notice(comp, ...) rmq_log(RMQ_LOG_NOTICE, comp, __VA_ARGS__)
#define rmq_warn(comp, ...) rmq_log(RMQ_LOG_WARNING, comp, __VA_ARGS__)
#define rmq_error(comp, ...) rmq_log(RMQ_LOG_ERROR, comp, __VA_ARGS__)

#endif
