/*
 * handle_publish.c — PUBLISH from clients (topic aliases, limits, QoS 2
 * exactly-once), PUBACK/PUBREC/PUBREL/PUBCOMP, and routing a message to the
 * matching sessions (overlapping subscriptions of one session merged into
 * one delivery at the MAXIMUM QoS, with all their subscription ids).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/core.h"
#include "mqtt/topic.h"

static struct rmq_msg_bytes mb(const struct rmq_props *p, enum rmq_prop_id id,
                               const struct rmq_bytes *b)
{
    struct rmq_msg_bytes r = {NULL, 0};
    if (p && rmq_props_has(p, id)) {
        r.p = b->p ? b->p : (const uint8_t *)"";
        r.len = b->len;
    }
    return r;
}

struct rmq_msg *rmq_msg_from(const struct rmq_bytes *topic, const struct rmq_bytes *payload,
                             uint8_t qos, bool retain, const struct rmq_props *props,
                             const void *publisher)
{
    struct rmq_msg t;
    memset(&t, 0, sizeof t);
    t.topic = (char *)topic->p;
    t.topic_len = topic->len;
    t.payload = payload->p;
    t.payload_len = payload->len;
    t.qos = qos;
    t.retain = retain;
    t.publisher = publisher;
    if (props) {
        if (rmq_props_has(props, RMQ_PROP_PAYLOAD_FORMAT)) {
            t.has_payload_format = true;
            t.payload_format = props->payload_format;
        }
        if (rmq_props_has(props, RMQ_PROP_MESSAGE_EXPIRY)) {
            t.has_expiry = true;
            t.expiry = props->message_expiry;
        }
        t.content_type = mb(props, RMQ_PROP_CONTENT_TYPE, &props->content_type);
        t.response_topic = mb(props, RMQ_PROP_RESPONSE_TOPIC, &props->response_topic);
        t.correlation_data = mb(props, RMQ_PROP_CORRELATION_DATA, &props->correlation_data);
        t.n_user_props = props->n_user_props;
        t.user_props.p = props->user_props.p;
        t.user_props.len = props->user_props.len;
    }
    return rmq_msg_new(&t, rmq_now_ms());
}

struct route_ctx {
    struct rmq_mqtt *b;
    const void *publisher;
};

static struct target *add_target(struct rmq_mqtt *b)
{
    if (b->n_targets == b->a_targets) {
        size_t na = b->a_targets ? b->a_targets * 2 : 16;
        struct target *t = realloc(b->targets, na * sizeof *t);
        if (!t) {
            return NULL;
        }
        b->targets = t;
        b->a_targets = na;
    }
    return &b->targets[b->n_targets++];
}

static void collect(void *subscriber, const struct rmq_sub_opts *o, bool shared, void *arg)
{
    struct route_ctx *ctx = arg;
    struct rmq_mqtt *b = ctx->b;
    struct session *s = subscriber;
    if (o->no_local && ctx->publisher == s) {
        return; /* MQTT-3.8.3-3 */
    }
    struct target *t;
    if (!shared && s->match_gen == b->match_gen) {
        t = &b->targets[s->match_idx];
        if (o->qos > t->qos) {
            t->qos = o->qos;
        }
        t->rap = t->rap || o->retain_as_published;
    } else {
        t = add_target(b);
        if (!t) {
            return;
        }
        t->s = s;
        t->qos = o->qos;
        t->rap = o->retain_as_published;
        t->shared = shared;
        t->n_sub_ids = 0;
        if (!shared) {
            s->match_gen = b->match_gen;
            s->match_idx = b->n_targets - 1;
        }
    }
    if (o->sub_id && t->n_sub_ids < RMQ_CORE_MAX_SUB_IDS) {
        t->sub_ids[t->n_sub_ids++] = o->sub_id;
    }
}

static void route(struct rmq_mqtt *b, struct rmq_msg *m, const void *publisher_session,
                  struct route_result *out)
{
    struct route_ctx ctx = {b, publisher_session};
    b->match_gen++;
    b->n_targets = 0;
    rmq_router_match(b->router, m->topic, m->topic_len, collect, &ctx);
    memset(out, 0, sizeof *out);
    out->matched = b->n_targets;
    const struct session *ps = publisher_session;
    rmq_flow_set_publisher(b, ps ? ps->conn : NULL);
    rmq_persist_route_begin(b, ps != NULL && m->qos == 1);
    for (size_t i = 0; i < b->n_targets; i++) {
        struct target *t = &b->targets[i];
        uint8_t qos = m->qos < t->qos ? m->qos : t->qos;
        /* MQTT-3.3.1-12/13: RETAIN kept only with retain-as-published. */
        bool retain = t->rap && m->retain;
        if (!rmq_session_deliver(b, t->s, m, qos, retain, t->sub_ids, t->n_sub_ids,
                                 &out->spilled)) {
            if (out->refused++ == 0) {
                out->refuser = t->s;
            }
        }
    }
    rmq_flow_set_publisher(b, NULL);
    b->defer_rows = false;
    b->n_targets = 0;
}

