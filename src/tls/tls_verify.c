/*
 * tls_verify.c — client-certificate revocation at the handshake.
 *
 * OpenSSL builds and verifies the chain against cacertfile; this verify
 * callback then looks the certificate up in the CRL engine's current
 * snapshot (our own index, not X509_V_FLAG_CRL_CHECK; TLS-COST.md):
 *   REVOKED -> X509_V_ERR_CERT_REVOKED  -> alert 44 certificate_revoked
 *   NO_CRL  -> X509_V_ERR_CERT_REJECTED -> alert 42 bad_certificate
 *              (X509_V_ERR_UNABLE_TO_GET_CRL would map to 48 unknown_ca)
 * at depth 0, and at every non-anchor depth with crl_cache.check = chain.
 *
 * On-demand CDP fetch: OpenSSL 3.0 honours SSL_set_retry_verify() only on
 * the CLIENT side (on a server the callback's "retry" would be ignored and
 * the handshake would go on: fail open). So a server handshake that may need
 * a fetch runs as an OpenSSL ASYNC job (SSL_MODE_ASYNC during the handshake
 * only): the callback asks the CRL engine for the distribution points, and
 * if a fetch started it pauses the job (ASYNC_pause_job). SSL_do_handshake
 * then returns SSL_ERROR_WANT_ASYNC, the transport reports RMQ_IO_SUSPENDED,
 * the engine's done-callback (fetcher thread) calls transport->wake, and the
 * next handshake() call resumes the job right here, which looks again.
 * One fetch round per certificate of the chain; still no CRL after it: fail
 * closed (42).
 *
 * Stack: ASYNC jobs run on a 32 KiB stack; keep this file's frames small
 * (text buffers are on the heap).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/async.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "revocation/crl.h"
#include "revocation/ocsp_client.h"
#include "tls/tls_int.h"

#define TLS_MAX_CDP_URLS 4
#define TLS_MAX_URL_LEN 2048

static int ssl_idx = -1;
static int ctx_idx = -1;
static int sess_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

/* The leaf's struct rmq_cert_id rides on its SSL_SESSION (heap copy), so a
 * resumed handshake and the live-session matching know the issuer KEY that
 * verified it (a session keeps only the leaf, not its issuer). */
static int sess_id_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                       long argl, void *argp)
{
    (void)to;
    (void)from;
    (void)idx;
    (void)argl;
    (void)argp;
    if (*from_d != NULL) {
        void *copy = malloc(sizeof(struct rmq_cert_id));
        if (copy == NULL) {
            return 0;
        }
        memcpy(copy, *from_d, sizeof(struct rmq_cert_id));
        *from_d = copy;
    }
    return 1;
}

static void sess_id_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void idx_init(void)
{
    ssl_idx = SSL_get_ex_new_index(0, (void *)"rmq_tls_transport", NULL, NULL, NULL);
    ctx_idx = SSL_CTX_get_ex_new_index(0, (void *)"rmq_tls_gen", NULL, NULL, NULL);
    sess_idx =
        SSL_SESSION_get_ex_new_index(0, (void *)"rmq_cert_id", NULL, sess_id_dup, sess_id_free);
}

bool tls_session_cert_id(const SSL_SESSION *sess, struct rmq_cert_id *out)
{
    pthread_once(&idx_once, idx_init);
    const struct rmq_cert_id *id = sess != NULL ? SSL_SESSION_get_ex_data(sess, sess_idx) : NULL;
    if (id == NULL) {
        return false;
    }
    *out = *id;
    return true;
}

static void session_keep_id(SSL *ssl, const struct rmq_cert_id *id)
{
    SSL_SESSION *sess = SSL_get_session(ssl);
    if (sess == NULL) {
        return; /* then never resumable with CRL checks (fail safe) */
    }
    struct rmq_cert_id *copy = malloc(sizeof *copy);
    if (copy == NULL) {
        return;
    }
    *copy = *id;
    void *old = SSL_SESSION_get_ex_data(sess, sess_idx);
    if (SSL_SESSION_set_ex_data(sess, sess_idx, copy) != 1) {
        free(copy);
        return;
    }
    free(old);
}

int tls_ssl_ex_index(void)
{
    pthread_once(&idx_once, idx_init);
    return ssl_idx;
}

int tls_ctx_ex_index(void)
{
    pthread_once(&idx_once, idx_init);
    return ctx_idx;
}

