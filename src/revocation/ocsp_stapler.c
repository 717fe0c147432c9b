/*
 * ocsp_stapler.c — fetch, verify, keep, persist and refresh the OCSP response
 * for one server certificate (policy in ocsp_stapler.h).
 *
 * State: `cur` (the verified response handed to handshakes) is shared and
 * guarded by `mu`; everything under "fetcher thread only" is touched only by
 * fetcher callbacks (one at a time) — plus start(), before any callback can
 * exist. Handshakes never wait on the network: get() copies what is in memory.
 */
#include "revocation/ocsp_stapler.h"
#include "revocation/refusal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ocsp.h>

#include "common/log.h"
#include "revocation/fetcher.h"

/* A verified response; immutable once made, shared by reference count. */
struct staple {
    atomic_int refs;
    unsigned char *der;
    size_t len;
    enum rmq_ocsp_status status;
    time_t this_update;
    time_t next_update;
};

struct rmq_ocsp_stapler {
    struct rmq_fetcher *f; /* borrowed */
    X509 *cert;            /* owned reference */
    X509 *issuer;          /* owned reference */
    char *url;             /* owned: responder URL (for logs and POST) */
    char *get_url;         /* owned: GET URL with the request, NULL for POST */
    enum rmq_ocsp_method method;
    uint64_t interval_ms;
    uint64_t timeout_ms;
    char *label;        /* owned: listener name for logs */
    char *dir;          /* owned: <data_dir>/ocsp, NULL: no persistence */
    char *path;         /* owned: <dir>/<fp>.der */
    char fp[65];        /* SHA-256 of the certificate, hex */
    unsigned char *req; /* owned: DER OCSPRequest */
    size_t req_len;
    bool started;

    pthread_mutex_t mu;         /* protects cur, first_done and last_error */
    pthread_cond_t cond;        /* signalled when first_done becomes true */
    struct staple *cur;         /* NULL: nothing verified yet */
    bool first_done;            /* the first fetch after start ended (either way) */
    char last_error[96];        /* reason of the last failed refresh; "" after a success */
    atomic_bool expired_logged; /* "staple expired" already said for cur */
    _Atomic uint64_t n_fetches, n_ok, n_failed, n_rejected; /* rmq_ocsp_stapler_stats */

    /* Held while handing work to the fetcher (timer, fetch, run_on) and while
     * free() sets `stopping`: a callback still running when free() cancels
     * cannot queue new work behind the cancellation. */
    pthread_mutex_t life_mu;
    bool stopping; /* protected by life_mu */

    /* fetcher thread only */
    bool fetching;
    _Atomic uint64_t due_ms; /* monotonic time the next refresh is due (read by _info) */
    uint64_t backoff_ms;     /* last failure delay; 0 after a success */
};

static void staple_unref(struct staple *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
        free(s->der);
        free(s);
    }
}

static struct staple *staple_new(const unsigned char *der, size_t len,
                                 const struct rmq_ocsp_verdict *v)
{
    struct staple *s = calloc(1, sizeof *s);
    if (s == NULL || (s->der = malloc(len)) == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->der, der, len);
    s->len = len;
    atomic_init(&s->refs, 1);
    s->status = v->status;
    s->this_update = v->this_update;
    s->next_update = v->next_update;
    return s;
}

