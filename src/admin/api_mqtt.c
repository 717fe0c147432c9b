/* api_mqtt.c — EMQX 5 REST views of the MQTT core: /clients, /subscriptions,
 * /stats, /metrics. The core_* functions run on the core worker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "admin/admin_int.h"
#include "common/metrics.h"
#include "mqtt/introspect.h"
#include "net/transport.h"

#define PAGE_LIMIT_MAX 10000

/* "1.2.3.4:5678" or "[::1]:5678" -> ip (without brackets) and port. */
static void split_addr(const char *addr, char *ip, size_t ipsz, long *port)
{
    ip[0] = '\0';
    *port = 0;
    if (!addr) {
        return;
    }
    const char *c = strrchr(addr, ':');
    size_t n = c ? (size_t)(c - addr) : strlen(addr);
    const char *s = addr;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    snprintf(ip, ipsz, "%.*s", (int)n, s);
    *port = c ? strtol(c + 1, NULL, 10) : 0;
}

/* "cert:<subject>", "user:<username>" or "anonymous": who owns the session. */
static void principal_of(const struct rmq_client_view *v, char *out, size_t outlen)
{
    const struct rmq_principal *p = v->owner;
    if (p != NULL && p->kind == RMQ_PRINCIPAL_CERT) {
        const char *dn = rmq_principal_subject(p);
        snprintf(out, outlen, "cert:%s", dn != NULL ? dn : "");
    } else if (p != NULL && p->kind == RMQ_PRINCIPAL_USER) {
        snprintf(out, outlen, "user:%s", p->username ? p->username : "");
    } else {
        snprintf(out, outlen, "anonymous");
    }
}

static json_t *client_json(const struct rmq_client_view *v, const char *node, bool details)
{
    char ip[128];
    long port;
    split_addr(v->addr, ip, sizeof ip, &port);
    json_t *o = json_pack(
        "{s:s,s:s?,s:s,s:i,s:b,s:i,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "clientid", v->client_id,
        "username", v->username, "ip_address", ip, "port", (json_int_t)port, "connected",
        v->connected, "proto_ver", (json_int_t)v->proto_ver, "proto_name", "MQTT", "keepalive",
        (json_int_t)v->keepalive, "listener", v->listener ? v->listener : "", "expiry_interval",
        (json_int_t)(v->expiry_interval == UINT32_MAX ? -1 : (json_int_t)v->expiry_interval),
        "subscriptions_cnt", (json_int_t)v->subscriptions, "inflight_cnt", (json_int_t)v->inflight,
        "mqueue_len", (json_int_t)v->queued, "mqueue_dropped", (json_int_t)v->dropped, "node",
        node);
    if (!o) {
        return NULL;
    }
    char who[600];
    principal_of(v, who, sizeof who);
    json_object_set_new(o, "principal", json_string(who));
    if (details && v->peer && v->peer->has_cert) {
        const struct rmq_peer_info *p = v->peer;
        json_object_set_new(
            o, "peercert",
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "subject", p->dn ? p->dn : "", "cn",
                      p->cn ? p->cn : "", "sans", p->sans ? p->sans : "", "issuer",
                      p->issuer_dn ? p->issuer_dn : "", "serial", p->serial_hex, "tls_version",
                      p->tls_version == 0x0304   ? "tlsv1.3"
                      : p->tls_version == 0x0303 ? "tlsv1.2"
                                                 : "",
                      "resumed", (int)p->resumed));
    }
    return o;
}

static bool str_eq_param(json_t *in, const char *k, const char *v)
{
    const char *want = json_string_value(json_object_get(in, k));
    return !want || (v && strcmp(want, v) == 0);
}

struct list_ctx {
    struct core_call *c;
    json_t *data;
    size_t skip, limit, count;
};

