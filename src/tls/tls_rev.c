/*
 * tls_rev.c — the TLS layer's hooks into the CRL engine (revocation/crl.h):
 * the default struct tls_rev_ops. Kept apart so unit tests can swap in a fake
 * engine and the verify path does not depend on the engine's internals.
 */
#include <stddef.h>

#include "revocation/crl.h"
#include "revocation/revocation.h"
#include "tls/tls_int.h"

static void *rev_acquire(void *engine)
{
    return rmq_crl_engine_acquire(engine);
}

static void rev_release(void *snapshot)
{
    rmq_crl_snapshot_release(snapshot);
}

static enum tls_verdict rev_lookup(const void *snapshot, const struct rmq_cert_id *id, int *reason)
{
    switch (rmq_crl_snapshot_lookup(snapshot, id, reason)) {
    case RMQ_CRL_GOOD:
        return TLS_VERDICT_GOOD;
    case RMQ_CRL_REVOKED:
        return TLS_VERDICT_REVOKED;
    case RMQ_CRL_NO_CRL:
    default:
        return TLS_VERDICT_NO_CRL;
    }
}

static void rev_explain(const void *snapshot, const struct rmq_cert_id *id, char *buf, size_t n)
{
    rmq_crl_snapshot_explain(snapshot, id, buf, n);
}

static rmq_err rev_want_url(void *engine, const char *url, void (*done)(void *arg), void *arg)
{
    return rmq_crl_engine_want_url(engine, url, done, arg);
}

static void rev_want_cancel(void *engine, void *arg)
{
    rmq_crl_engine_want_cancel(engine, arg);
}

static const struct tls_rev_ops crl_ops = {
    .acquire = rev_acquire,
    .release = rev_release,
    .lookup = rev_lookup,
    .explain = rev_explain,
    .want_url = rev_want_url,
    .want_cancel = rev_want_cancel,
};

const struct tls_rev_ops *tls_rev_default_ops(struct rmq_revocation *rev, void **engine)
{
    *engine = NULL;
    if (rev == NULL || rev->crl == NULL) {
        return NULL;
    }
    *engine = rev->crl;
    return &crl_ops;
}

struct rmq_fetcher *tls_rev_fetcher(struct rmq_revocation *rev)
{
    return rev != NULL ? rev->fetcher : NULL;
}
