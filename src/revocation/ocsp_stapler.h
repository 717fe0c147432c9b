/*
 * ocsp_stapler.h — OCSP stapling for the broker's own server certificate.
 *
 * Two layers:
 *
 * 1. Pure helpers (ocsp_verify.c; no I/O except rmq_ocsp_find_issuer reading
 *    a PEM file, no globals, any thread): build the OCSP request for
 *    (cert, issuer), turn it into a GET URL, find the responder URL (AIA)
 *    and the issuer, and VERIFY a response (RFC 6960):
 *      - it parses (DER, no trailing bytes)             check "parse"
 *      - responseStatus is successful                    "response_status"
 *      - it holds a BasicOCSPResponse                    "basic_response"
 *      - exactly one SingleResponse                      "single_response_count"
 *      - whose CertID matches cert + issuer (SHA-1 or SHA-2 CertID hash)
 *                                                        "cert_id"
 *      - the signer named by the ResponderID is the issuer itself, or a
 *        certificate from the response issued AND signed by the issuer,
 *        carrying the id-kp-OCSPSigning EKU and valid now (RFC 6960 4.2.2.2);
 *        no other certificate in the response is trusted
 *                                                        "signer_not_found",
 *                                       "signer_not_issued_by_issuer",
 *                                       "signer_not_ocsp_signing",
 *                                       "signer_validity"
 *      - the signature verifies with that signer's key   "signature"
 *      - thisUpdate not in the future (RMQ_OCSP_MAX_SKEW_SEC of clock skew
 *        allowed)                                        "this_update_in_future"
 *      - nextUpdate present (RFC 6960 2.4: absent means "newer information is
 *        always available"; we refuse to staple such a response because we
 *        could not tell when it goes stale)          "next_update_missing"
 *      - nextUpdate not past (no skew allowed)           "next_update_past"
 *      - nextUpdate after thisUpdate                     "validity_window"
 *      - nonce, only when the request carried one: a response nonce that
 *        differs is rejected; a missing one is accepted (many responders
 *        ignore nonces, and a stapled response is time-bounded anyway)
 *                                                        "nonce"
 *    The verdict carries the certificate status good / revoked / unknown;
 *    all three are "verified" — what to do with them is the caller's policy.
 *
 * 2. The stapler (ocsp_stapler.c): one per server certificate (keyed by the
 *    SHA-256 fingerprint of its DER). It fetches the response through the
 *    revocation fetcher (POST, or GET with `ocsp.method = get`), verifies it,
 *    keeps the DER in memory for the TLS status callback, persists it under
 *    `<data_dir>/ocsp/<sha256-hex>.der` and refreshes it in the background,
 *    nginx style (ngx_event_openssl_stapling.c): served from memory, refreshed
 *    off the handshake path, a failed refresh keeps the last good response.
 *    Policy:
 *      - good / revoked: stapled. revoked is stapled as the responder said
 *        (clients then refuse us, which is correct) and logged at error level
 *        on every refresh.
 *      - unknown: never stapled; treated as a failed refresh (the previous
 *        response, if any, stays until its nextUpdate).
 *      - a response whose thisUpdate is older than the current one's is
 *        rejected ("this_update_went_back": replay of an older response).
 *      - refresh at min(refresh_interval, halfway between thisUpdate and
 *        nextUpdate); when that halfway point is already past, halfway
 *        between now and nextUpdate; never sooner than 1 s.
 *      - failure: back off 1 s doubling, capped at refresh_interval, ±20%
 *        jitter (rmq_backoff_next). The last valid response stays stapled
 *        until its nextUpdate, then stapling stops with one log line
 *        `ocsp: staple expired, stapling stopped …` until a refresh succeeds.
 *      - rmq_ocsp_stapler_get checks nextUpdate against the wall clock on
 *        EVERY call: an expired response is never returned. The current
 *        response is an immutable, refcounted DER behind a mutex held only for
 *        a pointer read and a refcount increment; the copy happens outside.
 *      - the saved response is loaded by start() and re-verified (CertID of
 *        THIS certificate, signature, time window); when valid it is stapled
 *        at once and start() does not wait for the network. A new certificate
 *        has another fingerprint, hence another file: after rotation the old
 *        certificate's response is never used, and the new one is fetched at
 *        once (start / start_nowait).
 *    Malformed dates inside an otherwise parsable response fail the checks
 *    "this_update", "next_update", "revocation_time"; an unknown status
 *    value "cert_status".
 *
 * Threads: rmq_ocsp_stapler_get and rmq_ocsp_stapler_refresh_now may be
 * called from any thread at any time between start and free. new, set_label,
 * start and free are called by the owner (the TLS listener), not
 * concurrently with each other. Fetches, timers and persistence run on the
 * fetcher thread.
 *
 * Logs (component `ocsp`):
 *   ocsp: refresh OK listener=… url=… status=good this_update=… next_update=…
 *   ocsp: refresh failed listener=… url=… reason=… retry_in_ms=…
 *     (reason: timeout | http_status | http_error | too_large | fetch, each
 *     followed by error="<fetcher text>"; rejected:<check>; status_unknown)
 *   ocsp: response rejected listener=… url=… reason=<check>
 *   ocsp: certificate revoked by responder listener=… url=… … (error level)
 *   ocsp: staple expired, stapling stopped listener=… url=… next_update=…
 *   ocsp: loaded saved response listener=… path=… status=… next_update=…
 */
