/*
 * ocsp_client.c — client-certificate OCSP: queries, verified-answer cache
 * (hash + LRU list), background refresh. See ocsp_client.h.
 */
#include "revocation/ocsp_client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/lru.h"
#include "revocation/fetcher.h"
#include "revocation/ocsp_stapler.h"

#define SWEEP_MS 1000u      /* refresh sweep period */
#define RETRY_CAP_MS 60000u /* failed refresh: backoff cap */

struct entry {
    struct rmq_cert_id id;
    enum rmq_ocspc_state state; /* GOOD, REVOKED or UNKNOWN */
    int reason;
    time_t this_update, next_update;
    time_t refresh_at;       /* wall clock; 0: never (no certificates kept) */
    uint64_t backoff_ms;     /* last retry delay after a failed refresh */
    X509 *cert, *issuer;     /* owned references, NULL for test entries */
    struct rmq_lru_node lru; /* in rmq_ocsp_client.lru */
    struct entry *hnext;     /* hash bucket chain */
};

struct waiter {
    void (*done)(void *arg, const struct rmq_ocspc_result *r);
    void *arg;
    struct waiter *next;
};

struct query {
    struct rmq_ocsp_client *c;
    struct rmq_cert_id id;
    X509 *cert, *issuer; /* owned references */
    char *url;
    struct waiter *waiters;
    struct query *next;
};

struct rmq_ocsp_client {
    struct rmq_fetcher *f; /* borrowed */
    struct rmq_ocsp_client_opts o;
    pthread_mutex_t mu; /* protects everything below */
    struct entry **buckets;
    size_t nbuckets;    /* power of two */
    struct rmq_lru lru; /* every entry; len: how many */
    struct query *queries;
    bool closing;
};

const char *rmq_ocspc_state_name(enum rmq_ocspc_state s)
{
    switch (s) {
    case RMQ_OCSPC_GOOD:
        return "good";
    case RMQ_OCSPC_REVOKED:
        return "revoked";
    case RMQ_OCSPC_UNKNOWN:
        return "unknown";
    case RMQ_OCSPC_MISS:
        return "miss";
    case RMQ_OCSPC_FAILED:
        return "failed";
    default:
        return "?";
    }
}

/* The identity fields that name one certificate (the CDP names do not). */
static bool same_id(const struct rmq_cert_id *a, const struct rmq_cert_id *b)
{
    return a->serial_len == b->serial_len && a->serial_negative == b->serial_negative &&
           memcmp(a->serial, b->serial, a->serial_len) == 0 &&
           memcmp(a->issuer_hash, b->issuer_hash, sizeof a->issuer_hash) == 0 &&
           memcmp(a->issuer_key, b->issuer_key, sizeof a->issuer_key) == 0;
}

static size_t id_hash(const struct rmq_cert_id *id)
{
    /* Serial and issuer key (the fields that differ between certificates),
     * through the common keyed hash (common/hash.h). */
    uint8_t k[RMQ_CERT_ID_SERIAL_MAX + sizeof id->issuer_key];
    size_t n = id->serial_len <= RMQ_CERT_ID_SERIAL_MAX ? id->serial_len : RMQ_CERT_ID_SERIAL_MAX;
    memcpy(k, id->serial, n);
    memcpy(k + n, id->issuer_key, sizeof id->issuer_key);
    return (size_t)rmq_hash(k, n + sizeof id->issuer_key);
}

static struct entry **slot_of(struct rmq_ocsp_client *c, const struct rmq_cert_id *id)
{
    struct entry **pp = &c->buckets[id_hash(id) & (c->nbuckets - 1)];
    while (*pp != NULL && !same_id(&(*pp)->id, id)) {
        pp = &(*pp)->hnext;
    }
    return pp;
}

static void entry_free(struct entry *e)
{
    X509_free(e->cert);
    X509_free(e->issuer);
    free(e);
}

static void entry_remove(struct rmq_ocsp_client *c, struct entry *e)
{
    struct entry **pp = slot_of(c, &e->id);
    if (*pp == e) {
        *pp = e->hnext;
    }
    rmq_lru_remove(&c->lru, &e->lru);
    entry_free(e);
}

