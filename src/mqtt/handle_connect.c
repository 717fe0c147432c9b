/*
 * handle_connect.c — the connection state machine table, the input loop,
 * CONNECT (client id, takeover, session resume, will, CONNACK), DISCONNECT,
 * PINGREQ and AUTH. See broker.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "mqtt/core.h"
#include "mqtt/topic.h"

typedef void (*handler_fn)(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);

/* CONNACK refusal: v5 reason code, v3 mapped return code; then close. */
static void connack_fail(struct rmq_mqtt_conn *mc, uint8_t level, uint8_t reason, const char *what)
{
    struct rmq_packet *p = mc->b->out_pkt;
    rmq_codec_packet_init(p, RMQ_PKT_CONNACK);
    p->connack.reason = reason;
    struct rmq_buf *out = mc->io->outbuf(mc->net);
    uint8_t v = level == RMQ_MQTT_V5 ? RMQ_MQTT_V5 : RMQ_MQTT_V311;
    if (v == RMQ_MQTT_V5 && mc->problem_info && what) {
        p->connack.props.reason_string.p = (const uint8_t *)what;
        p->connack.props.reason_string.len = strlen(what);
        rmq_props_set(&p->connack.props, RMQ_PROP_REASON_STRING);
    }
    if (rmq_codec_encode(p, v, out) == RMQ_OK) {
        mc->io->flush(mc->net);
    }
    RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "mqtt", "connect refused addr=%s reason=0x%02x (%s) what=%s",
               mc->addr, reason, rmq_reason_name(reason), what);
    mc->state = CS_CLOSED;
    mc->io->close(mc->net);
}

static const char *peer_field(const struct rmq_peer_info *pi, enum rmq_peer_cert_as as)
{
    if (!pi || !pi->has_cert) {
        return NULL;
    }
    switch (as) {
    case RMQ_PEER_AS_CN:
        return pi->cn[0] ? pi->cn : NULL;
    case RMQ_PEER_AS_DN:
        return pi->dn;
    case RMQ_PEER_AS_CRT: /* the DER is not kept; the PEM carries the same certificate */
    case RMQ_PEER_AS_PEM:
        return pi->pem;
    case RMQ_PEER_AS_MD5:
        return pi->md5[0] ? pi->md5 : NULL;
    case RMQ_PEER_AS_DISABLED:
    default:
        return NULL;
    }
}

static void takeover(struct rmq_broker *b, struct session *s)
{
    struct rmq_mqtt_conn *old = s->conn;
    rmq_info("mqtt", "session taken over client_id=%s old_addr=%s", s->client_id, old->addr);
    /* MQTT-3.1.4-3; v5: DISCONNECT 0x8E. The old connection's will is handled
     * as for any abnormal end (delayed wills are cancelled by the resume). */
    rmq_mqtt_conn_kick(old, RMQ_RC_SESSION_TAKEN_OVER, NULL);
    (void)b;
}

static bool will_setup(struct rmq_mqtt_conn *mc, const struct rmq_connect *c, uint8_t *reason,
                       const char **what)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    if (!c->will) {
        return true;
    }
    uint8_t qos = c->will_qos;
    if (qos > cfg->max_qos_allowed) {
        if (c->proto_level == RMQ_MQTT_V5) {
            *reason = RMQ_RC_QOS_NOT_SUPPORTED; /* MQTT-3.2.2-12 */
            *what = "will QoS above maximum QoS";
            return false;
        }
        qos = cfg->max_qos_allowed;
    }
    if (c->will_retain && !cfg->retain_available && c->proto_level == RMQ_MQTT_V5) {
        *reason = RMQ_RC_RETAIN_NOT_SUPPORTED; /* MQTT-3.2.2-13 */
        *what = "will retain not supported";
        return false;
    }
    if (rmq_topic_check_name((const char *)c->will_topic.p, c->will_topic.len,
                             cfg->max_topic_levels) != RMQ_OK) {
        *reason = RMQ_RC_TOPIC_NAME_INVALID;
        *what = "invalid will topic";
        return false;
    }
    if (rmq_props_has(&c->will_props, RMQ_PROP_PAYLOAD_FORMAT) &&
        c->will_props.payload_format == 1 &&
        !rmq_codec_utf8_valid(c->will_payload.p, c->will_payload.len)) {
        *reason = RMQ_RC_PAYLOAD_FORMAT_INVALID;
        *what = "will payload is not UTF-8";
        return false;
    }
    bool retain = c->will_retain && cfg->retain_available;
    mc->will = rmq_msg_from(&c->will_topic, &c->will_payload, qos, retain, &c->will_props, NULL);
    if (!mc->will) {
        *reason = RMQ_RC_SERVER_UNAVAILABLE;
        *what = "out of memory";
        return false;
    }
    mc->will_delay =
        rmq_props_has(&c->will_props, RMQ_PROP_WILL_DELAY) ? c->will_props.will_delay : 0;
    return true;
}

