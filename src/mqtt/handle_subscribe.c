/*
 * handle_subscribe.c — SUBSCRIBE (validation, feature flags, QoS downgrade,
 * retained messages per retain handling) and UNSUBSCRIBE.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/core.h"
#include "mqtt/topic.h"

struct retained_ctx {
    struct rmq_mqtt *b;
    struct session *s;
    uint8_t qos;
    uint32_t sub_id;
    int64_t now;
};

static void send_retained(struct rmq_msg *m, void *arg)
{
    struct retained_ctx *c = arg;
    if (m->has_expiry && m->expire_at <= c->now) {
        return; /* expired: not delivered */
    }
    uint8_t qos = m->qos < c->qos ? m->qos : c->qos;
    /* each retained topic is checked for the subscriber, not only the filter */
    if (c->s->conn && !rmq_conn_authz_allowed(c->s->conn, RMQ_ACL_SUBSCRIBE, m->topic, m->topic_len,
                                              c->qos, false)) {
        return;
    }
    /* MQTT-3.3.1-8: retained messages sent on subscribe carry RETAIN 1. */
    bool spilled = false; /* a retained message to a connected subscriber: never refused */
    (void)rmq_session_deliver(c->b, c->s, m, qos, true, &c->sub_id, c->sub_id ? 1 : 0, &spilled);
}

/* Validates one entry; returns the SUBACK reason (granted QoS or failure) and
 * sets *fatal when the whole connection must end. */
static uint8_t check_entry(struct rmq_mqtt_conn *mc, const struct rmq_sub_entry *e,
                           struct rmq_topic_shared *sh, bool *fatal)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    const char *f = (const char *)e->filter.p;
    *fatal = false;
    if (rmq_topic_split_shared(f, e->filter.len, sh) != RMQ_OK ||
        rmq_topic_check_filter(sh->filter, sh->filter_len, cfg->max_topic_levels) != RMQ_OK) {
        return RMQ_RC_TOPIC_FILTER_INVALID;
    }
    if (sh->is_shared && !cfg->shared_subscription) {
        return RMQ_RC_SHARED_SUBS_NOT_SUPPORTED;
    }
    if (sh->is_shared && e->no_local && mc->version == RMQ_MQTT_V5) {
        *fatal = true; /* MQTT-3.8.3-4 */
        return RMQ_RC_PROTOCOL_ERROR;
    }
    if (!cfg->wildcard_subscription && rmq_topic_has_wildcard(sh->filter, sh->filter_len)) {
        return RMQ_RC_WILDCARD_SUBS_NOT_SUPPORTED;
    }
    /* $share/g/t is checked on t */
    if (!rmq_conn_authz_allowed(mc, RMQ_ACL_SUBSCRIBE, sh->filter, sh->filter_len, e->qos, false)) {
        *fatal = rmq_authz_disconnect_on_deny(rmq_authz_installed());
        return RMQ_RC_NOT_AUTHORIZED;
    }
    return e->qos < cfg->max_qos_allowed ? e->qos : cfg->max_qos_allowed;
}

static bool store_sub(struct session *s, const struct rmq_bytes *f, const struct rmq_sub_opts *o)
{
    struct rmq_sub_opts *copy = malloc(sizeof *copy);
    if (!copy) {
        return false;
    }
    *copy = *o;
    void *old = NULL;
    if (rmq_hmap_put(&s->subs, f->p, f->len, copy, &old) != RMQ_OK) {
        free(copy);
        return false;
    }
    free(old);
    return true;
}

