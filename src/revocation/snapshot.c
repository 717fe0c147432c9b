/*
 * snapshot.c — the immutable (issuer name, issuer key) -> CRLs map read by
 * handshakes.
 *
 * Built on the fetcher thread from the entries in force, never modified
 * afterwards; readers hold a reference (atomic refcount). Groups are kept in
 * an array sorted by (issuer name hash, issuer key hash) — binary search over
 * the few groups, never by name alone — each pointing at its run of CRLs;
 * per CRL of the run one serial-index probe and a byte compare of its scope
 * (crl_scope.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revocation/crl_int.h"

struct snap_issuer {
    uint8_t key[64]; /* issuer name hash || issuer key hash */
    size_t first, n; /* run in crls[] */
};

struct rmq_crl_snapshot {
    atomic_int ref;
    uint64_t version;
    struct rmq_crl_entry **crls; /* references; sorted by (issuer hash, key hash) */
    size_t ncrls;
    struct snap_issuer *iss;
    size_t niss;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct rmq_crl_entry *x = *(struct rmq_crl_entry *const *)a;
    const struct rmq_crl_entry *y = *(struct rmq_crl_entry *const *)b;
    int c = memcmp(x->issuer_hash, y->issuer_hash, sizeof x->issuer_hash);
    return c != 0 ? c : memcmp(x->issuer_key, y->issuer_key, sizeof x->issuer_key);
}

static void group_key(const uint8_t name[32], const uint8_t key[32], uint8_t out[64])
{
    memcpy(out, name, 32);
    memcpy(out + 32, key, 32);
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
            uint8_t k[64];
            group_key(s->crls[i]->issuer_hash, s->crls[i]->issuer_key, k);
            if (s->niss == 0 || memcmp(s->iss[s->niss - 1].key, k, sizeof k) != 0) {
                memcpy(s->iss[s->niss].key, k, sizeof k);
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
                                             const struct rmq_cert_id *id)
{
    size_t lo = 0, hi = s->niss;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->iss[mid].key, id->issuer_hash, 32);
        if (c == 0) {
            c = memcmp(s->iss[mid].key + 32, id->issuer_key, 32);
        }
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

/* RFC 5280 5.2.4 / 5.3.1: a fresh delta merged onto `base` that lists the
 * serial with removeFromCRL releases base's certificateHold entry. Runs only
 * for a listed serial (the rare path). */
static bool hold_released(const struct rmq_crl_snapshot *s, const struct snap_issuer *is,
                          const struct rmq_crl_entry *base, const struct rmq_cert_id *id,
                          time_t now)
{
    for (size_t i = is->first; i < is->first + is->n; i++) {
        const struct rmq_crl_entry *d = s->crls[i];
        if (d->released != NULL && now <= d->expires_at && rmq_crl_delta_applies(d, base) &&
            rmq_crl_index_find(d->released, id->serial, id->serial_len, id->serial_negative,
                               NULL)) {
            return true;
        }
    }
    return false;
}

enum rmq_crl_verdict rmq_crl_snapshot_lookup(const struct rmq_crl_snapshot *s,
                                             const struct rmq_cert_id *id, int *reason)
{
    if (reason) {
        *reason = RMQ_CRL_REASON_NONE;
    }
    if (s == NULL || id == NULL) {
        return RMQ_CRL_NO_CRL;
    }
    const struct snap_issuer *is = find_issuer(s, id);
    if (!is) {
        return RMQ_CRL_NO_CRL;
    }
    time_t now = time(NULL);
    uint16_t covered = 0;
    for (size_t i = is->first; i < is->first + is->n; i++) {
        const struct rmq_crl_entry *c = s->crls[i];
        /* RFC 5280 6.3.3 (b): a CRL whose scope does not include the
         * certificate (IDP distribution point, only-user/CA/attribute) says
         * nothing about it, not even through its entries. In scope, a listed
         * serial is revoked even in a stale CRL (revocation is final) — unless
         * it is a hold a fresh delta of this CRL releases. Only coverage
         * (clearing) expires. A delta in scope revokes; it never clears. */
        uint16_t rs = 0;
        enum rmq_crl_scope sc = rmq_crl_entry_scope_same_issuer(c, id, &rs);
        if (sc != RMQ_CRL_SCOPE_COVERS && sc != RMQ_CRL_SCOPE_DELTA) {
            continue;
        }
        int r = RMQ_CRL_REASON_NONE;
        if (rmq_crl_index_find(c->index, id->serial, id->serial_len, id->serial_negative, &r) &&
            !(r == RMQ_CRL_REASON_HOLD && hold_released(s, is, c, id, now))) {
            if (reason) {
                *reason = r;
            }
            return RMQ_CRL_REVOKED;
        }
        if (sc == RMQ_CRL_SCOPE_COVERS && now <= c->expires_at) {
            covered |= rs;
        }
    }
    /* RFC 5280 6.3.3 (k): cleared only when all reasons are covered. */
    return (covered & RMQ_CERT_REASONS_ALL) == RMQ_CERT_REASONS_ALL ? RMQ_CRL_GOOD : RMQ_CRL_NO_CRL;
}

/* One "crlN="<issuer>"#<number>:<why>" item; false when buf is full. */
static bool explain_one(const struct rmq_crl_entry *c, size_t i, const struct rmq_cert_id *id,
                        time_t now, char *buf, size_t n, size_t *off)
{
    uint16_t r = 0;
    enum rmq_crl_scope sc = rmq_crl_entry_scope(c, id, &r);
    char reasons[40];
    const char *why = rmq_crl_scope_name(sc);
    if (sc == RMQ_CRL_SCOPE_COVERS && now > c->expires_at) {
        why = "past_next_update";
    } else if (sc == RMQ_CRL_SCOPE_COVERS) {
        snprintf(reasons, sizeof reasons, "only_some_reasons=0x%03x", (unsigned)(r & 0xFFFu));
        why = reasons;
    }
    char num[2 * 8 + 1];
    size_t nl = c->number_len < 8 ? c->number_len : 8;
    for (size_t j = 0; j < nl; j++) {
        snprintf(num + 2 * j, 3, "%02X", c->number[j]);
    }
    num[2 * nl] = '\0';
    int w = snprintf(buf + *off, n - *off, "%scrl%zu=\"%s\"#%s:%s", *off ? " " : "", i + 1,
                     c->issuer_dn, c->has_number ? num : "-", why);
    if (w < 0 || (size_t)w >= n - *off) {
        return false;
    }
    *off += (size_t)w;
    return true;
}

void rmq_crl_snapshot_explain(const struct rmq_crl_snapshot *s, const struct rmq_cert_id *id,
                              char *buf, size_t n)
{
    if (n == 0) {
        return;
    }
    buf[0] = '\0';
    if (s == NULL || s->ncrls == 0) {
        snprintf(buf, n, "no_crl_in_force");
        return;
    }
    size_t off = 0;
    time_t now = time(NULL);
    for (size_t i = 0; i < s->ncrls; i++) {
        if (!explain_one(s->crls[i], i, id, now, buf, n, &off)) {
            if (n > 4) {
                snprintf(buf + (off < n - 4 ? off : n - 4), 4, "...");
            }
            return;
        }
    }
}
