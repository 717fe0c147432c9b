/*
 * fetcher.c — background thread with a libevent base driving a libcurl multi
 * handle (curl_multi_socket_action); see fetcher.h for the contract.
 *
 * Cross-thread requests go through one queue (f->mu) and an eventfd that
 * wakes the loop. Everything else (transfers, timers, per-URL rate state) is
 * owned by the fetcher thread and touched only there.
 */
#include "revocation/fetcher.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#define DEFAULT_TIMEOUT_MS 15000u
#define DEFAULT_MAX_SIZE (64u * 1024u * 1024u)
#define HDR_VALUE_MAX 256

enum job_kind { JOB_FETCH, JOB_RUN, JOB_TIMER, JOB_CANCEL };

struct xfer;

/* A queued cross-thread request. */
struct job {
    struct job *next;
    enum job_kind kind;
    void *arg;
    rmq_fetcher_fn fn;      /* JOB_RUN, JOB_TIMER */
    rmq_fetch_done_fn done; /* JOB_FETCH */
    uint64_t due_ms;        /* JOB_TIMER: monotonic deadline */
    struct xfer *proto;     /* JOB_FETCH: request copy (no waiters yet) */
    bool *cancel_done;      /* JOB_CANCEL from another thread: set under f->mu */
};

struct waiter {
    struct waiter *next;
    rmq_fetch_done_fn done;
    void *arg;
};

