/*
 * crl.h — the CRL engine: fetch, verify, index and publish certificate
 * revocation lists; look verdicts up from any thread.
 *
 * What it does:
 * - Sources, any mix: configured URLs (rmq_crl_engine_add_url; prefetched at
 *   start, refreshed every crl_cache.refresh_interval, pinned: never evicted,
 *   not counted against capacity), discovered CRL distribution points
 *   (rmq_crl_engine_want_url; at most crl_cache.capacity of them; when there
 *   are more, the least recently wanted one is evicted first, with its saved
 *   copy), local files (rmq_crl_engine_add_file; PEM
 *   or DER, one or several CRLs, re-read when mtime/size/inode change; checked
 *   every second).
 * - Every body (HTTP or file) is sniffed (PEM vs DER by content, never by
 *   Content-Type or name; several CRLs per body allowed) and parsed with
 *   OpenSSL. A body that does not split into CRLs is refused whole, the last
 *   good CRLs of the source stay in force and ONE line is logged:
 *     crl_cache: refresh failed url=<url|file> reason=<check> …
 *   Each CRL of a body is then checked ON ITS OWN: the good ones are used,
 *   each bad one is refused alone with its own line (… reason=<check>
 *   crl=<i>/<n> issuer="…"; for a one-CRL body the single line above), and
 *   while a body has refused members the source keeps its last good CRL of
 *   every other (issuer, key, scope) it held.
 *   reasons — fetch: "http_status" (non-2xx; error="HTTP status 404"),
 *   "http_error" (connection refused, DNS, TLS, redirect limit …),
 *   "timeout" (crl_cache.http_timeout), "too_large" (crl_cache.max_size, also
 *   for files), "missing"/"unreadable" (files); content: "garbage" (neither a
 *   PEM nor a DER CRL), "truncated" (DER shorter than announced / PEM cut),
 *   "trailing_data", "too_many_crls" (> 64 in one body), "bad_serial";
 *   checks: "issuer_unknown" (no CA from the cacertfiles has the CRL issuer
 *   as subject), "signer_not_crl_sign" (that CA's keyUsage lacks cRLSign),
 *   "signature" (no CA of that name whose key — and SKI, when the CRL names
 *   an AKI — verifies it), "this_update_in_future" (60 s skew allowed),
 *   "next_update_missing", "next_update_past" (plus crl_cache.stale_grace),
 *   "critical_extension" (an unknown critical CRL or entry extension; known:
 *   CRL number, delta CRL indicator, issuing distribution point, authority
 *   key id, and on entries reason, invalidity date, hold instruction),
 *   "indirect_crl" (IDP indirectCRL: entries may belong to other issuers; not
 *   supported, refused), "idp_malformed", "crl_number_went_back",
 *   "crl_number_reused" (same CRL number as the CRL in force for the same
 *   issuer name, key and scope from that source but different content:
 *   refused), "this_update_went_back" (no CRL number on both: thisUpdate
 *   older than the one in force). The line ends with in_force=<CRLs of the
 *   source still used> and, when none of them covers any more,
 *   fail_closed=true (stale=true when they are past nextUpdate).
 *   Success: crl_cache: refresh OK url=… entries=… this_update=… next_update=…
 *   issuer=… scope=…
 * - Scope (RFC 5280 5.2.5, 6.3.3; rmq_crl_entry_scope): a CRL covers a
 *   certificate only when issuer name AND issuer key match (the CRL was
 *   verified with the key that verified the certificate), its IDP
 *   distributionPoint (if any) equals one of the certificate's CDP names,
 *   onlyContainsUserCerts / onlyContainsCACerts fit the certificate's
 *   basicConstraints cA, and it is not onlyContainsAttributeCerts. An
 *   onlySomeReasons CRL covers only those reasons: a certificate is GOOD only
 *   when the fresh covering CRLs together cover all reasons. A delta CRL
 *   is merged onto its base (RFC 5280 5.2.4: same issuer name, key and IDP,
 *   BaseCRLNumber <= base number < delta number): its entries revoke, and
 *   its removeFromCRL entries release a certificateHold entry of that base
 *   while the delta is fresh; on its own it never makes a certificate GOOD.
 * - Revoked: a serial listed in an accepted CRL whose scope includes the
 *   certificate (same issuer name and key, IDP distribution point and kind
 *   matching; RFC 5280 6.3.3 (b)) revokes it, even when that CRL is past its
 *   nextUpdate (revocation is final); holds a fresh delta released excepted.
 *   A CRL out of the certificate's scope says nothing about it, not even
 *   through its entries: the certificate stays "not covered" (fail closed,
 *   alert 42, or a CDP fetch). Serials compare as signed integers.
 * - Verdicts come from an immutable snapshot ((issuer name, issuer key) ->
 *   CRLs, each a compact serial index + scope) built on the fetcher thread
 *   and published by pointer swap; acquire/release are cheap and
 *   thread-safe. A CRL in a snapshot whose nextUpdate + stale_grace has
 *   passed no longer covers anything (lookup answers RMQ_CRL_NO_CRL: fail
 *   closed).
 * - Persistence: each source's last good CRLs are written to
 *   <data_dir>/crl/<sha256-hex of the source>.crl (concatenated DER, atomic
 *   write + rename) with a .meta text file (kind, location, etag,
 *   last-modified), and loaded — and fully re-verified — at start, so a
 *   restart while the CRL server is down keeps enforcing. Discovered URLs
 *   saved earlier are re-added at start. Temporary files of saves a crash
 *   interrupted (<data_dir>/crl/<name>.tmp.<pid>) are removed at start. The file is
 *   named by the source; what it holds is keyed again by (issuer name,
 *   issuer key, scope) when it is re-verified.
 * - Failure policy: back off 1 s doubling with ±20% jitter, capped at
 *   refresh_interval (rmq_backoff_next); never more than one fetch a second
 *   per URL (the fetcher enforces it too).
 *
 * What it does NOT do: chain building or certificate verification (OpenSSL's,
 * in src/tls), OCSP (ocsp_stapler.h), deciding TLS alerts, re-reading the
 * cacertfiles after start (the CRL-signature trust is fixed until restart).
 * Parsing a very large CRL (1M entries: ~0.5-1 s) runs on the fetcher thread
 * and delays other fetcher work (OCSP refreshes) meanwhile, never a worker.
 *
 * Threads: new, add_url/add_file/add_ca_file, start and free from the owner (main thread) only,
 * before workers start / after they stopped. acquire, snapshot_*, want_url, want_cancel,
 * on_publish, refresh_now: any thread. All fetching, parsing, index building, persistence and
 * publishing happen on the fetcher thread.
 *
 * A certificate is looked up by its struct rmq_cert_id (common/cert_id.h),
 * made by rmq_crl_cert_id from the certificate and the issuer certificate
 * that verified it.
 */
