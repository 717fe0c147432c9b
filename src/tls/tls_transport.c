/*
 * tls_transport.c — the TLS transport (net/transport.h) over a non-blocking
 * socket: SSL_set_fd + SSL_do_handshake / SSL_read_ex / SSL_write_ex, mapped
 * to enum rmq_io, and the peer identity after the handshake.
 *
 * Threads: every op runs on the owning worker thread. The only other thread
 * that touches a transport is the CRL fetcher, through fetch_done() in
 * tls_verify.c (an atomic counter and transport->wake); free() cancels those
 * callbacks before anything is released.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/metrics.h"
#include "revocation/crl.h"
#include "tls/tls_int.h"

static struct tls_transport *tt(struct rmq_transport *t)
{
    return (struct tls_transport *)t;
}

/* The alert's name; OpenSSL 3.0 says "unknown" for the TLS 1.3 ones (RFC 8446 6). */
static const char *alert_name(int ret)
{
    switch (ret & 0xff) {
    case 109:
        return "missing extension";
    case 115:
        return "unknown PSK identity";
    case 116:
        return "certificate required";
    case 120:
        return "no application protocol";
    default:
        return SSL_alert_desc_string_long(ret);
    }
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_ALERT) == 0 || (ret & 0xff) == SSL_AD_CLOSE_NOTIFY) {
        return;
    }
    rmq_metrics_tls_alert((where & SSL_CB_WRITE) != 0, ret & 0xff);
    struct tls_transport *t = SSL_get_ex_data(ssl, tls_ssl_ex_index());
    if (t == NULL) {
        return;
    }
    char prev[TLS_ERR_LEN];
    snprintf(prev, sizeof prev, "%s", tls_err(t));
    /* the alert's number and name: "sent alert 44 (certificate revoked)" */
    tls_set_err(t, "%s alert %d (%s)%s%.100s", (where & SSL_CB_READ) ? "received" : "sent",
                ret & 0xff, alert_name(ret), prev[0] != '\0' ? ": " : "", prev);
}

/* The error queue's reason into t's error text; a missing client certificate is said
 * in words after the alert (TLS 1.3: 116 certificate required, 1.2: 40). */
static void tls_note_ssl_error(struct tls_transport *t)
{
    unsigned long ec = ERR_peek_error();
    if (ERR_GET_LIB(ec) == ERR_LIB_SSL &&
        ERR_GET_REASON(ec) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        char prev[TLS_ERR_LEN];
        snprintf(prev, sizeof prev, "%s", tls_err(t));
        tls_set_err(t,
                    "%s%sno client certificate (the client sent none; "
                    "this listener requires one: fail_if_no_peer_cert = true)",
                    prev, prev[0] != '\0' ? ": " : "");
        return;
    }
    if (tls_err(t)[0] == '\0') {
        const char *rs = ec != 0 ? ERR_reason_error_string(ec) : NULL;
        tls_set_err(t, "%s", rs != NULL ? rs : "TLS error");
    }
}

static enum rmq_io map_error(struct tls_transport *t, int r)
{
    int saved_errno = errno;
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return RMQ_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return RMQ_IO_WANT_WRITE;
    case SSL_ERROR_WANT_ASYNC:
    case SSL_ERROR_WANT_RETRY_VERIFY:
        return RMQ_IO_SUSPENDED;
    case SSL_ERROR_ZERO_RETURN:
        return RMQ_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && saved_errno == 0) {
            return RMQ_IO_EOF;
        }
        t->fatal = true;
        if (tls_err(t)[0] == '\0') {
            tls_set_err(t, "%s", strerror(saved_errno));
        }
        ERR_clear_error();
        return RMQ_IO_ERROR;
    case SSL_ERROR_SSL:
    default:
        t->fatal = true;
        tls_note_ssl_error(t);
        ERR_clear_error();
        return RMQ_IO_ERROR;
    }
}

