/*
 * tls_sess.c — the server-side TLS session cache (one per generation).
 *
 * Why our own cache instead of OpenSSL's internal one: the lookup callback
 * is the one place where OpenSSL asks "may this session be resumed?" before
 * it decides, for TLS 1.2 session ids and TLS 1.3 stateful tickets alike
 * (SSL_OP_NO_TICKET + num_tickets 1: the ticket is a session id). Here the
 * stored peer certificate is looked up in the CURRENT CRL snapshot; if it is
 * revoked or no CRL covers it any more, the session is dropped and the client
 * falls back to a full handshake, where the verify callback rejects it with
 * the proper alert (44 / 42). A revoked client therefore can never resume.
 *
 * Structure: a chained hash table on the session id with an LRU list,
 * bounded by memory: each entry is charged what its session costs (tls_sess_cost)
 * and the least recently used are dropped while a new one would take the
 * total past the budget (ssl_options.session_cache_memory). Each entry holds
 * one SSL_SESSION reference. Expiry is OpenSSL's (it checks the session
 * timeout after our lookup and asks us to remove it).
 *
 * Threads: the callbacks run on any worker thread; `mu` protects the table
 * and the list. Revocation lookups happen outside the lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/lru.h"
#include "tls/tls_int.h"

#define TLS_SESS_BUCKETS 4096u

struct sess_entry {
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    unsigned int idlen;
    SSL_SESSION *sess; /* one reference */
    size_t cost;       /* bytes charged to the budget (tls_sess_cost) */
    struct sess_entry *hnext;
    struct rmq_lru_node lru; /* in tls_sess_cache.lru */
};

struct tls_sess_cache {
    struct rmq_tls_listener *l;
    size_t budget;      /* bytes */
    pthread_mutex_t mu; /* protects everything below */
    size_t bytes;       /* charged by the entries linked */
    struct sess_entry *buckets[TLS_SESS_BUCKETS];
    struct rmq_lru lru; /* every entry; len: how many */
};

static unsigned bucket_of(const unsigned char *id, unsigned int len)
{
    /* The common keyed hash: a client sends the id it wants resumed, so the
     * bucket must not be predictable from it (common/hash.h). */
    return (unsigned)(rmq_hash(id, len) % TLS_SESS_BUCKETS);
}

/* Unlinks the entry for id (mu held); returns it or NULL. */
static struct sess_entry *take(struct tls_sess_cache *c, const unsigned char *id, unsigned int len)
{
    struct sess_entry **pp = &c->buckets[bucket_of(id, len)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        struct sess_entry *e = *pp;
        if (e->idlen == len && memcmp(e->id, id, len) == 0) {
            *pp = e->hnext;
            rmq_lru_remove(&c->lru, &e->lru);
            c->bytes -= e->cost;
            return e;
        }
    }
    return NULL;
}

static struct sess_entry *find(struct tls_sess_cache *c, const unsigned char *id, unsigned int len)
{
    for (struct sess_entry *e = c->buckets[bucket_of(id, len)]; e != NULL; e = e->hnext) {
        if (e->idlen == len && memcmp(e->id, id, len) == 0) {
            return e;
        }
    }
    return NULL;
}

static struct tls_sess_cache *cache_of_ctx(SSL_CTX *ctx)
{
    struct tls_gen *g = SSL_CTX_get_ex_data(ctx, tls_ctx_ex_index());
    return g != NULL ? g->cache : NULL;
}

/* What a cached session holds in memory, estimated: the entry, the
 * SSL_SESSION (~0.9 KB measured) and, with a client certificate, the parsed
 * certificate and its public key (~4 KB for P-256 beyond its DER: TLS-COST.md
 * measured 6-7 KB per cached mutual-TLS session) plus its DER. */
#define SESS_BASE_COST 1024u
#define SESS_PEER_COST 4096u

size_t tls_sess_cost(SSL_SESSION *sess)
{
    size_t cost = sizeof(struct sess_entry) + SESS_BASE_COST;
    X509 *peer = SSL_SESSION_get0_peer(sess);
    if (peer != NULL) {
        int der = i2d_X509(peer, NULL); /* the encoding OpenSSL keeps: no re-encoding */
        cost += SESS_PEER_COST + (der > 0 ? (size_t)der : 0);
    }
    return cost;
}

/* Frees a list of unlinked entries chained by hnext (mu not held). */
static void drop_all(struct sess_entry *e)
{
    while (e != NULL) {
        struct sess_entry *next = e->hnext;
        SSL_SESSION_free(e->sess);
        free(e);
        e = next;
    }
}

