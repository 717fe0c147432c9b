/*
 * duration.h — the one duration grammar of revmq: configuration values,
 * revmq-ca options and revmq-bench flags all read durations here.
 *
 * Grammar: one or more parts `<digits><unit>`, summed, no spaces:
 *   units  ms | s | m | h | d | w (7 d) | y (365 d), case-insensitive
 *   e.g.   500ms  15s  1h30m  90d  1y  1w2d3h4m5s
 * A bare number (no unit) is allowed only as the whole value: "0" always;
 * any other bare number only when the caller says which unit it means
 * (RMQ_DURATION_BARE_S: "3600" = 3600 s, as revmq-ca and revmq-bench accept).
 * "1h5" (a unitless number after a part), signs, decimals, spaces and
 * overflow past 2^53 ms are refused.
 *
 * Pure: a byte range in (not NUL-terminated), no allocation, no globals,
 * thread-safe.
 */
#ifndef RMQ_DURATION_H
#define RMQ_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum rmq_duration_bare {
    RMQ_DURATION_BARE_ZERO, /* a bare number must be 0 (configuration) */
    RMQ_DURATION_BARE_S,    /* a bare number is seconds (command lines) */
};

/* The largest duration accepted, in ms (2^53: exact in a double, ~285,000 years). */
#define RMQ_DURATION_MAX_MS ((uint64_t)1 << 53)

/* Parses [s, s+n) into *ms. RMQ_ERR_INVALID when it is not a duration;
 * then *ms is unchanged. */
RMQ_MUST_USE rmq_err rmq_duration_parse(const char *s, size_t n, enum rmq_duration_bare bare,
                                        uint64_t *ms);

#endif /* RMQ_DURATION_H */
