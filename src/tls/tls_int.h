/*
 * tls_int.h — internals shared by the files of src/tls (not a public API;
 * unit tests in tests/unit/test_tls_*.c may use it).
 *
 * Objects:
 * - struct rmq_tls_listener: settings (borrowed), the revocation hooks and
 *   the CURRENT generation, swapped under `lock` on reload.
 * - struct tls_gen: one SSL_CTX (one certificate generation) with its
 *   session cache and OCSP stapler. Refcounted: the listener holds one
 *   reference, every transport made from it holds one.
 * - struct tls_transport: one connection's SSL, see tls_transport.c.
 */
#ifndef RMQ_TLS_INT_H
#define RMQ_TLS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/cert_id.h"
#include "revocation/ocsp_client.h"
#include "tls/tls.h"

/* Verdicts, same values as enum rmq_crl_verdict in revocation/crl.h. */
enum tls_verdict { TLS_VERDICT_GOOD, TLS_VERDICT_REVOKED, TLS_VERDICT_NO_CRL };

/*
 * How the TLS layer reaches the CRL engine. The default (tls_rev.c) calls
 * revocation/crl.h; unit tests install a fake with tls_listener_set_rev_ops
 * before the first connection.
 */
struct tls_rev_ops {
    /* An immutable snapshot reference, released with release(); any thread. */
    void *(*acquire)(void *engine);
    void (*release)(void *snapshot);
    enum tls_verdict (*lookup)(const void *snapshot, const struct rmq_cert_id *id, int *reason);
    /* RMQ_OK: URL already known, no callback. RMQ_ERR_AGAIN: done(arg) will run
     * (on the fetcher thread) when the fetch ends. Other: failed, no callback. */
    rmq_err (*want_url)(void *engine, const char *url, void (*done)(void *arg), void *arg);
    /* After return, done(arg) is not running and will not run. */
    void (*want_cancel)(void *engine, void *arg);
    /* Log text: why no CRL of the snapshot covers id (may be NULL). */
    void (*explain)(const void *snapshot, const struct rmq_cert_id *id, char *buf, size_t n);
};

/* Default ops over the CRL engine of `rev` (NULL when rev has none). */
const struct tls_rev_ops *tls_rev_default_ops(struct rmq_revocation *rev, void **engine);
/* rev's fetcher, for the OCSP stapler (NULL if none). */
struct rmq_fetcher *tls_rev_fetcher(struct rmq_revocation *rev);

/* rmq_tls_listener_new with explicit revocation hooks (ops may be NULL:
 * no CRL engine). Unit tests pass a fake engine here. */
RMQ_MUST_USE rmq_err tls_listener_create(const struct rmq_listener_settings *ls,
                                         const struct rmq_settings *s, struct rmq_revocation *rev,
                                         const struct tls_rev_ops *ops, void *engine,
                                         struct rmq_tls_listener **out, char **errmsg);

