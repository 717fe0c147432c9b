/* revocation.c — the broker-wide fetcher + CRL engine; see revocation.h. */
#include "revocation/revocation.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "net/transport.h"

static rmq_err fail(char **errmsg, rmq_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static rmq_err fail(char **errmsg, rmq_err e, const char *fmt, ...)
{
    if (errmsg) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(errmsg, fmt, ap) < 0) {
            *errmsg = NULL;
        }
        va_end(ap);
    }
    return e;
}

static rmq_err add_listener(struct rmq_crl_engine *crl, const struct rmq_listener_settings *l,
                            char **errmsg)
{
    const struct rmq_ssl_options *o = &l->ssl;
    const char *n = l->name ? l->name : "?";
    if (o->verify != RMQ_VERIFY_PEER) {
        return fail(errmsg, RMQ_ERR_CONFIG,
                    "listeners.ssl.%s.ssl_options.enable_crl_check: requires verify = verify_peer",
                    n);
    }
    if (!o->cacertfile) {
        return fail(errmsg, RMQ_ERR_CONFIG,
                    "listeners.ssl.%s.ssl_options.cacertfile: required with enable_crl_check", n);
    }
    rmq_err e = rmq_crl_engine_add_ca_file(crl, o->cacertfile);
    if (e != RMQ_OK) {
        return fail(errmsg, e == RMQ_ERR_NOMEM ? e : RMQ_ERR_CONFIG,
                    "listeners.ssl.%s.ssl_options.cacertfile: %s: %s", n, o->cacertfile,
                    e == RMQ_ERR_MALFORMED ? "no certificate in it" : rmq_err_message(e));
    }
    for (size_t i = 0; i < o->crl_cache_urls.count; i++) {
        e = rmq_crl_engine_add_url(crl, o->crl_cache_urls.items[i]);
        if (e != RMQ_OK) {
            return fail(errmsg, e == RMQ_ERR_NOMEM ? e : RMQ_ERR_CONFIG,
                        "listeners.ssl.%s.ssl_options.crl_cache_urls: %s: not an http(s) URL", n,
                        o->crl_cache_urls.items[i]);
        }
    }
    for (size_t i = 0; i < o->crlfile.count; i++) {
        e = rmq_crl_engine_add_file(crl, o->crlfile.items[i]);
        if (e != RMQ_OK) {
            return fail(errmsg, e, "listeners.ssl.%s.ssl_options.crlfile: %s: %s", n,
                        o->crlfile.items[i], rmq_err_message(e));
        }
    }
    return RMQ_OK;
}

rmq_err rmq_revocation_new(const struct rmq_settings *s, struct rmq_revocation **out, char **errmsg)
{
    *out = NULL;
    if (errmsg) {
        *errmsg = NULL;
    }
    struct rmq_revocation *r = calloc(1, sizeof *r);
    if (!r) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err e = rmq_fetcher_new(&r->fetcher);
    if (e != RMQ_OK) {
        free(r);
        return fail(errmsg, e, "revocation: cannot start the fetcher thread: %s",
                    rmq_err_message(e));
    }
    r->crl = rmq_crl_engine_new(r->fetcher, &s->crl_cache, s->node_data_dir);
    if (!r->crl) {
        rmq_revocation_free(r);
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct rmq_listener_settings *l = &s->listeners[i];
        if (!l->is_ssl || !l->enable || !l->ssl.enable_crl_check) {
            continue;
        }
        r->crl_enabled = true;
        e = add_listener(r->crl, l, errmsg);
        if (e != RMQ_OK) {
            rmq_revocation_free(r);
            return e;
        }
    }
    *out = r;
    return RMQ_OK;
}

rmq_err rmq_revocation_start(struct rmq_revocation *r)
{
    if (!r || !r->crl_enabled) {
        return RMQ_OK;
    }
    return rmq_crl_engine_start(r->crl);
}

void rmq_revocation_refresh_now(struct rmq_revocation *r)
{
    if (r && r->crl_enabled) {
        rmq_crl_engine_refresh_now(r->crl);
    }
}

void rmq_revocation_free(struct rmq_revocation *r)
{
    if (!r) {
        return;
    }
    rmq_crl_engine_free(r->crl);
    rmq_fetcher_free(r->fetcher);
    free(r);
}

bool rmq_revocation_peer_revoked(const struct rmq_peer_info *p, void *snapshot)
{
    const struct rmq_crl_snapshot *s = snapshot;
    if (p->has_id && rmq_crl_snapshot_lookup(s, &p->id, NULL) == RMQ_CRL_REVOKED) {
        return true;
    }
    for (size_t i = 0; i < p->chain_len; i++) {
        if (rmq_crl_snapshot_lookup(s, &p->chain[i], NULL) == RMQ_CRL_REVOKED) {
            return true;
        }
    }
    return false;
}

bool rmq_revocation_peer_is(const struct rmq_peer_info *p, void *id)
{
    const struct rmq_cert_id *a = &p->id;
    const struct rmq_cert_id *b = id;
    return p->has_id && a->serial_len == b->serial_len &&
           a->serial_negative == b->serial_negative &&
           memcmp(a->serial, b->serial, a->serial_len) == 0 &&
           memcmp(a->issuer_hash, b->issuer_hash, sizeof a->issuer_hash) == 0 &&
           memcmp(a->issuer_key, b->issuer_key, sizeof a->issuer_key) == 0;
}