static void fmt_time(time_t t, char out[32])
{
    struct tm tm;
    if (t == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Takes the reference; drops the old one. */
static void install(struct rmq_ocsp_stapler *st, struct staple *s)
{
    pthread_mutex_lock(&st->mu);
    struct staple *old = st->cur;
    st->cur = s;
    atomic_store(&st->expired_logged, false);
    pthread_mutex_unlock(&st->mu);
    staple_unref(old);
}

/* A reference to cur if it is still valid at `now`; NULL otherwise, with
 * *expired set when there is one but past its nextUpdate. */
static struct staple *acquire_valid(struct rmq_ocsp_stapler *st, time_t now, bool *expired)
{
    pthread_mutex_lock(&st->mu);
    struct staple *s = st->cur;
    *expired = false;
    if (s != NULL && now < s->next_update) {
        atomic_fetch_add(&s->refs, 1);
    } else {
        *expired = s != NULL;
        s = NULL;
    }
    pthread_mutex_unlock(&st->mu);
    return s;
}

static void log_expired_once(struct rmq_ocsp_stapler *st, time_t next_update)
{
    if (!atomic_exchange(&st->expired_logged, true)) {
        char nu[32];
        fmt_time(next_update, nu);
        rmq_error("ocsp", "staple expired, stapling stopped listener=%s url=%s next_update=%s",
                  st->label, st->url, nu);
    }
}

static time_t cur_next_update(struct rmq_ocsp_stapler *st, time_t *this_update)
{
    pthread_mutex_lock(&st->mu);
    time_t nu = st->cur ? st->cur->next_update : 0;
    *this_update = st->cur ? st->cur->this_update : 0;
    pthread_mutex_unlock(&st->mu);
    return nu;
}

/* ---- persistence ----------------------------------------------------- */

static void persist(struct rmq_ocsp_stapler *st, const unsigned char *der, size_t len)
{
    if (st->path == NULL) {
        return;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", st->path) >= (int)sizeof tmp) {
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) {
        char *slash = strrchr(st->dir, '/');
        if (slash != NULL) { /* data_dir itself, then data_dir/ocsp */
            *slash = '\0';
            (void)mkdir(st->dir, 0700);
            *slash = '/';
        }
        (void)mkdir(st->dir, 0700);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    bool ok = fd >= 0;
    size_t off = 0;
    while (ok && off < len) {
        ssize_t n = write(fd, der + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = n > 0;
        off += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0) {
        ok = false;
    }
    if (!ok || rename(tmp, st->path) != 0) { /* atomic replace */
        rmq_warn("ocsp", "cannot save response listener=%s path=%s error=%s", st->label, st->path,
                 strerror(errno));
        (void)unlink(tmp);
    }
}

static rmq_err read_file(const char *path, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? RMQ_ERR_NOT_FOUND : RMQ_ERR_IO;
    }
    struct stat sb;
    rmq_err err = RMQ_ERR_IO;
    unsigned char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        goto out;
    }
    if (sb.st_size <= 0 || (uint64_t)sb.st_size > RMQ_OCSP_MAX_RESPONSE) {
        err = RMQ_ERR_TOO_LARGE;
        goto out;
    }
    size_t n = (size_t)sb.st_size, off = 0;
    if ((buf = malloc(n)) == NULL) {
        err = RMQ_ERR_NOMEM;
        goto out;
    }
    while (off < n) {
        ssize_t r = read(fd, buf + off, n - off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            goto out;
        }
        off += (size_t)r;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    err = RMQ_OK;
out:
    free(buf);
    close(fd);
    return err;
}

static void load_saved(struct rmq_ocsp_stapler *st)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (st->path == NULL || read_file(st->path, &der, &len) != RMQ_OK) {
        return;
    }
    struct rmq_ocsp_verdict v;
    rmq_err err = rmq_ocsp_verify_response(der, len, st->cert, st->issuer, NULL, &v);
    if (err != RMQ_OK || v.status == RMQ_OCSP_UNKNOWN) {
        rmq_info("ocsp", "saved response not used listener=%s path=%s reason=%s", st->label,
                 st->path, err != RMQ_OK ? v.failed_check : RMQ_REFUSED(STATUS_UNKNOWN));
    } else {
        struct staple *s = staple_new(der, len, &v);
        if (s != NULL) {
            install(st, s);
            char nu[32];
            fmt_time(v.next_update, nu);
            rmq_log(v.status == RMQ_OCSP_REVOKED ? RMQ_LOG_ERROR : RMQ_LOG_INFO, "ocsp",
                    "loaded saved response listener=%s path=%s status=%s next_update=%s", st->label,
                    st->path, rmq_ocsp_status_name(v.status), nu);
        }
    }
    free(der);
}

/* ---- refresh cycle (fetcher thread) ---------------------------------- */

static void start_fetch(struct rmq_ocsp_stapler *st);
static void on_timer(void *arg);

static void signal_first_done(struct rmq_ocsp_stapler *st)
{
    pthread_mutex_lock(&st->mu);
    st->first_done = true;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
}

static void schedule(struct rmq_ocsp_stapler *st, uint64_t delay_ms)
{
    st->due_ms = rmq_fetcher_now_ms() + delay_ms;
    pthread_mutex_lock(&st->life_mu);
    rmq_err err = st->stopping ? RMQ_OK : rmq_fetcher_timer(st->f, delay_ms, on_timer, st);
    pthread_mutex_unlock(&st->life_mu);
    if (err != RMQ_OK) {
        rmq_error("ocsp", "cannot arm refresh timer listener=%s url=%s", st->label, st->url);
    }
}

/* min(interval, halfway between thisUpdate and nextUpdate), >= 1 s; when the
 * halfway point is already past, halfway between now and nextUpdate. */
static uint64_t next_refresh_ms(const struct rmq_ocsp_stapler *st, time_t tu, time_t nu)
{
    time_t now = time(NULL);
    time_t mid = tu + (nu - tu) / 2;
    if (mid <= now) {
        mid = now + (nu - now) / 2;
    }
    uint64_t delay = mid > now ? (uint64_t)(mid - now) * 1000 : 0;
    if (delay > st->interval_ms) {
        delay = st->interval_ms;
    }
    return delay < 1000 ? 1000 : delay;
}

static void refresh_failed(struct rmq_ocsp_stapler *st, const char *reason)
{
    atomic_fetch_add(&st->n_failed, 1);
    pthread_mutex_lock(&st->mu);
    snprintf(st->last_error, sizeof st->last_error, "%s", reason);
    pthread_mutex_unlock(&st->mu);
    st->backoff_ms = rmq_backoff_next(st->backoff_ms, st->interval_ms);
    rmq_warn("ocsp", "refresh failed listener=%s url=%s reason=%s retry_in_ms=%llu", st->label,
             st->url, reason, (unsigned long long)st->backoff_ms);
    time_t tu = 0;
    time_t nu = cur_next_update(st, &tu);
    if (nu != 0 && time(NULL) >= nu) {
        log_expired_once(st, nu);
    }
    schedule(st, st->backoff_ms);
}

static void refresh_ok(struct rmq_ocsp_stapler *st, const struct rmq_ocsp_verdict *v)
{
    char tu[32], nu[32];
    fmt_time(v->this_update, tu);
    fmt_time(v->next_update, nu);
    atomic_fetch_add(&st->n_ok, 1);
    pthread_mutex_lock(&st->mu);
    st->last_error[0] = '\0';
    pthread_mutex_unlock(&st->mu);
    rmq_info("ocsp", "refresh OK listener=%s url=%s status=%s this_update=%s next_update=%s",
             st->label, st->url, rmq_ocsp_status_name(v->status), tu, nu);
    if (v->status == RMQ_OCSP_REVOKED) {
        char rt[32];
        fmt_time(v->revocation_time, rt);
        rmq_error("ocsp",
                  "certificate revoked by responder listener=%s url=%s fingerprint=%s "
                  "revocation_time=%s reason=%s (stapled as is; clients will refuse us)",
                  st->label, st->url, st->fp, rt,
                  v->revocation_reason < 0 ? "unspecified"
                                           : OCSP_crl_reason_str(v->revocation_reason));
    }
    st->backoff_ms = 0;
    schedule(st, next_refresh_ms(st, v->this_update, v->next_update));
}

/* Verifies a fetched body; on success installs and persists it. Returns the
 * reason of a failure (static string; *rejected when the response failed a
 * check) or NULL. */
static const char *accept_body(struct rmq_ocsp_stapler *st, const uint8_t *body, size_t len,
                               struct rmq_ocsp_verdict *v, bool *rejected_out)
{
    *rejected_out = false;
    rmq_err err = rmq_ocsp_verify_response(body, len, st->cert, st->issuer, NULL, v);
    const char *rejected = err != RMQ_OK ? v->failed_check : NULL;
    time_t cur_tu = 0;
    (void)cur_next_update(st, &cur_tu);
    if (rejected == NULL && v->this_update < cur_tu) {
        rejected = RMQ_REFUSED(THIS_UPDATE_WENT_BACK); /* an older response replayed */
    }
    if (rejected != NULL) {
        rmq_warn("ocsp", "response rejected listener=%s url=%s reason=%s", st->label, st->url,
                 rejected);
        *rejected_out = true;
        atomic_fetch_add(&st->n_rejected, 1);
        return rejected;
    }
    if (v->status == RMQ_OCSP_UNKNOWN) {
        return RMQ_REFUSED(STATUS_UNKNOWN); /* verified, but nothing a client can use */
    }
    struct staple *s = staple_new(body, len, v);
    if (s == NULL) {
        return RMQ_REFUSED(OUT_OF_MEMORY);
    }
    install(st, s);
    persist(st, body, len);
    return NULL;
}

/* A fetch failure as one key=value token, like the crl_cache lines
 * (the fetcher's free-text error follows as error="…"). */
static const char *fetch_reason(const struct rmq_fetch_result *res)
{
    switch (res->err) {
    case RMQ_ERR_TIMEOUT:
        return RMQ_REFUSED(TIMEOUT);
    case RMQ_ERR_TOO_LARGE:
        return RMQ_REFUSED(TOO_LARGE);
    case RMQ_ERR_HTTP:
        return res->status ? RMQ_REFUSED(HTTP_STATUS) : RMQ_REFUSED(HTTP_ERROR);
    default:
        return RMQ_REFUSED(FETCH);
    }
}

static void on_fetched(const struct rmq_fetch_result *res, void *arg)
{
    struct rmq_ocsp_stapler *st = arg;
    st->fetching = false;
    atomic_fetch_add(&st->n_fetches, 1);
    if (res->err != RMQ_OK) {
        char reason[384];
        snprintf(reason, sizeof reason, "%s error=\"%s\"", fetch_reason(res),
                 res->error[0] ? res->error : rmq_err_message(res->err));
        refresh_failed(st, reason);
    } else {
        struct rmq_ocsp_verdict v;
        bool rejected = false;
        const char *why = accept_body(st, res->body, res->body_len, &v, &rejected);
        if (why != NULL) {
            char reason[96];
            snprintf(reason, sizeof reason, "%s%s", rejected ? "rejected:" : "", why);
            refresh_failed(st, reason);
        } else {
            refresh_ok(st, &v);
        }
    }
    signal_first_done(st);
}

static void start_fetch(struct rmq_ocsp_stapler *st)
{
    struct rmq_fetch_req req = {
        .url = st->method == RMQ_OCSP_GET ? st->get_url : st->url,
        .method = st->method == RMQ_OCSP_GET ? RMQ_FETCH_GET : RMQ_FETCH_POST,
        .body = st->method == RMQ_OCSP_GET ? NULL : st->req,
        .body_len = st->method == RMQ_OCSP_GET ? 0 : st->req_len,
        .content_type = st->method == RMQ_OCSP_GET ? NULL : "application/ocsp-request",
        .timeout_ms = st->timeout_ms,
        .max_size = RMQ_OCSP_MAX_RESPONSE,
    };
    st->fetching = true;
    pthread_mutex_lock(&st->life_mu);
    rmq_err err = st->stopping ? RMQ_OK : rmq_fetcher_fetch(st->f, &req, on_fetched, st);
    pthread_mutex_unlock(&st->life_mu);
    if (err != RMQ_OK) {
        st->fetching = false;
        refresh_failed(st, rmq_err_message(err));
        signal_first_done(st);
    }
}

static void on_timer(void *arg)
{
    struct rmq_ocsp_stapler *st = arg;
    /* a timer superseded by a later schedule() or refresh_now() is ignored */
    if (st->fetching || rmq_fetcher_now_ms() + 20 < st->due_ms) {
        return;
    }
    start_fetch(st);
}

static void on_refresh_now(void *arg)
{
    struct rmq_ocsp_stapler *st = arg;
    st->due_ms = rmq_fetcher_now_ms();
    if (!st->fetching) {
        start_fetch(st);
    }
}

/* ---- public API ------------------------------------------------------ */

static rmq_err init_urls(struct rmq_ocsp_stapler *st, const struct rmq_ocsp_settings *cfg,
                         const char *responder_url)
{
    const char *u = responder_url ? responder_url : cfg->responder_url;
    if (u != NULL && u[0] != '\0') {
        st->url = strdup(u);
        if (st->url == NULL) {
            return RMQ_ERR_NOMEM;
        }
    } else {
        RMQ_TRY(rmq_ocsp_responder_from_cert(st->cert, &st->url));
    }
    RMQ_TRY(rmq_ocsp_build_request(st->cert, st->issuer, false, &st->req, &st->req_len));
    if (st->method == RMQ_OCSP_GET) {
        RMQ_TRY(rmq_ocsp_get_url(st->url, st->req, st->req_len, &st->get_url));
    }
    return RMQ_OK;
}

static rmq_err init_paths(struct rmq_ocsp_stapler *st, const char *data_dir)
{
    if (data_dir == NULL || data_dir[0] == '\0') {
        return RMQ_OK;
    }
    size_t n = strlen(data_dir) + sizeof "/ocsp/" + 64 + sizeof ".der";
    st->dir = malloc(n);
    st->path = malloc(n);
    if (st->dir == NULL || st->path == NULL) {
        return RMQ_ERR_NOMEM;
    }
    snprintf(st->dir, n, "%s/ocsp", data_dir);
    snprintf(st->path, n, "%s/%s.der", st->dir, st->fp);
    return RMQ_OK;
}

struct rmq_ocsp_stapler *rmq_ocsp_stapler_new(struct rmq_fetcher *f, X509 *cert, X509 *issuer,
                                              const struct rmq_ocsp_settings *cfg,
                                              const char *responder_url, const char *data_dir)
{
    if (f == NULL || cert == NULL || issuer == NULL || cfg == NULL) {
        return NULL;
    }
    struct rmq_ocsp_stapler *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->life_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&st->expired_logged, false);
    st->f = f;
    X509_up_ref(cert);
    st->cert = cert;
    X509_up_ref(issuer);
    st->issuer = issuer;
    st->method = cfg->method;
    st->interval_ms = cfg->refresh_interval < 1000 ? 1000 : cfg->refresh_interval;
    st->timeout_ms = cfg->refresh_http_timeout ? cfg->refresh_http_timeout : 15000;
    st->label = strdup("-");
    if (st->label == NULL || rmq_ocsp_cert_fingerprint(cert, st->fp) != RMQ_OK ||
        init_urls(st, cfg, responder_url) != RMQ_OK || init_paths(st, data_dir) != RMQ_OK) {
        rmq_ocsp_stapler_free(st);
        return NULL;
    }
    return st;
}

rmq_err rmq_ocsp_stapler_set_label(struct rmq_ocsp_stapler *st, const char *label)
{
    char *l = strdup(label ? label : "-");
    if (l == NULL) {
        return RMQ_ERR_NOMEM;
    }
    free(st->label);
    st->label = l;
    return RMQ_OK;
}

static void on_start(void *arg)
{
    on_refresh_now(arg);
}

static rmq_err start(struct rmq_ocsp_stapler *st, bool wait)
{
    if (st == NULL || st->started) {
        return RMQ_ERR_INVALID;
    }
    load_saved(st);
    st->started = true;
    pthread_mutex_lock(&st->life_mu);
    rmq_err err = rmq_fetcher_run_on(st->f, on_start, st);
    pthread_mutex_unlock(&st->life_mu);
    RMQ_TRY(err);
    bool have = rmq_ocsp_stapler_status(st, NULL, NULL) == RMQ_OK;
    if (!wait || have) { /* a valid saved response is stapled already */
        return RMQ_OK;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t ms = st->timeout_ms + RMQ_FETCH_MIN_INTERVAL_MS; /* + the per-URL rate limit */
    deadline.tv_sec += (time_t)(ms / 1000);
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    while (!st->first_done) {
        if (pthread_cond_timedwait(&st->cond, &st->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return RMQ_OK;
}

rmq_err rmq_ocsp_stapler_start(struct rmq_ocsp_stapler *st)
{
    return start(st, true);
}

rmq_err rmq_ocsp_stapler_start_nowait(struct rmq_ocsp_stapler *st)
{
    return start(st, false);
}

rmq_err rmq_ocsp_stapler_get(struct rmq_ocsp_stapler *st, unsigned char **der, size_t *len)
{
    if (st == NULL || der == NULL || len == NULL) {
        return RMQ_ERR_INVALID;
    }
    bool expired = false;
    time_t nu = 0;
    struct staple *s = acquire_valid(st, time(NULL), &expired);
    if (s == NULL) {
        if (expired && !atomic_load(&st->expired_logged)) {
            time_t tu;
            nu = cur_next_update(st, &tu);
            log_expired_once(st, nu);
        }
        return RMQ_ERR_NOT_FOUND;
    }
    unsigned char *copy = OPENSSL_malloc(s->len);
    if (copy == NULL) {
        staple_unref(s);
        return RMQ_ERR_NOMEM;
    }
    memcpy(copy, s->der, s->len);
    *der = copy;
    *len = s->len;
    staple_unref(s);
    return RMQ_OK;
}

rmq_err rmq_ocsp_stapler_status(struct rmq_ocsp_stapler *st, enum rmq_ocsp_status *status,
                                time_t *next_update)
{
    bool expired = false;
    struct staple *s = acquire_valid(st, time(NULL), &expired);
    if (s == NULL) {
        return RMQ_ERR_NOT_FOUND;
    }
    if (status != NULL) {
        *status = s->status;
    }
    if (next_update != NULL) {
        *next_update = s->next_update;
    }
    staple_unref(s);
    return RMQ_OK;
}

void rmq_ocsp_stapler_stats(struct rmq_ocsp_stapler *st, struct rmq_ocsp_stats *out)
{
    out->fetches = atomic_load(&st->n_fetches);
    out->ok = atomic_load(&st->n_ok);
    out->failed = atomic_load(&st->n_failed);
    out->rejected = atomic_load(&st->n_rejected);
}

void rmq_ocsp_stapler_refresh_now(struct rmq_ocsp_stapler *st)
{
    if (st == NULL || !st->started) {
        return;
    }
    pthread_mutex_lock(&st->life_mu);
    rmq_err err = st->stopping ? RMQ_OK : rmq_fetcher_run_on(st->f, on_refresh_now, st);
    pthread_mutex_unlock(&st->life_mu);
    if (err != RMQ_OK) {
        rmq_error("ocsp", "refresh_now: out of memory listener=%s", st->label);
    }
}

const char *rmq_ocsp_stapler_fingerprint(const struct rmq_ocsp_stapler *st)
{
    return st->fp;
}

void rmq_ocsp_stapler_free(struct rmq_ocsp_stapler *st)
{
    if (st == NULL) {
        return;
    }
    pthread_mutex_lock(&st->life_mu);
    st->stopping = true; /* from here on nothing of ours is queued */
    pthread_mutex_unlock(&st->life_mu);
    rmq_fetcher_cancel(st->f, st); /* no callback of ours runs after this */
    staple_unref(st->cur);
    X509_free(st->cert);
    X509_free(st->issuer);
    free(st->url);
    free(st->get_url);
    free(st->label);
    free(st->dir);
    free(st->path);
    free(st->req);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->life_mu);
    free(st);
}

void rmq_ocsp_stapler_info(struct rmq_ocsp_stapler *st, struct rmq_ocsp_stapler_info *out)
{
    memset(out, 0, sizeof *out);
    out->url = st->url;
    out->label = st->label;
    out->fingerprint = st->fp;
    pthread_mutex_lock(&st->mu);
    if (st->cur) {
        out->has_response = true;
        out->status = st->cur->status;
        out->this_update = st->cur->this_update;
        out->next_update = st->cur->next_update;
    }
    snprintf(out->last_error, sizeof out->last_error, "%s", st->last_error);
    pthread_mutex_unlock(&st->mu);
    uint64_t due = atomic_load(&st->due_ms), now = rmq_fetcher_now_ms();
    out->next_refresh_ms = due > now ? due - now : 0;
}
