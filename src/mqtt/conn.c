/*
 * conn.c — one MQTT connection in the core: the object (new, accessors,
 * free), the send helpers (packets, acks, PUBLISH with its properties and
 * outgoing topic aliases), and ending a connection (rmq_conn_end: will and
 * session detach; rmq_conn_fail / rmq_mqtt_conn_close: DISCONNECT with a
 * reason). The state machine table, the input loop, CONNECT, DISCONNECT,
 * PINGREQ and AUTH are in handle_connect.c; session takeover by its owner in
 * session_owner.c. See mqtt.h for the contract with the net layer.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "mqtt/core.h"
#include "mqtt/topic.h"

typedef void (*handler_fn)(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);

static const char *const state_names[CS__COUNT] = {"wait_connect", "connected", "closed"};

/* ---------------------------------------------------------------- sending */

void rmq_conn_send(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    struct rmq_buf *out = mc->io->outbuf(mc->net);
    uint8_t v = mc->version ? mc->version : RMQ_MQTT_V311;
    rmq_err e = rmq_codec_encode_limited(p, v, mc->client_max_packet, out);
    if (e != RMQ_OK) {
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "mqtt", "packet not sent client_id=%s type=%s error=%s",
                   rmq_mqtt_conn_client_id(mc), rmq_pkt_type_name(p->type), rmq_err_name(e));
        return;
    }
    mc->io->flush(mc->net);
}

void rmq_conn_send_ack(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid,
                       uint8_t reason)
{
    struct rmq_packet p_pkt;
    struct rmq_packet *p = &p_pkt;
    rmq_codec_packet_init(p, type);
    p->ack.packet_id = pid;
    p->ack.reason = reason;
    rmq_conn_send(mc, p);
}

static void copy_bytes(struct rmq_bytes *dst, const struct rmq_msg_bytes *src)
{
    dst->p = src->p;
    dst->len = src->len;
}

/* The MQTT 5 properties a message carries to a subscriber; the subscription
 * ids are written to sid_buf (RMQ_CORE_MAX_SUB_IDS * RMQ_PUT_SUB_ID_MAX). */
static void publish_props(const struct delivery *d, struct rmq_props *pr, uint8_t *sid_buf)
{
    const struct rmq_msg *m = d->msg;
    if (m->has_payload_format) {
        pr->payload_format = m->payload_format;
        rmq_props_set(pr, RMQ_PROP_PAYLOAD_FORMAT);
    }
    if (m->has_expiry) {
        /* MQTT-3.3.2-6: the time left, not the time received. */
        int64_t left = m->expire_at - rmq_now_ms();
        pr->message_expiry = left > 0 ? (uint32_t)((left + 999) / 1000) : 0;
        rmq_props_set(pr, RMQ_PROP_MESSAGE_EXPIRY);
    }
    if (m->content_type.p) {
        copy_bytes(&pr->content_type, &m->content_type);
        rmq_props_set(pr, RMQ_PROP_CONTENT_TYPE);
    }
    if (m->response_topic.p) {
        copy_bytes(&pr->response_topic, &m->response_topic);
        rmq_props_set(pr, RMQ_PROP_RESPONSE_TOPIC);
    }
    if (m->correlation_data.p) {
        copy_bytes(&pr->correlation_data, &m->correlation_data);
        rmq_props_set(pr, RMQ_PROP_CORRELATION_DATA);
    }
    copy_bytes(&pr->user_props, &m->user_props);
    pr->n_user_props = (uint32_t)m->n_user_props;
    size_t len = 0;
    for (size_t i = 0; i < d->n_sub_ids && i < RMQ_CORE_MAX_SUB_IDS; i++) {
        if (rmq_put_sub_id(sid_buf, RMQ_CORE_MAX_SUB_IDS * RMQ_PUT_SUB_ID_MAX, &len,
                           d->sub_ids[i]) == RMQ_OK) {
            pr->n_sub_ids++;
        }
    }
    pr->sub_ids = (struct rmq_bytes){sid_buf, len};
}

/* Server -> client topic aliases (MQTT 5 3.3.2.3.4): the first
 * client_alias_max topics get one; later sends carry an empty topic.
 * Returns the alias this packet introduces (0: none). */