#ifndef RMQ_OCSP_STAPLER_H
#define RMQ_OCSP_STAPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/err.h"
#include "config/settings.h"

struct rmq_fetcher;
struct rmq_ocsp_stapler;

/* Clock skew tolerated on thisUpdate (seconds). */
#define RMQ_OCSP_MAX_SKEW_SEC 300
/* Largest OCSP response we fetch, load or verify (bytes). */
#define RMQ_OCSP_MAX_RESPONSE (256u * 1024u)

enum rmq_ocsp_status { RMQ_OCSP_GOOD, RMQ_OCSP_REVOKED, RMQ_OCSP_UNKNOWN };

/* Static name: "good", "revoked", "unknown". */
const char *rmq_ocsp_status_name(enum rmq_ocsp_status s);

struct rmq_ocsp_verdict {
    const char *failed_check; /* static string naming the failed check; NULL when verified */
    enum rmq_ocsp_status status;
    int revocation_reason;  /* RFC 5280 CRLReason, -1 if none given or not revoked */
    time_t revocation_time; /* 0 if not revoked */
    time_t this_update;
    time_t next_update; /* 0 only on failure */
};

struct rmq_ocsp_verify_opts {
    time_t now;                       /* 0: time(NULL) */
    const unsigned char *request_der; /* optional: the request, for the nonce check */
    size_t request_len;
};

/*
 * Verifies `der` (len bytes, untrusted) as the OCSP response for `cert`
 * issued by `issuer` (both borrowed). opts may be NULL (now, no nonce).
 * RMQ_OK: every check passed; out holds status and times (status may still
 * be revoked or unknown). Otherwise out->failed_check names the first failed
 * check and the result is RMQ_ERR_MALFORMED (parse/structure),
 * RMQ_ERR_PROTOCOL (responseStatus not successful),
 * RMQ_ERR_CRYPTO (CertID, signer, signature, nonce), RMQ_ERR_STALE (time
 * window), RMQ_ERR_INVALID (bad arguments) or RMQ_ERR_NOMEM.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_verify_response(const unsigned char *der, size_t len, X509 *cert,
                                              X509 *issuer, const struct rmq_ocsp_verify_opts *opts,
                                              struct rmq_ocsp_verdict *out);

/*
 * Builds the DER OCSPRequest for (cert, issuer) with a SHA-1 CertID (what
 * RFC 5019 responders expect). with_nonce adds a random 16-byte nonce.
 * *der is owned by the caller (free()). On error nothing is allocated.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_build_request(X509 *cert, X509 *issuer, bool with_nonce,
                                            unsigned char **der, size_t *len);

/*
 * RFC 6960 A.1 GET URL: responder_url + "/" + urlencode(base64(der)), with
 * exactly one "/" between them whether or not responder_url ends in "/" or
 * has a path. *out owned by the caller (free()).
 */
RMQ_MUST_USE rmq_err rmq_ocsp_get_url(const char *responder_url, const unsigned char *der,
                                      size_t len, char **out);

/*
 * The first http(s) OCSP URI in cert's Authority Information Access.
 * *url owned by the caller (free()). RMQ_ERR_NOT_FOUND when there is none.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_responder_from_cert(X509 *cert, char **url);

/*
 * Finds the certificate that issued `cert`: first in `chain` (may be NULL;
 * e.g. the rest of the certfile), then in the PEM file `cacertfile` (may be
 * NULL; also usable for ocsp.issuer_pem). A candidate must match by name
 * (and AKID when present) AND have signed `cert`. *out: a new reference
 * (X509_free). RMQ_ERR_NOT_FOUND when none matches; RMQ_ERR_IO when the file
 * cannot be read.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_find_issuer(X509 *cert, STACK_OF(X509) * chain,
                                          const char *cacertfile, X509 **out);

/* SHA-256 of cert's DER as 64 lowercase hex digits + NUL. */
RMQ_MUST_USE rmq_err rmq_ocsp_cert_fingerprint(X509 *cert, char hex[65]);

