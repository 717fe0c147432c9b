/* modes.c — revmq-bench's connect and hold modes; see bench.h. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/report.h"
#include "common/clock.h"

struct conn_run {
    const struct rmq_bench_opts *o;
    struct event_base *base;
    struct bench_ctx *ctx;
    struct bench_errors errs;
    struct rmq_bench_hist hist;
    uint64_t started, in_progress, ok, failed;
    uint64_t t0;
    bool hold;
    bool announced;            /* hold: the "all attempted" line was printed */
    struct bclient **held;     /* hold mode: open clients, owned */
    uint64_t last_ok, last_us; /* progress: rate over the last second */
    struct event *tick, *progress, *sig, *sigterm, *stop;
};

/* Hold mode prints one line when every connection attempt has ended, which
 * scripts wait for before reading the broker's memory:
 * "hold: all attempted open=N failed=M" (stderr, even with --quiet). */
static void conn_maybe_finish(struct conn_run *r)
{
    if (r->ok + r->failed < r->o->count) {
        return;
    }
    if (!r->hold) {
        event_base_loopbreak(r->base);
    } else if (!r->announced) {
        r->announced = true;
        fprintf(stderr, "hold: all attempted open=%llu failed=%llu\n", (unsigned long long)r->ok,
                (unsigned long long)r->failed);
    }
}

static void conn_on_ready(struct bclient *c)
{
    struct conn_run *r = bclient_user(c);
    rmq_bench_hist_add(&r->hist, bclient_connect_us(c));
    r->ok++;
    r->in_progress--;
    if (r->hold) {
        r->held[bclient_idx(c)] = c;
    } else {
        bclient_close(c);
    }
    conn_maybe_finish(r);
}

static void conn_on_error(struct bclient *c, const char *kind)
{
    struct conn_run *r = bclient_user(c);
    if (r->hold && r->held[bclient_idx(c)] == c) {
        r->held[bclient_idx(c)] = NULL; /* an open connection was closed */
        r->ok--;
    } else {
        r->in_progress--;
    }
    r->failed++;
    bench_errors_add(&r->errs, kind);
    conn_maybe_finish(r);
}

static const struct bench_hooks conn_hooks = {
    .on_ready = conn_on_ready,
    .on_error = conn_on_error,
};

static void conn_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn_run *r = arg;
    const struct rmq_bench_opts *o = r->o;
    double elapsed = (double)(rmq_clock_mono_us() - r->t0) / 1e6;
    uint64_t allowed = o->rate > 0 ? (uint64_t)(o->rate * elapsed) + 1 : o->count;
    while (r->started < o->count && r->started < allowed && r->in_progress < o->concurrency) {
        uint64_t idx = r->started++;
        r->in_progress++;
        if (!bclient_start(r->ctx, idx, &conn_hooks, r, 0, false)) {
            r->in_progress--;
            r->failed++;
            bench_errors_add(&r->errs, bclient_last_error());
        }
    }
    conn_maybe_finish(r);
}

static void conn_progress(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn_run *r = arg;
    uint64_t now = rmq_clock_mono_us();
    double dt = (double)(now - (r->last_us ? r->last_us : r->t0)) / 1e6;
    double rate = dt > 0 ? (double)(r->ok - r->last_ok) / dt : 0;
    r->last_ok = r->ok;
    r->last_us = now;
    if (!r->o->quiet) {
        fprintf(stderr,
                "progress: t=%.1fs started=%llu ok=%llu failed=%llu in_progress=%llu "
                "ok_per_sec=%.0f\n",
                (double)(now - r->t0) / 1e6, (unsigned long long)r->started,
                (unsigned long long)r->ok, (unsigned long long)r->failed,
                (unsigned long long)r->in_progress, rate);
    }
}

static void conn_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(((struct conn_run *)arg)->base);
}

static void conn_report(struct conn_run *r)
{
    double secs = (double)(rmq_clock_mono_us() - r->t0) / 1e6;
    struct bench_report rep;
    bench_report_begin(&rep, r->hold ? "hold" : "connect", r->o->json);
    bench_report_str(&rep, "transport",
                     !r->o->tls                           ? "tcp"
                     : (r->o->certfile || r->o->cert_dir) ? "mtls"
                                                          : "tls");
    bench_report_u64(&rep, "count", r->o->count);
    bench_report_u64(&rep, "concurrency", r->o->concurrency);
    bench_report_u64(&rep, "connections_ok", r->ok);
    bench_report_u64(&rep, "connections_failed", r->failed);
    bench_report_double(&rep, "seconds", secs);
    bench_report_double(&rep, "connects_per_sec", secs > 0 ? (double)r->ok / secs : 0);
    bench_report_hist(&rep, "connect_latency_us", &r->hist);
    bench_report_errors(&rep, &r->errs);
    bench_report_end(&rep);
}

static int conn_run_mode(const struct rmq_bench_opts *o, bool hold)
{
    struct conn_run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.hold = hold;
    r.base = event_base_new();
    r.ctx = r.base ? bench_ctx_new(o, r.base) : NULL;
    if (!r.ctx) {
        if (r.base) {
            event_base_free(r.base);
        }
        return 2;
    }
    if (hold) {
        r.held = calloc(o->count ? o->count : 1, sizeof *r.held);
    }
    r.t0 = rmq_clock_mono_us();
    r.tick = event_new(r.base, -1, EV_PERSIST, conn_tick, &r);
    r.progress = event_new(r.base, -1, EV_PERSIST, conn_progress, &r);
    r.sig = evsignal_new(r.base, SIGINT, conn_stop, &r);
    r.sigterm = evsignal_new(r.base, SIGTERM, conn_stop, &r);
    struct timeval tick = {0, 2000}, sec = {(time_t)(o->progress_ms / 1000),
                                            (suseconds_t)(o->progress_ms % 1000) * 1000};
    event_add(r.tick, &tick);
    event_add(r.progress, &sec);
    event_add(r.sig, NULL);
    event_add(r.sigterm, NULL);
    if (o->duration_ms) { /* connect: stop early (rate over the duration); hold: then exit */
        r.stop = evtimer_new(r.base, conn_stop, &r);
        struct timeval d = {(time_t)(o->duration_ms / 1000),
                            (suseconds_t)(o->duration_ms % 1000) * 1000};
        event_add(r.stop, &d);
    }
    conn_tick(-1, 0, &r);
    event_base_dispatch(r.base);
    conn_report(&r);
    if (hold) {
        for (uint64_t i = 0; i < o->count; i++) {
            if (r.held[i]) {
                bclient_close(r.held[i]);
            }
        }
        free(r.held);
    }
    /* Let queued DISCONNECTs go out before the base is freed. */
    event_del(r.tick);
    event_del(r.progress);
    struct timeval drain = {0, 200000};
    event_base_loopexit(r.base, &drain);
    event_base_dispatch(r.base);
    event_free(r.tick);
    event_free(r.progress);
    event_free(r.sig);
    event_free(r.sigterm);
    if (r.stop) {
        event_free(r.stop);
    }
    bench_ctx_free(r.ctx);
    event_base_free(r.base);
    rmq_bench_hist_free(&r.hist);
    bench_errors_free(&r.errs);
    return 0;
}

int rmq_bench_connect(const struct rmq_bench_opts *o)
{
    return conn_run_mode(o, false);
}

int rmq_bench_hold(const struct rmq_bench_opts *o)
{
    return conn_run_mode(o, true);
}
