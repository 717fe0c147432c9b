/*
 * admin_int.h — internals shared by the files of src/admin (not an API).
 *
 * admin.c    thread, evhttp, authentication, routing, replies, core calls
 * api_mqtt.c /clients, /subscriptions, /stats, /metrics (core jobs)
 * api_rev.c  /revmq/crl, /revmq/ocsp, /revmq/listeners, /revmq/status
 * prom.c     /prometheus/stats (Prometheus text format 0.0.4)
 * sys.c      $SYS/broker/... every sys_topics.sys_msg_interval
 * page.c     the dashboard page (/)
 * apikeys.c  API keys (admin.h)
 *
 * Threads: everything here runs on the admin thread, except the functions
 * named core_* which run on the core worker (through admin_core_call).
 */
#ifndef RMQ_ADMIN_INT_H
#define RMQ_ADMIN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "admin/admin.h"

struct evhttp_request;
struct event_base;
struct evhttp;
struct event;
struct rmq_mqtt;

struct rmq_admin {
    const struct rmq_settings *s;
    struct rmq_net *net;
    struct rmq_revocation *rev;
    struct rmq_tls_listener **tls;
    struct rmq_apikeys *keys;
    struct event_base *base;
    struct evhttp *http;
    struct event *sys_timer;
    struct event *stop_ev; /* activated by rmq_admin_free from another thread */
    pthread_t thread;
    bool thread_started;
    uint16_t port;
    time_t started_at;
};

/* A query run on the core worker. `fn` fills `out` (owned by the call) and
 * sets `status` (HTTP status; 200 unless fn says otherwise). */
struct core_call {
    void (*fn)(struct rmq_mqtt *b, struct core_call *c);
    /* inputs */
    char *id;   /* client id (owned), or NULL */
    json_t *in; /* query parameters (owned), or NULL */
    const struct rmq_settings *s;
    /* outputs */
    json_t *out;
    char *text; /* for $SYS / prometheus helpers (owned) */
    int status;
};

/* Runs c->fn on the core worker and waits at most 5 s. true: c holds the
 * answer. false (timeout, shutdown): the call was handed over and will be
 * freed by whoever finishes last; c must not be touched. On true the
 * caller frees c with core_call_free. */
bool admin_core_call(struct rmq_admin *a, struct core_call *c);
struct core_call *core_call_new(void (*fn)(struct rmq_mqtt *b, struct core_call *c),
                                const struct rmq_settings *s);
void core_call_free(struct core_call *c);

/* Replies (admin.c). json is consumed. */
void admin_reply_json(struct evhttp_request *req, int status, json_t *json);
void admin_reply_error(struct evhttp_request *req, int status, const char *code,
                       const char *message);
void admin_reply_text(struct evhttp_request *req, int status, const char *ctype, const char *body,
                      size_t len);
/* A query parameter (decoded, owned by the caller) or NULL. */
char *admin_query_param(struct evhttp_request *req, const char *name);

/* api_mqtt.c */
void api_clients(struct rmq_admin *a, struct evhttp_request *req);
void api_client_one(struct rmq_admin *a, struct evhttp_request *req, const char *id, bool del);
void api_subscriptions(struct rmq_admin *a, struct evhttp_request *req);
void api_stats(struct rmq_admin *a, struct evhttp_request *req);
void api_metrics(struct rmq_admin *a, struct evhttp_request *req);
/* Core counts + per-listener connection counts (for prom/sys/metrics);
 * NULL on timeout. Owned by the caller. */
json_t *admin_core_snapshot(struct rmq_admin *a);

/* api_rev.c */
void api_crl(struct rmq_admin *a, struct evhttp_request *req, bool refresh);
void api_ocsp(struct rmq_admin *a, struct evhttp_request *req, bool refresh);
void api_listeners(struct rmq_admin *a, struct evhttp_request *req);
void api_status(struct rmq_admin *a, struct evhttp_request *req);

/* prom.c */
void api_prometheus(struct rmq_admin *a, struct evhttp_request *req);

/* sys.c */
rmq_err admin_sys_start(struct rmq_admin *a);

/* page.c */
void api_page(struct rmq_admin *a, struct evhttp_request *req);

#endif