/* One transfer (pending its start slot, or running); owned by the thread. */
struct xfer {
    struct xfer *next, *prev;
    struct rmq_fetcher *f;
    char *url;
    enum rmq_fetch_method method;
    uint8_t *body;
    size_t body_len;
    char *ctype, *etag, *last_modified;
    uint64_t timeout_ms, max_size;
    int max_redirects;
    struct waiter *waiters;
    CURL *easy;
    struct curl_slist *hdrs;
    struct event *start_ev; /* rate-limit delay before the start */
    struct rmq_buf resp;
    bool too_large;
    char resp_etag[HDR_VALUE_MAX];
    char resp_lm[HDR_VALUE_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

struct timer_ent {
    struct timer_ent *next, *prev;
    struct rmq_fetcher *f;
    struct event *ev;
    rmq_fetcher_fn fn;
    void *arg;
};

/* Per-URL start slots (rate limit); pruned when old. */
struct url_rate {
    struct url_rate *next;
    char *url;
    uint64_t next_allowed_ms;
};

struct rmq_fetcher {
    pthread_t thread;
    pthread_mutex_t mu; /* protects queue_head/tail, stopping, cancel_done flags */
    pthread_cond_t cv;  /* signalled when a cross-thread cancel completed */
    struct job *queue_head, *queue_tail;
    bool stopping;
    int efd;
    atomic_uint_fast64_t started;

    /* fetcher-thread only below */
    struct event_base *base;
    struct event *wake_ev;
    struct event *curl_timer;
    CURLM *multi;
    struct xfer *xfers;      /* pending + running */
    struct xfer *completing; /* transfer whose callbacks are running */
    struct timer_ent *timers;
    struct url_rate *rates;
    size_t rate_count;
};

/* ---------- small helpers ---------- */

uint64_t rmq_fetcher_now_ms(void)
{
    return rmq_clock_mono_ms();
}

uint64_t rmq_backoff_next(uint64_t prev_ms, uint64_t cap_ms)
{
    static _Thread_local unsigned seed;
    if (seed == 0) {
        seed = (unsigned)rmq_fetcher_now_ms() ^ (unsigned)(uintptr_t)&seed;
    }
    uint64_t cap = cap_ms < 1000 ? 1000 : cap_ms;
    uint64_t base = prev_ms == 0 ? 1000 : (prev_ms > cap / 2 ? cap : prev_ms * 2);
    if (base > cap) {
        base = cap;
    }
    /* ±20% jitter: base * (80..120)/100 */
    uint64_t pct = 80 + (uint64_t)(rand_r(&seed) % 41);
    uint64_t v = base / 100 * pct + (base % 100) * pct / 100;
    if (v < 1000) {
        v = 1000;
    }
    if (v > cap) {
        v = cap;
    }
    return v;
}

static struct timeval ms_to_tv(uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static char *dup_or_null(const char *s)
{
    return (s && *s) ? strdup(s) : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static void wake(struct rmq_fetcher *f)
{
    uint64_t one = 1;
    ssize_t n = write(f->efd, &one, sizeof one);
    (void)n; /* a full counter still wakes the loop */
}

bool rmq_fetcher_on_thread(const struct rmq_fetcher *f)
{
    return pthread_equal(pthread_self(), f->thread) != 0;
}

uint64_t rmq_fetcher_transfers_started(const struct rmq_fetcher *f)
{
    return atomic_load(&((struct rmq_fetcher *)f)->started);
}

/* ---------- transfers ---------- */

static void xfer_free(struct xfer *x)
{
    if (!x) {
        return;
    }
    if (x->easy) {
        if (x->f && x->f->multi) {
            curl_multi_remove_handle(x->f->multi, x->easy);
        }
        curl_easy_cleanup(x->easy);
    }
    if (x->start_ev) {
        event_free(x->start_ev);
    }
    curl_slist_free_all(x->hdrs);
    struct waiter *w = x->waiters;
    while (w) {
        struct waiter *n = w->next;
        free(w);
        w = n;
    }
    rmq_buf_release(&x->resp);
    free(x->url);
    free(x->body);
    free(x->ctype);
    free(x->etag);
    free(x->last_modified);
    free(x);
}

static void xfer_unlink(struct rmq_fetcher *f, struct xfer *x)
{
    if (x->prev) {
        x->prev->next = x->next;
    } else if (f->xfers == x) {
        f->xfers = x->next;
    }
    if (x->next) {
        x->next->prev = x->prev;
    }
    x->next = x->prev = NULL;
}

static bool xfer_same(const struct xfer *a, const struct xfer *b)
{
    return a->method == b->method && strcmp(a->url, b->url) == 0 && a->body_len == b->body_len &&
           (a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0) &&
           str_eq(a->ctype, b->ctype) && str_eq(a->etag, b->etag) &&
           str_eq(a->last_modified, b->last_modified) && a->max_size == b->max_size &&
           a->max_redirects == b->max_redirects;
}

static void deliver(struct rmq_fetcher *f, struct xfer *x, const struct rmq_fetch_result *res)
{
    /* Callbacks may cancel other waiters of this transfer: pop one at a time. */
    f->completing = x;
    while (x->waiters) {
        struct waiter *w = x->waiters;
        x->waiters = w->next;
        rmq_fetch_done_fn done = w->done;
        void *arg = w->arg;
        free(w);
        done(res, arg);
    }
    f->completing = NULL;
}

static void fail_xfer(struct rmq_fetcher *f, struct xfer *x, rmq_err err, const char *why)
{
    struct rmq_fetch_result res = {
        .err = err, .body = (const uint8_t *)"", .error = why, .url = x->url};
    xfer_unlink(f, x);
    deliver(f, x, &res);
    xfer_free(x);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (n > x->max_size - x->resp.len || rmq_buf_append(&x->resp, p, n) != RMQ_OK) {
        x->too_large = n > x->max_size - x->resp.len;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Copies the value of header `name` (case-insensitive) when `line` is it. */
static void header_value(const char *line, size_t len, const char *name, char *out)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0) {
        return;
    }
    size_t s = nl, e = len;
    while (s < e && (line[s] == ' ' || line[s] == '\t')) {
        s++;
    }
    while (e > s && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ')) {
        e--;
    }
    if (e - s == 0 || e - s >= HDR_VALUE_MAX) {
        out[0] = '\0'; /* absent or unreasonably long: treat as absent */
        return;
    }
    memcpy(out, line + s, e - s);
    out[e - s] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (redirect hop, 100-continue): forget earlier headers. */
        x->resp_etag[0] = x->resp_lm[0] = '\0';
        x->resp.len = 0;
        return n;
    }
    header_value(p, n, "etag:", x->resp_etag);
    header_value(p, n, "last-modified:", x->resp_lm);
    return n;
}

static rmq_err xfer_setup_easy(struct xfer *x)
{
    CURL *e = curl_easy_init();
    if (!e) {
        return RMQ_ERR_NOMEM;
    }
    x->easy = e;
    char hdr[HDR_VALUE_MAX + 32];
    if (x->etag) {
        snprintf(hdr, sizeof hdr, "If-None-Match: %s", x->etag);
        x->hdrs = curl_slist_append(x->hdrs, hdr);
    }
    if (x->last_modified) {
        snprintf(hdr, sizeof hdr, "If-Modified-Since: %s", x->last_modified);
        x->hdrs = curl_slist_append(x->hdrs, hdr);
    }
    if (x->ctype) {
        snprintf(hdr, sizeof hdr, "Content-Type: %s", x->ctype);
        x->hdrs = curl_slist_append(x->hdrs, hdr);
    }
    x->hdrs = curl_slist_append(x->hdrs, "Expect:"); /* no 100-continue round trip */
    if (!x->hdrs) {
        return RMQ_ERR_NOMEM;
    }
    bool ok =
        curl_easy_setopt(e, CURLOPT_URL, x->url) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, x->max_redirects >= 0 ? 1L : 0L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_MAXREDIRS,
                         (long)(x->max_redirects > 0 ? x->max_redirects : 0)) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)x->timeout_ms) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_size) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_USERAGENT, "revmq") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK;
    if (ok && x->method == RMQ_FETCH_POST) {
        ok =
            curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? (char *)x->body : "") == CURLE_OK;
    }
    return ok ? RMQ_OK : RMQ_ERR_INTERNAL;
}