static int new_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_sess_cache *c = cache_of_ctx(SSL_get_SSL_CTX(ssl));
    unsigned int len = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    if (c == NULL || len == 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return 0;
    }
    struct sess_entry *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return 0;
    }
    memcpy(e->id, id, len);
    e->idlen = len;
    e->sess = sess; /* returning 1 keeps OpenSSL's reference for us */
    e->cost = tls_sess_cost(sess);
    struct sess_entry *drop = NULL;
    pthread_mutex_lock(&c->mu);
    struct sess_entry *old = take(c, id, len);
    if (old != NULL) {
        old->hnext = drop;
        drop = old;
    }
    /* Oldest first until the new one fits (one entry is always kept). */
    while (c->bytes + e->cost > c->budget && c->lru.tail != NULL) {
        struct sess_entry *lru = RMQ_LRU_ENTRY(c->lru.tail, struct sess_entry, lru);
        struct sess_entry *t = take(c, lru->id, lru->idlen);
        t->hnext = drop;
        drop = t;
    }
    unsigned b = bucket_of(id, len);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    rmq_lru_push(&c->lru, &e->lru);
    c->bytes += e->cost;
    pthread_mutex_unlock(&c->mu);
    drop_all(drop);
    return 1;
}

static void remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    struct tls_sess_cache *c = cache_of_ctx(ctx);
    unsigned int len = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    if (c == NULL || len == 0) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    struct sess_entry *e = take(c, id, len);
    pthread_mutex_unlock(&c->mu);
    if (e != NULL) {
        SSL_SESSION_free(e->sess);
        free(e);
    }
}

/* May this session be resumed now? Re-checks the stored client certificate. */
static bool resumable(struct rmq_tls_listener *l, SSL_SESSION *sess)
{
    X509 *peer = SSL_SESSION_get0_peer(sess);
    if (peer == NULL) {
        return true; /* no client certificate was accepted in it */
    }
    if (l->ocsp != NULL && tls_ocsp_session_revoked(l, sess, peer)) {
        return false; /* a cached OCSP answer says revoked */
    }
    if (!l->crl_check) {
        return true;
    }
    if (l->crl_chain) {
        /* A session keeps only the leaf, not the chain: with check = chain a
         * revoked intermediate could not be seen here, so never resume. */
        return false;
    }
    int reason = -1;
    struct rmq_cert_id id;
    /* The identity kept by the verify callback knows the issuer KEY; without
     * it the session cannot be judged: full handshake. */
    enum tls_verdict v = tls_session_cert_id(sess, &id) ? tls_check_id(l, &id, &reason, NULL, 0)
                                                        : TLS_VERDICT_NO_CRL;
    if (v == TLS_VERDICT_GOOD) {
        return true;
    }
    tls_log_reject(l, peer, 0, v == TLS_VERDICT_REVOKED ? "revoked" : "no_crl",
                   "resumption refused, full handshake required");
    return false;
}

static SSL_SESSION *get_cb(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    struct tls_sess_cache *c = cache_of_ctx(SSL_get_SSL_CTX(ssl));
    *copy = 0;
    if (c == NULL || len <= 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return NULL;
    }
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&c->mu);
    struct sess_entry *e = find(c, id, (unsigned int)len);
    if (e != NULL) {
        s = e->sess;
        SSL_SESSION_up_ref(s); /* handed to OpenSSL (*copy = 0) */
        rmq_lru_touch(&c->lru, &e->lru);
    }
    pthread_mutex_unlock(&c->mu);
    if (s == NULL) {
        return NULL;
    }
    if (!resumable(c->l, s)) {
        pthread_mutex_lock(&c->mu);
        e = take(c, id, (unsigned int)len);
        pthread_mutex_unlock(&c->mu);
        if (e != NULL) {
            SSL_SESSION_free(e->sess);
            free(e);
        }
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

struct tls_sess_cache *tls_sess_cache_new(struct rmq_tls_listener *l, size_t budget)
{
    struct tls_sess_cache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->l = l;
    c->budget = budget;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

rmq_err tls_sess_cache_attach(struct tls_sess_cache *c, SSL_CTX *ctx)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL |
                                            SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_new_cb(ctx, new_cb);
    SSL_CTX_sess_set_remove_cb(ctx, remove_cb);
    SSL_CTX_sess_set_get_cb(ctx, get_cb);
    return RMQ_OK;
}

size_t tls_sess_cache_count(struct tls_sess_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->lru.len;
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t tls_sess_cache_bytes(struct tls_sess_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void tls_sess_cache_free(struct tls_sess_cache *c)
{
    if (c == NULL) {
        return;
    }
    struct rmq_lru_node *p = c->lru.head;
    while (p != NULL) {
        struct sess_entry *e = RMQ_LRU_ENTRY(p, struct sess_entry, lru);
        p = p->next;
        SSL_SESSION_free(e->sess);
        free(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}