void tls_hex(const uint8_t *p, size_t n, char *out, bool upper)
{
    const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

rmq_err tls_cert_ids(X509 *cert, uint8_t issuer_hash[32], uint8_t serial[32], size_t *serial_len)
{
    unsigned char *der = NULL;
    int n = i2d_X509_NAME(X509_get_issuer_name(cert), &der);
    if (n <= 0) {
        return RMQ_ERR_MALFORMED;
    }
    unsigned int hl = 0;
    int ok = EVP_Digest(der, (size_t)n, issuer_hash, &hl, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (ok != 1 || hl != 32) {
        return RMQ_ERR_CRYPTO;
    }
    /* ASN1_INTEGER content is the big-endian magnitude; strip leading zeros. */
    const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
    const unsigned char *p = ASN1_STRING_get0_data(sn);
    size_t len = (size_t)ASN1_STRING_length(sn);
    while (len > 0 && p[0] == 0) {
        p++;
        len--;
    }
    if (len > 32) {
        return RMQ_ERR_TOO_LARGE;
    }
    if (len > 0) {
        memcpy(serial, p, len);
    }
    *serial_len = len;
    return RMQ_OK;
}

enum tls_verdict tls_check_id(struct rmq_tls_listener *l, const struct rmq_cert_id *id, int *reason,
                              char *why, size_t why_len)
{
    *reason = -1;
    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    if (l->revops == NULL || id == NULL) {
        return TLS_VERDICT_NO_CRL; /* fail closed */
    }
    void *snap = l->revops->acquire(l->reveng);
    enum tls_verdict v = l->revops->lookup(snap, id, reason);
    if (v == TLS_VERDICT_NO_CRL && why != NULL && why_len > 0 && l->revops->explain != NULL) {
        l->revops->explain(snap, id, why, why_len);
    }
    l->revops->release(snap);
    return v;
}

/* RFC 2253 text of a name into a new string ("?" on failure). */
static char *name_str(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        out = malloc((size_t)n + 1);
        if (out != NULL) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out != NULL ? out : strdup("?");
}

static void log_cert(bool accepted, struct rmq_tls_listener *l, X509 *cert, int depth,
                     const char *reason, const char *detail)
{
    uint8_t ih[32], ser[32];
    size_t sl = 0;
    char *hex = malloc(66);
    char *issuer = cert != NULL ? name_str(X509_get_issuer_name(cert)) : NULL;
    char *subject = cert != NULL ? name_str(X509_get_subject_name(cert)) : NULL;
    if (hex != NULL) {
        hex[0] = '\0';
        if (cert != NULL && tls_cert_ids(cert, ih, ser, &sl) == RMQ_OK) {
            /* signed, as the certificate says (a negative serial is another one) */
            bool neg = ASN1_STRING_type(X509_get0_serialNumber(cert)) == V_ASN1_NEG_INTEGER;
            hex[0] = '-';
            tls_hex(ser, sl > 31 ? 31 : sl, hex + (neg ? 1 : 0), true);
        }
    }
    const char *hx = hex != NULL ? hex : "?", *is = issuer != NULL ? issuer : "?";
    const char *sj = subject != NULL ? subject : "?";
    const char *dk = detail != NULL ? " detail=" : "", *dv = detail != NULL ? detail : "";
    if (accepted) {
        RMQ_LOG_RL(20, RMQ_LOG_INFO, "tls",
                   "client certificate accepted listener=%s serial=%s issuer=\"%s\" "
                   "subject=\"%s\" depth=%d reason=%s%s%s",
                   l->id, hx, is, sj, depth, reason, dk, dv);
    } else {
        RMQ_LOG_RL(20, RMQ_LOG_WARNING, "tls",
                   "client certificate rejected listener=%s serial=%s issuer=\"%s\" "
                   "subject=\"%s\" depth=%d reason=%s%s%s",
                   l->id, hx, is, sj, depth, reason, dk, dv);
    }
    free(hex);
    free(issuer);
    free(subject);
}

void tls_log_reject(struct rmq_tls_listener *l, X509 *cert, int depth, const char *reason,
                    const char *detail)
{
    log_cert(false, l, cert, depth, reason, detail);
}

static void fetch_done(void *arg)
{
    struct tls_transport *t = arg;
    /* Fetcher thread. The transport is alive: free() cancels first. */
    if (atomic_fetch_sub(&t->pending, 1) == 1 && t->base.wake != NULL) {
        t->base.wake(t->base.wake_arg);
    }
}

/* The http(s) URIs of cert's CRL distribution points (up to TLS_MAX_CDP_URLS). */
static size_t cdp_urls(X509 *cert, char **urls)
{
    size_t n = 0;
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    for (int i = 0; dps != NULL && i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (dp->distpoint == NULL || dp->distpoint->type != 0) {
            continue;
        }
        GENERAL_NAMES *gns = dp->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(gns) && n < TLS_MAX_CDP_URLS; j++) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(gns, j);
            if (gn->type != GEN_URI) {
                continue;
            }
            const char *p = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
            int len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
            if (len <= 0 || len > TLS_MAX_URL_LEN || memchr(p, '\0', (size_t)len) != NULL) {
                continue;
            }
            if ((len > 7 && strncasecmp(p, "http://", 7) == 0) ||
                (len > 8 && strncasecmp(p, "https://", 8) == 0)) {
                urls[n] = strndup(p, (size_t)len);
                if (urls[n] != NULL) {
                    n++;
                }
            }
        }
    }
    CRL_DIST_POINTS_free(dps);
    return n;
}