#ifndef RMQ_CRL_H
#define RMQ_CRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/cert_id.h"
#include "common/err.h"
#include "config/settings.h"
#include "revocation/fetcher.h"

enum rmq_crl_verdict { RMQ_CRL_GOOD, RMQ_CRL_REVOKED, RMQ_CRL_NO_CRL };

struct rmq_crl_engine;
struct rmq_crl_snapshot;

/* Borrows f and cfg for the engine's life; copies data_dir (NULL: no
 * persistence). NULL when out of memory. The initial snapshot is empty. */
struct rmq_crl_engine *rmq_crl_engine_new(struct rmq_fetcher *f,
                                          const struct rmq_crl_cache_settings *cfg,
                                          const char *data_dir);

/* Adds every certificate of a PEM file to the CRL-signature trust (a CRL is
 * accepted only when signed by a CA whose subject is the CRL's issuer).
 * RMQ_ERR_IO (unreadable), RMQ_ERR_MALFORMED (no certificate in it). Adding
 * the same file twice is harmless. Before start only. */
RMQ_MUST_USE rmq_err rmq_crl_engine_add_ca_file(struct rmq_crl_engine *e, const char *cacertfile);

/* A configured URL (http/https; RMQ_ERR_INVALID otherwise); duplicates are
 * merged. Before start only. */
RMQ_MUST_USE rmq_err rmq_crl_engine_add_url(struct rmq_crl_engine *e, const char *url);

/* A local CRL file; it need not exist yet (then: no CRL from it until it
 * does). Duplicates are merged. Before start only. */
RMQ_MUST_USE rmq_err rmq_crl_engine_add_file(struct rmq_crl_engine *e, const char *path);

/* Loads saved CRLs from data_dir, reads the files, fetches the configured URLs
 * and waits until each has had its first answer (or http_timeout + 1 s has
 * passed), publishes the first snapshot, then keeps refreshing in the
 * background. Failures of sources are logged, not returned (the engine then
 * fails closed for their issuers). RMQ_ERR_NOMEM only. Call once. */
