/*
 * metrics.h — process-wide event counters for the admin API, Prometheus and
 * $SYS (src/admin). Any module may count an event with one call; nothing
 * here allocates, logs or depends on another module.
 *
 * What it is not: per-connection or per-listener state (the MQTT core and the
 * net layer keep those; src/admin reads them), histograms.
 *
 * Threads: every function is callable from any thread at any time (relaxed
 * atomics); a reader sees each counter monotonic, not a consistent set.
 */
#ifndef RMQ_METRICS_H
#define RMQ_METRICS_H

#include <stdint.h>

enum rmq_metric {
    RMQ_M_TLS_HANDSHAKE_OK,     /* TLS handshake completed (net layer) */
    RMQ_M_TLS_HANDSHAKE_FAILED, /* TLS handshake failed or timed out (net layer) */
    RMQ_M_AUTH_FAILURE,         /* CONNECT refused by authentication (identity code) */
    RMQ_M_ACL_DENIED,           /* PUBLISH/SUBSCRIBE denied by the ACL (identity code) */
    RMQ_M_CRL_REFRESH_OK,       /* a CRL source refreshed (new, unchanged or not modified) */
    RMQ_M_CRL_REFRESH_FAILED,   /* a CRL source refresh rejected or failed */
    RMQ_M_REVOKED_CLOSED,       /* live connections closed because a new CRL revoked them */
    RMQ_M_ADMIN_KICKED,         /* clients kicked through the admin API */
    RMQ_M_STORE_COMMITS,        /* store transactions committed (one fsync each) */
    RMQ_M_STORE_COMMIT_US,      /* microseconds spent committing them (sum) */
    RMQ_M_STORE_COMMIT_FAILED,  /* store commits that failed (durability degraded) */
    RMQ_M_STORE_ROWS_PUT_OFF,   /* message rows put off (durable_sessions.flush_delay) */
    RMQ_M_STORE_ROWS_SKIPPED,   /* of those, delivered in time and never written */
    RMQ_M__COUNT
};

/* Stable metric name (Prometheus style, without the revmq_ prefix and
 * without _total). */
const char *rmq_metrics_name(enum rmq_metric m);

void rmq_metrics_inc(enum rmq_metric m);
/* Adds n (sums such as RMQ_M_STORE_COMMIT_US). */
void rmq_metrics_add(enum rmq_metric m, uint64_t n);
uint64_t rmq_metrics_get(enum rmq_metric m);

/* TLS alerts by code (0..255); sent = by us, else received. */
void rmq_metrics_tls_alert(int sent, int code);
uint64_t rmq_metrics_tls_alert_count(int sent, int code);

/* Wall-clock time (seconds) of each counted event of `m` is not kept; for
 * "refusals in the last hour" a minute ring counts handshake failures and
 * auth failures per minute. Returns the sum over the last `minutes`
 * (1..60) for m (only RMQ_M_TLS_HANDSHAKE_FAILED and RMQ_M_AUTH_FAILURE
 * are kept; 0 for others). */
uint64_t rmq_metrics_recent(enum rmq_metric m, unsigned minutes);

#endif