/*
 * Asks the engine for cert's distribution points. Returns true when the
 * caller should look again (a fetch ended, possibly after suspending here);
 * false when nothing was fetched (no URL, all known, not allowed).
 */
static bool fetch_cdp(struct tls_transport *t, X509 *cert, int depth)
{
    struct rmq_tls_listener *l = t->gen->l;
    if (!l->discover || l->revops == NULL || depth < 0 || depth > 31 ||
        (t->fetch_tried & (1u << depth)) != 0) {
        return false;
    }
    t->fetch_tried |= 1u << depth;
    char *urls[TLS_MAX_CDP_URLS];
    size_t n = cdp_urls(cert, urls);
    bool can_wait = t->async && ASYNC_get_current_job() != NULL;
    bool started = false;
    atomic_store(&t->pending, 1); /* guard */
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&t->pending, 1);
        t->want_registered = true;
        rmq_err r = l->revops->want_url(l->reveng, urls[i], fetch_done, t);
        if (r == RMQ_ERR_AGAIN) {
            started = true;
            rmq_info("tls", "fetching CRL distribution point listener=%s url=%s handshake=%s",
                     l->id, urls[i], can_wait ? "suspended" : "failed_closed");
        } else {
            atomic_fetch_sub(&t->pending, 1);
        }
        free(urls[i]);
    }
    if (!started || !can_wait) {
        return false;
    }
    if (atomic_fetch_sub(&t->pending, 1) == 1) {
        return true; /* every fetch already ended */
    }
    t->suspended = true;
    int ok = ASYNC_pause_job();
    t->suspended = false;
    return ok == 1 && !t->aborting;
}

/* The certificate that verified `cert` in the chain being verified (the
 * next one up), or cert itself at the top. */
static X509 *chain_issuer(X509_STORE_CTX *xs, X509 *cert, int depth)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
    if (chain != NULL && depth + 1 < sk_X509_num(chain)) {
        return sk_X509_value(chain, depth + 1);
    }
    return cert;
}

static int reject_no_crl(struct tls_transport *t, X509_STORE_CTX *xs, X509 *cert, int depth,
                         const char *why)
{
    struct rmq_tls_listener *l = t->gen->l;
    tls_log_reject(l, cert, depth, "no_crl", why);
    tls_set_err(t, "no CRL in force covers the certificate (depth %d)", depth);
    X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
    return 0;
}

static int reject_revoked(struct tls_transport *t, X509_STORE_CTX *xs, X509 *cert, int depth,
                          const char *detail)
{
    tls_log_reject(t->gen->l, cert, depth, "revoked", detail);
    tls_set_err(t, "client certificate revoked (depth %d)", depth);
    X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REVOKED);
    return 0;
}

/* The CRL side: GOOD / REVOKED / NO_CRL (after one on-demand CDP round). */
static enum tls_verdict crl_verdict(struct tls_transport *t, X509 *cert, int depth,
                                    const struct rmq_cert_id *id, int *reason)
{
    struct rmq_tls_listener *l = t->gen->l;
    enum tls_verdict v = tls_check_id(l, id, reason, NULL, 0);
    if (v == TLS_VERDICT_NO_CRL && fetch_cdp(t, cert, depth)) {
        v = tls_check_id(l, id, reason, NULL, 0);
    }
    return v;
}

static int crl_no_crl(struct tls_transport *t, X509_STORE_CTX *xs, X509 *cert, int depth,
                      const struct rmq_cert_id *id)
{
    /* Rare path: say why each CRL in force did not cover it. */
    int reason = -1;
    size_t wl = 1024;
    char *why = malloc(wl);
    if (why != NULL) {
        (void)tls_check_id(t->gen->l, id, &reason, why, wl);
    }
    int r = reject_no_crl(t, xs, cert, depth, why != NULL && why[0] ? why : NULL);
    free(why);
    return r;
}