void rmq_publish_will_msg(struct rmq_mqtt *b, struct rmq_msg *m)
{
    if (m->retain) {
        (void)rmq_persist_retain(b, m);
    }
    struct route_result rr;
    route(b, m, NULL, &rr); /* no publisher to refuse: the others still get it */
    if (rr.refused) {
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "session",
                   "will not queued, subscriber queue full subscriber=%s subscribers_refusing=%zu "
                   "topic=%s max_mqueue_len=%u",
                   rr.refuser->client_id, rr.refused, m->topic, b->cfg->max_mqueue_len);
    }
}

/* Resolves the topic (alias in, alias out); NULL after failing the connection. */
static const char *publish_topic(struct rmq_mqtt_conn *mc, const struct rmq_publish *pub,
                                 size_t *len)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    *len = pub->topic.len;
    const char *topic = (const char *)pub->topic.p;
    if (mc->version == RMQ_MQTT_V5 && rmq_props_has(&pub->props, RMQ_PROP_TOPIC_ALIAS)) {
        uint16_t a = pub->props.topic_alias;
        if (a == 0 || a > cfg->max_topic_alias) {
            rmq_conn_fail(mc, RMQ_RC_TOPIC_ALIAS_INVALID, "topic alias out of range");
            return NULL; /* MQTT-3.3.2-9/10 */
        }
        if (pub->topic.len == 0) {
            char *stored = mc->aliases ? rmq_hmap_get(&mc->aliases->in, &a, sizeof a) : NULL;
            if (!stored) {
                rmq_conn_fail(mc, RMQ_RC_PROTOCOL_ERROR, "unknown topic alias");
                return NULL;
            }
            memcpy(len, stored, sizeof *len);
            return stored + sizeof *len;
        }
        char *copy = malloc(sizeof *len + pub->topic.len + 1);
        if (copy) {
            memcpy(copy, len, sizeof *len);
            memcpy(copy + sizeof *len, pub->topic.p, pub->topic.len);
            copy[sizeof *len + pub->topic.len] = '\0';
            void *old = NULL;
            struct conn_aliases *al = rmq_conn_aliases(mc);
            if (!al || rmq_hmap_put(&al->in, &a, sizeof a, copy, &old) != RMQ_OK) {
                free(copy);
            }
            free(old);
        }
    }
    if (*len == 0) {
        rmq_conn_fail(mc, RMQ_RC_PROTOCOL_ERROR, "empty topic without alias");
        return NULL;
    }
    return topic;
}

static bool rel_find(struct session *s, uint16_t pid, size_t *idx)
{
    for (size_t i = 0; i < s->n_rel; i++) {
        if (s->rel[i].pid == pid) {
            *idx = i;
            return true;
        }
    }
    return false;
}

static void rel_remove(struct session *s, size_t i)
{
    memmove(&s->rel[i], &s->rel[i + 1], (s->n_rel - i - 1) * sizeof *s->rel);
    s->n_rel--;
}

static void rel_expire(struct rmq_mqtt *b, struct session *s, int64_t now)
{
    uint64_t t = b->cfg->await_rel_timeout;
    for (size_t i = 0; t && i < s->n_rel;) {
        if (now - s->rel[i].since >= (int64_t)t) {
            RMQ_LOG_RL(5, RMQ_LOG_NOTICE, "mqtt", "awaiting PUBREL timed out client_id=%s pid=%u",
                       s->client_id, s->rel[i].pid);
            rmq_persist_rel(b, s, s->rel[i].pid, false);
            rel_remove(s, i);
        } else {
            i++;
        }
    }
}

bool rmq_session_rel_add(struct session *s, uint16_t pid, int64_t now)
{
    if (s->n_rel == s->a_rel) {
        size_t na = s->a_rel ? s->a_rel * 2 : 8;
        struct awaiting_rel *r = realloc(s->rel, na * sizeof *r);
        if (!r) {
            return false;
        }
        s->rel = r;
        s->a_rel = na;
    }
    s->rel[s->n_rel].pid = pid;
    s->rel[s->n_rel].since = now;
    s->n_rel++;
    return true;
}

