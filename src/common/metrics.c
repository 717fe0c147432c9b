/* metrics.c — process-wide event counters; see metrics.h. */
#include "common/metrics.h"

#include <stdatomic.h>

#include "common/clock.h"

static _Atomic uint64_t counters[RMQ_M__COUNT];
static _Atomic uint64_t alerts[2][256];

/* Per-minute ring for the refusal counters: slot = minute % 60, tagged with
 * the minute it counts so stale slots read as 0. */
#define RING 60
struct ring_slot {
    _Atomic int64_t minute;
    _Atomic uint64_t n;
};
static struct ring_slot ring[2][RING];

static const char *const names[RMQ_M__COUNT] = {
    [RMQ_M_TLS_HANDSHAKE_OK] = "tls_handshakes_ok",
    [RMQ_M_TLS_HANDSHAKE_FAILED] = "tls_handshakes_failed",
    [RMQ_M_AUTH_FAILURE] = "authentication_failures",
    [RMQ_M_ACL_DENIED] = "acl_denials",
    [RMQ_M_CRL_REFRESH_OK] = "crl_refreshes_ok",
    [RMQ_M_CRL_REFRESH_FAILED] = "crl_refreshes_failed",
    [RMQ_M_REVOKED_CLOSED] = "revoked_sessions_closed",
    [RMQ_M_ADMIN_KICKED] = "admin_kicks",
    [RMQ_M_STORE_COMMITS] = "store_commits",
    [RMQ_M_STORE_COMMIT_US] = "store_commit_microseconds",
    [RMQ_M_STORE_COMMIT_FAILED] = "store_commit_failures",
    [RMQ_M_STORE_ROWS_PUT_OFF] = "store_rows_put_off",
    [RMQ_M_STORE_ROWS_SKIPPED] = "store_rows_skipped",
};

const char *rmq_metrics_name(enum rmq_metric m)
{
    return (unsigned)m < RMQ_M__COUNT ? names[m] : "unknown";
}

static int ring_of(enum rmq_metric m)
{
    return m == RMQ_M_TLS_HANDSHAKE_FAILED ? 0 : m == RMQ_M_AUTH_FAILURE ? 1 : -1;
}

static int64_t now_minute(void)
{
    return (int64_t)(rmq_clock_mono_ms() / 60000u);
}

void rmq_metrics_add(enum rmq_metric m, uint64_t n)
{
    if ((unsigned)m < RMQ_M__COUNT) {
        atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
    }
}

void rmq_metrics_inc(enum rmq_metric m)
{
    if ((unsigned)m >= RMQ_M__COUNT) {
        return;
    }
    atomic_fetch_add_explicit(&counters[m], 1, memory_order_relaxed);
    int r = ring_of(m);
    if (r < 0) {
        return;
    }
    int64_t min = now_minute();
    struct ring_slot *s = &ring[r][min % RING];
    int64_t seen = atomic_load(&s->minute);
    if (seen != min && atomic_compare_exchange_strong(&s->minute, &seen, min)) {
        atomic_store(&s->n, 0); /* a racing increment may be lost: a count, not a ledger */
    }
    atomic_fetch_add_explicit(&s->n, 1, memory_order_relaxed);
}

uint64_t rmq_metrics_get(enum rmq_metric m)
{
    return (unsigned)m < RMQ_M__COUNT ? atomic_load_explicit(&counters[m], memory_order_relaxed)
                                      : 0;
}

void rmq_metrics_tls_alert(int sent, int code)
{
    atomic_fetch_add_explicit(&alerts[sent ? 1 : 0][code & 0xff], 1, memory_order_relaxed);
}

uint64_t rmq_metrics_tls_alert_count(int sent, int code)
{
    return atomic_load_explicit(&alerts[sent ? 1 : 0][code & 0xff], memory_order_relaxed);
}

uint64_t rmq_metrics_recent(enum rmq_metric m, unsigned minutes)
{
    int r = ring_of(m);
    if (r < 0 || minutes == 0) {
        return 0;
    }
    if (minutes > RING) {
        minutes = RING;
    }
    int64_t min = now_minute();
    uint64_t sum = 0;
    for (unsigned i = 0; i < minutes; i++) {
        int64_t want = min - (int64_t)i;
        if (want < 0) {
            break;
        }
        struct ring_slot *s = &ring[r][want % RING];
        if (atomic_load(&s->minute) == want) {
            sum += atomic_load(&s->n);
        }
    }
    return sum;
}
