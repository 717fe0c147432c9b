/* stats.c — latency samples and small parsers for revmq-bench; see bench.h. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "common/duration.h"

void rmq_bench_hist_add(struct rmq_bench_hist *h, uint64_t us)
{
    if (h->n == h->alloc) {
        size_t na = h->alloc ? h->alloc * 2 : 4096;
        uint32_t *p = realloc(h->v, na * sizeof *p);
        if (!p) {
            return; /* a lost sample under memory pressure is acceptable */
        }
        h->v = p;
        h->alloc = na;
    }
    h->v[h->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (us > h->max) {
        h->max = us;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint64_t rmq_bench_hist_pct(struct rmq_bench_hist *h, double p)
{
    if (h->n == 0) {
        return 0;
    }
    qsort(h->v, h->n, sizeof *h->v, cmp_u32);
    double rank = p / 100.0 * (double)(h->n - 1);
    size_t i = (size_t)(rank + 0.5);
    if (i >= h->n) {
        i = h->n - 1;
    }
    return h->v[i];
}

void rmq_bench_hist_free(struct rmq_bench_hist *h)
{
    free(h->v);
    memset(h, 0, sizeof *h);
}

rmq_err rmq_bench_parse_duration(const char *s, uint64_t *ms)
{
    return rmq_duration_parse(s, strlen(s), RMQ_DURATION_BARE_S, ms);
}

rmq_err rmq_bench_parse_ip_range(const char *s, uint32_t *first, uint32_t *last)
{
    char a[64], b[64];
    const char *dash = strchr(s, '-');
    size_t la = dash ? (size_t)(dash - s) : strlen(s);
    if (la == 0 || la >= sizeof a) {
        return RMQ_ERR_INVALID;
    }
    memcpy(a, s, la);
    a[la] = '\0';
    const char *second = dash ? dash + 1 : a;
    size_t lb = strlen(second);
    if (lb == 0 || lb >= sizeof b) {
        return RMQ_ERR_INVALID;
    }
    memcpy(b, second, lb + 1);
    struct in_addr ia, ib;
    if (inet_pton(AF_INET, a, &ia) != 1 || inet_pton(AF_INET, b, &ib) != 1) {
        return RMQ_ERR_INVALID;
    }
    *first = ntohl(ia.s_addr);
    *last = ntohl(ib.s_addr);
    if (*last < *first) {
        return RMQ_ERR_INVALID;
    }
    return RMQ_OK;
}
