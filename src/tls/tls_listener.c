/*
 * tls_listener.c — the public side of src/tls (tls.h): listener lifecycle,
 * the transport factory, and live reload by atomic generation swap.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/async.h>
#include <openssl/err.h>

#include "common/log.h"
#include "revocation/ocsp_client.h"
#include "tls/tls_int.h"

static const char *versions_str(unsigned v)
{
    switch (v & (RMQ_TLS_V12 | RMQ_TLS_V13)) {
    case RMQ_TLS_V12:
        return "tlsv1.2";
    case RMQ_TLS_V13:
        return "tlsv1.3";
    default:
        return "tlsv1.3,tlsv1.2";
    }
}

/* Fetcher thread: a refreshed OCSP answer says revoked. */
static void ocsp_revoked(const struct rmq_cert_id *id, void *arg)
{
    struct rmq_tls_listener *l = arg;
    if (l->on_ocsp_revoked != NULL) {
        l->on_ocsp_revoked(id, l->on_ocsp_revoked_arg);
    }
}

void rmq_tls_listener_on_ocsp_revoked(struct rmq_tls_listener *l,
                                      void (*fn)(const struct rmq_cert_id *id, void *arg),
                                      void *arg)
{
    l->on_ocsp_revoked_arg = arg;
    l->on_ocsp_revoked = fn;
}

/* ssl_options.ocsp_client: the per-listener OCSP client (needs the fetcher). */
static rmq_err ocsp_client_setup(struct rmq_tls_listener *l, char **errmsg)
{
    const struct rmq_ssl_options *o = &l->ls->ssl;
    l->ocspc = &o->ocsp_client;
    if (!o->ocsp_client.enable) {
        return RMQ_OK;
    }
    if (o->verify != RMQ_VERIFY_PEER) {
        if (errmsg != NULL) {
            *errmsg = tls_strdupf("listeners.ssl.%s.ssl_options.ocsp_client.enable: requires "
                                  "verify = verify_peer",
                                  l->name);
        }
        return RMQ_ERR_CONFIG;
    }
    struct rmq_fetcher *f = tls_rev_fetcher(l->rev);
    if (f == NULL) {
        if (errmsg != NULL) {
            *errmsg = tls_strdupf("listeners.ssl.%s.ssl_options.ocsp_client.enable: this "
                                  "broker has no revocation fetcher",
                                  l->name);
        }
        return RMQ_ERR_CONFIG;
    }
    struct rmq_ocsp_client_opts co = {.cache_size = (size_t)o->ocsp_client.cache_size,
                                      .timeout_ms = o->ocsp_client.timeout,
                                      .label = l->id,
                                      .on_revoked = ocsp_revoked,
                                      .on_revoked_arg = l};
    rmq_err r = rmq_ocsp_client_new(f, &co, &l->ocsp);
    if (r != RMQ_OK && errmsg != NULL) {
        *errmsg = tls_strdupf("listeners.ssl.%s.ssl_options.ocsp_client: %s", l->name,
                              rmq_err_message(r));
    }
    if (r == RMQ_OK && !l->async_capable) {
        rmq_warn("tls",
                 "OpenSSL ASYNC jobs unavailable: client-certificate OCSP answers not cached "
                 "count as unreachable listener=%s",
                 l->id);
    }
    if (r == RMQ_OK) {
        rmq_info("tls",
                 "client-certificate OCSP on listener=%s unknown=%s unreachable=%s "
                 "combine_with_crl=%s timeout_ms=%llu cache_size=%llu",
                 l->id, o->ocsp_client.unknown == RMQ_OCSPC_ALLOW ? "allow" : "reject",
                 o->ocsp_client.unreachable == RMQ_OCSPC_ALLOW ? "allow" : "reject",
                 o->ocsp_client.combine == RMQ_OCSPC_EITHER ? "either" : "both",
                 (unsigned long long)o->ocsp_client.timeout,
                 (unsigned long long)o->ocsp_client.cache_size);
    }
    return r;
}