RMQ_MUST_USE rmq_err rmq_crl_engine_start(struct rmq_crl_engine *e);

/* The current snapshot with a reference taken; never NULL. Any thread. */
struct rmq_crl_snapshot *rmq_crl_engine_acquire(struct rmq_crl_engine *e);
/* Drops a reference; the last one frees it. NULL is a no-op. Any thread. */
void rmq_crl_snapshot_release(struct rmq_crl_snapshot *s);

/* The verdict for a certificate. *reason (may be NULL) gets the CRL reason
 * code (RFC 5280 5.3.1) of a REVOKED entry, -1 when the entry has none, and
 * -1 for GOOD / NO_CRL. NO_CRL: the CRLs in force do not together cover it
 * for all reasons (none of its issuer name and key, out of scope, past
 * nextUpdate + stale_grace, delta only, …). One binary search over the
 * (issuer, key) groups, then per CRL of the group one hash probe. */
enum rmq_crl_verdict rmq_crl_snapshot_lookup(const struct rmq_crl_snapshot *s,
                                             const struct rmq_cert_id *id, int *reason);

/* For the log line of a NO_CRL verdict: why each CRL of the snapshot does not
 * cover id, e.g. `crl1="CN=A"#1001:distribution_point crl2="CN=A"#7:issuer_key`
 * (at most buf's size, cut with "…"). Not on the hot path. */
void rmq_crl_snapshot_explain(const struct rmq_crl_snapshot *s, const struct rmq_cert_id *id,
                              char *buf, size_t n);

/* The revocation identity of cert, verified by issuer (its issuer
 * certificate in the verified chain; cert itself when self-issued).
 * RMQ_ERR_MALFORMED: undecodable CDP extension or serial; RMQ_ERR_TOO_LARGE:
 * serial over RMQ_CERT_ID_SERIAL_MAX; RMQ_ERR_NOMEM. */
RMQ_MUST_USE rmq_err rmq_crl_cert_id(X509 *cert, X509 *issuer, struct rmq_cert_id *out);

/* "-1A2B" / "1A2B": the serial as a signed hex number, for logs (n >= 68). */
void rmq_crl_serial_text(const struct rmq_cert_id *id, char *buf, size_t n);

/* Increases with each published snapshot (first published snapshot: 1). */
uint64_t rmq_crl_snapshot_version(const struct rmq_crl_snapshot *s);
/* Number of CRLs in the snapshot. */
size_t rmq_crl_snapshot_crl_count(const struct rmq_crl_snapshot *s);

/*
 * CDP discovery. Thread-safe, never blocks on the network.
 * RMQ_OK: the URL is known and has had at least one answer (its CRL, if it
 *   was accepted, is in the current snapshot); done is not called.
 * RMQ_ERR_AGAIN: a first fetch was started or joined; done(arg) runs once on
 *   the fetcher thread when it ended (accepted or not; success or timeout).
 * RMQ_ERR_INVALID: not an http/https URL. RMQ_ERR_NOMEM.
 * RMQ_ERR_NOT_FOUND: crl_cache.discover_from_cert is false and the URL is not
 *   a configured one (done not called).
 * A URL configured with add_url is treated as known once its first fetch ended.
 */
RMQ_MUST_USE rmq_err rmq_crl_engine_want_url(struct rmq_crl_engine *e, const char *url,
                                             void (*done)(void *arg), void *arg);

/* Forgets pending want_url callbacks for arg; after return done(arg) is not
 * running and will not run. Any thread (also inside a done callback for
 * another arg). */
void rmq_crl_engine_want_cancel(struct rmq_crl_engine *e, void *arg);

/* Subscribes cb, called on the fetcher thread after each newly published
 * snapshot (s is borrowed for the call; acquire another reference to keep
 * it). Any thread; subscribers cannot be removed (they live as long as the
 * engine). Out of memory: logged, not subscribed. */
void rmq_crl_engine_on_publish(struct rmq_crl_engine *e,
                               void (*cb)(struct rmq_crl_snapshot *s, void *arg), void *arg);

/* Refetches every URL and re-reads every file now (SIGHUP). Thread-safe. */
void rmq_crl_engine_refresh_now(struct rmq_crl_engine *e);

/* Stops the engine's background work and frees it; the fetcher must still be
 * alive. Snapshots still acquired stay valid until released. NULL: no-op. */
void rmq_crl_engine_free(struct rmq_crl_engine *e);

#endif
