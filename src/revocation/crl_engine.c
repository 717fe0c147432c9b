/*
 * crl_engine.c — CRL sources, refresh policy, discovery and publishing; see
 * crl.h for the contract.
 *
 * All work runs on the fetcher thread, driven by a 1 s tick (which re-reads
 * changed files, starts due fetches and evicts over-capacity discovered
 * URLs) and by fetch completions. Other threads only touch the source list
 * (want_url adds discovered sources) and the want waiters, under e->mu, and
 * read the current snapshot, under e->snap_mu.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/metrics.h"
#include "revocation/crl_int.h"
#include "revocation/status.h"
#include "revocation/refusal.h"

#define TICK_MS 1000
#define URL_MAX 2047

enum src_kind { SRC_URL, SRC_DISCOVERED, SRC_FILE };
static const char *const KIND_NAME[] = {"url", "discovered", "file"};

struct want_waiter {
    struct want_waiter *next;
    void (*done)(void *arg);
    void *arg;
};

struct crl_src {
    struct crl_src *next;
    enum src_kind kind;
    char *loc; /* URL or path */
    char stem[65];
    /* under e->mu */
    bool answered; /* first attempt ended */
    bool pending_start;
    uint64_t last_used; /* LRU order for discovered sources */
    struct want_waiter *waiters;
    /* fetcher thread only */
    struct rmq_crl_entry **crls; /* in force */
    size_t ncrls;
    char etag[256], last_modified[256];
    uint64_t due_ms, backoff_ms;
    bool in_flight, force;
    bool have_stat, file_missing;
    struct stat st;
    time_t last_attempt;  /* wall clock of the last refresh result (status.c) */
    char last_result[32]; /* "ok" or the failure reason */
};

struct sub {
    struct sub *next;
    void (*cb)(struct rmq_crl_snapshot *s, void *arg);
    void *arg;
};

struct rmq_crl_engine {
    struct rmq_fetcher *f;                    /* borrowed */
    const struct rmq_crl_cache_settings *cfg; /* borrowed */
    char *data_dir;
    STACK_OF(X509) * cas; /* trust for CRL signatures; set before start */

    /* mu protects: sources (list membership), the src fields marked "under
     * e->mu", n_discovered, seq, subs, delivering, started, running,
     * start_loaded, start_pending, stopping. cv: waiters of start, cancel. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct crl_src *sources;
    size_t n_discovered;
    uint64_t seq;
    struct sub *subs;
    void *delivering;
    bool started, running, start_loaded, stopping;
    size_t start_pending;

    pthread_mutex_t snap_mu; /* protects cur (the pointer swap) */
    struct rmq_crl_snapshot *cur;

    /* fetcher thread only */
    uint64_t version;
    bool dirty;
};

/* ---------- helpers ---------- */

static bool is_http_url(const char *u)
{
    return u && (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) &&
           strlen(u) <= URL_MAX && !strpbrk(u, " \r\n\t");
}

static const char *loc_key(const struct crl_src *s)
{
    return s->kind == SRC_FILE ? "file" : "url";
}

static uint64_t interval_ms(const struct rmq_crl_engine *e)
{
    return e->cfg->refresh_interval < 1000 ? 1000 : e->cfg->refresh_interval;
}

/* Finds a URL source (configured or discovered). Call with e->mu held. */
static struct crl_src *find_url_locked(struct rmq_crl_engine *e, const char *url)
{
    for (struct crl_src *s = e->sources; s; s = s->next) {
        if (s->kind != SRC_FILE && strcmp(s->loc, url) == 0) {
            return s;
        }
    }
    return NULL;
}

static struct crl_src *src_new(enum src_kind kind, const char *loc)
{
    struct crl_src *s = calloc(1, sizeof *s);
    if (!s || !(s->loc = strdup(loc))) {
        free(s);
        return NULL;
    }
    s->kind = kind;
    rmq_crl_store_stem(KIND_NAME[kind], loc, s->stem);
    return s;
}

static void src_set_crls(struct crl_src *s, struct rmq_crl_entry **crls, size_t n)
{
    for (size_t i = 0; i < s->ncrls; i++) {
        rmq_crl_entry_unref(s->crls[i]);
    }
    free(s->crls);
    s->crls = crls;
    s->ncrls = n;
}

static void src_free(struct crl_src *s)
{
    if (!s) {
        return;
    }
    src_set_crls(s, NULL, 0);
    while (s->waiters) {
        struct want_waiter *w = s->waiters;
        s->waiters = w->next;
        free(w);
    }
    free(s->loc);
    free(s);
}