static void xfer_start(struct rmq_fetcher *f, struct xfer *x)
{
    if (x->start_ev) {
        event_free(x->start_ev);
        x->start_ev = NULL;
    }
    rmq_err e = xfer_setup_easy(x);
    if (e == RMQ_OK && curl_multi_add_handle(f->multi, x->easy) != CURLM_OK) {
        e = RMQ_ERR_INTERNAL;
    }
    if (e != RMQ_OK) {
        fail_xfer(f, x, e, "cannot set up the transfer");
        return;
    }
    atomic_fetch_add(&f->started, 1);
}

static void on_start_slot(evutil_socket_t fd, short what, void *arg)
{
    struct xfer *x = arg;
    xfer_start(x->f, x);
}

/* Reserves the next start slot for url; returns the delay before it. */
static uint64_t take_slot(struct rmq_fetcher *f, const char *url)
{
    uint64_t now = rmq_fetcher_now_ms();
    struct url_rate **pp = &f->rates, *hit = NULL;
    while (*pp) { /* prune slots long past, find ours */
        struct url_rate *r = *pp;
        if (strcmp(r->url, url) == 0) {
            hit = r;
        } else if (r->next_allowed_ms + 1000 < now) {
            *pp = r->next;
            free(r->url);
            free(r);
            f->rate_count--;
            continue;
        }
        pp = &r->next;
    }
    if (!hit) {
        hit = calloc(1, sizeof *hit);
        if (!hit || !(hit->url = strdup(url))) {
            free(hit);
            return 0; /* no memory for the rate state: start now */
        }
        hit->next = f->rates;
        f->rates = hit;
        f->rate_count++;
    }
    uint64_t start = hit->next_allowed_ms > now ? hit->next_allowed_ms : now;
    hit->next_allowed_ms = start + RMQ_FETCH_MIN_INTERVAL_MS;
    return start - now;
}