static bool client_matches(json_t *in, const struct rmq_client_view *v)
{
    char ip[128];
    long port;
    split_addr(v->addr, ip, sizeof ip, &port);
    const char *like = json_string_value(json_object_get(in, "like_clientid"));
    const char *st = json_string_value(json_object_get(in, "conn_state"));
    return str_eq_param(in, "clientid", v->client_id) &&
           str_eq_param(in, "username", v->username) &&
           str_eq_param(in, "ip_address", v->addr ? ip : NULL) &&
           (!like || strstr(v->client_id, like)) &&
           (!st || (strcmp(st, "connected") == 0) == v->connected);
}

static bool each_client(const struct rmq_client_view *v, void *arg)
{
    struct list_ctx *l = arg;
    if (!client_matches(l->c->in, v)) {
        return true;
    }
    if (l->count >= l->skip && l->count < l->skip + l->limit) {
        json_array_append_new(l->data, client_json(v, l->c->s->node_name, false));
    }
    l->count++;
    return true;
}

static json_t *paged(json_t *data, size_t page, size_t limit, size_t count)
{
    return json_pack("{s:o,s:{s:I,s:I,s:I,s:b}}", "data", data, "meta", "page", (json_int_t)page,
                     "limit", (json_int_t)limit, "count", (json_int_t)count, "hasnext",
                     page * limit < count);
}

static void core_clients(struct rmq_mqtt *b, struct core_call *c)
{
    size_t page = (size_t)json_integer_value(json_object_get(c->in, "page"));
    size_t limit = (size_t)json_integer_value(json_object_get(c->in, "limit"));
    struct list_ctx l = {.c = c, .data = json_array(), .skip = (page - 1) * limit, .limit = limit};
    rmq_mqtt_each_client(b, each_client, &l);
    c->out = paged(l.data, page, limit, l.count);
}

/* page/limit as EMQX: page >= 1 (default 1), limit 1..10000 (default 100).
 * false: replied 400. */
static bool paging(struct evhttp_request *req, json_t *in)
{
    const char *names[2] = {"page", "limit"};
    long defs[2] = {1, 100}, maxs[2] = {1000000, PAGE_LIMIT_MAX};
    for (int i = 0; i < 2; i++) {
        char *v = admin_query_param(req, names[i]);
        long n = defs[i];
        if (v) {
            char *end;
            n = strtol(v, &end, 10);
            bool bad = *v == '\0' || *end != '\0' || n < 1 || n > maxs[i];
            free(v);
            if (bad) {
                char msg[96];
                snprintf(msg, sizeof msg, "%s must be an integer 1..%ld", names[i], maxs[i]);
                admin_reply_error(req, 400, "BAD_REQUEST", msg);
                return false;
            }
        }
        json_object_set_new(in, names[i], json_integer(n));
    }
    return true;
}

static void run_and_reply(struct rmq_admin *a, struct evhttp_request *req, struct core_call *c)
{
    if (!admin_core_call(a, c)) {
        admin_reply_error(req, 503, "SERVICE_UNAVAILABLE", "the MQTT core did not answer");
        return;
    }
    if (c->status == 204) {
        admin_reply_text(req, 204, "application/json", NULL, 0);
    } else {
        admin_reply_json(req, c->status, json_incref(c->out));
    }
    core_call_free(c);
}

void api_clients(struct rmq_admin *a, struct evhttp_request *req)
{
    struct core_call *c = core_call_new(core_clients, a->s);
    if (!c || !(c->in = json_object())) {
        core_call_free(c);
        admin_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    const char *filters[] = {"clientid", "username", "like_clientid", "ip_address", "conn_state"};
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
        char *v = admin_query_param(req, filters[i]);
        if (v) {
            json_object_set_new(c->in, filters[i], json_string(v));
            free(v);
        }
    }
    const char *st = json_string_value(json_object_get(c->in, "conn_state"));
    if (st && strcmp(st, "connected") != 0 && strcmp(st, "disconnected") != 0) {
        core_call_free(c);
        admin_reply_error(req, 400, "BAD_REQUEST", "conn_state must be connected or disconnected");
        return;
    }
    if (!paging(req, c->in)) {
        core_call_free(c);
        return;
    }
    run_and_reply(a, req, c);
}

