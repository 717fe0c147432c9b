/*
 * fetcher.h — the revocation engine's background thread: HTTP(S) fetches,
 * timers and "run this on the fetcher thread".
 *
 * One fetcher owns ONE thread with a libevent event_base and a libcurl multi
 * handle (curl_multi_socket_action driven by libevent). The CRL engine and
 * the OCSP staplers run all their work on that thread: fetch callbacks,
 * timers and run_on jobs execute there, one at a time, so state that only
 * those callbacks touch needs no lock.
 *
 * What it does per request: timeout (connect + whole transfer), body size cap
 * (aborted as soon as the body, or an announced Content-Length, exceeds it),
 * HTTP status check (non-2xx = failure carrying the status; 304 on a
 * conditional GET = not_modified), bounded redirects over http/https only,
 * conditional GET (If-None-Match / If-Modified-Since), POST with a body and
 * content type (OCSP).
 *
 * Coalescing and rate limit: concurrent requests that are identical (method,
 * URL, body, content type, etag, last_modified) share ONE transfer; every
 * caller's callback gets the same result. A transfer for a URL never starts
 * less than 1 s after the previous transfer for that URL started: a request
 * arriving earlier waits (joined with its twins) until the second is over.
 *
 * What it does NOT do: retry or back off (that is the caller's policy; see
 * rmq_backoff_next), cache bodies, parse them.
 *
 * Threads: every function here may be called from any thread unless stated.
 * Callbacks (done, timer and run_on functions) always run on the fetcher
 * thread, never inline in the caller, and must not block for long.
 *
 * Lifetime: free every user of the fetcher (CRL engine, staplers) before the
 * fetcher; users cancel their own pending work with rmq_fetcher_cancel().
 * rmq_fetcher_free() drops whatever is still pending WITHOUT calling back.
 */
#ifndef RMQ_FETCHER_H
#define RMQ_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rmq_fetcher;

enum rmq_fetch_method { RMQ_FETCH_GET, RMQ_FETCH_POST };

#define RMQ_FETCH_DEFAULT_REDIRECTS 3
#define RMQ_FETCH_MIN_INTERVAL_MS 1000 /* per URL: at most one transfer start a second */

/* A request. Everything is borrowed for the duration of rmq_fetcher_fetch()
 * only (the fetcher copies what it keeps). */
struct rmq_fetch_req {
    const char *url; /* http:// or https:// only */
    enum rmq_fetch_method method;
    const uint8_t *body; /* POST body (may be NULL with body_len 0) */
    size_t body_len;
    const char *content_type;  /* POST Content-Type; NULL: none sent */
    uint64_t timeout_ms;       /* whole transfer incl. connect; 0 = 15000 */
    uint64_t max_size;         /* body cap in bytes; 0 = 64 MiB */
    const char *etag;          /* NULL or "": no If-None-Match */
    const char *last_modified; /* NULL or "": no If-Modified-Since (sent verbatim) */
    int max_redirects;         /* 0 = RMQ_FETCH_DEFAULT_REDIRECTS; < 0 = none followed */
};

/* A result, valid only during the callback (copy what you keep). */
struct rmq_fetch_result {
    /* RMQ_OK: 2xx with body, or 304 (not_modified, empty body).
     * RMQ_ERR_HTTP: non-2xx status (status set) or transport failure (status 0:
     *   DNS, connection refused, TLS, redirect limit, bad protocol …).
     * RMQ_ERR_TIMEOUT: timeout_ms elapsed.
     * RMQ_ERR_TOO_LARGE: body or Content-Length over max_size.
     * RMQ_ERR_NOMEM / RMQ_ERR_INVALID (bad request): as named. */
    rmq_err err;
    long status; /* last HTTP status, 0 if none was received */
    bool not_modified;
    const uint8_t *body; /* never NULL (points to "" when empty) */
    size_t body_len;
    const char *etag;          /* response ETag, NULL if absent */
    const char *last_modified; /* response Last-Modified, NULL if absent */
    const char *error;         /* one-line human-readable reason; "" on success */
    const char *url;           /* the requested URL */
};

typedef void (*rmq_fetch_done_fn)(const struct rmq_fetch_result *res, void *arg);
typedef void (*rmq_fetcher_fn)(void *arg);

/* Starts the thread. On failure *out is NULL and nothing leaks. */
RMQ_MUST_USE rmq_err rmq_fetcher_new(struct rmq_fetcher **out);

/* Stops and joins the thread, frees everything; pending work is dropped
 * without callbacks. NULL is a no-op. Must not be called on the fetcher
 * thread. */
void rmq_fetcher_free(struct rmq_fetcher *f);

/* Queues a fetch; done(res, arg) runs exactly once on the fetcher thread
 * (unless cancelled or the fetcher is freed first). RMQ_ERR_INVALID for a
 * missing URL or a scheme other than http/https (no callback then);
 * RMQ_ERR_NOMEM. */
RMQ_MUST_USE rmq_err rmq_fetcher_fetch(struct rmq_fetcher *f, const struct rmq_fetch_req *req,
                                       rmq_fetch_done_fn done, void *arg);

/* Runs fn(arg) on the fetcher thread as soon as possible (never inline). */
RMQ_MUST_USE rmq_err rmq_fetcher_run_on(struct rmq_fetcher *f, rmq_fetcher_fn fn, void *arg);

/* Runs fn(arg) once on the fetcher thread after delay_ms. */
RMQ_MUST_USE rmq_err rmq_fetcher_timer(struct rmq_fetcher *f, uint64_t delay_ms, rmq_fetcher_fn fn,
                                       void *arg);

/* Forgets every pending callback whose arg is `arg` (fetch done callbacks,
 * timers, run_on jobs). After it returns, none of them runs or is running.
 * Called from another thread it waits for the fetcher thread to process it;
 * it may also be called on the fetcher thread, from inside a callback. A
 * transfer whose every waiter was cancelled is aborted. */
void rmq_fetcher_cancel(struct rmq_fetcher *f, void *arg);

/* True when called on f's thread. */
bool rmq_fetcher_on_thread(const struct rmq_fetcher *f);

/* Number of transfers actually started (tests: coalescing / rate limit). */
uint64_t rmq_fetcher_transfers_started(const struct rmq_fetcher *f);

/* Backoff helper for callers' retry policy: prev_ms 0 -> 1 s, else doubled,
 * capped at cap_ms (a cap below 1 s counts as 1 s), then ±20% jitter and
 * clamped to [1000, max(cap_ms, 1000)]. Thread-safe. */
uint64_t rmq_backoff_next(uint64_t prev_ms, uint64_t cap_ms);

/* Monotonic milliseconds: rmq_clock_mono_ms() (common/clock.h), the clock of
 * every due_ms in the revocation engine. */
uint64_t rmq_fetcher_now_ms(void);

#endif
