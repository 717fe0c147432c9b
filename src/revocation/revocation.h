/*
 * revocation.h — the broker-wide revocation object: the fetcher thread plus
 * the CRL engine, built from the settings.
 *
 * rmq_revocation_new creates the fetcher (its thread starts) and the CRL
 * engine, and registers, for every ENABLED ssl listener with
 * ssl_options.enable_crl_check: its cacertfile (CRL signature trust), its
 * crl_cache_urls and its crlfile entries. A listener with enable_crl_check
 * but verify != verify_peer is a configuration error. CRL data is persisted
 * under <node_data_dir>/crl/.
 *
 * What it is not: the OCSP staplers (per listener, made by src/tls with
 * rev->fetcher) and the TLS verify callback (src/tls asks rev->crl).
 *
 * Threads: new/start/free from the main thread (start before the workers
 * accept, free after they stopped and after every TLS listener / stapler
 * using the fetcher was freed). The members are usable from any thread as
 * their own headers say.
 */
#ifndef RMQ_REVOCATION_H
#define RMQ_REVOCATION_H

#include <stdbool.h>

#include "common/err.h"
#include "config/settings.h"
#include "revocation/crl.h"
#include "revocation/fetcher.h"

struct rmq_revocation {
    struct rmq_fetcher *fetcher; /* owned */
    struct rmq_crl_engine *crl;  /* owned */
    bool crl_enabled;            /* some enabled ssl listener has enable_crl_check */
};

/*
 * Borrows s for the object's life. On success *out is owned by the caller.
 * On failure *out is NULL, nothing leaks, and *errmsg (owned, free()) names
 * the key and the problem, e.g.
 * "listeners.ssl.default.ssl_options.enable_crl_check: requires verify = verify_peer"
 * or "listeners.ssl.default.ssl_options.cacertfile: /x/ca.pem: no certificate".
 */
RMQ_MUST_USE rmq_err rmq_revocation_new(const struct rmq_settings *s, struct rmq_revocation **out,
                                        char **errmsg);

/* Starts the CRL engine (loads saved CRLs, prefetches configured URLs,
 * waiting up to crl_cache.http_timeout). No-op without CRL-checking
 * listeners. */
RMQ_MUST_USE rmq_err rmq_revocation_start(struct rmq_revocation *r);

/* SIGHUP: refetch every CRL source now. Thread-safe. */
void rmq_revocation_refresh_now(struct rmq_revocation *r);

struct rmq_peer_info;

/* Live-session matching against a new snapshot (a callback for
 * rmq_net_close_matching_on; `snapshot` is a struct rmq_crl_snapshot *): true
 * when the connection's leaf — and, with crl_cache.check = chain, any CA of
 * its verified chain — is REVOKED in it. Matches by the full identity
 * (issuer name AND issuer key, signed serial), never by issuer name alone,
 * so a revocation by one CA closes no session of a same-named other CA. A
 * connection without a kept identity is not matched. Any thread. */
bool rmq_revocation_peer_revoked(const struct rmq_peer_info *p, void *snapshot);

/* Live-session matching for a client-certificate OCSP revocation (a callback
 * for rmq_net_close_matching_on; `id` is a struct rmq_cert_id *): true when
 * the connection's leaf is exactly that certificate (issuer name AND key,
 * signed serial). Any thread. */
bool rmq_revocation_peer_is(const struct rmq_peer_info *p, void *id);

/* Frees the engine, then the fetcher (joins its thread). NULL: no-op. */
void rmq_revocation_free(struct rmq_revocation *r);

#endif