void rmq_handle_subscribe(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    const struct rmq_subscribe *sub = &p->subscribe;
    struct rmq_mqtt *b = mc->b;
    struct session *s = mc->session;
    bool v5 = mc->version == RMQ_MQTT_V5;
    uint32_t sub_id = 0;
    struct rmq_iter sid = rmq_iter_of(sub->props.sub_ids);
    if (!v5 || rmq_sub_id_next(&sid, &sub_id) != RMQ_OK) {
        sub_id = 0;
    }
    struct rmq_packet ack_pkt;
    struct rmq_packet *ack = &ack_pkt;
    rmq_codec_packet_init(ack, RMQ_PKT_SUBACK);
    ack->suback.packet_id = sub->packet_id;
    ack->suback.n_reasons = sub->n_entries;
    /* reasons[0..n) then want_retained[0..n): on the stack when small. */
    uint8_t small[128];
    size_t n = sub->n_entries;
    uint8_t *reasons = 2 * n <= sizeof small ? small : malloc(2 * n);
    if (!reasons) {
        rmq_conn_fail(mc, RMQ_RC_UNSPECIFIED_ERROR, "out of memory");
        return;
    }
    uint8_t *want_retained = reasons + n;
    memset(reasons, 0, 2 * n);
    ack->suback.reasons = (struct rmq_bytes){reasons, n};
    struct rmq_topic_shared sh;
    struct rmq_iter it = rmq_iter_of(sub->entries);
    struct rmq_sub_entry entry;
    for (size_t i = 0; i < n && rmq_sub_entry_next(&it, &entry) == RMQ_OK; i++) {
        const struct rmq_sub_entry *e = &entry;
        bool fatal;
        uint8_t rc = check_entry(mc, e, &sh, &fatal);
        if (fatal) {
            rmq_conn_fail(mc, rc,
                          rc == RMQ_RC_NOT_AUTHORIZED ? "subscribe not authorized"
                                                      : "no local on a shared subscription");
            goto out;
        }
        if (rc < 0x80) {
            struct rmq_sub_opts o = {.qos = rc, .sub_id = sub_id};
            if (v5) {
                o.no_local = e->no_local;
                o.retain_as_published = e->retain_as_published;
                o.retain_handling = e->retain_handling;
            }
            bool existed = false;
            const char *f = (const char *)e->filter.p;
            if (rmq_router_add(b->router, f, e->filter.len, s, &o, &existed) != RMQ_OK) {
                rc = RMQ_RC_UNSPECIFIED_ERROR;
            } else if (!store_sub(s, &e->filter, &o)) {
                if (!existed) {
                    rmq_router_remove(b->router, f, e->filter.len, s);
                }
                rc = RMQ_RC_UNSPECIFIED_ERROR;
            } else {
                rmq_persist_sub(b, s, f, e->filter.len, &o);
                /* MQTT-3.3.1-9/10/11; none for shared subscriptions (v5 4.8.2). */
                want_retained[i] = !sh.is_shared && b->cfg->retain_available &&
                                   (o.retain_handling == 0 || (o.retain_handling == 1 && !existed));
            }
        }
        reasons[i] = rc;
        rmq_debug("mqtt", "subscribe client_id=%s filter=%.*s rc=0x%02x", s->client_id,
                  (int)e->filter.len, (const char *)e->filter.p, rc);
    }
    rmq_conn_send(mc, ack);
    struct retained_ctx rc = {b, s, 0, sub_id, rmq_now_ms()};
    it = rmq_iter_of(sub->entries);
    for (size_t i = 0; i < n && rmq_sub_entry_next(&it, &entry) == RMQ_OK; i++) {
        const struct rmq_bytes *f = &entry.filter;
        if (want_retained[i] && rmq_topic_split_shared((const char *)f->p, f->len, &sh) == RMQ_OK) {
            rc.qos = reasons[i];
            rmq_retained_match(b->retained, sh.filter, sh.filter_len, send_retained, &rc);
        }
    }
out:
    if (reasons != small) {
        free(reasons);
    }
}

void rmq_handle_unsubscribe(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    const struct rmq_unsubscribe *u = &p->unsubscribe;
    struct session *s = mc->session;
    struct rmq_packet ack_pkt;
    struct rmq_packet *ack = &ack_pkt;
    rmq_codec_packet_init(ack, RMQ_PKT_UNSUBACK);
    ack->unsuback.packet_id = u->packet_id;
    ack->unsuback.n_reasons = u->n_filters;
    uint8_t small[128];
    size_t n = u->n_filters;
    uint8_t *reasons = n <= sizeof small ? small : malloc(n);
    if (!reasons) {
        rmq_conn_fail(mc, RMQ_RC_UNSPECIFIED_ERROR, "out of memory");
        return;
    }
    struct rmq_iter it = rmq_iter_of(u->filters);
    struct rmq_bytes filter;
    for (size_t i = 0; i < n && rmq_filter_next(&it, &filter) == RMQ_OK; i++) {
        const struct rmq_bytes *f = &filter;
        bool removed = rmq_router_remove(mc->b->router, (const char *)f->p, f->len, s);
        free(rmq_hmap_del(&s->subs, f->p, f->len));
        if (removed) {
            rmq_persist_sub(mc->b, s, (const char *)f->p, f->len, NULL);
        }
        reasons[i] = removed ? RMQ_RC_SUCCESS : RMQ_RC_NO_SUBSCRIPTION_EXISTED;
    }
    ack->unsuback.reasons = (struct rmq_bytes){reasons, n};
    rmq_conn_send(mc, ack);
    if (reasons != small) {
        free(reasons);
    }
}