static void add_fetch(struct rmq_fetcher *f, struct xfer *proto, rmq_fetch_done_fn done, void *arg)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) {
        xfer_free(proto);
        struct rmq_fetch_result res = {
            .err = RMQ_ERR_NOMEM, .body = (const uint8_t *)"", .error = "out of memory"};
        done(&res, arg);
        return;
    }
    w->done = done;
    w->arg = arg;
    for (struct xfer *x = f->xfers; x; x = x->next) {
        if (xfer_same(x, proto)) { /* coalesce */
            w->next = x->waiters;
            x->waiters = w;
            xfer_free(proto);
            return;
        }
    }
    struct xfer *x = proto;
    x->f = f;
    x->waiters = w;
    x->next = f->xfers;
    if (f->xfers) {
        f->xfers->prev = x;
    }
    f->xfers = x;
    uint64_t delay = take_slot(f, x->url);
    if (delay == 0) {
        xfer_start(f, x);
        return;
    }
    x->start_ev = evtimer_new(f->base, on_start_slot, x);
    struct timeval tv = ms_to_tv(delay);
    if (!x->start_ev || evtimer_add(x->start_ev, &tv) != 0) {
        fail_xfer(f, x, RMQ_ERR_NOMEM, "cannot schedule the transfer");
    }
}

static void complete_xfer(struct rmq_fetcher *f, struct xfer *x, CURLcode cc)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 64];
    struct rmq_fetch_result res = {.status = status, .url = x->url, .error = ""};
    if (cc == CURLE_OK) {
        if (status == 304 && (x->etag || x->last_modified)) {
            res.err = RMQ_OK;
            res.not_modified = true;
            x->resp.len = 0;
        } else if (status >= 200 && status < 300) {
            res.err = RMQ_OK;
        } else {
            res.err = RMQ_ERR_HTTP;
            snprintf(why, sizeof why, "HTTP status %ld", status);
            res.error = why;
        }
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        res.err = RMQ_ERR_TIMEOUT;
        snprintf(why, sizeof why, "timeout after %llu ms", (unsigned long long)x->timeout_ms);
        res.error = why;
    } else if (cc == CURLE_FILESIZE_EXCEEDED || (cc == CURLE_WRITE_ERROR && x->too_large)) {
        res.err = RMQ_ERR_TOO_LARGE;
        snprintf(why, sizeof why, "body over max_size=%llu", (unsigned long long)x->max_size);
        res.error = why;
    } else {
        /* a transport failure (also after a status line: a cut transfer, the
         * redirect limit) carries status 0, as fetcher.h says */
        res.status = 0;
        res.err = cc == CURLE_OUT_OF_MEMORY ? RMQ_ERR_NOMEM : RMQ_ERR_HTTP;
        snprintf(why, sizeof why, "%s%s%s", curl_easy_strerror(cc), x->errbuf[0] ? ": " : "",
                 x->errbuf);
        res.error = why;
    }
    if (res.err != RMQ_OK) {
        x->resp.len = 0;
    }
    res.body = x->resp.len ? x->resp.data : (const uint8_t *)"";
    res.body_len = x->resp.len;
    res.etag = x->resp_etag[0] ? x->resp_etag : NULL;
    res.last_modified = x->resp_lm[0] ? x->resp_lm : NULL;
    xfer_unlink(f, x);
    deliver(f, x, &res);
    xfer_free(x);
}

static void check_multi_info(struct rmq_fetcher *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x) {
            complete_xfer(f, x, m->data.result);
        }
    }
}

/* ---------- libcurl <-> libevent glue ---------- */

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct rmq_fetcher *f = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(f->multi, fd, action, &running);
    check_multi_info(f);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rmq_fetcher *f = arg;
    int running = 0;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(f);
}