static uint16_t out_alias(struct rmq_mqtt_conn *mc, struct rmq_publish *pub,
                          const struct rmq_msg *m)
{
    void *v = mc->aliases ? rmq_hmap_get(&mc->aliases->out, m->topic, m->topic_len) : NULL;
    if (v) {
        pub->props.topic_alias = (uint16_t)(uintptr_t)v;
        rmq_props_set(&pub->props, RMQ_PROP_TOPIC_ALIAS);
        pub->topic.len = 0;
        return 0;
    }
    if (mc->out_alias_next >= mc->client_alias_max) {
        return 0;
    }
    pub->props.topic_alias = (uint16_t)(mc->out_alias_next + 1);
    rmq_props_set(&pub->props, RMQ_PROP_TOPIC_ALIAS);
    return pub->props.topic_alias;
}

struct conn_aliases *rmq_conn_aliases(struct rmq_mqtt_conn *mc)
{
    if (!mc->aliases && (mc->aliases = malloc(sizeof *mc->aliases)) != NULL) {
        rmq_hmap_init(&mc->aliases->in);
        rmq_hmap_init(&mc->aliases->out);
    }
    return mc->aliases;
}

bool rmq_conn_send_publish(struct rmq_mqtt_conn *mc, const struct delivery *d, bool dup)
{
    const struct rmq_msg *m = d->msg;
    struct rmq_packet p_pkt;
    struct rmq_packet *p = &p_pkt;
    uint8_t sid_buf[RMQ_CORE_MAX_SUB_IDS * RMQ_PUT_SUB_ID_MAX];
    rmq_codec_packet_init(p, RMQ_PKT_PUBLISH);
    struct rmq_publish *pub = &p->publish;
    pub->dup = dup && d->qos > 0;
    pub->qos = d->qos;
    pub->retain = d->retain;
    pub->topic.p = (const uint8_t *)m->topic;
    pub->topic.len = m->topic_len;
    pub->packet_id = d->qos ? d->pid : 0;
    pub->payload.p = m->payload;
    pub->payload.len = m->payload_len;
    uint16_t new_alias = 0;
    if (mc->version == RMQ_MQTT_V5) {
        publish_props(d, &pub->props, sid_buf);
        if (mc->client_alias_max) {
            new_alias = out_alias(mc, pub, m);
        }
    }
    struct rmq_buf *out = mc->io->outbuf(mc->net);
    rmq_err e = rmq_codec_encode_limited(p, mc->version, mc->client_max_packet, out);
    if (e != RMQ_OK) {
        /* MQTT-3.1.2-25: over the client's Maximum Packet Size: discard as if sent. */
        mc->b->stats.dropped_too_large++;
        RMQ_LOG_RL(5, RMQ_LOG_NOTICE, "mqtt", "publish dropped client_id=%s topic=%s error=%s",
                   rmq_mqtt_conn_client_id(mc), m->topic, rmq_err_name(e));
        return false;
    }
    if (new_alias) {
        /* The client learns the mapping from this packet. The number is used
         * up even if remembering it fails (then the topic is sent in full). */
        mc->out_alias_next = new_alias;
        struct conn_aliases *al = rmq_conn_aliases(mc);
        if (!al || rmq_hmap_put(&al->out, m->topic, m->topic_len, (void *)(uintptr_t)new_alias,
                                NULL) != RMQ_OK) {
            RMQ_LOG_RL(1, RMQ_LOG_WARNING, "mqtt", "topic alias not kept: out of memory");
        }
    }
    mc->b->stats.messages_out++;
    mc->io->flush(mc->net);
    return true;
}

/* ------------------------------------------------------------ lifecycle */

struct rmq_mqtt_conn *rmq_mqtt_conn_new(struct rmq_mqtt *b, const struct rmq_conn_io *io, void *net,
                                        const struct rmq_peer_info *peer, const char *addr,
                                        const char *listener)
{
    struct rmq_mqtt_conn *mc = calloc(1, sizeof *mc);
    if (!mc) {
        return NULL;
    }
    mc->b = b;
    mc->io = io;
    mc->net = net;
    mc->peer = peer;
    mc->addr = addr ? addr : "";
    mc->listener = listener ? listener : "";
    mc->state = CS_WAIT_CONNECT;
    mc->client_receive_max = 65535;
    mc->problem_info = true;
    mc->publish_budget = UINT64_MAX;
    return mc;
}

