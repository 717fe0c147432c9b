/*
 * ocsp_client.h — OCSP for CLIENT certificates (the broker as relying party).
 *
 * One per TLS listener with ssl_options.ocsp_client.enable. It asks the OCSP
 * responder named in a client certificate's Authority Information Access
 * (RFC 5280 4.2.2.1) about that certificate, verifies the answer exactly as
 * the stapler does (rmq_ocsp_verify_response: CertID, signer = issuer or a
 * delegated id-kp-OCSPSigning responder, thisUpdate/nextUpdate window), and
 * keeps the verified answer in a bounded LRU cache until its nextUpdate.
 *
 * Cache key: the certificate's revocation identity (struct rmq_cert_id:
 * issuer name hash + issuer KEY hash + signed serial); two CAs with one name
 * but different keys never share an entry. Capacity `cache_size` entries;
 * the least recently used goes first. An entry whose nextUpdate passed is
 * never returned (checked on every lookup against the wall clock).
 *
 * Refresh: every cached entry is asked again halfway between its thisUpdate
 * and nextUpdate (not sooner than 1 s), on the fetcher thread, so connected
 * clients are re-checked before their answer goes stale. A failed refresh
 * keeps the previous answer until its nextUpdate, then the entry is dropped.
 * When a refresh turns an entry from not-revoked to revoked, on_revoked(id,
 * arg) runs (fetcher thread), so the owner can close live connections.
 *
 * What it is not: the policy (unknown / unreachable / combination with CRLs
 * is decided by src/tls), nor the HTTP client (the revocation fetcher).
 *
 * Threads: lookup, query and cancel from any thread; callbacks run on the
 * fetcher thread with the client's lock held (keep them short: set a field,
 * wake a connection). new/free from the owner; free before the fetcher.
 */
#ifndef RMQ_OCSP_CLIENT_H
#define RMQ_OCSP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/cert_id.h"
#include "common/err.h"

struct rmq_fetcher;
struct rmq_ocsp_client;

enum rmq_ocspc_state {
    RMQ_OCSPC_GOOD,    /* verified response: good */
    RMQ_OCSPC_REVOKED, /* verified response: revoked */
    RMQ_OCSPC_UNKNOWN, /* verified response: unknown */
    RMQ_OCSPC_MISS,    /* nothing (fresh) cached */
    RMQ_OCSPC_FAILED,  /* the query failed: unreachable, timeout, invalid response */
};

/* Static name for logs: good, revoked, unknown, miss, failed. */
const char *rmq_ocspc_state_name(enum rmq_ocspc_state s);

/* The outcome of one query or lookup. */
struct rmq_ocspc_result {
    enum rmq_ocspc_state state;
    int reason;         /* CRLReason when revoked, else -1 */
    time_t next_update; /* of the verified response, 0 if none */
    const char *why;    /* static text for FAILED: "unreachable", "timeout", "http_status",
                         * "rejected:<check>" is split: why = "rejected", check below */
    const char *check;  /* failed verification check (ocsp_stapler.h names) or NULL */
};

struct rmq_ocsp_client_opts {
    size_t cache_size;   /* entries, >= 1 */
    uint64_t timeout_ms; /* one request, connect + transfer */
    const char *label;   /* for logs (listener name), borrowed for the client's life */
    /* Live re-check: a refresh turned id revoked (fetcher thread). May be NULL. */
    void (*on_revoked)(const struct rmq_cert_id *id, void *arg);
    void *on_revoked_arg;
};

/* Borrows f (outlives the client). *out owned by the caller. */
RMQ_MUST_USE rmq_err rmq_ocsp_client_new(struct rmq_fetcher *f,
                                         const struct rmq_ocsp_client_opts *opts,
                                         struct rmq_ocsp_client **out);

/* Cancels every pending query and timer, frees the cache. NULL: no-op. Not on
 * the fetcher thread. */
void rmq_ocsp_client_free(struct rmq_ocsp_client *c);

/* The cached answer for id (state MISS when none, or when it went stale).
 * Marks the entry most recently used. Any thread. */
struct rmq_ocspc_result rmq_ocsp_client_lookup(struct rmq_ocsp_client *c,
                                               const struct rmq_cert_id *id);

/*
 * Asks cert's responder about cert (issuer = the certificate that verified
 * it). Returns:
 *   RMQ_ERR_AGAIN     a query runs; done(arg, result) will run exactly once
 *                     on the fetcher thread (unless cancelled), after the
 *                     result went into the cache (when verified);
 *   RMQ_ERR_NOT_FOUND cert names no http(s) OCSP responder (no callback);
 *   other             could not start (no callback).
 * Concurrent queries for one identity share one request.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_client_query(
    struct rmq_ocsp_client *c, X509 *cert, X509 *issuer, const struct rmq_cert_id *id,
    void (*done)(void *arg, const struct rmq_ocspc_result *r), void *arg);

/* After return, no done callback with this arg runs or is running. */
void rmq_ocsp_client_cancel(struct rmq_ocsp_client *c, void *arg);

/* True when cert's AIA names an http(s) OCSP responder. */
bool rmq_ocsp_client_applies(X509 *cert);

/* Number of cached entries (tests, status). */
size_t rmq_ocsp_client_count(struct rmq_ocsp_client *c);

/* Tests: stores a result for id as if a verified response said so (entry
 * without certificates: never refreshed). */
RMQ_MUST_USE rmq_err rmq_ocsp_client_put(struct rmq_ocsp_client *c, const struct rmq_cert_id *id,
                                         enum rmq_ocspc_state state, int reason, time_t this_update,
                                         time_t next_update);

#endif