void rmq_publish_refuse(struct rmq_mqtt_conn *mc, uint8_t qos, uint16_t pid)
{
    struct rmq_mqtt *b = mc->b;
    b->stats.refused_queue_full++;
    size_t idx;
    if (qos == 2 && rel_find(mc->session, pid, &idx)) {
        rel_remove(mc->session, idx); /* refused after a failed commit: nothing to release */
        rmq_persist_rel(b, mc->session, pid, false);
    }
    if (mc->version == RMQ_MQTT_V5) {
        rmq_persist_ack(mc, qos == 1 ? RMQ_PKT_PUBACK : RMQ_PKT_PUBREC, pid, RMQ_RC_QUOTA_EXCEEDED);
        return;
    }
    /* MQTT 3.1.1 has no negative acknowledgement: close without it, so the
     * client sends the message again after reconnecting. The acks held
     * before it go out first (their messages were accepted). */
    rmq_persist_flush(b);
    rmq_conn_fail(mc, RMQ_RC_QUOTA_EXCEEDED, "a subscriber's queue is full");
}

static void refuse_log(struct rmq_mqtt_conn *mc, const struct route_result *rr, const char *topic)
{
    const struct rmq_mqtt *b = mc->b;
    RMQ_LOG_RL(
        5, RMQ_LOG_WARNING, "session",
        "publish refused, subscriber queue full publisher=%s subscriber=%s "
        "subscribers_refusing=%zu topic=%s max_mqueue_len=%u "
        "max_stored_messages_per_session=%llu store=%s",
        mc->session->client_id, rr->refuser->client_id, rr->refused, topic, b->cfg->max_mqueue_len,
        (unsigned long long)b->settings->durable_max_stored_per_session, b->store ? "on" : "off");
}

/* Checks the limits a PUBLISH must meet; false after failing the connection
 * or answering with a reason code. */
static bool publish_allowed(struct rmq_mqtt_conn *mc, const struct rmq_publish *pub, bool *retain)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    bool v5 = mc->version == RMQ_MQTT_V5;
    if (pub->qos > cfg->max_qos_allowed) {
        rmq_conn_fail(mc, RMQ_RC_QOS_NOT_SUPPORTED, "QoS above maximum QoS"); /* MQTT-3.2.2-11 */
        return false;
    }
    *retain = pub->retain;
    if (pub->retain && !cfg->retain_available) {
        if (v5) {
            rmq_conn_fail(mc, RMQ_RC_RETAIN_NOT_SUPPORTED, "retain not available"); /* 3.2.2-14 */
            return false;
        }
        *retain = false;
    }
    if (v5 && rmq_props_has(&pub->props, RMQ_PROP_PAYLOAD_FORMAT) &&
        pub->props.payload_format == 1 && !rmq_codec_utf8_valid(pub->payload.p, pub->payload.len)) {
        if (pub->qos == 0) {
            rmq_conn_fail(mc, RMQ_RC_PAYLOAD_FORMAT_INVALID, "payload is not UTF-8");
        } else {
            rmq_persist_ack(mc, pub->qos == 1 ? RMQ_PKT_PUBACK : RMQ_PKT_PUBREC, pub->packet_id,
                            RMQ_RC_PAYLOAD_FORMAT_INVALID); /* behind its held acks */
        }
        return false;
    }
    return true;
}