struct tls_filestat {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

enum { TLS_FILE_CERT, TLS_FILE_KEY, TLS_FILE_CA, TLS_FILE_ISSUER, TLS_FILE__COUNT };

struct tls_sess_cache;
struct rmq_ocsp_stapler;

struct tls_gen {
    atomic_int refs;
    struct rmq_tls_listener *l; /* borrowed; outlives every generation */
    SSL_CTX *ctx;               /* owned */
    struct tls_sess_cache *cache;
    struct rmq_ocsp_stapler *stapler; /* owned, NULL without stapling */
    struct tls_filestat files[TLS_FILE__COUNT];
    char cert_serial[65]; /* server certificate serial, hex, for logs */
    char cert_fp[65];     /* SHA-256 fingerprint of the server certificate */
    time_t built_at;      /* when this generation was loaded (tls_status.c) */
};

struct rmq_tls_listener {
    const struct rmq_listener_settings *ls; /* borrowed */
    const struct rmq_settings *s;           /* borrowed */
    struct rmq_revocation *rev;             /* borrowed, may be NULL */
    const struct tls_rev_ops *revops;       /* NULL: no CRL checks possible */
    void *reveng;
    bool crl_check;       /* ls->ssl.enable_crl_check */
    bool crl_chain;       /* crl_cache.check == chain */
    bool discover;        /* crl_cache.discover_from_cert */
    bool async_capable;   /* OpenSSL ASYNC jobs usable: suspend on CDP fetch */
    size_t sess_budget;   /* session cache bytes (ssl_options.session_cache_memory) */
    const char *name;     /* listener name, borrowed from ls (error messages: key paths) */
    const char *id;       /* "ssl:name" / "wss:name", borrowed from ls (logs, labels) */
    pthread_mutex_t lock; /* protects `cur` (pointer swap + ref taking) */
    struct tls_gen *cur;
    pthread_mutex_t reload_lock;                 /* serializes reloads; protects `failed` */
    struct tls_filestat failed[TLS_FILE__COUNT]; /* stats of the last failed reload */
    bool have_failed;
    /* ssl_options.ocsp_client: owned, NULL when off (tls_verify.c decides) */
    struct rmq_ocsp_client *ocsp;
    const struct rmq_ocsp_client_settings *ocspc; /* borrowed from ls */
    /* set by rmq_tls_listener_on_ocsp_revoked before accepting; fetcher thread */
    void (*on_ocsp_revoked)(const struct rmq_cert_id *id, void *arg);
    void *on_ocsp_revoked_arg;
};

/* tls_ctx.c: builds a generation from the files on disk; *errmsg on failure. */
RMQ_MUST_USE rmq_err tls_gen_new(struct rmq_tls_listener *l, bool reload, struct tls_gen **out,
                                 char **errmsg);
void tls_gen_ref(struct tls_gen *g);
void tls_gen_unref(struct tls_gen *g);
void tls_stat_files(const struct rmq_ssl_options *o, struct tls_filestat st[TLS_FILE__COUNT]);
bool tls_stats_equal(const struct tls_filestat *a, const struct tls_filestat *b);

/* tls_sess.c: server-side session cache with a revocation re-check on lookup. */
/* budget: bytes the cached sessions may take (estimated per session, see
 * tls_sess_cost); the least recently used are dropped beyond it. */
struct tls_sess_cache *tls_sess_cache_new(struct rmq_tls_listener *l, size_t budget);
void tls_sess_cache_free(struct tls_sess_cache *c);
/* Installs the cache's callbacks on ctx (SSL_SESS_CACHE_SERVER, no internal store). */
RMQ_MUST_USE rmq_err tls_sess_cache_attach(struct tls_sess_cache *c, SSL_CTX *ctx);
/* Bytes one cached session is charged: the entry, the SSL_SESSION, and with
 * a client certificate its parsed form and DER (an estimate, see tls_sess.c). */
size_t tls_sess_cost(SSL_SESSION *sess);
/* Sessions cached, and the bytes they are charged (tests). */
size_t tls_sess_cache_count(struct tls_sess_cache *c);
size_t tls_sess_cache_bytes(struct tls_sess_cache *c);

/* tls_verify.c */
int tls_verify_cb(int preverify_ok, X509_STORE_CTX *xs);
/* The revocation verdict for a certificate identity in the current snapshot;
 * reason = CRL reason code or -1. why (may be NULL) gets, for NO_CRL, why no
 * CRL covers it. */
enum tls_verdict tls_check_id(struct rmq_tls_listener *l, const struct rmq_cert_id *id, int *reason,
                              char *why, size_t why_len);
/* The identity of the leaf kept on a session by the verify callback (set at
 * the full handshake, copied with the session). False when absent: such a
 * session must not be resumed with CRL checks on. */
bool tls_session_cert_id(const SSL_SESSION *sess, struct rmq_cert_id *out);
/* True (and logged) when the OCSP cache holds `revoked` for the session's
 * client certificate (resumption is then refused). */
bool tls_ocsp_session_revoked(struct rmq_tls_listener *l, const SSL_SESSION *sess, X509 *peer);
/* Logs `tls: client certificate rejected …` (rate-limited). */
void tls_log_reject(struct rmq_tls_listener *l, X509 *cert, int depth, const char *reason,
                    const char *detail);
/* SHA-256(issuer name DER) and serial magnitude bytes of cert. */
RMQ_MUST_USE rmq_err tls_cert_ids(X509 *cert, uint8_t issuer_hash[32], uint8_t serial[32],
                                  size_t *serial_len);
void tls_hex(const uint8_t *p, size_t n, char *out, bool upper);
/* SSL ex_data index holding the struct tls_transport *; SSL_CTX index
 * holding the struct tls_gen *. Created once (pthread_once). */
int tls_ssl_ex_index(void);
int tls_ctx_ex_index(void);

/* tls_staple.c */
RMQ_MUST_USE rmq_err tls_staple_setup(struct tls_gen *g, X509 *leaf, STACK_OF(X509) * chain,
                                      bool reload, char **errmsg);

/* tls_transport.c */
struct tls_transport {
    struct rmq_transport base;        /* first: the net layer sees this */
    SSL *ssl;                         /* owned */
    struct tls_gen *gen;              /* one reference */
    atomic_int pending;               /* on-demand CRL fetches still running (+1 guard) */
    bool async;                       /* SSL_MODE_ASYNC on (handshake may suspend) */
    bool suspended;                   /* an ASYNC job is paused in the verify callback */
    bool aborting;                    /* free(): the paused job is resumed only to end */
    uint32_t fetch_tried;             /* bit d: the on-demand fetch round for depth d was done */
    bool want_registered;             /* want_url callbacks may be pending: cancel on free */
    bool ocsp_tried;                  /* the handshake's OCSP query was made */
    bool ocsp_registered;             /* an OCSP done callback may be pending: cancel on free */
    struct rmq_ocspc_result ocsp_res; /* written by the OCSP done callback */
    bool fatal;                       /* a TLS/socket error happened: session not resumable */
    char *err; /* last_error() text (TLS_ERR_LEN bytes), made at the first error; NULL: none */
};

#define TLS_ERR_LEN 160
/* Sets t's last_error() text (printf; truncated to TLS_ERR_LEN - 1). The
 * buffer is made on the first error, so a healthy connection keeps none; out
 * of memory leaves the text unchanged. */
void tls_set_err(struct tls_transport *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* t's last_error() text, "" when none. */
const char *tls_err(const struct tls_transport *t);

struct rmq_transport *tls_transport_new(void *arg, int fd);

/* errmsg helpers (tls_ctx.c): printf into a new heap string. */
char *tls_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
