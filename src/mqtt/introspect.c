/* introspect.c — read-only views of the MQTT core and the admin kick; see
 * introspect.h. Core thread only. */
#include "mqtt/introspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/core.h"

static void view_of(const struct session *s, struct rmq_client_view *v)
{
    memset(v, 0, sizeof *v);
    v->client_id = s->client_id;
    v->expiry_interval = s->expiry_s;
    v->subscriptions = s->subs.count;
    v->inflight = s->inflight.count;
    v->queued = s->queue.count + s->spilled; /* in memory and on disk only */
    v->dropped = s->dropped;
    v->owner = s->owner;
    const struct rmq_mqtt_conn *mc = s->conn;
    if (mc && mc->state == CS_CONNECTED) {
        v->connected = true;
        v->username = mc->username;
        v->addr = mc->addr;
        v->listener = mc->listener; /* "type:name", as the net layer names it */
        v->peer = mc->peer;
        v->proto_ver = mc->version;
        v->keepalive = mc->keepalive;
    }
}

void rmq_mqtt_each_client(struct rmq_mqtt *b,
                          bool (*fn)(const struct rmq_client_view *v, void *arg), void *arg)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        struct rmq_client_view v;
        view_of(e->value, &v);
        if (!fn(&v, arg)) {
            return;
        }
    }
}

bool rmq_mqtt_find_client(struct rmq_mqtt *b, const char *client_id,
                          void (*fn)(const struct rmq_client_view *v, void *arg), void *arg)
{
    struct session *s = rmq_session_find(b, client_id, strlen(client_id));
    if (!s) {
        return false;
    }
    struct rmq_client_view v;
    view_of(s, &v);
    fn(&v, arg);
    return true;
}

void rmq_mqtt_each_subscription(struct rmq_mqtt *b,
                                bool (*fn)(const char *client_id, const char *filter, uint8_t qos,
                                           bool no_local, void *arg),
                                void *arg)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        const struct session *s = e->value;
        size_t jt;
        for (struct rmq_hmap_entry *f = rmq_hmap_first(&s->subs, &jt); f;
             f = rmq_hmap_next(&s->subs, f, &jt)) {
            const struct rmq_sub_opts *o = f->value;
            if (!fn(s->client_id, f->key, o->qos, o->no_local, arg)) {
                return;
            }
        }
    }
}

bool rmq_mqtt_kick_client(struct rmq_mqtt *b, const char *client_id)
{
    size_t len = strlen(client_id);
    struct session *s = rmq_session_find(b, client_id, len);
    if (!s) {
        return false;
    }
    rmq_info("mqtt", "kicked client_id=%s by=admin", client_id);
    if (s->conn) {
        rmq_mqtt_conn_close(s->conn, RMQ_CLOSE_ADMIN); /* MQTT 5 3.14.2.1 */
    }
    /* EMQX discards the session on kick; the connection no longer holds it. */
    s = rmq_session_find(b, client_id, len);
    if (s && !s->conn) {
        rmq_session_destroy(b, s);
    }
    return true;
}

struct lcount {
    char id[160]; /* "tcp:default" / "ssl:default" */
    uint64_t n;
};

void rmq_mqtt_each_listener_count(struct rmq_mqtt *b,
                                  void (*fn)(const char *listener, uint64_t n, void *arg),
                                  void *arg)
{
    size_t cap = 8, used = 0;
    struct lcount *v = calloc(cap, sizeof *v);
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); v && e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        const struct session *s = e->value;
        if (!s->conn || s->conn->state != CS_CONNECTED) {
            continue;
        }
        char id[160];
        snprintf(id, sizeof id, "%s", s->conn->listener ? s->conn->listener : "");
        size_t i = 0;
        while (i < used && strcmp(v[i].id, id) != 0) {
            i++;
        }
        if (i == used) {
            if (used == cap) {
                struct lcount *nv = realloc(v, 2 * cap * sizeof *v);
                if (!nv) {
                    break;
                }
                v = nv;
                cap *= 2;
            }
            snprintf(v[used].id, sizeof v[used].id, "%s", id);
            v[used++].n = 0;
        }
        v[i].n++;
    }
    for (size_t i = 0; v && i < used; i++) {
        fn(v[i].id, v[i].n, arg);
    }
    free(v);
}

bool rmq_mqtt_publish_sys(struct rmq_mqtt *b, const char *topic, const char *payload)
{
    struct rmq_bytes t = {(const uint8_t *)topic, strlen(topic)};
    struct rmq_bytes p = {(const uint8_t *)payload, strlen(payload)};
    struct rmq_msg *m = rmq_msg_from(&t, &p, 0, true, NULL, NULL);
    if (!m) {
        return false;
    }
    rmq_publish_will_msg(b, m);
    rmq_msg_unref(m);
    return true;
}

void rmq_mqtt_counts(struct rmq_mqtt *b, struct rmq_mqtt_counts *out)
{
    memset(out, 0, sizeof *out);
    out->sessions = b->sessions.count;
    out->connections = b->stats.connections;
    out->retained = rmq_retained_count(b->retained);
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        const struct session *s = e->value;
        out->subscriptions += s->subs.count;
    }
}
