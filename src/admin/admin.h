/*
 * admin.h — operating revmq: the admin HTTP listener (EMQX 5 REST paths under
 * /api/v5, revmq's revocation views under /api/v5/revmq, Prometheus text on
 * /api/v5/prometheus/stats, the dashboard page on /) and the periodic
 * $SYS/broker/... messages.
 *
 * Access: every request needs an API key from api_key.bootstrap_file, sent
 * as HTTP basic auth (key:secret), compared in constant time; else 401.
 * Role `viewer` may only GET (else 403). Without any key the HTTP listener
 * is not started (a listener that can only say 401 is not worth a port);
 * a line says so.
 *
 * Threads (the contract): the admin runs its OWN thread with its own
 * libevent base (evhttp and the $SYS timer). It never touches MQTT state
 * itself: what lives in the MQTT core (clients, subscriptions, stats, kick,
 * $SYS publish) is done by a job queued to the core worker
 * (rmq_net_run_on_core); the admin thread waits for the job's answer (at
 * most 5 s: then 503) and replies. The MQTT core never waits for the admin.
 * Revocation and TLS state are read through their thread-safe accessors
 * (revocation/status.h, tls/tls_status.h, revocation/ocsp_stapler.h).
 *
 * Life: rmq_admin_new after the listeners are bound (it reads their ports),
 * before or after rmq_net_start; rmq_admin_free BEFORE rmq_net_free (the
 * core worker must still run to answer queued jobs) and before the TLS
 * listeners and the revocation engine are freed. Everything in deps is
 * borrowed until rmq_admin_free.
 */
#ifndef RMQ_ADMIN_H
#define RMQ_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "config/settings.h"

struct rmq_net;
struct rmq_revocation;
struct rmq_tls_listener;
struct rmq_admin;

struct rmq_admin_deps {
    const struct rmq_settings *s;
    struct rmq_net *net;
    struct rmq_revocation *rev; /* may be NULL */
    struct rmq_tls_listener *
        *tls; /* per listener slot of s->listeners, NULL for TCP; may be NULL */
};

/* Loads the API keys, binds the HTTP listener (when enabled and keys
 * exist) and starts the admin thread. On failure *out is NULL, nothing
 * leaks and *errmsg (owned) names the key and the problem, e.g.
 * "api_key.bootstrap_file: /x/keys:3: expected key:secret[:role]" or
 * "dashboard.listeners.http.bind: 127.0.0.1:18083: Address already in use". */
RMQ_MUST_USE rmq_err rmq_admin_new(const struct rmq_admin_deps *deps, struct rmq_admin **out,
                                   char **errmsg);

/* Stops the thread and frees everything. NULL: no-op. */
void rmq_admin_free(struct rmq_admin *a);

/* ---- API keys (apikeys.c), exposed for unit tests ---- */
enum rmq_admin_role { RMQ_ROLE_NONE, RMQ_ROLE_VIEWER, RMQ_ROLE_ADMIN };
struct rmq_apikeys;

/* Parses a bootstrap file's text: lines `key:secret[:role]`, blank lines and
 * `#` comments skipped; role administrator (default) or viewer. Key 1..64
 * bytes of [A-Za-z0-9_.-], secret 1..256 bytes without ':' or control
 * characters. On error *errmsg (owned) is "<name>:<line>: <problem>". */
RMQ_MUST_USE rmq_err rmq_apikeys_parse(const char *name, const char *text, size_t len,
                                       struct rmq_apikeys **out, char **errmsg);
size_t rmq_apikeys_count(const struct rmq_apikeys *k);
/* The role of an `Authorization` header value ("Basic base64(key:secret)");
 * RMQ_ROLE_NONE when absent, malformed or not matching. Every stored key is
 * compared, each in constant time. */
enum rmq_admin_role rmq_apikeys_check(const struct rmq_apikeys *k, const char *authorization);
void rmq_apikeys_free(struct rmq_apikeys *k);
/* Key i (borrowed strings); false when out of range. */
bool rmq_apikeys_get(const struct rmq_apikeys *k, size_t i, const char **key, const char **secret,
                     enum rmq_admin_role *role);

/* ---- `revmq ctl` (ctl.c): the command line over the admin API ---- */

/* argv[0] is "ctl". Reads the configuration (-c FILE, then the environment
 * envp) for dashboard.listeners.http.bind and api_key.bootstrap_file (the
 * first administrator key is used unless --key/--secret or RMQ_API_KEY /
 * RMQ_API_SECRET say otherwise), calls the API with libcurl and prints
 * the answer. Returns the exit code: 0 done, 1 the API refused or failed,
 * 2 usage, 3 cannot reach the admin listener. */
int rmq_admin_ctl(int argc, char **argv, char *const *envp);

/* revmq.conf(5) in roff, generated from the configuration schema
 * (`revmq --gen-man5`; make install writes it). */
void rmq_admin_write_conf_man(FILE *f);

#endif
