/*
 * ratelimit.c — token buckets for the listener rate limits (max_conn_rate,
 * messages_rate, bytes_rate); see net_int.h. Pure arithmetic on a clock the
 * caller passes in, so it is unit-tested without sleeping.
 *
 * A rate is in units per 1000 s (config RMQ_CFG_RATE), i.e. milli-units per
 * second; tokens are kept in milli-units. The bucket holds at most one
 * second's worth (and at least `min_burst` units), so a client that was idle
 * may send one second's worth at once; spending may drive it negative, and
 * the debt is what the caller waits for.
 */
#include "net/net_int.h"

void rmq_net_bucket_init(struct rmq_net_bucket *b, uint64_t rate, uint64_t min_burst,
                         int64_t now_ms)
{
    b->rate = rate;
    b->cap = (int64_t)(rate < (uint64_t)INT64_MAX / 2 ? rate : (uint64_t)INT64_MAX / 2);
    int64_t min_cap =
        min_burst < (uint64_t)INT64_MAX / 2000 ? (int64_t)min_burst * 1000 : INT64_MAX / 2;
    if (b->cap < min_cap) {
        b->cap = min_cap;
    }
    b->tokens = b->cap;
    b->last_ms = now_ms;
}

bool rmq_net_bucket_limited(const struct rmq_net_bucket *b)
{
    return b != NULL && b->rate != 0 && b->rate != UINT64_MAX;
}

static void refill(struct rmq_net_bucket *b, int64_t now_ms)
{
    if (now_ms <= b->last_ms) {
        return;
    }
    uint64_t elapsed = (uint64_t)(now_ms - b->last_ms);
    b->last_ms = now_ms;
    /* tokens added = rate (milli-units/s) * elapsed ms / 1000, overflow-safe */
    uint64_t add = b->rate / 1000 * elapsed + b->rate % 1000 * elapsed / 1000;
    if (add > (uint64_t)(b->cap - b->tokens)) {
        b->tokens = b->cap;
    } else {
        b->tokens += (int64_t)add;
    }
}

uint64_t rmq_net_bucket_available(struct rmq_net_bucket *b, int64_t now_ms)
{
    if (!rmq_net_bucket_limited(b)) {
        return UINT64_MAX;
    }
    refill(b, now_ms);
    return b->tokens > 0 ? (uint64_t)b->tokens / 1000 : 0;
}

uint64_t rmq_net_bucket_wait_ms(struct rmq_net_bucket *b, int64_t now_ms)
{
    if (rmq_net_bucket_available(b, now_ms) > 0) {
        return 0;
    }
    /* missing (milli-units) / rate (milli-units per second), in ms, rounded up */
    uint64_t missing = (uint64_t)(1000 - b->tokens);
    uint64_t ms = missing / b->rate * 1000 + (missing % b->rate * 1000 + b->rate - 1) / b->rate;
    return ms ? ms : 1;
}

void rmq_net_bucket_spend(struct rmq_net_bucket *b, uint64_t units)
{
    if (!rmq_net_bucket_limited(b)) {
        return;
    }
    int64_t m = units < (uint64_t)INT64_MAX / 4000 ? (int64_t)units * 1000 : INT64_MAX / 4;
    if (b->tokens < INT64_MIN / 4 + m) {
        b->tokens = INT64_MIN / 4; /* absurd debt: clamp, never wrap */
    } else {
        b->tokens -= m;
    }
}