/* Fills the v5 CONNACK properties that announce the server's limits. */
static void connack_props(struct rmq_mqtt_conn *mc, struct rmq_props *pr)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    if (cfg->max_awaiting_rel && cfg->max_awaiting_rel < 65535) {
        pr->receive_maximum = (uint16_t)cfg->max_awaiting_rel;
        rmq_props_set(pr, RMQ_PROP_RECEIVE_MAXIMUM);
    }
    if (cfg->max_qos_allowed < 2) {
        pr->maximum_qos = cfg->max_qos_allowed;
        rmq_props_set(pr, RMQ_PROP_MAXIMUM_QOS);
    }
    if (!cfg->retain_available) {
        pr->retain_available = 0;
        rmq_props_set(pr, RMQ_PROP_RETAIN_AVAILABLE);
    }
    if (cfg->max_packet_size && cfg->max_packet_size < RMQ_MQTT_MAX_PACKET) {
        pr->maximum_packet_size = (uint32_t)cfg->max_packet_size;
        rmq_props_set(pr, RMQ_PROP_MAXIMUM_PACKET_SIZE);
    }
    pr->topic_alias_maximum = cfg->max_topic_alias;
    rmq_props_set(pr, RMQ_PROP_TOPIC_ALIAS_MAXIMUM);
    if (!cfg->wildcard_subscription) {
        pr->wildcard_sub_available = 0;
        rmq_props_set(pr, RMQ_PROP_WILDCARD_SUB_AVAILABLE);
    }
    if (!cfg->shared_subscription) {
        pr->shared_sub_available = 0;
        rmq_props_set(pr, RMQ_PROP_SHARED_SUB_AVAILABLE);
    }
}

/* The v5 CONNACK properties that depend on this CONNECT: server keep alive
 * (*ka updated), session expiry in use, assigned client id (NULL: none). */
static void connack_props_session(struct rmq_mqtt_conn *mc, const struct rmq_connect *c,
                                  struct rmq_props *pr, const char *assigned, size_t id_len,
                                  uint16_t *ka)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    if (cfg->server_keepalive) {
        *ka = (uint16_t)(cfg->server_keepalive > 65535 ? 65535 : cfg->server_keepalive);
        pr->server_keepalive = *ka;
        rmq_props_set(pr, RMQ_PROP_SERVER_KEEPALIVE);
    }
    uint32_t req = rmq_props_has(&c->props, RMQ_PROP_SESSION_EXPIRY) ? c->props.session_expiry : 0;
    if (mc->session->expiry_s != req) {
        /* MQTT 5 3.2.2.3.2: tell the client the value in use. */
        pr->session_expiry = mc->session->expiry_s;
        rmq_props_set(pr, RMQ_PROP_SESSION_EXPIRY);
    }
    if (assigned) {
        pr->assigned_client_id.p = (const uint8_t *)assigned;
        pr->assigned_client_id.len = id_len;
        rmq_props_set(pr, RMQ_PROP_ASSIGNED_CLIENT_ID);
    }
}

/* What the v5 client announced about itself (MQTT 5 3.1.2.11). */
static void client_limits(struct rmq_mqtt_conn *mc, const struct rmq_connect *c)
{
    if (rmq_props_has(&c->props, RMQ_PROP_RECEIVE_MAXIMUM)) {
        mc->client_receive_max = c->props.receive_maximum;
    }
    if (rmq_props_has(&c->props, RMQ_PROP_MAXIMUM_PACKET_SIZE)) {
        mc->client_max_packet = c->props.maximum_packet_size;
    }
    if (rmq_props_has(&c->props, RMQ_PROP_TOPIC_ALIAS_MAXIMUM)) {
        mc->client_alias_max = c->props.topic_alias_maximum;
    }
}

