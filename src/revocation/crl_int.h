/*
 * crl_int.h — the CRL engine's internal pieces, shared by its files and
 * its unit tests (not by other modules: they use crl.h).
 *
 * - crl_index.c: a compact, immutable serial set (open addressing over a
 *   packed serial arena). One hash + a short probe per lookup.
 * - crl_parse.c: sniff PEM/DER, parse with OpenSSL, run the acceptance
 *   checks, and turn an accepted X509_CRL into a refcounted rmq_crl_entry.
 * - crl_scope.c: what a CRL covers (RFC 5280 5.2.5, 6.3.3): the scope read
 *   from the CRL (issuer key, IDP) and from a certificate (rmq_cert_id), and
 *   the coverage function that compares them.
 * - snapshot.c: the immutable issuer -> CRLs map published to readers.
 * - crl_store.c: persistence under <data_dir>/crl/.
 * - crl_engine.c: sources, refresh policy, discovery, publishing.
 *
 * Threads: index, entries and snapshots are immutable once built and may be
 * read from any thread; their refcounts are atomic. Everything else runs on
 * the fetcher thread (or the owner thread before start).
 */
#ifndef RMQ_CRL_INT_H
#define RMQ_CRL_INT_H

#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/cert_id.h"
#include "common/err.h"
#include "revocation/crl.h"

/* ---------- crl_index.c ---------- */

#define RMQ_CRL_SERIAL_MAX 64 /* bytes; RFC 5280 4.1.2.2 says <= 20, be lenient */
#define RMQ_CRL_REASON_NONE (-1)
#define RMQ_CRL_REASON_HOLD 6 /* certificateHold, RFC 5280 5.3.1 */

struct rmq_crl_index;

/* An index with room for `expected` serials (it grows if more are added).
 * RMQ_ERR_NOMEM. */
RMQ_MUST_USE rmq_err rmq_crl_index_new(size_t expected, struct rmq_crl_index **out);
/* Adds a serial (big-endian magnitude; leading zero bytes are stripped) and
 * its sign: a negative serial is a different key from its positive twin. A
 * duplicate keeps the first reason. RMQ_ERR_INVALID: empty or over
 * RMQ_CRL_SERIAL_MAX. Build phase only (before the index is shared). */
RMQ_MUST_USE rmq_err rmq_crl_index_add(struct rmq_crl_index *ix, const uint8_t *serial, size_t len,
                                       bool negative, int reason);
/* Ends the build phase: gives back unused arena memory. */
void rmq_crl_index_seal(struct rmq_crl_index *ix);
/* True when present; *reason (may be NULL) gets its reason or -1. */
bool rmq_crl_index_find(const struct rmq_crl_index *ix, const uint8_t *serial, size_t len,
                        bool negative, int *reason);
size_t rmq_crl_index_count(const struct rmq_crl_index *ix);
/* Bytes allocated by the index (for logs / tests). */
size_t rmq_crl_index_memory(const struct rmq_crl_index *ix);
void rmq_crl_index_free(struct rmq_crl_index *ix);

/* ---------- crl_parse.c ---------- */

#define RMQ_CRL_MAX_PER_BODY 64
#define RMQ_CRL_MAX_SKEW_SEC 60

#define RMQ_CRL_IDP_DP_MAX 8 /* IDP distribution point names kept */

/* One accepted CRL, immutable and refcounted (sources and snapshots share it).
 * Its scope (RFC 5280 5.2.5): signed by (issuer_hash, issuer_key); with an
 * IDP it covers only certificates naming one of dp[] in their CDP, only
 * end-entity / CA / attribute certificates, only `reasons`. */
struct rmq_crl_entry {
    atomic_int ref;
    uint8_t issuer_hash[32]; /* SHA-256 of the issuer Name DER */
    uint8_t issuer_key[32];  /* SHA-256 of the SPKI DER of the CA that verified it */
    uint8_t scope_hash[32];  /* SHA-256 of (delta flag, IDP DER): same scope = same hash */
    uint8_t idp_hash[32];    /* SHA-256 of the IDP DER alone: a delta and its base share it */
    bool only_user, only_ca, only_attr;
    uint16_t reasons; /* RMQ_CERT_REASONS_ALL unless onlySomeReasons */
    uint8_t ndp;      /* IDP distributionPoint names (0: no distributionPoint) */
    uint8_t dp[RMQ_CRL_IDP_DP_MAX][RMQ_CERT_ID_DP_HASH];
    uint8_t der_hash[32]; /* SHA-256 of the CRL DER (same content?) */
    char issuer_dn[256];  /* for logs */
    time_t this_update;
    time_t next_update;
    time_t expires_at; /* next_update + stale_grace */
    bool has_number;
    uint8_t number[32]; /* CRL number, big-endian magnitude */
    size_t number_len;
    bool is_delta;           /* delta CRL indicator present: its entries revoke, it never clears */
    uint8_t base_number[32]; /* delta: BaseCRLNumber, big-endian magnitude */
    size_t base_number_len;
    struct rmq_crl_index *released; /* delta: serials listed with removeFromCRL, or NULL */
    struct rmq_crl_index *index;
    unsigned char *der; /* owned DER (kept until persisted, then NULL) */
    size_t der_len;
};