const char *rmq_mqtt_conn_client_id(const struct rmq_mqtt_conn *mc)
{
    return mc->session ? mc->session->client_id : "";
}

uint64_t rmq_mqtt_conn_publishes_in(const struct rmq_mqtt_conn *mc)
{
    return mc->publishes_in;
}

void rmq_mqtt_conn_set_publish_budget(struct rmq_mqtt_conn *mc, uint64_t n)
{
    mc->publish_budget = n;
}

bool rmq_mqtt_conn_held(const struct rmq_mqtt_conn *mc)
{
    return rmq_flow_held(mc);
}

void rmq_mqtt_conn_output_drained(struct rmq_mqtt_conn *mc)
{
    if (mc->state == CS_CONNECTED) {
        rmq_flow_check(mc->b, mc->session);
    }
}

/* Leaves the connected state: close the socket (after flushing), publish or
 * park the will, detach or end the session. */
void rmq_conn_end(struct rmq_mqtt_conn *mc, bool send_will, const char *why)
{
    struct rmq_mqtt *b = mc->b;
    bool was_connected = mc->state == CS_CONNECTED;
    if (mc->state != CS_CLOSED) {
        mc->state = CS_CLOSED;
        mc->io->close(mc->net);
    }
    rmq_flow_conn_gone(mc); /* releases publishers held for it */
    struct session *s = mc->session;
    if (was_connected) {
        rmq_info("mqtt", "disconnected client_id=%s reason=%s addr=%s", s ? s->client_id : "", why,
                 mc->addr);
        b->stats.connections--;
    }
    struct rmq_msg *will = mc->will;
    mc->will = NULL;
    if (will && send_will &&
        !rmq_conn_authz_allowed(mc, RMQ_ACL_PUBLISH, will->topic, will->topic_len, will->qos,
                                will->retain)) {
        rmq_info("authz", "will dropped: not authorized client_id=%s topic=%s",
                 s ? s->client_id : "", will->topic);
        rmq_msg_unref(will);
        will = NULL;
    }
    if (s) {
        s->conn = NULL;
        mc->session = NULL;
    }
    if (will && send_will) {
        if (s && mc->will_delay > 0 && s->expiry_s > 0) {
            uint32_t delay = mc->will_delay < s->expiry_s ? mc->will_delay : s->expiry_s;
            rmq_msg_unref(s->will);
            s->will = rmq_msg_ref(will);
            s->will_at = rmq_now_ms() + (int64_t)delay * 1000;
            rmq_persist_will(b, s);
        } else {
            rmq_info("mqtt", "will published client_id=%s topic=%s", s ? s->client_id : "",
                     will->topic);
            rmq_publish_will_msg(b, will);
        }
    }
    rmq_msg_unref(will);
    if (s) {
        if (s->expiry_s == 0) {
            rmq_session_destroy(b, s);
        } else {
            s->expire_at =
                s->expiry_s == UINT32_MAX ? 0 : rmq_now_ms() + (int64_t)s->expiry_s * 1000;
            rmq_session_pending_update(b, s);
            rmq_persist_session(b, s, false); /* its expiry runs from now, across restarts */
        }
    }
}

static void send_disconnect(struct rmq_mqtt_conn *mc, uint8_t reason, const char *rs)
{
    if (mc->version != RMQ_MQTT_V5 || mc->state != CS_CONNECTED) {
        return;
    }
    struct rmq_packet p_pkt;
    struct rmq_packet *p = &p_pkt;
    rmq_codec_packet_init(p, RMQ_PKT_DISCONNECT);
    p->disconnect.reason = rmq_reason_for(RMQ_PKT_DISCONNECT, reason); /* one vocabulary */
    /* Always a reason string: it also makes the packet long enough for
     * clients (paho 1.6) that read the reason code only when properties follow. */
    rs = rs ? rs : rmq_reason_name(reason);
    if (rs) {
        p->disconnect.props.reason_string.p = (const uint8_t *)rs;
        p->disconnect.props.reason_string.len = strlen(rs);
        rmq_props_set(&p->disconnect.props, RMQ_PROP_REASON_STRING);
    }
    rmq_conn_send(mc, p);
}