/* Refresh halfway through the validity window (from now if already past),
 * never sooner than 1 s (as the stapler). */
static time_t refresh_time(time_t now, time_t this_update, time_t next_update)
{
    time_t half = this_update + (next_update - this_update) / 2;
    if (half <= now) {
        half = now + (next_update - now) / 2;
    }
    return half < now + 1 ? now + 1 : half;
}

/* Inserts or updates id; takes the certificate references (may be NULL).
 * Returns the previous state (MISS when new). Lock held. */
static enum rmq_ocspc_state store(struct rmq_ocsp_client *c, const struct rmq_cert_id *id,
                                  const struct rmq_ocsp_verdict *v, X509 *cert, X509 *issuer)
{
    struct entry **pp = slot_of(c, id);
    struct entry *e = *pp;
    enum rmq_ocspc_state prev = RMQ_OCSPC_MISS;
    if (e != NULL) {
        prev = e->state;
        rmq_lru_remove(&c->lru, &e->lru);
        X509_free(e->cert);
        X509_free(e->issuer);
    } else {
        if (c->lru.len >= c->o.cache_size && c->lru.tail != NULL) {
            entry_remove(c, RMQ_LRU_ENTRY(c->lru.tail, struct entry, lru)); /* LRU eviction */
            pp = slot_of(c, id);
        }
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            X509_free(cert);
            X509_free(issuer);
            return prev;
        }
        e->id = *id;
        *pp = e;
    }
    e->state = v->status == RMQ_OCSP_GOOD      ? RMQ_OCSPC_GOOD
               : v->status == RMQ_OCSP_REVOKED ? RMQ_OCSPC_REVOKED
                                               : RMQ_OCSPC_UNKNOWN;
    e->reason = v->status == RMQ_OCSP_REVOKED ? v->revocation_reason : -1;
    e->this_update = v->this_update;
    e->next_update = v->next_update;
    e->cert = cert;
    e->issuer = issuer;
    e->backoff_ms = 0;
    e->refresh_at = cert != NULL ? refresh_time(time(NULL), v->this_update, v->next_update) : 0;
    rmq_lru_push(&c->lru, &e->lru);
    return prev;
}

static void sweep(void *arg);

rmq_err rmq_ocsp_client_new(struct rmq_fetcher *f, const struct rmq_ocsp_client_opts *opts,
                            struct rmq_ocsp_client **out)
{
    *out = NULL;
    if (f == NULL || opts == NULL || opts->cache_size == 0) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_ocsp_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return RMQ_ERR_NOMEM;
    }
    c->f = f;
    c->o = *opts;
    if (c->o.label == NULL) {
        c->o.label = "?";
    }
    c->nbuckets = 16;
    while (c->nbuckets < 2 * opts->cache_size && c->nbuckets < (1u << 20)) {
        c->nbuckets *= 2;
    }
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (c->buckets == NULL) {
        free(c);
        return RMQ_ERR_NOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    rmq_err e = rmq_fetcher_timer(f, SWEEP_MS, sweep, c);
    if (e != RMQ_OK) {
        pthread_mutex_destroy(&c->mu);
        free(c->buckets);
        free(c);
        return e;
    }
    *out = c;
    return RMQ_OK;
}

static void query_free(struct query *q)
{
    struct waiter *w = q->waiters;
    while (w != NULL) {
        struct waiter *n = w->next;
        free(w);
        w = n;
    }
    X509_free(q->cert);
    X509_free(q->issuer);
    free(q->url);
    free(q);
}

void rmq_ocsp_client_free(struct rmq_ocsp_client *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_mutex_unlock(&c->mu);
    rmq_fetcher_cancel(c->f, c); /* the sweep timer: no new queries after this */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        struct query *q = c->queries;
        if (q != NULL) {
            c->queries = q->next;
        }
        pthread_mutex_unlock(&c->mu);
        if (q == NULL) {
            break;
        }
        rmq_fetcher_cancel(c->f, q);
        query_free(q);
    }
    while (c->lru.head != NULL) {
        entry_remove(c, RMQ_LRU_ENTRY(c->lru.head, struct entry, lru));
    }
    pthread_mutex_destroy(&c->mu);
    free(c->buckets);
    free(c);
}