void rmq_crl_entry_ref(struct rmq_crl_entry *c);
void rmq_crl_entry_unref(struct rmq_crl_entry *c);

/* Splits a body into CRLs (PEM — any number of "X509 CRL" blocks, text around
 * them allowed — or one or more concatenated DER CRLs). On failure *out is
 * NULL and *reason names the check ("garbage", "truncated", "trailing_data",
 * "too_many_crls"). */
RMQ_MUST_USE rmq_err rmq_crl_parse_body(const uint8_t *data, size_t len, STACK_OF(X509_CRL) * *out,
                                        const char **reason);
/* The same, for a bundle whose members are judged one by one: a PEM block
 * whose content is not a CRL (its base64 framing intact) becomes a NULL slot
 * at its position instead of refusing the body; the body is refused only
 * when no block is a CRL, or when the PEM framing itself is broken. */
RMQ_MUST_USE rmq_err rmq_crl_parse_bundle(const uint8_t *data, size_t len,
                                          STACK_OF(X509_CRL) * *out, const char **reason);

/* Acceptance checks of one CRL against the trusted CAs at time `now`
 * (signature, issuer, times, extensions). NULL when accepted (*signer, may be
 * NULL, gets the CA of `cas` whose key verified it: borrowed from cas), else
 * the reason name (see crl.h). */
const char *rmq_crl_check(X509_CRL *crl, STACK_OF(X509) * cas, time_t now, uint64_t stale_grace_ms,
                          X509 **signer);

/* Builds the entry (index of the revoked serials + scope + metadata) of a CRL
 * that passed rmq_crl_check; signer is the CA that verified it (its key is
 * the entry's issuer_key). RMQ_ERR_NOMEM; RMQ_ERR_INVALID for an entry whose
 * serial is unusable; RMQ_ERR_MALFORMED for an undecodable IDP. keep_der:
 * keep the DER in the entry (for persistence). */
RMQ_MUST_USE rmq_err rmq_crl_entry_build(X509_CRL *crl, X509 *signer, uint64_t stale_grace_ms,
                                         bool keep_der, struct rmq_crl_entry **out);

/* "crl_number_went_back" / "crl_number_reused" / "this_update_went_back"
 * when `next` may not replace `prev` (same issuer name, key and scope, same
 * source: rmq_crl_same_scope); NULL if it may. *same (may be NULL) is set when both have identical
 * content. */
const char *rmq_crl_check_progress(const struct rmq_crl_entry *prev,
                                   const struct rmq_crl_entry *next, bool *same);

/* ---------- crl_scope.c ---------- */

/* Why a CRL does not cover a certificate (RFC 5280 6.3.3), one table for the
 * coverage function, the logs and the tests. */
#define RMQ_CRL_SCOPE_TABLE(X)                                                                     \
    X(RMQ_CRL_SCOPE_COVERS, "covers")                                                              \
    X(RMQ_CRL_SCOPE_ISSUER_NAME, "issuer_name")                                                    \
    X(RMQ_CRL_SCOPE_ISSUER_KEY, "issuer_key")                                                      \
    X(RMQ_CRL_SCOPE_ONLY_ATTR, "only_attribute_certs")                                             \
    X(RMQ_CRL_SCOPE_ONLY_USER, "only_user_certs")                                                  \
    X(RMQ_CRL_SCOPE_ONLY_CA, "only_ca_certs")                                                      \
    X(RMQ_CRL_SCOPE_DIST_POINT, "distribution_point")                                              \
    X(RMQ_CRL_SCOPE_DELTA, "delta_crl")

#define RMQ_CRL_SCOPE_ENUM(id, name) id,
enum rmq_crl_scope { RMQ_CRL_SCOPE_TABLE(RMQ_CRL_SCOPE_ENUM) };
#undef RMQ_CRL_SCOPE_ENUM

const char *rmq_crl_scope_name(enum rmq_crl_scope s);

/* Does CRL c cover the certificate id? RMQ_CRL_SCOPE_COVERS with *reasons =
 * the reasons it covers for that certificate (may be fewer than all: then
 * other CRLs must cover the rest), else why not (*reasons = 0). Does not look
 * at time (the caller checks expires_at) nor at the serial. Pure. */
enum rmq_crl_scope rmq_crl_entry_scope(const struct rmq_crl_entry *c, const struct rmq_cert_id *id,
                                       uint16_t *reasons);

/* The rest of rmq_crl_entry_scope once issuer name and key are known to match
 * (the snapshot's groups are keyed by them): inline, on the handshake path. */