void rmq_conn_fail(struct rmq_mqtt_conn *mc, uint8_t reason, const char *what)
{
    if (mc->state == CS_CLOSED) {
        return;
    }
    RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "mqtt",
               "closing client_id=%s addr=%s state=%s reason=0x%02x (%s) what=%s",
               rmq_mqtt_conn_client_id(mc), mc->addr, state_names[mc->state], reason,
               rmq_reason_name(reason), what);
    send_disconnect(mc, reason, mc->problem_info ? what : NULL);
    rmq_conn_end(mc, true, rmq_reason_name(reason));
}

static const struct {
    uint8_t reason;
    const char *reason_string; /* sent (v5) and logged; NULL: the reason's name */
} close_intents[] = {
    [RMQ_CLOSE_KEEPALIVE] = {RMQ_RC_KEEP_ALIVE_TIMEOUT, NULL},
    [RMQ_CLOSE_REVOKED] = {RMQ_RC_ADMINISTRATIVE_ACTION, "certificate revoked"},
    [RMQ_CLOSE_SHUTDOWN] = {RMQ_RC_SERVER_SHUTTING_DOWN, NULL},
    [RMQ_CLOSE_ADMIN] = {RMQ_RC_ADMINISTRATIVE_ACTION, "administrative action"},
    [RMQ_CLOSE_TAKEOVER] = {RMQ_RC_SESSION_TAKEN_OVER, NULL},
};

void rmq_mqtt_conn_close(struct rmq_mqtt_conn *mc, enum rmq_close_intent why)
{
    if (mc->state == CS_CLOSED) {
        return;
    }
    if (why == RMQ_CLOSE_REVOKED) {
        const struct rmq_peer_info *p = mc->peer;
        rmq_notice("mqtt",
                   "closing connection of revoked certificate client_id=%s serial=%s "
                   "issuer=\"%s\" addr=%s",
                   rmq_mqtt_conn_client_id(mc), p ? p->serial_hex : "-",
                   p && p->issuer_dn ? p->issuer_dn : "", mc->addr);
        rmq_metrics_inc(RMQ_M_REVOKED_CLOSED);
    } else if (why == RMQ_CLOSE_KEEPALIVE) {
        RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "mqtt", "keepalive timeout client_id=%s addr=%s",
                   rmq_mqtt_conn_client_id(mc), mc->addr);
    }
    uint8_t reason = close_intents[why].reason;
    const char *rs = close_intents[why].reason_string;
    send_disconnect(mc, reason, rs);
    rmq_conn_end(mc, true, rs ? rs : rmq_reason_name(reason));
}

void rmq_mqtt_conn_free(struct rmq_mqtt_conn *mc, const char *why)
{
    if (!mc) {
        return;
    }
    if (mc->state != CS_CLOSED) {
        rmq_conn_end(mc, true, why ? why : "connection lost");
    }
    rmq_flow_conn_gone(mc);
    rmq_persist_conn_gone(mc->b, mc);
    if (mc->aliases) {
        size_t it;
        for (struct rmq_hmap_entry *e = rmq_hmap_first(&mc->aliases->in, &it); e;
             e = rmq_hmap_next(&mc->aliases->in, e, &it)) {
            free(e->value);
        }
        rmq_hmap_release(&mc->aliases->in);
        rmq_hmap_release(&mc->aliases->out);
        free(mc->aliases);
    }
    rmq_authz_client_free(mc->acl);
    free(mc->username);
    rmq_principal_free(mc->principal);
    if (mc->authn_job) { /* gone while its password was being checked */
        rmq_authn_cancel(mc->b->authn, mc->authn_job);
        rmq_mqtt_conn_authn_cancelled(mc);
    }
    free(mc->connect_raw);
    free(mc);
}