/* Revocation verdict for a resumed session's stored peer certificate. */
static bool tls_resumed_ok(struct tls_transport *t)
{
    struct rmq_tls_listener *l = t->gen->l;
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (peer != NULL && l->ocsp != NULL &&
        tls_ocsp_session_revoked(l, SSL_get_session(t->ssl), peer)) {
        SSL_CTX_remove_session(SSL_get_SSL_CTX(t->ssl), SSL_get_session(t->ssl));
        t->fatal = true;
        tls_set_err(t, "resumed session: client certificate revoked (OCSP)");
        return false;
    }
    if (!l->crl_check || peer == NULL) {
        return true;
    }
    int reason = -1;
    struct rmq_cert_id id;
    enum tls_verdict v = tls_session_cert_id(SSL_get_session(t->ssl), &id)
                             ? tls_check_id(l, &id, &reason, NULL, 0)
                             : TLS_VERDICT_NO_CRL;
    if (v == TLS_VERDICT_GOOD) {
        return true;
    }
    /* Normally refused at lookup already (tls_sess.c); this covers a snapshot
     * published between the lookup and the end of the handshake. */
    tls_log_reject(l, peer, 0, v == TLS_VERDICT_REVOKED ? "revoked" : "no_crl", "resumed session");
    SSL_CTX_remove_session(SSL_get_SSL_CTX(t->ssl), SSL_get_session(t->ssl));
    t->fatal = true;
    tls_set_err(t, "resumed session: client certificate %s",
                v == TLS_VERDICT_REVOKED ? "revoked" : "not covered by a CRL");
    return false;
}

static enum rmq_io tls_handshake(struct rmq_transport *bt)
{
    struct tls_transport *t = tt(bt);
    if (t->suspended && atomic_load(&t->pending) > 0) {
        return RMQ_IO_SUSPENDED; /* spurious call while a fetch runs */
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        if (t->async) {
            SSL_clear_mode(t->ssl, SSL_MODE_ASYNC); /* reads/writes need no job */
            t->async = false;
        }
        if (SSL_session_reused(t->ssl) && !tls_resumed_ok(t)) {
            return RMQ_IO_ERROR;
        }
        return RMQ_IO_OK;
    }
    return map_error(t, r);
}

static enum rmq_io tls_read(struct rmq_transport *bt, uint8_t *buf, size_t len, size_t *n)
{
    struct tls_transport *t = tt(bt);
    *n = 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(t->ssl, buf, len, n) == 1) {
        return RMQ_IO_OK;
    }
    return map_error(t, 0);
}

static enum rmq_io tls_write(struct rmq_transport *bt, const uint8_t *buf, size_t len, size_t *n)
{
    struct tls_transport *t = tt(bt);
    *n = 0;
    if (len == 0) {
        return RMQ_IO_OK;
    }
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(t->ssl, buf, len, n) == 1) {
        return RMQ_IO_OK;
    }
    return map_error(t, 0);
}

/* Longest CN / issuer DN kept (bytes), as when they were fixed arrays. */
#define PEER_NAME_MAX 255

/* UTF-8 CN of the subject (owned), or NULL when absent, empty or holding a NUL. */
static char *subject_cn(X509 *x)
{
    X509_NAME *name = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0) {
        return NULL;
    }
    unsigned char *u = NULL;
    char *out = NULL;
    int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n > 0 && memchr(u, '\0', (size_t)n) == NULL) {
        out = strndup((const char *)u, (size_t)n < PEER_NAME_MAX ? (size_t)n : PEER_NAME_MAX);
    }
    OPENSSL_free(u);
    return out;
}

/* BIO contents as a new NUL-terminated string, or NULL. */
static char *bio_str(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n < 0) {
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s != NULL) {
        memcpy(s, p, (size_t)n);
        s[n] = '\0';
    }
    return s;
}

static char *name_rfc2253(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        s = bio_str(b);
    }
    BIO_free(b);
    return s;
}

/* The subjectAltName extension as OpenSSL prints it ("DNS:a, URI:b"), or
 * NULL when the certificate has none. Owned by the caller. */