/* Chooses the client id: from the certificate, as sent, or assigned. */
static bool pick_client_id(struct rmq_mqtt_conn *mc, const struct rmq_connect *c, char *buf,
                           size_t bufsz, const char **id, size_t *len, bool *assigned)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    const char *from_cert = peer_field(mc->peer, cfg->peer_cert_as_clientid);
    *assigned = false;
    if (from_cert) {
        *id = from_cert;
        *len = strlen(from_cert);
        return true;
    }
    if (c->client_id.len > 0) {
        *id = (const char *)c->client_id.p;
        *len = c->client_id.len;
        return memchr(*id, '\0', *len) == NULL;
    }
    if (c->proto_level != RMQ_MQTT_V5 && !c->clean_start) {
        return false; /* MQTT-3.1.3-8 */
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(buf, bufsz, "revmq-%" PRIx64 "-%" PRIx64, (uint64_t)ts.tv_sec,
                     ++mc->b->assigned_seq);
    *id = buf;
    *len = n > 0 ? (size_t)n : 0;
    *assigned = true;
    return true;
}

/* v5: the client's Session Expiry Interval, at most mqtt.session_expiry_interval. */
uint32_t rmq_expiry_cap(const struct rmq_broker *b, uint32_t req)
{
    uint64_t max = b->cfg->session_expiry_interval / 1000;
    return (uint64_t)req > max ? (uint32_t)max : req;
}

static void attach_session(struct rmq_mqtt_conn *mc, const struct rmq_connect *c, const char *id,
                           size_t id_len, bool *present, bool *ok)
{
    struct rmq_broker *b = mc->b;
    struct session *s = rmq_session_find(b, id, id_len);
    *present = false;
    *ok = true;
    if (s && s->conn) {
        takeover(b, s);
        s = rmq_session_find(b, id, id_len); /* the old one may have ended */
    }
    if (s && c->clean_start) {
        rmq_session_destroy(b, s); /* publishes a pending delayed will */
        s = NULL;
    }
    if (s) {
        *present = true;
        /* MQTT-3.1.3-9: a resumed session cancels the delayed will. */
        rmq_msg_unref(s->will);
        s->will = NULL;
        s->expire_at = 0;
    } else {
        s = rmq_session_create(b, id, id_len);
        if (!s) {
            *ok = false;
            return;
        }
    }
    s->conn = mc;
    mc->session = s;
    rmq_session_pending_update(b, s);
    if (c->proto_level == RMQ_MQTT_V5) {
        uint32_t req =
            rmq_props_has(&c->props, RMQ_PROP_SESSION_EXPIRY) ? c->props.session_expiry : 0;
        s->expiry_s = rmq_expiry_cap(b, req);
        mc->expiry_was_zero = req == 0;
    } else {
        uint64_t sec = b->cfg->session_expiry_interval / 1000;
        s->expiry_s = c->clean_start ? 0 : (sec >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)sec);
    }
}

/* A peer-supplied string fit for one key=value log field: printable ASCII
 * other than space, '"' and '\\' kept, anything else '?', cut at n-1; "-" if
 * absent. */
static void log_safe(char *dst, size_t n, const char *src)
{
    if (src == NULL || *src == '\0') {
        snprintf(dst, n, "-");
        return;
    }
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    dst[i] = '\0';
}

