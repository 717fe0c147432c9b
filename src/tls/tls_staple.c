/*
 * tls_staple.c — OCSP stapling of the listener's own certificate.
 *
 * One stapler (revocation/ocsp_stapler.h) per generation, i.e. per server
 * certificate: a reload with a new certificate makes a new stapler for it
 * (keyed by its fingerprint), and the old generation's stapler, with the old
 * certificate's response, is only reachable from handshakes that started on
 * the old context. The status callback hands OpenSSL a copy of the current
 * verified, unexpired response; it runs only when the client sent
 * status_request, for TLS 1.2 (CertificateStatus) and TLS 1.3 (Certificate
 * extension) alike, with or without SNI.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "common/log.h"
#include "revocation/ocsp_stapler.h"
#include "tls/tls_int.h"

static int status_cb(SSL *ssl, void *arg)
{
    struct tls_gen *g = arg;
    unsigned char *der = NULL;
    size_t len = 0;
    if (g == NULL || g->stapler == NULL || rmq_ocsp_stapler_get(g->stapler, &der, &len) != RMQ_OK) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (len > (size_t)RMQ_OCSP_MAX_RESPONSE ||
        SSL_set_tlsext_status_ocsp_resp(ssl, der, (long)len) != 1) {
        OPENSSL_free(der);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK; /* OpenSSL owns der now */
}

static rmq_err fail(struct tls_gen *g, char **errmsg, const char *key, const char *what)
{
    if (errmsg != NULL && *errmsg == NULL) {
        *errmsg = tls_strdupf("listeners.ssl.%s.ssl_options.%s: %s", g->l->name, key, what);
    }
    return RMQ_ERR_CONFIG;
}

rmq_err tls_staple_setup(struct tls_gen *g, X509 *leaf, STACK_OF(X509) * chain, bool reload,
                         char **errmsg)
{
    const struct rmq_ssl_options *o = &g->l->ls->ssl;
    const struct rmq_ocsp_settings *oc = &o->ocsp;
    if (!oc->enable_ocsp_stapling) {
        return RMQ_OK;
    }
    struct rmq_fetcher *f = tls_rev_fetcher(g->l->rev);
    if (f == NULL) {
        return fail(g, errmsg, "ocsp.enable_ocsp_stapling",
                    "true, but the revocation engine (fetcher) is not running");
    }
    X509 *issuer = NULL;
    rmq_err r;
    if (oc->issuer_pem != NULL && oc->issuer_pem[0] != '\0') {
        r = rmq_ocsp_find_issuer(leaf, NULL, oc->issuer_pem, &issuer);
        if (r != RMQ_OK) {
            char *m = tls_strdupf("%s: %s", oc->issuer_pem,
                                  r == RMQ_ERR_IO ? "cannot read the file"
                                                  : "no certificate in it issued certfile");
            r = fail(g, errmsg, "ocsp.issuer_pem", m != NULL ? m : "issuer not found");
            free(m);
            return r;
        }
    } else {
        r = rmq_ocsp_find_issuer(leaf, chain, o->cacertfile, &issuer);
        if (r != RMQ_OK) {
            return fail(g, errmsg, "ocsp.issuer_pem",
                        "not set, and the issuer of certfile is neither in the certfile chain "
                        "nor in cacertfile");
        }
    }
    char *aia = NULL;
    if (oc->responder_url == NULL || oc->responder_url[0] == '\0') {
        if (rmq_ocsp_responder_from_cert(leaf, &aia) != RMQ_OK) {
            X509_free(issuer);
            return fail(g, errmsg, "ocsp.responder_url",
                        "not set, and certfile has no OCSP URI in its Authority Information "
                        "Access");
        }
    }
    g->stapler = rmq_ocsp_stapler_new(f, leaf, issuer, oc, aia, g->l->s->node_data_dir);
    X509_free(issuer);
    free(aia);
    if (g->stapler == NULL) {
        return fail(g, errmsg, "ocsp", "cannot create the OCSP stapler");
    }
    if (rmq_ocsp_stapler_set_label(g->stapler, g->l->id) != RMQ_OK) {
        return RMQ_ERR_NOMEM;
    }
    r = reload ? rmq_ocsp_stapler_start_nowait(g->stapler) : rmq_ocsp_stapler_start(g->stapler);
    if (r != RMQ_OK) {
        return fail(g, errmsg, "ocsp", "cannot start the OCSP stapler");
    }
    SSL_CTX_set_tlsext_status_cb(g->ctx, status_cb);
    SSL_CTX_set_tlsext_status_arg(g->ctx, g);
    return RMQ_OK;
}