static inline enum rmq_crl_scope rmq_crl_entry_scope_same_issuer(const struct rmq_crl_entry *c,
                                                                 const struct rmq_cert_id *id,
                                                                 uint16_t *reasons)
{
    *reasons = 0;
    if (c->only_attr) { /* RFC 5280 6.3.3 (b)(2)(iv) */
        return RMQ_CRL_SCOPE_ONLY_ATTR;
    }
    if (c->only_user && id->is_ca) { /* 6.3.3 (b)(2)(ii) */
        return RMQ_CRL_SCOPE_ONLY_USER;
    }
    if (c->only_ca && !id->is_ca) { /* 6.3.3 (b)(2)(iii) */
        return RMQ_CRL_SCOPE_ONLY_CA;
    }
    uint16_t r = c->reasons;
    if (c->ndp > 0) {
        /* 6.3.3 (b)(2)(i): one IDP name equals one CDP name; the reasons are
         * those of the matching DPs (6.3.3 (d)). */
        uint16_t dpr = 0;
        bool hit = false;
        for (size_t i = 0; i < id->ndp; i++) {
            for (size_t j = 0; j < c->ndp; j++) {
                if (memcmp(id->dp[i], c->dp[j], RMQ_CERT_ID_DP_HASH) == 0) {
                    hit = true;
                    dpr |= id->dp_reasons[i];
                    break;
                }
            }
        }
        if (!hit) {
            return RMQ_CRL_SCOPE_DIST_POINT;
        }
        r &= dpr;
    }
    if (c->is_delta) { /* a delta only adds to its base (rmq_crl_delta_applies): it clears nothing
                        */
        return RMQ_CRL_SCOPE_DELTA;
    }
    *reasons = r;
    return RMQ_CRL_SCOPE_COVERS;
}

/* RFC 5280 5.2.4: delta d is merged onto complete CRL base: same issuer name,
 * key and IDP, BaseCRLNumber <= base's CRL number < d's CRL number. */
bool rmq_crl_delta_applies(const struct rmq_crl_entry *d, const struct rmq_crl_entry *base);

/* Same issuer name, issuer key and scope (CRL-number monotonicity applies). */
bool rmq_crl_same_scope(const struct rmq_crl_entry *a, const struct rmq_crl_entry *b);

/* Fills c's issuer_key (from signer), scope_hash, idp_hash, IDP fields, is_delta
 * and the delta's BaseCRLNumber.
 * RMQ_ERR_MALFORMED: the IDP does not decode; RMQ_ERR_NOMEM. */
RMQ_MUST_USE rmq_err rmq_crl_scope_read(X509_CRL *crl, X509 *signer, struct rmq_crl_entry *c);

/* SHA-256 of the DER of an X509_NAME. RMQ_ERR_NOMEM. */
RMQ_MUST_USE rmq_err rmq_crl_name_hash(const X509_NAME *name, uint8_t out[32]);

/* "2026-11-22T17:00:00Z" */
void rmq_crl_fmt_time(time_t t, char *buf, size_t n);

/* ---------- snapshot.c ---------- */

/* Builds a snapshot holding references to the given entries. RMQ_ERR_NOMEM. */
RMQ_MUST_USE rmq_err rmq_crl_snapshot_new(struct rmq_crl_entry *const *crls, size_t n,
                                          uint64_t version, struct rmq_crl_snapshot **out);
void rmq_crl_snapshot_ref(struct rmq_crl_snapshot *s);

/* ---------- crl_store.c ---------- */

struct rmq_crl_saved_meta {
    char kind[16];       /* "url", "discovered", "file" */
    char location[2048]; /* URL or path */
    char etag[256];
    char last_modified[256];
};

/* The file stem for a source: sha256-hex of "<kind>:<location>" (65 bytes). */
void rmq_crl_store_stem(const char *kind, const char *location, char out[65]);
/* Writes <dir>/crl/<stem>.crl (concatenated DER) and .meta atomically. */
RMQ_MUST_USE rmq_err rmq_crl_store_save(const char *data_dir, const char *stem,
                                        const struct rmq_crl_saved_meta *meta,
                                        struct rmq_crl_entry *const *crls, size_t n);
/* Reads <dir>/crl/<stem>.crl into *data (malloc'd) and the meta (may be
 * missing: then meta is zeroed). RMQ_ERR_NOT_FOUND when no .crl. */
RMQ_MUST_USE rmq_err rmq_crl_store_load(const char *data_dir, const char *stem, size_t max_size,
                                        uint8_t **data, size_t *len,
                                        struct rmq_crl_saved_meta *meta);
/* Removes <dir>/crl/<name>.tmp.<pid> left by saves a crash interrupted; returns how
 * many were removed. */
size_t rmq_crl_store_clean_tmp(const char *data_dir);
/* Calls fn for every saved source whose meta says kind "discovered". */
void rmq_crl_store_each_discovered(const char *data_dir, void (*fn)(const char *url, void *arg),
                                   void *arg);
/* Removes the files of a source (evicted). */
void rmq_crl_store_remove(const char *data_dir, const char *stem);

/* Reads a whole file of at most max_size bytes. RMQ_ERR_IO / NOT_FOUND /
 * TOO_LARGE / NOMEM. */
RMQ_MUST_USE rmq_err rmq_crl_read_file(const char *path, size_t max_size, uint8_t **data,
                                       size_t *len);

#endif