rmq_err tls_listener_create(const struct rmq_listener_settings *ls, const struct rmq_settings *s,
                            struct rmq_revocation *rev, const struct tls_rev_ops *ops, void *engine,
                            struct rmq_tls_listener **out, char **errmsg)
{
    *out = NULL;
    if (errmsg != NULL) {
        *errmsg = NULL;
    }
    if (ls == NULL || s == NULL) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_tls_listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return RMQ_ERR_NOMEM;
    }
    l->ls = ls;
    l->s = s;
    l->rev = rev;
    l->revops = ops;
    l->reveng = engine;
    l->name = ls->name != NULL ? ls->name : "default";
    l->id = ls->id[0] != '\0' ? ls->id : l->name;
    l->crl_check = ls->ssl.enable_crl_check;
    l->crl_chain = s->crl_cache.check == RMQ_CRL_CHECK_CHAIN;
    l->discover = s->crl_cache.discover_from_cert;
    l->async_capable = ASYNC_is_capable() == 1;
    l->sess_budget = (size_t)ls->ssl.session_cache_memory;
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->reload_lock, NULL);
    rmq_err r = tls_gen_new(l, false, &l->cur, errmsg);
    if (r != RMQ_OK) {
        pthread_mutex_destroy(&l->lock);
        pthread_mutex_destroy(&l->reload_lock);
        free(l);
        return r;
    }
    const struct rmq_ssl_options *o = &ls->ssl;
    r = ocsp_client_setup(l, errmsg);
    if (r != RMQ_OK) {
        rmq_tls_listener_free(l);
        return r;
    }
    if (l->crl_check && l->discover && !l->async_capable) {
        rmq_warn("tls",
                 "OpenSSL ASYNC jobs unavailable: a handshake needing an unknown CRL "
                 "distribution point fails closed while the CRL is fetched listener=%s",
                 l->id);
    }
    rmq_info("tls",
             "listener ready listener=%s certfile=%s serial=%s versions=%s verify=%s "
             "fail_if_no_peer_cert=%s crl_check=%s ocsp_stapling=%s session_cache_memory=%zu",
             l->id, o->certfile, l->cur->cert_serial, versions_str(o->versions),
             o->verify == RMQ_VERIFY_PEER ? "verify_peer" : "verify_none",
             o->fail_if_no_peer_cert ? "true" : "false", l->crl_check ? "true" : "false",
             o->ocsp.enable_ocsp_stapling ? "true" : "false", l->sess_budget);
    *out = l;
    return RMQ_OK;
}

rmq_err rmq_tls_listener_new(const struct rmq_listener_settings *ls, const struct rmq_settings *s,
                             struct rmq_revocation *rev, struct rmq_tls_listener **out,
                             char **errmsg)
{
    void *engine = NULL;
    const struct tls_rev_ops *ops = tls_rev_default_ops(rev, &engine);
    return tls_listener_create(ls, s, rev, ops, engine, out, errmsg);
}

struct rmq_transport_factory rmq_tls_listener_factory(struct rmq_tls_listener *l)
{
    struct rmq_transport_factory f = {.new_transport = tls_transport_new, .arg = l};
    return f;
}

/* reload_lock held. */
static rmq_err do_reload(struct rmq_tls_listener *l)
{
    char *err = NULL;
    struct tls_gen *g = NULL;
    rmq_err r = tls_gen_new(l, true, &g, &err);
    if (r != RMQ_OK) {
        rmq_error("tls",
                  "reload failed, keeping the current context listener=%s serial=%s error=%s",
                  l->id, l->cur->cert_serial, err != NULL ? err : rmq_err_message(r));
        free(err);
        return r;
    }
    pthread_mutex_lock(&l->lock);
    struct tls_gen *old = l->cur;
    l->cur = g;
    pthread_mutex_unlock(&l->lock);
    rmq_notice("tls", "context reloaded listener=%s old_serial=%s serial=%s fingerprint=%s", l->id,
               old->cert_serial, g->cert_serial, g->cert_fp);
    tls_gen_unref(old); /* freed when the last handshake started on it ends */
    l->have_failed = false;
    return RMQ_OK;
}

rmq_err rmq_tls_listener_reload(struct rmq_tls_listener *l)
{
    pthread_mutex_lock(&l->reload_lock);
    rmq_err r = do_reload(l);
    pthread_mutex_unlock(&l->reload_lock);
    return r;
}

rmq_err rmq_tls_listener_check_reload(struct rmq_tls_listener *l, bool *reloaded)
{
    if (reloaded != NULL) {
        *reloaded = false;
    }
    struct tls_filestat now[TLS_FILE__COUNT];
    tls_stat_files(&l->ls->ssl, now);
    pthread_mutex_lock(&l->reload_lock);
    rmq_err r = RMQ_OK;
    /* cur only changes under reload_lock, which we hold. */
    bool same = tls_stats_equal(now, l->cur->files);
    bool failed_before = l->have_failed && tls_stats_equal(now, l->failed);
    if (!same && !failed_before) {
        r = do_reload(l);
        if (r == RMQ_OK) {
            if (reloaded != NULL) {
                *reloaded = true;
            }
        } else {
            memcpy(l->failed, now, sizeof l->failed);
            l->have_failed = true; /* retried when a file changes again */
        }
    }
    pthread_mutex_unlock(&l->reload_lock);
    return r;
}

uint64_t rmq_tls_listener_reload_interval(const struct rmq_tls_listener *l)
{
    return l->ls->ssl.reload_interval;
}

uint64_t rmq_tls_listener_handshake_timeout(const struct rmq_tls_listener *l)
{
    return l->ls->ssl.handshake_timeout;
}

void rmq_tls_listener_free(struct rmq_tls_listener *l)
{
    if (l == NULL) {
        return;
    }
    rmq_ocsp_client_free(l->ocsp);
    tls_gen_unref(l->cur);
    pthread_mutex_destroy(&l->lock);
    pthread_mutex_destroy(&l->reload_lock);
    free(l);
}