/*
 * Creates a stapler for `cert` issued by `issuer` (both borrowed: the stapler
 * takes its own references). `f` is borrowed and must outlive the stapler.
 * cfg is copied (refresh_interval, refresh_http_timeout, method). The
 * responder URL is `responder_url` if not NULL, else cfg->responder_url, else
 * the certificate's AIA OCSP URI. data_dir may be NULL (nothing persisted).
 * Cheap: no I/O, no network. Returns NULL when no responder URL can be found,
 * on bad arguments, or out of memory (check rmq_ocsp_responder_from_cert
 * first for a precise error message).
 */
struct rmq_ocsp_stapler *rmq_ocsp_stapler_new(struct rmq_fetcher *f, X509 *cert, X509 *issuer,
                                              const struct rmq_ocsp_settings *cfg,
                                              const char *responder_url, const char *data_dir);

/* Optional, before start: a name for log lines (listener=…). Copied. */
RMQ_MUST_USE rmq_err rmq_ocsp_stapler_set_label(struct rmq_ocsp_stapler *st, const char *label);

/*
 * Loads the saved response (re-verified; used at once if valid), starts the
 * first fetch and — unless the saved response is valid and stapled already —
 * waits for it up to refresh_http_timeout (+1 s for the fetcher's per-URL
 * rate limit). A failed first fetch is NOT an error: the stapler keeps
 * retrying in the background. RMQ_ERR_NOMEM / RMQ_ERR_INVALID
 * only. Call once.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_stapler_start(struct rmq_ocsp_stapler *st);

/* Same as start, but returns at once without waiting for the first fetch
 * (e.g. a new stapler after certificate rotation on a reload path). */
RMQ_MUST_USE rmq_err rmq_ocsp_stapler_start_nowait(struct rmq_ocsp_stapler *st);

/*
 * For the TLS status callback, any thread, cheap: a copy (OPENSSL_malloc'd;
 * hand it to SSL_set_tlsext_status_ocsp_resp, which takes ownership) of the
 * current verified response if its nextUpdate is still in the future.
 * RMQ_ERR_NOT_FOUND when there is none (nothing fetched yet, unknown status,
 * expired), RMQ_ERR_NOMEM.
 */
RMQ_MUST_USE rmq_err rmq_ocsp_stapler_get(struct rmq_ocsp_stapler *st, unsigned char **der,
                                          size_t *len);

/* Current status and nextUpdate of what get() would return; RMQ_ERR_NOT_FOUND
 * when get() would return nothing. Any thread. */
RMQ_MUST_USE rmq_err rmq_ocsp_stapler_status(struct rmq_ocsp_stapler *st,
                                             enum rmq_ocsp_status *status, time_t *next_update);

/* Counters since new (any thread; for metrics and tests). A rejected
 * response counts as both `rejected` and `failed`. */
struct rmq_ocsp_stats {
    uint64_t fetches;  /* fetches completed (either way) */
    uint64_t ok;       /* responses verified and installed */
    uint64_t failed;   /* fetch errors, rejected or unusable (unknown) responses */
    uint64_t rejected; /* responses that failed a verification check */
};
void rmq_ocsp_stapler_stats(struct rmq_ocsp_stapler *st, struct rmq_ocsp_stats *out);

/* What an operator sees (admin API): strings borrowed for st's life; the
 * response fields are those of the current verified response (has_response
 * false: none yet), last_error the reason of the last failed refresh ("" if
 * the last one succeeded), next_refresh_ms the time until the next fetch.
 * Any thread. */
struct rmq_ocsp_stapler_info {
    const char *url;
    const char *label;
    const char *fingerprint;
    bool has_response;
    enum rmq_ocsp_status status;
    time_t this_update;
    time_t next_update;
    uint64_t next_refresh_ms;
    char last_error[96];
};
void rmq_ocsp_stapler_info(struct rmq_ocsp_stapler *st, struct rmq_ocsp_stapler_info *out);

/* SIGHUP: fetch now (thread-safe; coalesced with a fetch in progress). */
void rmq_ocsp_stapler_refresh_now(struct rmq_ocsp_stapler *st);

/* The certificate's SHA-256 fingerprint (hex), borrowed for st's life. */
const char *rmq_ocsp_stapler_fingerprint(const struct rmq_ocsp_stapler *st);

/* Cancels pending work (waits for a running callback) and frees. NULL ok.
 * Not from the fetcher thread's callbacks of this stapler. */
void rmq_ocsp_stapler_free(struct rmq_ocsp_stapler *st);

#endif