static struct rmq_ocspc_result result_of(const struct entry *e)
{
    struct rmq_ocspc_result r = {.state = RMQ_OCSPC_MISS, .reason = -1};
    if (e != NULL) {
        r.state = e->state;
        r.reason = e->reason;
        r.next_update = e->next_update;
    }
    return r;
}

struct rmq_ocspc_result rmq_ocsp_client_lookup(struct rmq_ocsp_client *c,
                                               const struct rmq_cert_id *id)
{
    struct rmq_ocspc_result r = {.state = RMQ_OCSPC_MISS, .reason = -1};
    if (c == NULL || id == NULL) {
        return r;
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&c->mu);
    struct entry *e = *slot_of(c, id);
    if (e != NULL && e->next_update <= now) {
        entry_remove(c, e); /* stale: never returned */
        e = NULL;
    }
    if (e != NULL) {
        rmq_lru_touch(&c->lru, &e->lru);
        r = result_of(e);
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

size_t rmq_ocsp_client_count(struct rmq_ocsp_client *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->lru.len;
    pthread_mutex_unlock(&c->mu);
    return n;
}

rmq_err rmq_ocsp_client_put(struct rmq_ocsp_client *c, const struct rmq_cert_id *id,
                            enum rmq_ocspc_state state, int reason, time_t this_update,
                            time_t next_update)
{
    if (c == NULL || id == NULL || state > RMQ_OCSPC_UNKNOWN || next_update <= this_update) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_ocsp_verdict v = {
        .this_update = this_update, .next_update = next_update, .revocation_reason = reason};
    v.status = state == RMQ_OCSPC_GOOD      ? RMQ_OCSP_GOOD
               : state == RMQ_OCSPC_REVOKED ? RMQ_OCSP_REVOKED
                                            : RMQ_OCSP_UNKNOWN;
    pthread_mutex_lock(&c->mu);
    (void)store(c, id, &v, NULL, NULL);
    pthread_mutex_unlock(&c->mu);
    return RMQ_OK;
}

bool rmq_ocsp_client_applies(X509 *cert)
{
    char *url = NULL;
    if (rmq_ocsp_responder_from_cert(cert, &url) != RMQ_OK) {
        return false;
    }
    free(url);
    return true;
}

static const char *fetch_why(const struct rmq_fetch_result *res)
{
    switch (res->err) {
    case RMQ_ERR_TIMEOUT:
        return "timeout";
    case RMQ_ERR_TOO_LARGE:
        return "too_large";
    case RMQ_ERR_HTTP:
        return res->status != 0 ? "http_status" : "unreachable";
    default:
        return "fetch";
    }
}

static void log_answer(struct rmq_ocsp_client *c, const struct query *q,
                       const struct rmq_ocspc_result *r, bool refresh)
{
    char serial[2 * RMQ_CERT_ID_SERIAL_MAX + 2];
    static const char d[] = "0123456789ABCDEF";
    size_t o = 0;
    if (q->id.serial_negative) {
        serial[o++] = '-';
    }
    for (size_t i = 0; i < q->id.serial_len; i++) {
        serial[o++] = d[q->id.serial[i] >> 4];
        serial[o++] = d[q->id.serial[i] & 15];
    }
    serial[o] = '\0';
    char issuer[256];
    X509_NAME_oneline(X509_get_issuer_name(q->cert), issuer, sizeof issuer);
    int level = r->state == RMQ_OCSPC_GOOD ? RMQ_LOG_INFO : RMQ_LOG_WARNING;
    RMQ_LOG_RL(20, level, "ocsp",
               "client certificate checked listener=%s serial=%s issuer=\"%s\" url=%s "
               "status=%s%s%s%s%s next_update=%lld trigger=%s",
               c->o.label, serial, issuer, q->url, rmq_ocspc_state_name(r->state),
               r->why != NULL ? " error=" : "", r->why != NULL ? r->why : "",
               r->check != NULL ? " check=" : "", r->check != NULL ? r->check : "",
               (long long)r->next_update, refresh ? "refresh" : "handshake");
}

/* x with one more reference (NULL when that fails). */
static X509 *ref(X509 *x)
{
    return X509_up_ref(x) == 1 ? x : NULL;
}

/* Fetcher thread: a response (or a failure) for q. */
static void on_fetched(const struct rmq_fetch_result *res, void *arg)
{
    struct query *q = arg;
    struct rmq_ocsp_client *c = q->c;
    struct rmq_ocspc_result r = {.state = RMQ_OCSPC_FAILED, .reason = -1};
    struct rmq_ocsp_verdict v;
    bool verified = false;
    if (res->err != RMQ_OK || res->not_modified) {
        r.why = res->not_modified ? "http_status" : fetch_why(res);
    } else if (rmq_ocsp_verify_response(res->body, res->body_len, q->cert, q->issuer, NULL, &v) !=
               RMQ_OK) {
        r.why = "rejected";
        r.check = v.failed_check;
    } else {
        verified = true;
    }
    bool newly_revoked = false, listed = false;
    pthread_mutex_lock(&c->mu);
    for (struct query **pp = &c->queries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            listed = true;
            break;
        }
    }
    if (!listed) {
        /* rmq_ocsp_client_free took it and frees it after cancelling us */
        pthread_mutex_unlock(&c->mu);
        return;
    }
    struct entry *e = *slot_of(c, &q->id);
    bool refresh = e != NULL;
    if (verified) {
        enum rmq_ocspc_state prev = store(c, &q->id, &v, ref(q->cert), ref(q->issuer));
        e = *slot_of(c, &q->id);
        r = result_of(e);
        if (e == NULL) { /* out of memory: still answer this once */
            r.state = v.status == RMQ_OCSP_GOOD      ? RMQ_OCSPC_GOOD
                      : v.status == RMQ_OCSP_REVOKED ? RMQ_OCSPC_REVOKED
                                                     : RMQ_OCSPC_UNKNOWN;
            r.next_update = v.next_update;
        }
        newly_revoked =
            prev != RMQ_OCSPC_REVOKED && prev != RMQ_OCSPC_MISS && r.state == RMQ_OCSPC_REVOKED;
    } else if (e != NULL && e->cert != NULL) {
        /* a failed refresh keeps the last answer until its nextUpdate */
        e->backoff_ms = rmq_backoff_next(e->backoff_ms, RETRY_CAP_MS);
        e->refresh_at = time(NULL) + (time_t)(e->backoff_ms / 1000);
    }
    log_answer(c, q, &r, refresh);
    for (struct waiter *w = q->waiters; w != NULL; w = w->next) {
        w->done(w->arg, &r);
    }
    pthread_mutex_unlock(&c->mu);
    if (newly_revoked && c->o.on_revoked != NULL) {
        c->o.on_revoked(&q->id, c->o.on_revoked_arg);
    }
    query_free(q);
}

/* Starts a request for q (lock held). */
static rmq_err start(struct rmq_ocsp_client *c, struct query *q)
{
    unsigned char *der = NULL;
    size_t len = 0;
    rmq_err e = rmq_ocsp_build_request(q->cert, q->issuer, false, &der, &len);
    if (e != RMQ_OK) {
        return e;
    }
    /* GET (RFC 6960 A.1): one URL per certificate, so the fetcher's per-URL
     * rate limit (1 s) spaces the queries of ONE certificate, not every
     * query to the responder, and coalesces twins. */
    char *get = NULL;
    e = rmq_ocsp_get_url(q->url, der, len, &get);
    free(der);
    if (e != RMQ_OK) {
        return e;
    }
    struct rmq_fetch_req req = {.url = get,
                                .method = RMQ_FETCH_GET,
                                .timeout_ms = c->o.timeout_ms,
                                .max_size = RMQ_OCSP_MAX_RESPONSE,
                                .max_redirects = -1};
    e = rmq_fetcher_fetch(c->f, &req, on_fetched, q);
    free(get);
    if (e == RMQ_OK) {
        q->next = c->queries;
        c->queries = q;
    }
    return e;
}

static struct query *query_new(struct rmq_ocsp_client *c, X509 *cert, X509 *issuer,
                               const struct rmq_cert_id *id, char *url)
{
    struct query *q = calloc(1, sizeof *q);
    if (q == NULL) {
        return NULL;
    }
    q->c = c;
    q->id = *id;
    q->url = url;
    if (X509_up_ref(cert) == 1) {
        q->cert = cert;
    }
    if (X509_up_ref(issuer) == 1) {
        q->issuer = issuer;
    }
    if (q->cert == NULL || q->issuer == NULL) {
        query_free(q);
        return NULL;
    }
    return q;
}

rmq_err rmq_ocsp_client_query(struct rmq_ocsp_client *c, X509 *cert, X509 *issuer,
                              const struct rmq_cert_id *id,
                              void (*done)(void *arg, const struct rmq_ocspc_result *r), void *arg)
{
    if (c == NULL || cert == NULL || issuer == NULL || id == NULL || done == NULL) {
        return RMQ_ERR_INVALID;
    }
    char *url = NULL;
    rmq_err e = rmq_ocsp_responder_from_cert(cert, &url);
    if (e != RMQ_OK) {
        return e;
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        free(url);
        return RMQ_ERR_NOMEM;
    }
    w->done = done;
    w->arg = arg;
    pthread_mutex_lock(&c->mu);
    struct query *q = c->queries;
    while (q != NULL && !same_id(&q->id, id)) {
        q = q->next;
    }
    if (q != NULL) { /* join the running one */
        free(url);
        e = RMQ_ERR_AGAIN;
    } else if (c->closing) {
        free(url);
        e = RMQ_ERR_INVALID;
    } else if ((q = query_new(c, cert, issuer, id, url)) == NULL) {
        e = RMQ_ERR_NOMEM;
    } else if ((e = start(c, q)) != RMQ_OK) {
        query_free(q);
        q = NULL;
    } else {
        e = RMQ_ERR_AGAIN;
    }
    if (q != NULL) {
        w->next = q->waiters;
        q->waiters = w;
        w = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(w);
    return e;
}

void rmq_ocsp_client_cancel(struct rmq_ocsp_client *c, void *arg)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    for (struct query *q = c->queries; q != NULL; q = q->next) {
        struct waiter **pp = &q->waiters;
        while (*pp != NULL) {
            if ((*pp)->arg == arg) {
                struct waiter *w = *pp;
                *pp = w->next;
                free(w);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* Fetcher thread, every SWEEP_MS: drops stale entries, refreshes due ones. */
static void sweep(void *arg)
{
    struct rmq_ocsp_client *c = arg;
    time_t now = time(NULL);
    pthread_mutex_lock(&c->mu);
    struct rmq_lru_node *p = c->lru.head;
    while (p != NULL) {
        struct entry *e = RMQ_LRU_ENTRY(p, struct entry, lru);
        p = p->next;
        if (e->next_update <= now) {
            entry_remove(c, e);
        } else if (e->cert != NULL && e->refresh_at != 0 && e->refresh_at <= now) {
            bool running = false;
            for (struct query *q = c->queries; q != NULL && !running; q = q->next) {
                running = same_id(&q->id, &e->id);
            }
            char *url = NULL;
            if (!running && rmq_ocsp_responder_from_cert(e->cert, &url) == RMQ_OK) {
                struct query *q = query_new(c, e->cert, e->issuer, &e->id, url);
                if (q != NULL && start(c, q) != RMQ_OK) {
                    query_free(q);
                }
                /* retried by on_fetched's backoff, or next sweep if it did not start */
                e->refresh_at = now + 1;
            }
        }
    }
    bool closing = c->closing;
    pthread_mutex_unlock(&c->mu);
    if (!closing && rmq_fetcher_timer(c->f, SWEEP_MS, sweep, c) != RMQ_OK) {
        rmq_warn("ocsp", "client OCSP refresh timer lost listener=%s", c->o.label);
    }
}