static void ocsp_done(void *arg, const struct rmq_ocspc_result *r)
{
    struct tls_transport *t = arg;
    /* Fetcher thread, under the OCSP client's lock; the transport is alive
     * (free() cancels first). The result is written before the release. */
    t->ocsp_res = *r;
    if (atomic_fetch_sub(&t->pending, 1) == 1 && t->base.wake != NULL) {
        t->base.wake(t->base.wake_arg);
    }
}

/* The leaf's OCSP answer: from the cache, or asked now with the handshake
 * suspended (one query per handshake). FAILED when none could be had. */
static struct rmq_ocspc_result ocsp_answer(struct tls_transport *t, X509 *cert, X509 *issuer,
                                           const struct rmq_cert_id *id)
{
    struct rmq_tls_listener *l = t->gen->l;
    struct rmq_ocspc_result r = rmq_ocsp_client_lookup(l->ocsp, id);
    if (r.state != RMQ_OCSPC_MISS) {
        return r;
    }
    r.state = RMQ_OCSPC_FAILED;
    bool can_wait = t->async && ASYNC_get_current_job() != NULL;
    if (!can_wait || t->ocsp_tried) {
        r.why = can_wait ? "no_answer" : "cannot_suspend";
        return r;
    }
    t->ocsp_tried = true;
    t->ocsp_res = r;
    t->ocsp_res.why = "aborted";
    atomic_store(&t->pending, 2); /* guard + the query */
    t->ocsp_registered = true;
    rmq_err e = rmq_ocsp_client_query(l->ocsp, cert, issuer, id, ocsp_done, t);
    if (e != RMQ_ERR_AGAIN) {
        atomic_store(&t->pending, 0);
        r.why = "request_not_started";
        return r;
    }
    rmq_info("tls",
             "asking the client certificate's OCSP responder listener=%s handshake=suspended",
             l->id);
    if (atomic_fetch_sub(&t->pending, 1) != 1) {
        t->suspended = true;
        int ok = ASYNC_pause_job();
        t->suspended = false;
        if (ok != 1 || t->aborting) {
            return r;
        }
    }
    return t->ocsp_res;
}

/* OCSP accepts the certificate (policy for unknown / unreachable). */
static bool ocsp_ok(const struct rmq_ocsp_client_settings *p, const struct rmq_ocspc_result *r)
{
    switch (r->state) {
    case RMQ_OCSPC_GOOD:
        return true;
    case RMQ_OCSPC_UNKNOWN:
        return p->unknown == RMQ_OCSPC_ALLOW;
    case RMQ_OCSPC_FAILED:
    case RMQ_OCSPC_MISS:
        return p->unreachable == RMQ_OCSPC_ALLOW;
    case RMQ_OCSPC_REVOKED:
    default:
        return false;
    }
}

static int reject_ocsp(struct tls_transport *t, X509_STORE_CTX *xs, X509 *cert,
                       const struct rmq_ocspc_result *r)
{
    char detail[96];
    snprintf(detail, sizeof detail, "ocsp_status=%s%s%s%s%s", rmq_ocspc_state_name(r->state),
             r->why != NULL ? " ocsp_error=" : "", r->why != NULL ? r->why : "",
             r->check != NULL ? " ocsp_check=" : "", r->check != NULL ? r->check : "");
    tls_log_reject(t->gen->l, cert, 0,
                   r->state == RMQ_OCSPC_UNKNOWN ? "ocsp_unknown" : "ocsp_unreachable", detail);
    tls_set_err(t, "client certificate: no acceptable OCSP answer (%s)",
                r->why != NULL ? r->why : rmq_ocspc_state_name(r->state));
    X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
    return 0;
}