static void on_connect(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    const struct rmq_connect *c = &p->connect;
    struct rmq_broker *b = mc->b;
    const struct rmq_mqtt_settings *cfg = b->cfg;
    uint8_t level = c->proto_level;
    bool v5 = level == RMQ_MQTT_V5;
    if (v5) {
        mc->problem_info = !rmq_props_has(&c->props, RMQ_PROP_REQUEST_PROBLEM_INFO) ||
                           c->props.request_problem_info != 0;
        if (rmq_props_has(&c->props, RMQ_PROP_AUTH_METHOD)) {
            connack_fail(mc, level, RMQ_RC_BAD_AUTHENTICATION_METHOD, "no enhanced authentication");
            return;
        }
    }
    char idbuf[64];
    const char *id;
    size_t id_len;
    bool assigned;
    if (!pick_client_id(mc, c, idbuf, sizeof idbuf, &id, &id_len, &assigned)) {
        connack_fail(mc, level, RMQ_RC_CLIENT_ID_NOT_VALID, "client id not valid");
        return;
    }
    if (cfg->max_clientid_len && id_len > cfg->max_clientid_len) {
        connack_fail(mc, level, RMQ_RC_CLIENT_ID_NOT_VALID, "client id too long");
        return;
    }
    uint8_t reason = 0;
    const char *what = NULL;
    mc->version = level;
    if (!will_setup(mc, c, &reason, &what)) {
        connack_fail(mc, level, reason, what);
        return;
    }
    const char *uname = peer_field(mc->peer, cfg->peer_cert_as_username);
    if (uname) {
        mc->username = strdup(uname);
    } else if (c->has_username) {
        mc->username = strndup((const char *)c->username.p, c->username.len);
    }
    if (v5) {
        client_limits(mc, c);
    }
    bool present, ok;
    attach_session(mc, c, id, id_len, &present, &ok);
    if (!ok) {
        connack_fail(mc, level, RMQ_RC_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    uint16_t ka = c->keepalive;
    struct rmq_packet *ack = b->ack_pkt;
    rmq_codec_packet_init(ack, RMQ_PKT_CONNACK);
    ack->connack.session_present = present;
    if (v5) {
        connack_props(mc, &ack->connack.props);
        connack_props_session(mc, c, &ack->connack.props, assigned ? id : NULL, id_len, &ka);
    }
    mc->keepalive = ka;
    mc->state = CS_CONNECTED;
    b->stats.connections++;
    rmq_conn_send(mc, ack);
    double mult = cfg->keepalive_multiplier > 0 ? cfg->keepalive_multiplier : 1.5;
    mc->io->connected(mc->net, (uint64_t)((double)ka * mult * 1000.0)); /* MQTT-3.1.2-24 */
    char uname_log[128];
    log_safe(uname_log, sizeof uname_log, mc->username);
    rmq_info("mqtt",
             "connected client_id=%s version=%u addr=%s listener=%s clean_start=%d "
             "session_present=%d keepalive=%u username=%s",
             mc->session->client_id, level, mc->addr, mc->listener, c->clean_start, present, ka,
             uname_log);
    if (present) {
        rmq_session_resend(b, mc->session);
    }
}

static void on_disconnect(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    const struct rmq_disconnect *d = &p->disconnect;
    if (mc->version == RMQ_MQTT_V5 && rmq_props_has(&d->props, RMQ_PROP_SESSION_EXPIRY) &&
        mc->session) {
        if (mc->expiry_was_zero && d->props.session_expiry != 0) {
            rmq_conn_fail(mc, RMQ_RC_PROTOCOL_ERROR,
                          "session expiry set after 0"); /* MQTT-3.14.2-2 */
            return;
        }
        mc->session->expiry_s = rmq_expiry_cap(mc->b, d->props.session_expiry);
    }
    bool will = mc->version == RMQ_MQTT_V5 && d->reason == RMQ_RC_DISCONNECT_WITH_WILL;
    /* MQTT-3.14.4-3: a normal DISCONNECT discards the will. */
    rmq_conn_end(mc, will, "client disconnect");
}

static void on_pingreq(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    (void)p;
    struct rmq_packet *r = mc->b->out_pkt;
    rmq_codec_packet_init(r, RMQ_PKT_PINGRESP);
    rmq_conn_send(mc, r);
}

static void on_auth(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    (void)p;
    /* No authentication method was agreed at CONNECT (MQTT-4.12.0-1). */
    rmq_conn_fail(mc, RMQ_RC_PROTOCOL_ERROR, "AUTH without authentication method");
}

static void on_protocol_error(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    char what[64];
    snprintf(what, sizeof what, "unexpected %s", rmq_pkt_type_name(p->type));
    rmq_conn_fail(mc, RMQ_RC_PROTOCOL_ERROR, what);
}

/* [state][packet type] -> handler; NULL = protocol error. */
static const handler_fn handlers[CS__COUNT][16] = {
    [CS_WAIT_CONNECT] = {[RMQ_PKT_CONNECT] = on_connect},
    [CS_CONNECTED] =
        {
            [RMQ_PKT_PUBLISH] = rmq_handle_publish,
            [RMQ_PKT_PUBACK] = rmq_handle_puback,
            [RMQ_PKT_PUBREC] = rmq_handle_pubrec,
            [RMQ_PKT_PUBREL] = rmq_handle_pubrel,
            [RMQ_PKT_PUBCOMP] = rmq_handle_pubcomp,
            [RMQ_PKT_SUBSCRIBE] = rmq_handle_subscribe,
            [RMQ_PKT_UNSUBSCRIBE] = rmq_handle_unsubscribe,
            [RMQ_PKT_PINGREQ] = on_pingreq,
            [RMQ_PKT_DISCONNECT] = on_disconnect,
            [RMQ_PKT_AUTH] = on_auth,
        },
};

static void decode_error(struct rmq_mqtt_conn *mc, const struct rmq_packet *p, uint8_t reason)
{
    if (mc->state == CS_WAIT_CONNECT) {
        uint8_t level = p->type == RMQ_PKT_CONNECT ? p->connect.proto_level : 0;
        if (p->type == RMQ_PKT_CONNECT &&
            (reason == RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION ||
             reason == RMQ_RC_CLIENT_ID_NOT_VALID || level == RMQ_MQTT_V5)) {
            /* MQTT-3.1.2-2 / 3.1.3-9 (v3: return codes 1 and 2); v5 3.2.2.2. */
            connack_fail(mc, level, reason, "malformed CONNECT");
            return;
        }
        RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "mqtt", "closing addr=%s reason=0x%02x (%s) before CONNECT",
                   mc->addr, reason, rmq_reason_name(reason));
        mc->state = CS_CLOSED;
        mc->io->close(mc->net);
        return;
    }
    rmq_conn_fail(mc, reason, "malformed packet");
}

size_t rmq_mqtt_conn_input(struct rmq_mqtt_conn *mc, const uint8_t *buf, size_t len)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    struct rmq_codec_limits lim = {0};
    lim.max_packet_size = cfg->max_packet_size > RMQ_MQTT_MAX_PACKET
                              ? RMQ_MQTT_MAX_PACKET
                              : (uint32_t)cfg->max_packet_size;
    lim.max_client_id_len = cfg->max_clientid_len > 65535 ? 65535 : (uint16_t)cfg->max_clientid_len;
    lim.role = RMQ_CODEC_ROLE_SERVER;
    size_t off = 0;
    struct rmq_packet *p = mc->b->in_pkt;
    /* A held publisher (flow.h) is not decoded further until resumed. */
    while (off < len && mc->state != CS_CLOSED && !rmq_flow_held(mc) && mc->publish_budget) {
        size_t used = 0;
        uint8_t reason = RMQ_RC_MALFORMED_PACKET;
        memset(p, 0, sizeof p->type);
        rmq_err e = rmq_codec_decode(buf + off, len - off, &lim, mc->version, p, &used, &reason);
        if (e == RMQ_ERR_NEED_MORE) {
            break;
        }
        if (e == RMQ_ERR_TOO_LARGE) {
            rmq_conn_fail(mc, RMQ_RC_PACKET_TOO_LARGE, "packet over max_packet_size");
            if (mc->state != CS_CLOSED) {
                mc->state = CS_CLOSED;
                mc->io->close(mc->net);
            }
            break;
        }
        if (e != RMQ_OK) {
            decode_error(mc, p, reason);
            break;
        }
        off += used;
        unsigned t = (unsigned)p->type & 15u;
        if (t == RMQ_PKT_PUBLISH) {
            mc->publishes_in++;
            mc->publish_budget -= mc->publish_budget != UINT64_MAX;
        }
        handler_fn h = handlers[mc->state][t];
        if (h) {
            h(mc, p);
        } else {
            on_protocol_error(mc, p);
        }
    }
    return mc->state == CS_CLOSED ? len : off;
}
