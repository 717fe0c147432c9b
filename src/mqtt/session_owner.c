/*
 * session_owner.c — sessions belong to their principal: the takeover rule
 * (mqtt.session_owner_only), and ending the sessions of a revoked
 * certificate whatever listener they were made on. See core.h / mqtt.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/core.h"

bool rmq_session_owner_ok(const struct rmq_mqtt *b, const struct session *s,
                          const struct rmq_principal *p)
{
    if (!b->cfg->session_owner_only || s->owner == NULL) {
        return true;
    }
    return rmq_principal_same_owner(s->owner, p);
}

bool rmq_session_set_owner(struct session *s, const struct rmq_principal *p)
{
    /* Shared with the connection, not copied: one principal per client. */
    struct rmq_principal *c = rmq_principal_share(p);
    rmq_principal_free(s->owner);
    s->owner = c;
    return true;
}

void rmq_mqtt_set_authn(struct rmq_mqtt *b, struct rmq_authn *a)
{
    b->authn = a;
}

void rmq_mqtt_authn_poll(struct rmq_mqtt *b)
{
    rmq_authn_poll(b->authn);
}

/* Client ids of the sessions to end (copied: ending one may free others' state). */
struct victims {
    char **ids;
    size_t *lens;
    size_t n;
};

static void collect(struct rmq_mqtt *b, bool (*match)(const struct rmq_peer_info *, void *),
                    void *arg, struct victims *v)
{
    size_t it, cap = 0;
    struct rmq_peer_info ids;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        const struct session *s = e->value;
        if (s->owner == NULL || s->owner->kind != RMQ_PRINCIPAL_CERT) {
            continue;
        }
        rmq_principal_peer_ids(s->owner, &ids);
        if (!match(&ids, arg)) {
            continue;
        }
        if (v->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **ni = realloc(v->ids, nc * sizeof *ni);
            if (ni) {
                v->ids = ni;
            }
            size_t *nl = ni ? realloc(v->lens, nc * sizeof *nl) : NULL;
            if (!nl) {
                rmq_error("mqtt", "revoked sessions: out of memory");
                return;
            }
            v->lens = nl;
            cap = nc;
        }
        if ((v->ids[v->n] = strndup(s->client_id, s->id_len)) != NULL) {
            v->lens[v->n++] = s->id_len;
        }
    }
}

static void end_one(struct rmq_mqtt *b, const char *id, size_t len)
{
    struct session *s = rmq_session_find(b, id, len);
    if (s == NULL) {
        return;
    }
    char who[900];
    rmq_principal_describe(s->owner, "owner_", who, sizeof who);
    size_t queued = s->queue.count + s->inflight.count;
    bool live = s->conn != NULL;
    if (live) {
        rmq_mqtt_conn_close(s->conn, RMQ_CLOSE_REVOKED);
        s = rmq_session_find(b, id, len); /* the kick may have ended it */
    }
    if (s != NULL) {
        rmq_msg_unref(s->will); /* the revoked owner's delayed will is not published */
        s->will = NULL;
        rmq_session_destroy(b, s);
    }
    rmq_notice("mqtt",
               "session ended: owner certificate revoked client_id=%s %s was_connected=%d "
               "dropped_messages=%zu",
               id, who, live, queued);
}

size_t rmq_mqtt_end_sessions_matching(struct rmq_mqtt *b,
                                      bool (*match)(const struct rmq_peer_info *, void *arg),
                                      void *arg)
{
    struct victims v = {0};
    collect(b, match, arg, &v);
    for (size_t i = 0; i < v.n; i++) {
        end_one(b, v.ids[i], v.lens[i]);
        free(v.ids[i]);
    }
    free(v.ids);
    free(v.lens);
    return v.n;
}
