/*
 * status.h — read-only status of the revocation engine for operators (admin
 * API, metrics, dashboard): every CRL source with the CRLs it holds in force
 * and the result of its last refresh.
 *
 * What it is not: a way to change revocation state (refresh_now in crl.h and
 * revocation.h is the only action, and the admin calls it there).
 *
 * Threads: rmq_revocation_crl_status may be called from any thread except
 * the fetcher thread; it queues a copy job on the fetcher thread (which owns
 * the per-source state) and waits for it, at most 5 s (then RMQ_ERR_TIMEOUT).
 * The copy is the caller's (free with rmq_revocation_crl_status_free).
 */
#ifndef RMQ_REVOCATION_STATUS_H
#define RMQ_REVOCATION_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

struct rmq_revocation;
struct rmq_crl_engine;
struct rmq_crl_entry;

struct rmq_crl_status_crl {
    char issuer[256];     /* issuer DN */
    char issuer_hash[65]; /* SHA-256 of the issuer name DER, hex */
    char number[65];      /* CRL number, hex; "" without one */
    time_t this_update;
    time_t next_update;
    size_t entries;
    bool delta;
};

struct rmq_crl_source_status {
    char kind[16];        /* "url", "discovered", "file" */
    char location[512];   /* URL or path (truncated past 511 bytes) */
    time_t last_attempt;  /* 0: no result yet */
    char last_result[32]; /* "ok" or the failure reason (crl.h); "" before the first */
    uint64_t next_refresh_ms;
    bool in_flight;
    size_t ncrls;
    struct rmq_crl_status_crl *crls; /* owned, ncrls */
};

/* Every source of r's CRL engine (none when r has no CRL-checking
 * listener: *n = 0). RMQ_ERR_NOMEM, RMQ_ERR_TIMEOUT. On error nothing is
 * allocated. */
RMQ_MUST_USE rmq_err rmq_revocation_crl_status(struct rmq_revocation *r,
                                               struct rmq_crl_source_status **out, size_t *n);
void rmq_revocation_crl_status_free(struct rmq_crl_source_status *v, size_t n);

/* ---- used by crl_engine.c and status.c only ---- */
struct rmq_crl_source_view {
    const char *kind;
    const char *location;
    struct rmq_crl_entry *const *crls;
    size_t ncrls;
    time_t last_attempt;
    const char *last_result;
    uint64_t next_refresh_ms;
    bool in_flight;
};
/* Fetcher thread only: fn for every source, under the engine's lock. */
void rmq_crl_engine_each_source_ft(struct rmq_crl_engine *e,
                                   void (*fn)(const struct rmq_crl_source_view *v, void *arg),
                                   void *arg);

#endif
