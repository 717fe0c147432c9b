/* tls_status.c — the operator's view of a TLS listener; see tls_status.h. */
#include "tls/tls_status.h"

#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "revocation/ocsp_stapler.h"
#include "tls/tls_int.h"

static struct tls_gen *current(struct rmq_tls_listener *l)
{
    pthread_mutex_lock(&l->lock);
    struct tls_gen *g = l->cur;
    if (g) {
        tls_gen_ref(g);
    }
    pthread_mutex_unlock(&l->lock);
    return g;
}

static void staple_status(struct rmq_ocsp_stapler *st, struct rmq_tls_status *out)
{
    struct rmq_ocsp_stapler_info in;
    rmq_ocsp_stapler_info(st, &in);
    out->stapling = true;
    snprintf(out->ocsp_responder, sizeof out->ocsp_responder, "%s", in.url ? in.url : "");
    out->staple_present = in.has_response;
    snprintf(out->staple_status, sizeof out->staple_status, "%s",
             in.has_response ? rmq_ocsp_status_name(in.status) : "none");
    out->staple_this_update = in.this_update;
    out->staple_next_update = in.next_update;
    out->staple_next_refresh_ms = in.next_refresh_ms;
    snprintf(out->staple_last_error, sizeof out->staple_last_error, "%s", in.last_error);
    struct rmq_ocsp_stats stats;
    rmq_ocsp_stapler_stats(st, &stats);
    out->staple_fetches = stats.fetches;
    out->staple_ok = stats.ok;
    out->staple_failed = stats.failed;
    out->staple_rejected = stats.rejected;
}

void rmq_tls_listener_status(struct rmq_tls_listener *l, struct rmq_tls_status *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->certfile, sizeof out->certfile, "%s",
             l->ls->ssl.certfile ? l->ls->ssl.certfile : "");
    struct tls_gen *g = current(l);
    if (!g) {
        return;
    }
    snprintf(out->cert_serial, sizeof out->cert_serial, "%s", g->cert_serial);
    snprintf(out->cert_fingerprint, sizeof out->cert_fingerprint, "%s", g->cert_fp);
    out->loaded_at = g->built_at;
    X509 *cert = SSL_CTX_get0_certificate(g->ctx);
    if (cert) {
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
            out->cert_not_after = timegm(&tm);
        }
        X509_NAME_oneline(X509_get_subject_name(cert), out->cert_subject,
                          (int)sizeof out->cert_subject);
    }
    if (g->stapler) {
        staple_status(g->stapler, out);
    }
    tls_gen_unref(g);
}

bool rmq_tls_listener_staple_refresh(struct rmq_tls_listener *l)
{
    struct tls_gen *g = current(l);
    bool have = g && g->stapler;
    if (have) {
        rmq_ocsp_stapler_refresh_now(g->stapler);
    }
    if (g) {
        tls_gen_unref(g);
    }
    return have;
}