/* Engine work posted to the fetcher, refused once the engine is stopping so
 * nothing can be queued after rmq_crl_engine_free cancelled its work. */
static void post_timer(struct rmq_crl_engine *e, uint64_t ms, rmq_fetcher_fn fn)
{
    pthread_mutex_lock(&e->mu);
    if (!e->stopping && rmq_fetcher_timer(e->f, ms, fn, e) != RMQ_OK) {
        rmq_error("crl_cache", "cannot arm the refresh timer: out of memory");
    }
    pthread_mutex_unlock(&e->mu);
}

static void post_run(struct rmq_crl_engine *e, rmq_fetcher_fn fn)
{
    pthread_mutex_lock(&e->mu);
    if (!e->stopping && rmq_fetcher_run_on(e->f, fn, e) != RMQ_OK) {
        rmq_error("crl_cache", "cannot queue work: out of memory");
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---------- publishing ---------- */

static void publish(struct rmq_crl_engine *e)
{
    e->dirty = false;
    pthread_mutex_lock(&e->mu);
    size_t n = 0;
    for (struct crl_src *s = e->sources; s; s = s->next) {
        n += s->ncrls;
    }
    struct rmq_crl_entry **all = calloc(n ? n : 1, sizeof *all);
    size_t k = 0;
    for (struct crl_src *s = e->sources; all && s; s = s->next) {
        for (size_t i = 0; i < s->ncrls; i++) {
            all[k++] = s->crls[i];
        }
    }
    pthread_mutex_unlock(&e->mu);
    struct rmq_crl_snapshot *snap = NULL;
    if (!all || rmq_crl_snapshot_new(all, k, e->version + 1, &snap) != RMQ_OK) {
        free(all);
        e->dirty = true; /* retried on the next tick */
        rmq_error("crl_cache", "cannot build a snapshot: out of memory");
        return;
    }
    free(all);
    e->version++;
    pthread_mutex_lock(&e->snap_mu);
    struct rmq_crl_snapshot *old = e->cur;
    e->cur = snap;
    pthread_mutex_unlock(&e->snap_mu);
    rmq_crl_snapshot_release(old);
    rmq_debug("crl_cache", "snapshot published version=%llu crls=%zu",
              (unsigned long long)e->version, k);
    /* Subscribers are only ever prepended: walk a stable list without mu. */
    pthread_mutex_lock(&e->mu);
    struct sub *subs = e->subs;
    pthread_mutex_unlock(&e->mu);
    for (struct sub *u = subs; u; u = u->next) {
        u->cb(snap, u->arg);
    }
}

static void mark_answered(struct rmq_crl_engine *e, struct crl_src *s)
{
    pthread_mutex_lock(&e->mu);
    s->answered = true;
    if (s->pending_start) {
        s->pending_start = false;
        e->start_pending--;
        pthread_cond_broadcast(&e->cv);
    }
    while (s->waiters) {
        struct want_waiter *w = s->waiters;
        s->waiters = w->next;
        e->delivering = w->arg;
        pthread_mutex_unlock(&e->mu);
        w->done(w->arg);
        free(w);
        pthread_mutex_lock(&e->mu);
        e->delivering = NULL;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---------- accepting a body ---------- */

/* The CRL in force from s for the same issuer name, issuer key and scope: the
 * one whose CRL number `c` must not go behind (RFC 5280 5.2.3). */
static struct rmq_crl_entry *prev_for(const struct crl_src *s, const struct rmq_crl_entry *c)
{
    for (size_t i = 0; i < s->ncrls; i++) {
        if (rmq_crl_same_scope(s->crls[i], c)) {
            return s->crls[i];
        }
    }
    return NULL;
}

static void free_entries(struct rmq_crl_entry **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        rmq_crl_entry_unref(v[i]);
    }
    free(v);
}

static void crl_issuer_text(X509_CRL *crl, char *buf, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    buf[0] = '\0';
    if (b && X509_NAME_print_ex(b, X509_CRL_get_issuer(crl), 0, XN_FLAG_RFC2253) >= 0) {
        int r = BIO_read(b, buf, (int)n - 1);
        buf[r > 0 ? r : 0] = '\0';
    }
    BIO_free(b);
    ERR_clear_error();
}

/* One CRL of a body: checks, entry, progress against the one in force. NULL
 * and *out on success, else the failed check. */
static const char *accept_one(struct rmq_crl_engine *e, struct crl_src *s, X509_CRL *crl,
                              time_t now, bool keep_der, struct rmq_crl_entry **out)
{
    X509 *signer = NULL;
    *out = NULL;
    const char *why = rmq_crl_check(crl, e->cas, now, e->cfg->stale_grace, &signer);
    if (why) {
        return why;
    }
    rmq_err err = rmq_crl_entry_build(crl, signer, e->cfg->stale_grace, keep_der, out);
    if (err != RMQ_OK) {
        return err == RMQ_ERR_NOMEM       ? RMQ_REFUSED(NOMEM)
               : err == RMQ_ERR_MALFORMED ? RMQ_REFUSED(IDP_MALFORMED)
                                          : RMQ_REFUSED(BAD_SERIAL);
    }
    struct rmq_crl_entry *prev = prev_for(s, *out);
    if (prev && (why = rmq_crl_check_progress(prev, *out, NULL))) {
        rmq_crl_entry_unref(*out);
        *out = NULL;
    }
    return why;
}

/* Appends to v the CRLs of s whose (issuer, key, scope) no new CRL replaces:
 * while a body has refused members, their last good versions stay. */
static size_t keep_unreplaced(const struct crl_src *s, struct rmq_crl_entry **v, size_t k)
{
    size_t n = k;
    for (size_t i = 0; i < s->ncrls; i++) {
        bool replaced = false;
        for (size_t j = 0; j < k && !replaced; j++) {
            replaced = rmq_crl_same_scope(s->crls[i], v[j]);
        }
        if (!replaced) {
            rmq_crl_entry_ref(s->crls[i]);
            v[n++] = s->crls[i];
        }
    }
    return n;
}

/* True when v holds exactly the CRLs (by content) the source has in force. */
static bool same_set(const struct crl_src *s, struct rmq_crl_entry *const *v, size_t k)
{
    if (k != s->ncrls) {
        return false;
    }
    for (size_t i = 0; i < k; i++) {
        bool found = false;
        for (size_t j = 0; j < s->ncrls && !found; j++) {
            found = memcmp(v[i]->der_hash, s->crls[j]->der_hash, 32) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static void log_refused(const struct crl_src *s, X509_CRL *crl, size_t i, size_t n,
                        const char *why);

/* Parses the body and checks each of its CRLs on its own; the good ones
 * replace the source's CRLs, each bad one is logged alone. NULL (some CRL
 * accepted; *changed tells whether the CRLs in force changed) or the reason
 * the body, or its only / every CRL, was refused (logged by the caller). */
static const char *accept_body(struct rmq_crl_engine *e, struct crl_src *s, const uint8_t *data,
                               size_t len, bool keep_der, bool *changed)
{
    *changed = false;
    STACK_OF(X509_CRL) *sk = NULL;
    const char *why = NULL, *first = NULL;
    if (rmq_crl_parse_bundle(data, len, &sk, &why) != RMQ_OK) {
        return why;
    }
    size_t n = (size_t)sk_X509_CRL_num(sk), k = 0, refused = 0;
    struct rmq_crl_entry **v = calloc(n + s->ncrls, sizeof *v);
    time_t now = time(NULL);
    for (size_t i = 0; v && i < n; i++) {
        X509_CRL *crl = sk_X509_CRL_value(sk, (int)i);
        why = crl == NULL ? RMQ_REFUSED(GARBAGE) : accept_one(e, s, crl, now, keep_der, &v[k]);
        if (why) {
            refused++;
            first = first ? first : why;
            if (n > 1) {
                log_refused(s, crl, i, n, why);
            }
            continue;
        }
        k++;
    }
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
    if (!v || k == 0) {
        free_entries(v, k);
        return v ? first : RMQ_REFUSED(NOMEM);
    }
    if (refused > 0) {
        k = keep_unreplaced(s, v, k);
    }
    if (same_set(s, v, k)) {
        free_entries(v, k); /* identical content: keep the entries in force */
        return NULL;
    }
    src_set_crls(s, v, k);
    *changed = true;
    return NULL;
}

/* "full", or the IDP restrictions: "dp+user", "ca+reasons=0x006", … */
static void scope_text(const struct rmq_crl_entry *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s%s", c->ndp ? "dp" : "full", c->only_user ? "+user_certs" : "",
             c->only_ca ? "+ca_certs" : "", c->only_attr ? "+attribute_certs" : "",
             c->reasons != RMQ_CERT_REASONS_ALL ? "+some_reasons" : "");
}

static void log_ok(const struct crl_src *s, const char *what)
{
    for (size_t i = 0; i < s->ncrls; i++) {
        const struct rmq_crl_entry *c = s->crls[i];
        char tu[32], nu[32];
        rmq_crl_fmt_time(c->this_update, tu, sizeof tu);
        rmq_crl_fmt_time(c->next_update, nu, sizeof nu);
        char scope[96], base[2 * 8 + 1] = "";
        scope_text(c, scope, sizeof scope);
        for (size_t j = 0; j < c->base_number_len && j < 8; j++) {
            snprintf(base + 2 * j, 3, "%02X", c->base_number[j]);
        }
        rmq_info("crl_cache",
                 "%s %s=%s entries=%zu this_update=%s next_update=%s issuer=\"%s\" scope=%s%s%s",
                 what, loc_key(s), s->loc, rmq_crl_index_count(c->index), tu, nu, c->issuer_dn,
                 scope, c->is_delta ? " delta=true base_crl_number=" : "", c->is_delta ? base : "");
    }
}

static void log_refused(const struct crl_src *s, X509_CRL *crl, size_t i, size_t n, const char *why)
{
    char issuer[256] = "?";
    if (crl != NULL) {
        crl_issuer_text(crl, issuer, sizeof issuer);
    }
    rmq_warn("crl_cache", "refresh failed %s=%s reason=%s crl=%zu/%zu issuer=\"%s\"", loc_key(s),
             s->loc, why, i + 1, n, issuer);
}

/* Remembered for the admin API (status.c) and counted for metrics. */
static void note_result(struct crl_src *s, const char *result)
{
    s->last_attempt = time(NULL);
    snprintf(s->last_result, sizeof s->last_result, "%s", result);
    rmq_metrics_inc(strcmp(result, "ok") == 0 ? RMQ_M_CRL_REFRESH_OK : RMQ_M_CRL_REFRESH_FAILED);
}

static void log_failed(struct crl_src *s, const char *reason, const char *detail)
{
    note_result(s, reason);
    /* in_force: CRLs of this source still used; stale: of those, how many are
     * past nextUpdate + stale_grace (their issuers fail closed). */
    time_t now = time(NULL);
    size_t stale = 0;
    for (size_t i = 0; i < s->ncrls; i++) {
        stale += now > s->crls[i]->expires_at;
    }
    rmq_warn("crl_cache", "refresh failed %s=%s reason=%s%s%s%s in_force=%zu%s%s", loc_key(s),
             s->loc, reason, detail ? " error=\"" : "", detail ? detail : "", detail ? "\"" : "",
             s->ncrls, stale ? " stale=true" : "",
             (s->ncrls == 0 || stale == s->ncrls) ? " fail_closed=true" : "");
}

static void persist(struct rmq_crl_engine *e, struct crl_src *s)
{
    if (!e->data_dir || s->kind == SRC_FILE) {
        return;
    }
    struct rmq_crl_saved_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.kind, sizeof m.kind, "%s", KIND_NAME[s->kind]);
    snprintf(m.location, sizeof m.location, "%s", s->loc);
    snprintf(m.etag, sizeof m.etag, "%s", s->etag);
    snprintf(m.last_modified, sizeof m.last_modified, "%s", s->last_modified);
    if (rmq_crl_store_save(e->data_dir, s->stem, &m, s->crls, s->ncrls) != RMQ_OK) {
        rmq_warn("crl_cache", "cannot save CRL url=%s dir=%s/crl: %s", s->loc, e->data_dir,
                 strerror(errno));
    }
    for (size_t i = 0; i < s->ncrls; i++) { /* not shared yet: safe to drop */
        OPENSSL_free(s->crls[i]->der);
        s->crls[i]->der = NULL;
        s->crls[i]->der_len = 0;
    }
}

/* ---------- refresh scheduling ---------- */

static void schedule_ok(struct rmq_crl_engine *e, struct crl_src *s)
{
    uint64_t delay = interval_ms(e);
    time_t now = time(NULL);
    for (size_t i = 0; i < s->ncrls; i++) {
        time_t nu = s->crls[i]->next_update;
        if (nu > now && (uint64_t)(nu - now) * 1000 + 1000 < delay) {
            delay = (uint64_t)(nu - now) * 1000 + 1000; /* just after nextUpdate */
        }
    }
    s->backoff_ms = 0;
    s->due_ms = rmq_fetcher_now_ms() + delay;
    note_result(s, "ok");
}

static void schedule_fail(struct rmq_crl_engine *e, struct crl_src *s)
{
    s->backoff_ms = rmq_backoff_next(s->backoff_ms, interval_ms(e));
    s->due_ms = rmq_fetcher_now_ms() + s->backoff_ms;
}

static const char *fetch_reason(const struct rmq_fetch_result *r)
{
    switch (r->err) {
    case RMQ_ERR_TIMEOUT:
        return RMQ_REFUSED(TIMEOUT);
    case RMQ_ERR_TOO_LARGE:
        return RMQ_REFUSED(TOO_LARGE);
    case RMQ_ERR_HTTP:
        return r->status ? RMQ_REFUSED(HTTP_STATUS) : RMQ_REFUSED(HTTP_ERROR);
    default:
        return RMQ_REFUSED(FETCH);
    }
}

static void on_fetched(const struct rmq_fetch_result *r, void *arg)
{
    struct rmq_crl_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    struct crl_src *s = find_url_locked(e, r->url);
    pthread_mutex_unlock(&e->mu);
    if (!s) {
        return; /* evicted meanwhile */
    }
    s->in_flight = false;
    if (r->err != RMQ_OK) {
        log_failed(s, fetch_reason(r), r->error);
        schedule_fail(e, s);
    } else if (r->not_modified) {
        rmq_info("crl_cache", "refresh OK url=%s not_modified=true in_force=%zu", s->loc, s->ncrls);
        schedule_ok(e, s);
    } else {
        bool changed = false;
        const char *why = accept_body(e, s, r->body, r->body_len, e->data_dir != NULL, &changed);
        if (why) {
            log_failed(s, why, NULL);
            schedule_fail(e, s);
        } else {
            snprintf(s->etag, sizeof s->etag, "%s", r->etag ? r->etag : "");
            snprintf(s->last_modified, sizeof s->last_modified, "%s",
                     r->last_modified ? r->last_modified : "");
            if (changed) {
                persist(e, s);
                e->dirty = true;
                log_ok(s, "refresh OK");
            } else {
                rmq_info("crl_cache", "refresh OK url=%s unchanged=true in_force=%zu", s->loc,
                         s->ncrls);
            }
            schedule_ok(e, s);
        }
    }
    if (e->dirty) {
        publish(e);
    }
    mark_answered(e, s);
}

static void start_fetch(struct rmq_crl_engine *e, struct crl_src *s)
{
    struct rmq_fetch_req req = {
        .url = s->loc,
        .method = RMQ_FETCH_GET,
        .timeout_ms = e->cfg->http_timeout,
        .max_size = e->cfg->max_size,
        /* conditional GET only while we hold what the validators describe */
        .etag = s->ncrls ? s->etag : NULL,
        .last_modified = s->ncrls ? s->last_modified : NULL,
    };
    s->in_flight = true;
    s->force = false;
    pthread_mutex_lock(&e->mu);
    rmq_err err = e->stopping ? RMQ_OK : rmq_fetcher_fetch(e->f, &req, on_fetched, e);
    pthread_mutex_unlock(&e->mu);
    if (err != RMQ_OK) {
        s->in_flight = false;
        log_failed(s, RMQ_REFUSED(FETCH), rmq_err_message(err));
        schedule_fail(e, s);
        mark_answered(e, s);
    }
}

/* ---------- files ---------- */

static bool stat_same(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void check_file(struct rmq_crl_engine *e, struct crl_src *s)
{
    struct stat st;
    if (stat(s->loc, &st) != 0) {
        if (!s->file_missing || s->force) {
            log_failed(s, RMQ_REFUSED(MISSING), strerror(errno));
        }
        s->file_missing = true;
        s->have_stat = false;
        s->force = false;
        return;
    }
    if (s->have_stat && !s->force && stat_same(&st, &s->st)) {
        return;
    }
    s->st = st;
    s->have_stat = true;
    s->file_missing = false;
    s->force = false;
    uint8_t *data = NULL;
    size_t len = 0;
    rmq_err err = rmq_crl_read_file(s->loc, e->cfg->max_size, &data, &len);
    const char *why = NULL;
    bool changed = false;
    if (err != RMQ_OK) {
        why = err == RMQ_ERR_TOO_LARGE ? RMQ_REFUSED(TOO_LARGE) : RMQ_REFUSED(UNREADABLE);
    } else {
        why = accept_body(e, s, data, len, false, &changed);
    }
    free(data);
    if (why) {
        log_failed(s, why, NULL);
    } else {
        if (changed) {
            e->dirty = true;
            log_ok(s, "refresh OK");
        }
        note_result(s, "ok");
    }
}

/* ---------- the tick ---------- */

static void evict_over_capacity(struct rmq_crl_engine *e)
{
    size_t cap = e->cfg->capacity ? e->cfg->capacity : 1;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        struct crl_src **victim = NULL;
        if (e->n_discovered > cap) {
            for (struct crl_src **pp = &e->sources; *pp; pp = &(*pp)->next) {
                struct crl_src *s = *pp;
                if (s->kind == SRC_DISCOVERED && s->answered && !s->waiters && !s->in_flight &&
                    (!victim || s->last_used < (*victim)->last_used)) {
                    victim = pp;
                }
            }
        }
        struct crl_src *v = victim ? *victim : NULL;
        if (v) {
            *victim = v->next;
            e->n_discovered--;
        }
        pthread_mutex_unlock(&e->mu);
        if (!v) {
            return;
        }
        rmq_info("crl_cache", "evicted url=%s capacity=%zu", v->loc, cap);
        rmq_crl_store_remove(e->data_dir, v->stem);
        e->dirty = e->dirty || v->ncrls > 0;
        src_free(v);
    }
}

static void work(struct rmq_crl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    bool run = e->running && !e->stopping;
    pthread_mutex_unlock(&e->mu);
    if (!run) {
        return;
    }
    evict_over_capacity(e);
    uint64_t now = rmq_fetcher_now_ms();
    /* Sources are only removed on this thread, so the pointers stay valid
     * after the lock is dropped; new ones are prepended by want_url. */
    pthread_mutex_lock(&e->mu);
    struct crl_src *head = e->sources;
    pthread_mutex_unlock(&e->mu);
    for (struct crl_src *s = head; s; s = s->next) {
        if (s->kind == SRC_FILE) {
            check_file(e, s);
        } else if (!s->in_flight && (s->due_ms <= now || s->force)) {
            start_fetch(e, s);
        }
    }
    if (e->dirty) {
        publish(e);
    }
}

static void on_tick(void *arg)
{
    struct rmq_crl_engine *e = arg;
    work(e);
    post_timer(e, TICK_MS, on_tick);
}

static void on_kick(void *arg)
{
    work(arg);
}

static void on_refresh_all(void *arg)
{
    struct rmq_crl_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    struct crl_src *head = e->sources;
    pthread_mutex_unlock(&e->mu);
    for (struct crl_src *s = head; s; s = s->next) {
        s->force = true;
        s->backoff_ms = 0;
    }
    rmq_info("crl_cache", "refreshing every source now");
    work(e);
}

/* ---------- start ---------- */

static void load_saved(struct rmq_crl_engine *e, struct crl_src *s)
{
    uint8_t *data = NULL;
    size_t len = 0;
    struct rmq_crl_saved_meta m;
    if (rmq_crl_store_load(e->data_dir, s->stem, e->cfg->max_size, &data, &len, &m) != RMQ_OK) {
        return;
    }
    bool changed = false;
    const char *why = accept_body(e, s, data, len, false, &changed);
    free(data);
    if (why) {
        rmq_warn("crl_cache", "saved CRL rejected url=%s reason=%s", s->loc, why);
        return;
    }
    snprintf(s->etag, sizeof s->etag, "%s", m.etag);
    snprintf(s->last_modified, sizeof s->last_modified, "%s", m.last_modified);
    e->dirty = true;
    log_ok(s, "loaded saved CRL");
}

static void add_saved_discovered(const char *url, void *arg)
{
    struct rmq_crl_engine *e = arg;
    if (!is_http_url(url)) {
        return;
    }
    pthread_mutex_lock(&e->mu);
    if (!find_url_locked(e, url)) {
        struct crl_src *s = src_new(SRC_DISCOVERED, url);
        if (s) {
            s->last_used = ++e->seq;
            s->next = e->sources;
            e->sources = s;
            e->n_discovered++;
        }
    }
    pthread_mutex_unlock(&e->mu);
}

static void on_start(void *arg)
{
    struct rmq_crl_engine *e = arg;
    size_t removed = rmq_crl_store_clean_tmp(e->data_dir);
    if (removed > 0) {
        rmq_info("crl_cache", "removed temporary files of interrupted saves count=%zu dir=%s/crl",
                 removed, e->data_dir);
    }
    if (e->cfg->discover_from_cert) {
        rmq_crl_store_each_discovered(e->data_dir, add_saved_discovered, e);
    }
    pthread_mutex_lock(&e->mu);
    struct crl_src *head = e->sources;
    e->running = true;
    pthread_mutex_unlock(&e->mu);
    for (struct crl_src *s = head; s; s = s->next) {
        if (s->kind == SRC_FILE) {
            check_file(e, s);
            mark_answered(e, s);
        } else {
            load_saved(e, s);
            if (s->kind == SRC_DISCOVERED && s->ncrls > 0) {
                mark_answered(e, s); /* usable at once; refreshed below */
            }
        }
    }
    publish(e);
    pthread_mutex_lock(&e->mu);
    e->start_loaded = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    work(e);
    post_timer(e, TICK_MS, on_tick);
}

rmq_err rmq_crl_engine_start(struct rmq_crl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->started = true;
    for (struct crl_src *s = e->sources; s; s = s->next) {
        if (s->kind == SRC_URL && !s->answered) {
            s->pending_start = true;
            e->start_pending++;
        }
    }
    pthread_mutex_unlock(&e->mu);
    RMQ_TRY(rmq_fetcher_run_on(e->f, on_start, e));
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    uint64_t wait_ms = e->cfg->http_timeout + 2000;
    dl.tv_sec += (time_t)(wait_ms / 1000);
    dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    while (!e->start_loaded || e->start_pending > 0) {
        if (pthread_cond_timedwait(&e->cv, &e->mu, &dl) == ETIMEDOUT) {
            rmq_warn("crl_cache",
                     "start: %zu configured URL(s) not answered within %llu ms; "
                     "continuing, their issuers fail closed until fetched",
                     e->start_pending, (unsigned long long)wait_ms);
            break;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return RMQ_OK;
}

/* ---------- construction ---------- */

struct rmq_crl_engine *rmq_crl_engine_new(struct rmq_fetcher *f,
                                          const struct rmq_crl_cache_settings *cfg,
                                          const char *data_dir)
{
    struct rmq_crl_engine *e = calloc(1, sizeof *e);
    if (!e) {
        return NULL;
    }
    e->f = f;
    e->cfg = cfg;
    e->cas = sk_X509_new_null();
    e->data_dir = data_dir ? strdup(data_dir) : NULL;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->snap_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!e->cas || (data_dir && !e->data_dir) ||
        rmq_crl_snapshot_new(NULL, 0, 0, &e->cur) != RMQ_OK) {
        rmq_crl_engine_free(e);
        return NULL;
    }
    return e;
}

rmq_err rmq_crl_engine_add_ca_file(struct rmq_crl_engine *e, const char *cacertfile)
{
    BIO *b = BIO_new_file(cacertfile, "r");
    if (!b) {
        ERR_clear_error();
        return RMQ_ERR_IO;
    }
    size_t n = 0;
    rmq_err rc = RMQ_OK;
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        n++;
        /* Fill OpenSSL's lazy extension cache now: the CA is read by other threads. */
        (void)X509_check_purpose(x, -1, 0);
        bool dup = false;
        for (int i = 0; i < sk_X509_num(e->cas) && !dup; i++) {
            dup = X509_cmp(sk_X509_value(e->cas, i), x) == 0;
        }
        if (dup) {
            X509_free(x);
        } else if (!sk_X509_push(e->cas, x)) {
            X509_free(x);
            rc = RMQ_ERR_NOMEM;
            break;
        }
    }
    ERR_clear_error();
    BIO_free(b);
    return rc == RMQ_OK && n == 0 ? RMQ_ERR_MALFORMED : rc;
}

static rmq_err add_source(struct rmq_crl_engine *e, enum src_kind kind, const char *loc)
{
    pthread_mutex_lock(&e->mu);
    for (struct crl_src *s = e->sources; s; s = s->next) {
        if (s->kind == kind && strcmp(s->loc, loc) == 0) {
            pthread_mutex_unlock(&e->mu);
            return RMQ_OK;
        }
    }
    struct crl_src *s = src_new(kind, loc);
    if (s) {
        s->next = e->sources;
        e->sources = s;
    }
    pthread_mutex_unlock(&e->mu);
    return s ? RMQ_OK : RMQ_ERR_NOMEM;
}

rmq_err rmq_crl_engine_add_url(struct rmq_crl_engine *e, const char *url)
{
    if (!is_http_url(url)) {
        return RMQ_ERR_INVALID;
    }
    return add_source(e, SRC_URL, url);
}

rmq_err rmq_crl_engine_add_file(struct rmq_crl_engine *e, const char *path)
{
    if (!path || !*path) {
        return RMQ_ERR_INVALID;
    }
    return add_source(e, SRC_FILE, path);
}

/* ---------- any-thread API ---------- */

struct rmq_crl_snapshot *rmq_crl_engine_acquire(struct rmq_crl_engine *e)
{
    pthread_mutex_lock(&e->snap_mu);
    struct rmq_crl_snapshot *s = e->cur;
    rmq_crl_snapshot_ref(s);
    pthread_mutex_unlock(&e->snap_mu);
    return s;
}

rmq_err rmq_crl_engine_want_url(struct rmq_crl_engine *e, const char *url, void (*done)(void *arg),
                                void *arg)
{
    if (!is_http_url(url) || !done) {
        return RMQ_ERR_INVALID;
    }
    struct want_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        return RMQ_ERR_NOMEM;
    }
    w->done = done;
    w->arg = arg;
    rmq_err rc = RMQ_ERR_AGAIN;
    bool kick = false;
    pthread_mutex_lock(&e->mu);
    struct crl_src *s = find_url_locked(e, url);
    if (s) {
        s->last_used = ++e->seq;
        if (s->answered) {
            rc = RMQ_OK;
        }
    } else if (!e->cfg->discover_from_cert) {
        rc = RMQ_ERR_NOT_FOUND;
    } else if ((s = src_new(SRC_DISCOVERED, url))) {
        s->last_used = ++e->seq;
        s->next = e->sources;
        e->sources = s;
        e->n_discovered++;
        kick = true;
        rmq_info("crl_cache", "discovered url=%s", url);
    } else {
        rc = RMQ_ERR_NOMEM;
    }
    if (rc == RMQ_ERR_AGAIN) {
        w->next = s->waiters;
        s->waiters = w;
        w = NULL;
    }
    if (kick && !e->stopping && rmq_fetcher_run_on(e->f, on_kick, e) != RMQ_OK) {
        rmq_error("crl_cache", "cannot queue the fetch of url=%s: out of memory", url);
    }
    pthread_mutex_unlock(&e->mu);
    free(w);
    return rc;
}

void rmq_crl_engine_want_cancel(struct rmq_crl_engine *e, void *arg)
{
    pthread_mutex_lock(&e->mu);
    for (struct crl_src *s = e->sources; s; s = s->next) {
        for (struct want_waiter **pp = &s->waiters; *pp;) {
            if ((*pp)->arg == arg) {
                struct want_waiter *w = *pp;
                *pp = w->next;
                free(w);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    if (!rmq_fetcher_on_thread(e->f)) {
        while (e->delivering == arg && arg != NULL) {
            pthread_cond_wait(&e->cv, &e->mu);
        }
    }
    pthread_mutex_unlock(&e->mu);
}

void rmq_crl_engine_on_publish(struct rmq_crl_engine *e,
                               void (*cb)(struct rmq_crl_snapshot *s, void *arg), void *arg)
{
    struct sub *u = calloc(1, sizeof *u);
    if (!u) {
        rmq_error("crl_cache", "cannot subscribe to snapshots: out of memory");
        return;
    }
    u->cb = cb;
    u->arg = arg;
    pthread_mutex_lock(&e->mu);
    u->next = e->subs;
    e->subs = u;
    pthread_mutex_unlock(&e->mu);
}

void rmq_crl_engine_refresh_now(struct rmq_crl_engine *e)
{
    post_run(e, on_refresh_all);
}

void rmq_crl_engine_free(struct rmq_crl_engine *e)
{
    if (!e) {
        return;
    }
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_mutex_unlock(&e->mu);
    /* After this nothing of ours runs on the fetcher thread any more. */
    rmq_fetcher_cancel(e->f, e);
    while (e->sources) {
        struct crl_src *s = e->sources;
        e->sources = s->next;
        src_free(s);
    }
    while (e->subs) {
        struct sub *u = e->subs;
        e->subs = u->next;
        free(u);
    }
    rmq_crl_snapshot_release(e->cur);
    sk_X509_pop_free(e->cas, X509_free);
    free(e->data_dir);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->snap_mu);
    free(e);
}

void rmq_crl_engine_each_source_ft(struct rmq_crl_engine *e,
                                   void (*fn)(const struct rmq_crl_source_view *v, void *arg),
                                   void *arg)
{
    uint64_t now = rmq_fetcher_now_ms();
    pthread_mutex_lock(&e->mu);
    for (struct crl_src *s = e->sources; s; s = s->next) {
        struct rmq_crl_source_view v = {
            .kind = KIND_NAME[s->kind],
            .location = s->loc,
            .crls = s->crls,
            .ncrls = s->ncrls,
            .last_attempt = s->last_attempt,
            .last_result = s->last_result,
            .next_refresh_ms = s->kind == SRC_FILE ? 1000
                               : s->due_ms > now   ? s->due_ms - now
                                                   : 0,
            .in_flight = s->in_flight,
        };
        fn(&v, arg);
    }
    pthread_mutex_unlock(&e->mu);
}
