/*
 * tls_status.h — what an operator sees of a TLS listener (admin API,
 * metrics): its certificate, when it was loaded, and its OCSP staple.
 *
 * What it is not: control over the listener (reload is tls.h's), except the
 * staple "refresh now", which is the stapler's own thread-safe action.
 *
 * Threads: any thread (takes a reference on the current generation under
 * the listener's lock, reads, lets go).
 */
#ifndef RMQ_TLS_STATUS_H
#define RMQ_TLS_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct rmq_tls_listener;

struct rmq_tls_status {
    char certfile[512];
    char cert_serial[65];      /* hex */
    char cert_fingerprint[65]; /* SHA-256, hex */
    char cert_subject[256];
    time_t cert_not_after;
    time_t loaded_at; /* start or last successful reload */
    bool stapling;    /* an OCSP stapler exists for the current certificate */
    /* staple (when stapling) */
    char ocsp_responder[512];
    bool staple_present;    /* a verified response is held */
    char staple_status[16]; /* "good", "revoked", "unknown", "none" */
    time_t staple_this_update;
    time_t staple_next_update;
    uint64_t staple_next_refresh_ms;
    char staple_last_error[96];
    uint64_t staple_fetches, staple_ok, staple_failed, staple_rejected;
};

void rmq_tls_listener_status(struct rmq_tls_listener *l, struct rmq_tls_status *out);

/* Fetches the listener's OCSP response now; false when it has no stapler. */
bool rmq_tls_listener_staple_refresh(struct rmq_tls_listener *l);

#endif
