/*
 * tls.h — TLS listeners: one SSL_CTX per listener and certificate generation,
 * the TLS transport (see net/transport.h), client-certificate revocation at
 * the handshake, OCSP stapling of the broker's own certificate and live
 * reload of certfile/keyfile/cacertfile.
 *
 * What it is not: it owns no sockets, no event loop and no timers. The net
 * layer owns the fd and drives the transport; the revocation engine
 * (src/revocation) fetches CRLs and OCSP responses on its own thread.
 *
 * Threads:
 * - rmq_tls_listener_new / _free: the main thread, before workers start /
 *   after they stopped.
 * - The factory's new_transport and every transport op: the worker thread that
 *   owns the connection (as transport.h says).
 * - rmq_tls_listener_reload / _check_reload: any thread (main.c: the main
 *   event loop, on SIGHUP and on a reload_interval timer); they are
 *   serialized by a lock and swap the context by pointer under another lock,
 *   so workers keep accepting meanwhile. Handshakes already started keep the
 *   context they started with (refcounted); established connections are
 *   untouched.
 * - transport->wake(wake_arg) is called by this module from the revocation
 *   FETCHER thread (the CRL engine's done-callback) when a handshake that
 *   returned RMQ_IO_SUSPENDED should be retried. The net layer must make
 *   wake thread-safe (e.g. queue + event_active / a pipe to the worker) and
 *   tolerate a spurious wake (handshake() then returns SUSPENDED again). It
 *   is never called after the transport's free() returned. A transport may
 *   be freed while suspended (handshake timeout): free() ends the paused
 *   handshake without touching the socket.
 * - After RMQ_IO_WANT_WRITE from write(), retry with the same bytes (at least
 *   as many): OpenSSL requires it (partial writes are enabled).
 *
 * Ownership: the listener borrows `ls`, `s` and `rev` for its whole life
 * (main.c keeps the settings and the revocation engine until after
 * rmq_tls_listener_free).
 */
#ifndef RMQ_TLS_H
#define RMQ_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "config/settings.h"
#include "net/transport.h"

struct rmq_revocation; /* src/revocation/revocation.h (fetcher + CRL engine) */
struct rmq_tls_listener;

/*
 * Builds the listener's TLS context from ls->ssl: loads and checks certfile
 * (leaf + chain), keyfile (+ password), cacertfile, versions, ciphers, verify
 * mode; when ocsp.enable_ocsp_stapling, creates and starts the OCSP stapler
 * (first fetch before returning, bounded by ocsp.refresh_http_timeout). When
 * ssl.enable_crl_check, client certificates are checked against `rev`'s CRL
 * engine in the verify callback (rev must then be non-NULL, else
 * RMQ_ERR_CONFIG). Registering the listener's CRL sources (crl_cache_urls,
 * crlfile, cacertfile) with the engine is rmq_revocation_new's job; this
 * module only looks verdicts up and asks for discovered distribution points.
 *
 * On success *out is owned by the caller (free with rmq_tls_listener_free).
 * On failure *out is NULL, nothing leaks and *errmsg (owned, free()) says
 * what failed, naming the key and the file, e.g.
 * "listeners.ssl.default.ssl_options.keyfile: /x/key.pem: key does not match
 * certfile /x/cert.pem".
 */
RMQ_MUST_USE rmq_err rmq_tls_listener_new(const struct rmq_listener_settings *ls,
                                          const struct rmq_settings *s, struct rmq_revocation *rev,
                                          struct rmq_tls_listener **out, char **errmsg);

struct rmq_cert_id;
/* Live re-check of client-certificate OCSP (ssl_options.ocsp_client): fn(id,
 * arg) runs on the fetcher thread when a refreshed answer says a cached
 * certificate is now revoked. Set before the listener accepts. */
void rmq_tls_listener_on_ocsp_revoked(struct rmq_tls_listener *l,
                                      void (*fn)(const struct rmq_cert_id *id, void *arg),
                                      void *arg);
/*
 * For --check-config: loads the listener's certfile (+ chain), keyfile (with
 * password) and cacertfile, checks that key and certificate match and that
 * versions/ciphers are valid, then frees everything. No stapler, no CRL
 * engine, no network. On failure *errmsg (owned) names the key and the file
 * as rmq_tls_listener_new does.
 */
RMQ_MUST_USE rmq_err rmq_tls_check_files(const struct rmq_listener_settings *ls, char **errmsg);

/* The factory the net layer uses for accepted sockets; arg is the listener. */
struct rmq_transport_factory rmq_tls_listener_factory(struct rmq_tls_listener *l);

/*
 * Rebuilds the context from the files now on disk (SIGHUP), whether or not
 * they changed. On failure the old context stays in use, an error is logged
 * and the error is returned. Thread-safe with respect to workers.
 */
RMQ_MUST_USE rmq_err rmq_tls_listener_reload(struct rmq_tls_listener *l);

/*
 * Stats certfile, keyfile, cacertfile (and ocsp.issuer_pem); if any changed
 * (mtime, size, inode) since the context was built, reloads as above.
 * Meant to be called every ssl.reload_interval (rmq_tls_listener_reload_interval).
 * RMQ_OK when nothing changed or the reload succeeded; *reloaded (may be NULL)
 * tells whether a new context is now in use.
 */
RMQ_MUST_USE rmq_err rmq_tls_listener_check_reload(struct rmq_tls_listener *l, bool *reloaded);

/* ssl.reload_interval in ms (0: never poll). */
uint64_t rmq_tls_listener_reload_interval(const struct rmq_tls_listener *l);

/* ssl.handshake_timeout in ms, for the net layer's handshake timer. */
uint64_t rmq_tls_listener_handshake_timeout(const struct rmq_tls_listener *l);

/* Frees the listener; every transport it made must have been freed. NULL: no-op. */
void rmq_tls_listener_free(struct rmq_tls_listener *l);

#endif
