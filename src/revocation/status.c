/* status.c — copies of the CRL engine's per-source state; see status.h. */
#include "revocation/status.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revocation/crl_int.h"
#include "revocation/revocation.h"

/* Shared by the waiting caller and the fetcher-thread copy: the last of the
 * two to let go frees it (the caller may time out first). */
struct status_job {
    atomic_int refs;
    pthread_mutex_t mu; /* protects done */
    pthread_cond_t cv;
    bool done;
    struct rmq_crl_engine *e;
    struct rmq_crl_source_status *v;
    size_t n, cap;
    bool oom;
};

static void job_unref(struct status_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        rmq_revocation_crl_status_free(j->v, j->n);
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
    }
}

static void hex(const uint8_t *p, size_t n, char *out, size_t outsz)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 < outsz; i++, k += 2) {
        snprintf(out + k, 3, "%02x", p[i]);
    }
    out[k] = '\0';
}

static void copy_source(const struct rmq_crl_source_view *sv, void *arg)
{
    struct status_job *j = arg;
    if (j->oom) {
        return;
    }
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 8;
        struct rmq_crl_source_status *nv = realloc(j->v, cap * sizeof *nv);
        if (!nv) {
            j->oom = true;
            return;
        }
        j->v = nv;
        j->cap = cap;
    }
    struct rmq_crl_source_status *d = &j->v[j->n];
    memset(d, 0, sizeof *d);
    d->crls = calloc(sv->ncrls ? sv->ncrls : 1, sizeof *d->crls);
    if (!d->crls) {
        j->oom = true;
        return;
    }
    j->n++;
    snprintf(d->kind, sizeof d->kind, "%s", sv->kind);
    snprintf(d->location, sizeof d->location, "%s", sv->location);
    snprintf(d->last_result, sizeof d->last_result, "%s", sv->last_result);
    d->last_attempt = sv->last_attempt;
    d->next_refresh_ms = sv->next_refresh_ms;
    d->in_flight = sv->in_flight;
    d->ncrls = sv->ncrls;
    for (size_t i = 0; i < sv->ncrls; i++) {
        const struct rmq_crl_entry *c = sv->crls[i];
        struct rmq_crl_status_crl *o = &d->crls[i];
        snprintf(o->issuer, sizeof o->issuer, "%s", c->issuer_dn);
        hex(c->issuer_hash, sizeof c->issuer_hash, o->issuer_hash, sizeof o->issuer_hash);
        if (c->has_number) {
            hex(c->number, c->number_len, o->number, sizeof o->number);
        }
        o->this_update = c->this_update;
        o->next_update = c->next_update;
        o->entries = rmq_crl_index_count(c->index);
        o->delta = c->is_delta;
    }
}

static void on_fetcher(void *arg)
{
    struct status_job *j = arg;
    rmq_crl_engine_each_source_ft(j->e, copy_source, j);
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
}

rmq_err rmq_revocation_crl_status(struct rmq_revocation *r, struct rmq_crl_source_status **out,
                                  size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!r || !r->crl_enabled || !r->crl) {
        return RMQ_OK;
    }
    struct status_job *j = calloc(1, sizeof *j);
    if (!j) {
        return RMQ_ERR_NOMEM;
    }
    atomic_init(&j->refs, 2);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->e = r->crl;
    if (rmq_fetcher_run_on(r->fetcher, on_fetcher, j) != RMQ_OK) {
        atomic_store(&j->refs, 1);
        job_unref(j);
        return RMQ_ERR_NOMEM;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    while (!j->done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&j->cv, &j->mu, &dl);
    }
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    rmq_err err = !done ? RMQ_ERR_TIMEOUT : j->oom ? RMQ_ERR_NOMEM : RMQ_OK;
    if (err == RMQ_OK) {
        *out = j->v;
        *n = j->n;
        j->v = NULL;
        j->n = 0;
    }
    job_unref(j);
    return err;
}

void rmq_revocation_crl_status_free(struct rmq_crl_source_status *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].crls);
    }
    free(v);
}