void rmq_handle_publish(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    const struct rmq_publish *pub = &p->publish;
    struct rmq_mqtt *b = mc->b;
    struct session *s = mc->session;
    size_t tlen;
    const char *topic = publish_topic(mc, pub, &tlen);
    if (!topic) {
        return;
    }
    if (rmq_topic_check_name(topic, tlen, b->cfg->max_topic_levels) != RMQ_OK) {
        rmq_conn_fail(mc, RMQ_RC_TOPIC_NAME_INVALID, "invalid topic name");
        return;
    }
    bool retain;
    if (!publish_allowed(mc, pub, &retain)) {
        return;
    }
    bool stop;
    bool authorized =
        rmq_conn_authz_publish(mc, topic, tlen, pub->qos, retain, pub->packet_id, &stop);
    if (stop) {
        return;
    }
    b->stats.messages_in++;
    int64_t now = rmq_now_ms();
    if (pub->qos == 2) {
        size_t idx;
        if (rel_find(s, pub->packet_id, &idx)) {
            /* Duplicate: not routed (QoS 2 rows are never put off). */
            rmq_persist_ack(mc, RMQ_PKT_PUBREC, pub->packet_id, 0);
            return;
        }
        rel_expire(b, s, now);
        if (b->cfg->max_awaiting_rel && s->n_rel >= b->cfg->max_awaiting_rel) {
            rmq_conn_fail(mc, RMQ_RC_RECEIVE_MAXIMUM_EXCEEDED, "too many QoS 2 awaiting PUBREL");
            return; /* MQTT-3.3.4-9 */
        }
    }
    struct rmq_bytes tb = {(const uint8_t *)topic, tlen};
    struct rmq_msg *m = rmq_msg_from(&tb, &pub->payload, pub->qos, retain,
                                     mc->version == RMQ_MQTT_V5 ? &pub->props : NULL, s);
    if (!m) {
        rmq_conn_fail(mc, RMQ_RC_UNSPECIFIED_ERROR, "out of memory");
        return;
    }
    struct route_result rr = {0};
    if (authorized) {
        route(b, m, s, &rr);
    }
    if (rr.refused && pub->qos > 0) {
        /* A persistent subscriber could not keep it: not accepted (the others
         * got it: at least once when the publisher sends it again), and so
         * not retained either. */
        refuse_log(mc, &rr, m->topic);
        rmq_msg_unref(m);
        rmq_publish_refuse(mc, pub->qos, pub->packet_id);
        return;
    }
    if (authorized && retain) {
        (void)rmq_persist_retain(b, m); /* a refusal is logged; the message is still routed */
    }
    rmq_msg_unref(m);
    uint8_t rc =
        (rr.matched == 0 && mc->version == RMQ_MQTT_V5) ? RMQ_RC_NO_MATCHING_SUBSCRIBERS : 0;
    /* Acknowledged only once durable for every persistent session it reached
     * (held until the commit that ends this read; persist.c). */
    if (pub->qos == 1) {
        rmq_persist_ack_publish(mc, RMQ_PKT_PUBACK, pub->packet_id, rc, rr.spilled);
    } else if (pub->qos == 2) {
        if (!rmq_session_rel_add(s, pub->packet_id, now)) {
            rmq_conn_fail(mc, RMQ_RC_UNSPECIFIED_ERROR, "out of memory");
            return;
        }
        rmq_persist_rel(b, s, pub->packet_id, true);
        rmq_persist_ack_publish(mc, RMQ_PKT_PUBREC, pub->packet_id, rc, rr.spilled);
    }
}

void rmq_handle_puback(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    struct session *s = mc->session;
    struct delivery *d = rmq_session_inflight_find(s, p->ack.packet_id);
    if (d && d->qos == 1) {
        rmq_session_inflight_remove(mc->b, s, d);
        rmq_session_pump(mc->b, s);
    }
}

void rmq_handle_pubrec(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    struct session *s = mc->session;
    uint16_t pid = p->ack.packet_id;
    struct delivery *d = rmq_session_inflight_find(s, pid);
    if (!d || d->qos != 2) {
        rmq_persist_ack(mc, RMQ_PKT_PUBREL, pid, RMQ_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    if (p->ack.reason >= 0x80) {
        rmq_session_inflight_remove(mc->b, s, d); /* the receiver refused it: done */
        rmq_session_pump(mc->b, s);
        return;
    }
    d->state = D_WAIT_COMP;
    d->sent_at = rmq_now_ms(); /* the PUBREL's retry clock */
    rmq_persist_delivery_state(mc->b, s, d);
    /* After the commit: a PUBREL the subscriber saw must not be followed,
     * after a crash, by the PUBLISH again (it would deliver it twice). */
    rmq_persist_ack(mc, RMQ_PKT_PUBREL, pid, 0);
}

void rmq_handle_pubrel(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    struct session *s = mc->session;
    uint16_t pid = p->ack.packet_id;
    size_t idx;
    if (rel_find(s, pid, &idx)) {
        rel_remove(s, idx);
        rmq_persist_rel(mc->b, s, pid, false);
        rmq_persist_ack(mc, RMQ_PKT_PUBCOMP, pid, 0);
    } else {
        rmq_persist_ack(mc, RMQ_PKT_PUBCOMP, pid, RMQ_RC_PACKET_ID_NOT_FOUND);
    }
}

void rmq_handle_pubcomp(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    struct session *s = mc->session;
    struct delivery *d = rmq_session_inflight_find(s, p->ack.packet_id);
    if (d && d->state == D_WAIT_COMP) {
        rmq_session_inflight_remove(mc->b, s, d);
        rmq_session_pump(mc->b, s);
    }
}