/* Depth 0 with ocsp_client on: CRL (if checked) and OCSP combined. */
static int decide_leaf_ocsp(struct tls_transport *t, X509_STORE_CTX *xs, X509 *cert,
                            const struct rmq_cert_id *id)
{
    struct rmq_tls_listener *l = t->gen->l;
    int reason = -1;
    enum tls_verdict v = l->crl_check ? crl_verdict(t, cert, 0, id, &reason) : TLS_VERDICT_GOOD;
    if (t->aborting) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    char detail[48];
    if (v == TLS_VERDICT_REVOKED) {
        snprintf(detail, sizeof detail, "crl_reason=%d", reason);
        return reject_revoked(t, xs, cert, 0, detail);
    }
    if (!rmq_ocsp_client_applies(cert)) { /* no responder named: CRL only */
        return v == TLS_VERDICT_GOOD ? 1 : crl_no_crl(t, xs, cert, 0, id);
    }
    struct rmq_ocspc_result r = ocsp_answer(t, cert, chain_issuer(xs, cert, 0), id);
    if (t->aborting) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    if (r.state == RMQ_OCSPC_REVOKED) {
        snprintf(detail, sizeof detail, "source=ocsp ocsp_reason=%d", r.reason);
        return reject_revoked(t, xs, cert, 0, detail);
    }
    bool ook = ocsp_ok(l->ocspc, &r);
    bool accept = !l->crl_check                           ? ook
                  : l->ocspc->combine == RMQ_OCSPC_EITHER ? (ook || v == TLS_VERDICT_GOOD)
                                                          : (ook && v == TLS_VERDICT_GOOD);
    if (accept) {
        snprintf(detail, sizeof detail, "ocsp_status=%s crl=%s", rmq_ocspc_state_name(r.state),
                 !l->crl_check           ? "off"
                 : v == TLS_VERDICT_GOOD ? "good"
                                         : "no_crl");
        log_cert(true, l, cert, 0, "revocation_checked", detail);
        return 1;
    }
    return !ook ? reject_ocsp(t, xs, cert, &r) : crl_no_crl(t, xs, cert, 0, id);
}

static int decide(struct tls_transport *t, X509_STORE_CTX *xs, X509 *cert, int depth)
{
    struct rmq_tls_listener *l = t->gen->l;
    int reason = -1;
    struct rmq_cert_id id;
    if (rmq_crl_cert_id(cert, chain_issuer(xs, cert, depth), &id) != RMQ_OK) {
        return reject_no_crl(t, xs, cert, depth, "unusable_certificate_fields");
    }
    if (depth == 0) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
        session_keep_id(ssl, &id);
        if (l->ocsp != NULL) {
            return decide_leaf_ocsp(t, xs, cert, &id);
        }
    }
    enum tls_verdict v = crl_verdict(t, cert, depth, &id, &reason);
    if (t->aborting) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    switch (v) {
    case TLS_VERDICT_GOOD:
        return 1;
    case TLS_VERDICT_REVOKED: {
        char detail[32];
        snprintf(detail, sizeof detail, "crl_reason=%d", reason);
        return reject_revoked(t, xs, cert, depth, detail);
    }
    case TLS_VERDICT_NO_CRL:
    default:
        return crl_no_crl(t, xs, cert, depth, &id);
    }
}

bool tls_ocsp_session_revoked(struct rmq_tls_listener *l, const SSL_SESSION *sess, X509 *peer)
{
    struct rmq_cert_id id;
    if (l->ocsp == NULL || !tls_session_cert_id(sess, &id)) {
        return false;
    }
    struct rmq_ocspc_result r = rmq_ocsp_client_lookup(l->ocsp, &id);
    if (r.state != RMQ_OCSPC_REVOKED) {
        return false;
    }
    tls_log_reject(l, peer, 0, "revoked", "source=ocsp_cache resumption refused");
    return true;
}

/* True for the top certificate of the chain when it is self-issued (the
 * trust anchor: no CRL can cover it). */
static bool is_anchor(X509_STORE_CTX *xs, X509 *cert, int depth)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
    return chain != NULL && depth == sk_X509_num(chain) - 1 &&
           X509_check_issued(cert, cert) == X509_V_OK;
}

int tls_verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_transport *t = ssl != NULL ? SSL_get_ex_data(ssl, tls_ssl_ex_index()) : NULL;
    if (t == NULL) {
        return preverify_ok;
    }
    struct rmq_tls_listener *l = t->gen->l;
    int depth = X509_STORE_CTX_get_error_depth(xs);
    X509 *cert = X509_STORE_CTX_get_current_cert(xs);
    if (!preverify_ok) {
        int e = X509_STORE_CTX_get_error(xs);
        tls_log_reject(l, cert, depth, "verify_failed", X509_verify_cert_error_string(e));
        tls_set_err(t, "client certificate: %s (depth %d)", X509_verify_cert_error_string(e),
                    depth);
        return 0;
    }
    if ((!l->crl_check && l->ocsp == NULL) || cert == NULL) {
        return 1;
    }
    if (depth > 0 && (!l->crl_check || !l->crl_chain || is_anchor(xs, cert, depth))) {
        return 1;
    }
    return decide(t, xs, cert, depth);
}