static void one_found(const struct rmq_client_view *v, void *arg)
{
    struct core_call *c = arg;
    c->out = client_json(v, c->s->node_name, true);
}

static void core_client_one(struct rmq_mqtt *b, struct core_call *c)
{
    if (!rmq_mqtt_find_client(b, c->id, one_found, c)) {
        c->status = 404;
        c->out =
            json_pack("{s:s,s:s}", "code", "CLIENTID_NOT_FOUND", "message", "Client ID not found");
    }
}

static void core_client_kick(struct rmq_mqtt *b, struct core_call *c)
{
    if (rmq_mqtt_kick_client(b, c->id)) {
        rmq_metrics_inc(RMQ_M_ADMIN_KICKED);
        c->status = 204;
    } else {
        c->status = 404;
        c->out =
            json_pack("{s:s,s:s}", "code", "CLIENTID_NOT_FOUND", "message", "Client ID not found");
    }
}

void api_client_one(struct rmq_admin *a, struct evhttp_request *req, const char *id, bool del)
{
    struct core_call *c = core_call_new(del ? core_client_kick : core_client_one, a->s);
    if (!c || !(c->id = strdup(id))) {
        core_call_free(c);
        admin_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    run_and_reply(a, req, c);
}

static bool each_sub(const char *client_id, const char *filter, uint8_t qos, bool no_local,
                     void *arg)
{
    struct list_ctx *l = arg;
    const char *want = json_string_value(json_object_get(l->c->in, "clientid"));
    const char *topic = json_string_value(json_object_get(l->c->in, "topic"));
    if ((want && strcmp(want, client_id) != 0) || (topic && strcmp(topic, filter) != 0)) {
        return true;
    }
    if (l->count >= l->skip && l->count < l->skip + l->limit) {
        json_array_append_new(l->data, json_pack("{s:s,s:s,s:i,s:i,s:s}", "clientid", client_id,
                                                 "topic", filter, "qos", (int)qos, "nl",
                                                 (int)no_local, "node", l->c->s->node_name));
    }
    l->count++;
    return true;
}

static void core_subs(struct rmq_mqtt *b, struct core_call *c)
{
    size_t page = (size_t)json_integer_value(json_object_get(c->in, "page"));
    size_t limit = (size_t)json_integer_value(json_object_get(c->in, "limit"));
    struct list_ctx l = {.c = c, .data = json_array(), .skip = (page - 1) * limit, .limit = limit};
    rmq_mqtt_each_subscription(b, each_sub, &l);
    c->out = paged(l.data, page, limit, l.count);
}

void api_subscriptions(struct rmq_admin *a, struct evhttp_request *req)
{
    struct core_call *c = core_call_new(core_subs, a->s);
    if (!c || !(c->in = json_object())) {
        core_call_free(c);
        admin_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    const char *filters[] = {"clientid", "topic"};
    for (size_t i = 0; i < 2; i++) {
        char *v = admin_query_param(req, filters[i]);
        if (v) {
            json_object_set_new(c->in, filters[i], json_string(v));
            free(v);
        }
    }
    if (!paging(req, c->in)) {
        core_call_free(c);
        return;
    }
    run_and_reply(a, req, c);
}

static void add_listener_count(const char *listener, uint64_t n, void *arg)
{
    json_object_set_new(arg, listener, json_integer((json_int_t)n));
}

static void core_snapshot(struct rmq_mqtt *b, struct core_call *c)
{
    struct rmq_mqtt_counts k;
    rmq_mqtt_counts(b, &k);
    const struct rmq_mqtt_stats *st = rmq_mqtt_stats(b);
    json_t *by_listener = json_object();
    rmq_mqtt_each_listener_count(b, add_listener_count, by_listener);
    c->out = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "connections",
        (json_int_t)k.connections, "sessions", (json_int_t)k.sessions, "subscriptions",
        (json_int_t)k.subscriptions, "retained", (json_int_t)k.retained, "messages_in",
        (json_int_t)st->messages_in, "messages_out", (json_int_t)st->messages_out,
        "dropped_queue_full", (json_int_t)st->dropped_queue_full, "dropped_expired",
        (json_int_t)st->dropped_expired, "dropped_too_large", (json_int_t)st->dropped_too_large,
        "dropped_qos0_backpressure", (json_int_t)st->dropped_qos0_backpressure,
        "refused_queue_full", (json_int_t)st->refused_queue_full, "by_listener", by_listener);
}

json_t *admin_core_snapshot(struct rmq_admin *a)
{
    struct core_call *c = core_call_new(core_snapshot, a->s);
    if (!c || !admin_core_call(a, c)) {
        return NULL;
    }
    json_t *r = json_incref(c->out);
    core_call_free(c);
    return r;
}

static json_int_t iv(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

void api_stats(struct rmq_admin *a, struct evhttp_request *req)
{
    json_t *s = admin_core_snapshot(a);
    if (!s) {
        admin_reply_error(req, 503, "SERVICE_UNAVAILABLE", "the MQTT core did not answer");
        return;
    }
    json_t *r =
        json_pack("[{s:s,s:I,s:I,s:I,s:I,s:I}]", "node", a->s->node_name, "connections.count",
                  iv(s, "connections"), "live_connections.count", iv(s, "connections"),
                  "sessions.count", iv(s, "sessions"), "subscriptions.count",
                  iv(s, "subscriptions"), "retained.count", iv(s, "retained"));
    json_decref(s);
    admin_reply_json(req, 200, r);
}

void api_metrics(struct rmq_admin *a, struct evhttp_request *req)
{
    json_t *s = admin_core_snapshot(a);
    if (!s) {
        admin_reply_error(req, 503, "SERVICE_UNAVAILABLE", "the MQTT core did not answer");
        return;
    }
    json_int_t dropped = iv(s, "dropped_queue_full") + iv(s, "dropped_expired") +
                         iv(s, "dropped_too_large") + iv(s, "dropped_qos0_backpressure");
    json_t *m = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "node", a->s->node_name, "messages.received",
        iv(s, "messages_in"), "messages.sent", iv(s, "messages_out"), "messages.dropped", dropped,
        "messages.dropped.queue_full", iv(s, "dropped_queue_full"), "messages.dropped.expired",
        iv(s, "dropped_expired"), "messages.dropped.too_large", iv(s, "dropped_too_large"),
        "messages.dropped.qos0_backpressure", iv(s, "dropped_qos0_backpressure"));
    if (m) {
        json_object_set_new(m, "messages.refused.queue_full",
                            json_integer(iv(s, "refused_queue_full")));
    }
    json_decref(s);
    if (m) {
        json_object_set_new(m, "client.auth.failure",
                            json_integer((json_int_t)rmq_metrics_get(RMQ_M_AUTH_FAILURE)));
        json_object_set_new(m, "authorization.deny",
                            json_integer((json_int_t)rmq_metrics_get(RMQ_M_ACL_DENIED)));
        json_object_set_new(m, "revmq.tls.handshake.ok",
                            json_integer((json_int_t)rmq_metrics_get(RMQ_M_TLS_HANDSHAKE_OK)));
        json_object_set_new(m, "revmq.tls.handshake.failed",
                            json_integer((json_int_t)rmq_metrics_get(RMQ_M_TLS_HANDSHAKE_FAILED)));
        json_object_set_new(m, "revmq.tls.alert_sent.certificate_revoked",
                            json_integer((json_int_t)rmq_metrics_tls_alert_count(1, 44)));
        json_object_set_new(m, "revmq.tls.alert_sent.bad_certificate",
                            json_integer((json_int_t)rmq_metrics_tls_alert_count(1, 42)));
    }
    admin_reply_json(req, 200, json_pack("[o]", m));
}