static char *subject_alt_names(X509 *x)
{
    int i = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
    X509_EXTENSION *ext = i >= 0 ? X509_get_ext(x, i) : NULL;
    if (ext == NULL) {
        return NULL;
    }
    char *s = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b != NULL && X509V3_EXT_print(b, ext, 0, 0) == 1) {
        s = bio_str(b);
    }
    BIO_free(b);
    return s;
}

/* The verified chain's CAs above the leaf, self-issued anchor excluded. With
 * check = chain resumption is refused (tls_sess.c), so every connection has a
 * verified chain here. */
static void chain_refs(SSL *ssl, struct rmq_peer_info *out)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
    int n = chain != NULL ? sk_X509_num(chain) : 0;
    for (int i = 1; i < n && out->chain_len < RMQ_PEER_CHAIN_MAX; i++) {
        X509 *ca = sk_X509_value(chain, i);
        if (i == n - 1 && X509_check_issued(ca, ca) == X509_V_OK) {
            break; /* the trust anchor: no CRL revokes it */
        }
        X509 *up = i + 1 < n ? sk_X509_value(chain, i + 1) : ca;
        if (rmq_crl_cert_id(ca, up, &out->chain[out->chain_len]) == RMQ_OK) {
            out->chain_len++;
        }
    }
}

static void tls_peer_info(struct rmq_transport *bt, struct rmq_peer_info *out)
{
    struct tls_transport *t = tt(bt);
    memset(out, 0, sizeof *out);
    out->tls_version = SSL_version(t->ssl);
    out->resumed = SSL_session_reused(t->ssl) ? 1 : 0;
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    if (x == NULL) {
        return;
    }
    out->has_cert = 1;
    out->cn = subject_cn(x);
    out->dn = name_rfc2253(X509_get_subject_name(x));
    BIO *b = BIO_new(BIO_s_mem());
    if (b != NULL && PEM_write_bio_X509(b, x) == 1) {
        out->pem = bio_str(b);
    }
    BIO_free(b);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    if (X509_digest(x, EVP_md5(), md, &mdn) == 1 && mdn == 16) {
        tls_hex(md, 16, out->md5, false);
    }
    if (tls_cert_ids(x, out->issuer_hash, out->serial, &out->serial_len) == RMQ_OK) {
        /* signed, as in the certificate: "-1234" is not "1234" */
        bool neg = ASN1_STRING_type(X509_get0_serialNumber(x)) == V_ASN1_NEG_INTEGER;
        out->serial_hex[0] = '-';
        tls_hex(out->serial, neg && out->serial_len > 31 ? 31 : out->serial_len,
                out->serial_hex + (neg ? 1 : 0), true);
    }
    out->sans = subject_alt_names(x);
    out->issuer_dn = name_rfc2253(X509_get_issuer_name(x));
    if (out->issuer_dn != NULL && strlen(out->issuer_dn) > PEER_NAME_MAX) {
        out->issuer_dn[PEER_NAME_MAX] = '\0';
    }
    /* The leaf's revocation identity (issuer name AND key, scope), kept by
     * the verify callback on the session (full or resumed handshake). */
    out->has_id = tls_session_cert_id(SSL_get_session(t->ssl), &out->id) ? 1 : 0;
    if (!out->has_id) {
        /* A listener without CRL checking: the identity from the verified
         * chain (issuer name AND key), for session owners and for ending the
         * sessions of a certificate a CRL elsewhere revokes. */
        STACK_OF(X509) *vc = SSL_get0_verified_chain(t->ssl);
        if (vc != NULL && sk_X509_num(vc) >= 2 &&
            rmq_crl_cert_id(x, sk_X509_value(vc, 1), &out->id) == RMQ_OK) {
            out->has_id = 1;
        }
    }
    if (t->gen->l->crl_chain) {
        chain_refs(t->ssl, out);
    }
    ERR_clear_error();
}

