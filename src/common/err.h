/*
 * err.h — the one error enum of revmq.
 *
 * Every fallible function returns `rmq_err` (RMQ_OK on success) and passes
 * results through out-parameters. Errors are defined once, in RMQ_ERR_TABLE:
 * name, category, message. Not here: MQTT reason codes (src/mqtt/codec.h) and
 * TLS alerts; those are wire values, not program errors.
 *
 * Thread-safe: the table is constant.
 */
#ifndef RMQ_ERR_H
#define RMQ_ERR_H

#define RMQ_MUST_USE __attribute__((warn_unused_result))

/* X(name, category, message) */
#define RMQ_ERR_TABLE(X)                                                                           \
    X(RMQ_OK, "ok", "success")                                                                     \
    X(RMQ_ERR_NOMEM, "resource", "out of memory")                                                  \
    X(RMQ_ERR_IO, "io", "input/output error")                                                      \
    X(RMQ_ERR_AGAIN, "io", "operation would block")                                                \
    X(RMQ_ERR_EOF, "io", "end of input")                                                           \
    X(RMQ_ERR_TIMEOUT, "io", "timed out")                                                          \
    X(RMQ_ERR_NEED_MORE, "parse", "need more input")                                               \
    X(RMQ_ERR_MALFORMED, "parse", "malformed input")                                               \
    X(RMQ_ERR_TOO_LARGE, "parse", "input over limit")                                              \
    X(RMQ_ERR_PROTOCOL, "protocol", "protocol error")                                              \
    X(RMQ_ERR_CONFIG, "config", "invalid configuration")                                           \
    X(RMQ_ERR_NOT_FOUND, "lookup", "not found")                                                    \
    X(RMQ_ERR_EXISTS, "lookup", "already exists")                                                  \
    X(RMQ_ERR_INVALID, "usage", "invalid argument")                                                \
    X(RMQ_ERR_TLS, "tls", "TLS error")                                                             \
    X(RMQ_ERR_CRYPTO, "crypto", "cryptographic check failed")                                      \
    X(RMQ_ERR_HTTP, "http", "HTTP fetch failed")                                                   \
    X(RMQ_ERR_REVOKED, "revocation", "certificate revoked")                                        \
    X(RMQ_ERR_STALE, "revocation", "revocation data out of date")                                  \
    X(RMQ_ERR_DB, "store", "database error")                                                       \
    X(RMQ_ERR_INTERNAL, "internal", "internal error")

typedef enum {
#define RMQ_ERR_ENUM(name, cat, msg) name,
    RMQ_ERR_TABLE(RMQ_ERR_ENUM)
#undef RMQ_ERR_ENUM
        RMQ_ERR__COUNT
} rmq_err;

/* Static strings; never NULL, also for out-of-range values. */
const char *rmq_err_name(rmq_err e);
const char *rmq_err_category(rmq_err e);
const char *rmq_err_message(rmq_err e);

/* Return early with the error when `expr` fails. */
#define RMQ_TRY(expr)                                                                              \
    do {                                                                                           \
        rmq_err rmq_try_e_ = (expr);                                                               \
        if (rmq_try_e_ != RMQ_OK) {                                                                \
            return rmq_try_e_;                                                                     \
        }                                                                                          \
    } while (0)

#endif