static int curl_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct rmq_fetcher *f = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev) {
            event_free(ev);
            curl_multi_assign(f->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (ev) {
        event_del(ev);
        event_assign(ev, f->base, s, kind, on_sock_event, f);
    } else {
        ev = event_new(f->base, s, kind, on_sock_event, f);
        if (!ev) {
            return -1;
        }
        curl_multi_assign(f->multi, s, ev);
    }
    event_add(ev, NULL);
    return 0;
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct rmq_fetcher *f = userp;
    if (timeout_ms < 0) {
        evtimer_del(f->curl_timer);
        return 0;
    }
    struct timeval tv = ms_to_tv((uint64_t)timeout_ms);
    evtimer_add(f->curl_timer, &tv);
    return 0;
}

/* ---------- timers ---------- */

static void timer_unlink(struct rmq_fetcher *f, struct timer_ent *t)
{
    if (t->prev) {
        t->prev->next = t->next;
    } else if (f->timers == t) {
        f->timers = t->next;
    }
    if (t->next) {
        t->next->prev = t->prev;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct timer_ent *t = arg;
    struct rmq_fetcher *f = t->f;
    timer_unlink(f, t);
    rmq_fetcher_fn fn = t->fn;
    void *a = t->arg;
    event_free(t->ev);
    free(t);
    fn(a);
}

static void add_timer(struct rmq_fetcher *f, uint64_t due_ms, rmq_fetcher_fn fn, void *arg)
{
    struct timer_ent *t = calloc(1, sizeof *t);
    uint64_t now = rmq_fetcher_now_ms();
    struct timeval tv = ms_to_tv(due_ms > now ? due_ms - now : 0);
    if (!t || !(t->ev = evtimer_new(f->base, on_timer, t)) || evtimer_add(t->ev, &tv) != 0) {
        rmq_error("fetcher", "cannot arm a timer: out of memory");
        if (t && t->ev) {
            event_free(t->ev);
        }
        free(t);
        return;
    }
    t->f = f;
    t->fn = fn;
    t->arg = arg;
    t->next = f->timers;
    if (f->timers) {
        f->timers->prev = t;
    }
    f->timers = t;
}

/* ---------- cancel ---------- */

static void drop_waiters(struct waiter **pw, void *arg)
{
    while (*pw) {
        if ((*pw)->arg == arg) {
            struct waiter *w = *pw;
            *pw = w->next;
            free(w);
        } else {
            pw = &(*pw)->next;
        }
    }
}

static void cancel_on_thread(struct rmq_fetcher *f, void *arg)
{
    for (struct xfer *x = f->xfers, *n; x; x = n) {
        n = x->next;
        drop_waiters(&x->waiters, arg);
        if (!x->waiters) { /* nobody wants it any more: abort */
            xfer_unlink(f, x);
            xfer_free(x);
        }
    }
    if (f->completing) {
        drop_waiters(&f->completing->waiters, arg);
    }
    for (struct timer_ent *t = f->timers, *n; t; t = n) {
        n = t->next;
        if (t->arg == arg) {
            timer_unlink(f, t);
            event_free(t->ev);
            free(t);
        }
    }
}

/* Removes queued jobs for arg; call with f->mu held. */
static void purge_queue_locked(struct rmq_fetcher *f, void *arg)
{
    struct job **pp = &f->queue_head;
    f->queue_tail = NULL;
    while (*pp) {
        struct job *j = *pp;
        if (j->kind != JOB_CANCEL && j->arg == arg) {
            *pp = j->next;
            xfer_free(j->proto);
            free(j);
            continue;
        }
        f->queue_tail = j;
        pp = &j->next;
    }
}

/* ---------- the queue ---------- */

static void enqueue_locked(struct rmq_fetcher *f, struct job *j)
{
    j->next = NULL;
    if (f->queue_tail) {
        f->queue_tail->next = j;
    } else {
        f->queue_head = j;
    }
    f->queue_tail = j;
}

static rmq_err enqueue(struct rmq_fetcher *f, struct job *j)
{
    pthread_mutex_lock(&f->mu);
    enqueue_locked(f, j);
    pthread_mutex_unlock(&f->mu);
    wake(f);
    return RMQ_OK;
}

static void run_job(struct rmq_fetcher *f, struct job *j)
{
    switch (j->kind) {
    case JOB_FETCH:
        add_fetch(f, j->proto, j->done, j->arg);
        j->proto = NULL;
        break;
    case JOB_RUN:
        j->fn(j->arg);
        break;
    case JOB_TIMER:
        add_timer(f, j->due_ms, j->fn, j->arg);
        break;
    case JOB_CANCEL:
        cancel_on_thread(f, j->arg);
        pthread_mutex_lock(&f->mu);
        /* A callback that ran between the caller's purge and now may have
         * queued more work for arg behind this job: drop it too, so nothing
         * for arg runs once the caller is released. */
        purge_queue_locked(f, j->arg);
        *j->cancel_done = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        break;
    default:
        break;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct rmq_fetcher *f = arg;
    uint64_t v;
    ssize_t n = read(f->efd, &v, sizeof v);
    (void)n;
    /* Bounded: jobs queued by the jobs themselves wait for the next round. */
    size_t budget = 1024;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        if (f->stopping) {
            pthread_mutex_unlock(&f->mu);
            event_base_loopbreak(f->base);
            return;
        }
        struct job *j = f->queue_head;
        if (j) {
            f->queue_head = j->next;
            if (!f->queue_head) {
                f->queue_tail = NULL;
            }
        }
        pthread_mutex_unlock(&f->mu);
        if (!j) {
            return;
        }
        run_job(f, j);
        xfer_free(j->proto);
        free(j);
        if (--budget == 0) {
            wake(f);
            return;
        }
    }
}

static void *thread_main(void *arg)
{
    struct rmq_fetcher *f = arg;
    pthread_mutex_lock(&f->mu); /* wait until the creator stored f->thread */
    pthread_mutex_unlock(&f->mu);
    event_base_dispatch(f->base);
    return NULL;
}

/* ---------- public API ---------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void fetcher_destroy(struct rmq_fetcher *f)
{
    while (f->xfers) {
        struct xfer *x = f->xfers;
        xfer_unlink(f, x);
        xfer_free(x);
    }
    while (f->timers) {
        struct timer_ent *t = f->timers;
        timer_unlink(f, t);
        event_free(t->ev);
        free(t);
    }
    while (f->queue_head) {
        struct job *j = f->queue_head;
        f->queue_head = j->next;
        xfer_free(j->proto);
        free(j);
    }
    while (f->rates) {
        struct url_rate *r = f->rates;
        f->rates = r->next;
        free(r->url);
        free(r);
    }
    if (f->multi) {
        curl_multi_cleanup(f->multi);
    }
    if (f->curl_timer) {
        event_free(f->curl_timer);
    }
    if (f->wake_ev) {
        event_free(f->wake_ev);
    }
    if (f->base) {
        event_base_free(f->base);
    }
    if (f->efd >= 0) {
        close(f->efd);
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

rmq_err rmq_fetcher_new(struct rmq_fetcher **out)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    struct rmq_fetcher *f = calloc(1, sizeof *f);
    if (!f) {
        return RMQ_ERR_NOMEM;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    atomic_init(&f->started, 0);
    f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->base = event_base_new();
    f->multi = curl_multi_init();
    if (f->efd < 0 || !f->base || !f->multi) {
        fetcher_destroy(f);
        return RMQ_ERR_NOMEM;
    }
    f->wake_ev = event_new(f->base, f->efd, EV_READ | EV_PERSIST, on_wake, f);
    f->curl_timer = evtimer_new(f->base, on_curl_timer, f);
    if (!f->wake_ev || !f->curl_timer || event_add(f->wake_ev, NULL) != 0) {
        fetcher_destroy(f);
        return RMQ_ERR_NOMEM;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    pthread_mutex_lock(&f->mu);
    int rc = pthread_create(&f->thread, NULL, thread_main, f);
    pthread_mutex_unlock(&f->mu);
    if (rc != 0) {
        fetcher_destroy(f);
        return RMQ_ERR_NOMEM;
    }
    *out = f;
    return RMQ_OK;
}

void rmq_fetcher_free(struct rmq_fetcher *f)
{
    if (!f) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    wake(f);
    pthread_join(f->thread, NULL);
    fetcher_destroy(f);
}

static bool url_scheme_ok(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static struct xfer *proto_from_req(const struct rmq_fetch_req *req)
{
    struct xfer *x = calloc(1, sizeof *x);
    if (!x) {
        return NULL;
    }
    x->method = req->method;
    x->timeout_ms = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    x->max_size = req->max_size ? req->max_size : DEFAULT_MAX_SIZE;
    x->max_redirects = req->max_redirects == 0 ? RMQ_FETCH_DEFAULT_REDIRECTS
                                               : (req->max_redirects < 0 ? -1 : req->max_redirects);
    rmq_buf_init(&x->resp, (size_t)x->max_size);
    x->url = strdup(req->url);
    x->ctype = dup_or_null(req->content_type);
    x->etag = dup_or_null(req->etag);
    x->last_modified = dup_or_null(req->last_modified);
    bool ok = x->url && (!req->content_type || !*req->content_type || x->ctype) &&
              (!req->etag || !*req->etag || x->etag) &&
              (!req->last_modified || !*req->last_modified || x->last_modified);
    if (ok && req->body_len) {
        x->body = malloc(req->body_len);
        ok = x->body != NULL;
        if (ok) {
            memcpy(x->body, req->body, req->body_len);
            x->body_len = req->body_len;
        }
    }
    if (!ok) {
        xfer_free(x);
        return NULL;
    }
    return x;
}

static bool header_safe(const char *s)
{
    /* No CR/LF injection into request headers; bounded length. */
    return !s || (strlen(s) < HDR_VALUE_MAX && !strpbrk(s, "\r\n"));
}

rmq_err rmq_fetcher_fetch(struct rmq_fetcher *f, const struct rmq_fetch_req *req,
                          rmq_fetch_done_fn done, void *arg)
{
    if (!f || !req || !req->url || !done || !url_scheme_ok(req->url) ||
        (req->body_len && !req->body) || !header_safe(req->etag) ||
        !header_safe(req->last_modified) || !header_safe(req->content_type)) {
        return RMQ_ERR_INVALID;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        return RMQ_ERR_NOMEM;
    }
    j->kind = JOB_FETCH;
    j->proto = proto_from_req(req);
    if (!j->proto) {
        free(j);
        return RMQ_ERR_NOMEM;
    }
    j->done = done;
    j->arg = arg;
    return enqueue(f, j);
}

rmq_err rmq_fetcher_run_on(struct rmq_fetcher *f, rmq_fetcher_fn fn, void *arg)
{
    if (!f || !fn) {
        return RMQ_ERR_INVALID;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        return RMQ_ERR_NOMEM;
    }
    j->kind = JOB_RUN;
    j->fn = fn;
    j->arg = arg;
    return enqueue(f, j);
}

rmq_err rmq_fetcher_timer(struct rmq_fetcher *f, uint64_t delay_ms, rmq_fetcher_fn fn, void *arg)
{
    if (!f || !fn) {
        return RMQ_ERR_INVALID;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        return RMQ_ERR_NOMEM;
    }
    j->kind = JOB_TIMER;
    j->fn = fn;
    j->arg = arg;
    j->due_ms = rmq_fetcher_now_ms() + delay_ms;
    return enqueue(f, j);
}

void rmq_fetcher_cancel(struct rmq_fetcher *f, void *arg)
{
    if (!f) {
        return;
    }
    if (rmq_fetcher_on_thread(f)) {
        pthread_mutex_lock(&f->mu);
        purge_queue_locked(f, arg);
        pthread_mutex_unlock(&f->mu);
        cancel_on_thread(f, arg);
        return;
    }
    bool done = false;
    struct job *j = calloc(1, sizeof *j);
    pthread_mutex_lock(&f->mu);
    purge_queue_locked(f, arg);
    if (!j || f->stopping) {
        /* Stopping: the thread runs no more callbacks. No memory: the queue
         * is purged; in-flight callbacks may still run (logged). */
        pthread_mutex_unlock(&f->mu);
        if (!j && !f->stopping) {
            rmq_error("fetcher", "cancel: out of memory, pending callbacks may still run");
        }
        free(j);
        return;
    }
    j->kind = JOB_CANCEL;
    j->arg = arg;
    j->cancel_done = &done;
    enqueue_locked(f, j);
    pthread_mutex_unlock(&f->mu);
    wake(f);
    pthread_mutex_lock(&f->mu);
    while (!done && !f->stopping) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    pthread_mutex_unlock(&f->mu);
}
