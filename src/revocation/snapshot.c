/*
 * snapshot.c — the immutable issuer -> CRLs map read by handshakes.
 *
 * Built on the fetcher thread from the entries in force, never modified
 * afterwards; readers hold a reference (atomic refcount). Issuers are kept in
 * an array sorted by issuer hash (binary search over the few issuers), each
 * pointing at its run of CRLs; each CRL's serial index is one hash lookup.
 */
#include <stdlib.h>
#include <string.h>

#include "revocation/crl_internal.h"

struct snap_issuer {
    uint8_t hash[32];
    size_t first, n; /* run in crls[] */
};

struct rmq_crl_snapshot {
    atomic_int ref;
    uint64_t version;
    struct rmq_crl_entry **crls; /* references; sorted by issuer hash */
    size_t ncrls;
    struct snap_issuer *iss;
    size_t niss;
};

const char *rmq_crl_verdict_name(enum rmq_crl_verdict v)
{
    switch (v) {
    case RMQ_CRL_GOOD:
        return "good";
    case RMQ_CRL_REVOKED:
        return "revoked";
    case RMQ_CRL_NO_CRL:
        return "no_crl";
    default:
        return "?";
    }
}

static int cmp_entry(const void *a, const void *b)
{
    const struct rmq_crl_entry *x = *(struct rmq_crl_entry *const *)a;
    const struct rmq_crl_entry *y = *(struct rmq_crl_entry *const *)b;
    return memcmp(x->issuer_hash, y->issuer_hash, sizeof x->issuer_hash);
}

rmq_err rmq_crl_snapshot_new(struct rmq_crl_entry *const *crls, size_t n, uint64_t version,
                             struct rmq_crl_snapshot **out)
{
    *out = NULL;
    struct rmq_crl_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        return RMQ_ERR_NOMEM;
    }
    atomic_init(&s->ref, 1);
    s->version = version;
    if (n) {
        s->crls = calloc(n, sizeof *s->crls);
        s->iss = calloc(n, sizeof *s->iss);
        if (!s->crls || !s->iss) {
            free(s->crls);
            free(s->iss);
            free(s);
            return RMQ_ERR_NOMEM;
        }
        memcpy(s->crls, crls, n * sizeof *crls);
        for (size_t i = 0; i < n; i++) {
            rmq_crl_entry_ref(s->crls[i]);
        }
        s->ncrls = n;
        qsort(s->crls, n, sizeof *s->crls, cmp_entry);
        for (size_t i = 0; i < n; i++) {
            if (s->niss == 0 ||
                memcmp(s->iss[s->niss - 1].hash, s->crls[i]->issuer_hash, 32) != 0) {
                memcpy(s->iss[s->niss].hash, s->crls[i]->issuer_hash, 32);
                s->iss[s->niss].first = i;
                s->niss++;
            }
            s->iss[s->niss - 1].n++;
        }
    }
    *out = s;
    return RMQ_OK;
}

void rmq_crl_snapshot_ref(struct rmq_crl_snapshot *s)
{
    atomic_fetch_add(&s->ref, 1);
}

void rmq_crl_snapshot_release(struct rmq_crl_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->ref, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < s->ncrls; i++) {
        rmq_crl_entry_unref(s->crls[i]);
    }
    free(s->crls);
    free(s->iss);
    free(s);
}

uint64_t rmq_crl_snapshot_version(const struct rmq_crl_snapshot *s)
{
    return s ? s->version : 0;
}

size_t rmq_crl_snapshot_crl_count(const struct rmq_crl_snapshot *s)
{
    return s ? s->ncrls : 0;
}

static const struct snap_issuer *find_issuer(const struct rmq_crl_snapshot *s,
                                             const uint8_t hash[32])
{
    size_t lo = 0, hi = s->niss;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->iss[mid].hash, hash, 32);
        if (c == 0) {
            return &s->iss[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

enum rmq_crl_verdict rmq_crl_snapshot_lookup(const struct rmq_crl_snapshot *s,
                                             const uint8_t issuer_hash[32], const uint8_t *serial,
                                             size_t serial_len, int *reason)
{
    if (reason) {
        *reason = RMQ_CRL_REASON_NONE;
    }
    const struct snap_issuer *is = s ? find_issuer(s, issuer_hash) : NULL;
    if (!is) {
        return RMQ_CRL_NO_CRL;
    }
    time_t now = time(NULL);
    bool covered = false;
    for (size_t i = is->first; i < is->first + is->n; i++) {
        const struct rmq_crl_entry *c = s->crls[i];
        /* A listed serial is revoked even in a stale CRL (revocation is
         * final; fail-safe); only coverage expires. */
        if (rmq_crl_index_find(c->index, serial, serial_len, reason)) {
            return RMQ_CRL_REVOKED;
        }
        if (c->covers && now <= c->expires_at) {
            covered = true;
        }
    }
    return covered ? RMQ_CRL_GOOD : RMQ_CRL_NO_CRL;
}