static void tls_shutdown(struct rmq_transport *bt)
{
    struct tls_transport *t = tt(bt);
    if (!t->suspended && SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl); /* one non-blocking attempt: close_notify */
        ERR_clear_error();
    }
}

static void tls_free(struct rmq_transport *bt)
{
    struct tls_transport *t = tt(bt);
    if (t == NULL) {
        return;
    }
    struct rmq_tls_listener *l = t->gen->l;
    if (t->want_registered && l->revops != NULL && l->revops->want_cancel != NULL) {
        l->revops->want_cancel(l->reveng, t); /* no fetch_done() after this */
    }
    if (t->ocsp_registered) {
        rmq_ocsp_client_cancel(l->ocsp, t); /* no ocsp_done() after this */
    }
    if (t->suspended) {
        /* A paused ASYNC job holds OpenSSL state: resume it once to end it,
         * writing into memory BIOs, never to the (soon closed) socket. */
        t->aborting = true;
        BIO *rb = BIO_new(BIO_s_mem());
        BIO *wb = BIO_new(BIO_s_mem());
        if (rb != NULL && wb != NULL) {
            SSL_set_bio(t->ssl, rb, wb);
            (void)SSL_do_handshake(t->ssl);
        } else {
            BIO_free(rb);
            BIO_free(wb);
        }
        ERR_clear_error();
    }
    if (!t->fatal && !t->aborting && SSL_is_init_finished(t->ssl)) {
        /* MQTT clients usually close TCP without close_notify. Without this,
         * SSL_free would drop the session from the cache (RFC 5246's
         * truncation rule) and nobody could resume; TLS 1.3 dropped that rule
         * and MQTT frames its own data. Sessions of failed connections are
         * still dropped by OpenSSL. */
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(t->ssl);
    tls_gen_unref(t->gen);
    free(t->err);
    free(t);
}

void tls_set_err(struct tls_transport *t, const char *fmt, ...)
{
    if (t->err == NULL && (t->err = malloc(TLS_ERR_LEN)) == NULL) {
        return;
    }
    char buf[TLS_ERR_LEN]; /* fmt's arguments may be the current text */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(t->err, buf, sizeof buf);
}

const char *tls_err(const struct tls_transport *t)
{
    return t->err != NULL ? t->err : "";
}

static const char *tls_last_error(struct rmq_transport *bt)
{
    return tls_err(tt(bt));
}

static const struct rmq_transport_ops tls_ops = {
    .name = "ssl",
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .peer_info = tls_peer_info,
    .shutdown = tls_shutdown,
    .free = tls_free,
    .last_error = tls_last_error,
};

struct rmq_transport *tls_transport_new(void *arg, int fd)
{
    struct rmq_tls_listener *l = arg;
    struct tls_transport *t = calloc(1, sizeof *t);
    if (t == NULL) {
        RMQ_LOG_RL(1, RMQ_LOG_ERROR, "tls", "connection refused listener=%s reason=out_of_memory",
                   l->id);
        return NULL;
    }
    pthread_mutex_lock(&l->lock);
    t->gen = l->cur;
    tls_gen_ref(t->gen);
    pthread_mutex_unlock(&l->lock);
    t->ssl = SSL_new(t->gen->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1 ||
        SSL_set_ex_data(t->ssl, tls_ssl_ex_index(), t) != 1) {
        RMQ_LOG_RL(1, RMQ_LOG_ERROR, "tls", "connection refused listener=%s reason=ssl_new_failed",
                   l->id);
        SSL_free(t->ssl);
        tls_gen_unref(t->gen);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(t->ssl);
    SSL_set_info_callback(t->ssl, info_cb);
    if (((l->crl_check && l->discover) || l->ocsp != NULL) && l->async_capable) {
        SSL_set_mode(t->ssl, SSL_MODE_ASYNC);
        t->async = true;
    }
    atomic_init(&t->pending, 0);
    t->base.ops = &tls_ops;
    t->base.fd = fd;
    return &t->base;
}
