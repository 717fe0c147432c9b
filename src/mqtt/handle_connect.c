/*
 * handle_connect.c — the connection state machine table, the input loop,
 * CONNECT (client id, authentication and principal, takeover by the session's
 * owner only, session resume, will, CONNACK), DISCONNECT, PINGREQ and AUTH.
 * See mqtt.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "mqtt/core.h"
#include "mqtt/topic.h"

typedef void (*handler_fn)(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);

/* CONNACK refusal: v5 reason code, v3 mapped return code; then close. */
static void connack_fail(struct rmq_mqtt_conn *mc, uint8_t level, uint8_t reason, const char *what)
{
    struct rmq_packet p_pkt;
    struct rmq_packet *p = &p_pkt;
    rmq_codec_packet_init(p, RMQ_PKT_CONNACK);
    p->connack.reason = rmq_reason_for(RMQ_PKT_CONNACK, reason);
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
        return pi->cn != NULL && pi->cn[0] ? pi->cn : NULL;
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

/* The settings of the listener the connection came in on (NULL if unknown):
 * by its id ("ws:default" is not "tcp:default"). */
static const struct rmq_listener_settings *listener_of(const struct rmq_mqtt_conn *mc)
{
    return rmq_settings_listener_by_id(mc->b->settings, mc->listener);
}

/* The peer address without its port, for the failed-attempt slow-down. */
static void addr_ip(const char *addr, char *ip, size_t n)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    size_t len = colon ? (size_t)(colon - addr) : (addr ? strlen(addr) : 0);
    snprintf(ip, n, "%.*s", (int)len, addr ? addr : "");
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A peer-supplied string fit for one key=value log field (see below). */
static void log_safe(char *dst, size_t n, const char *src);

/* Refuses the CONNECT for bad credentials: the log says why, never the password;
 * the client only learns 0x86 / 4. */
static void authn_refuse(struct rmq_mqtt_conn *mc, uint8_t level, const struct rmq_connect *c,
                         const char *why)
{
    char u[128];
    char *tmp = c->has_username ? strndup((const char *)c->username.p, c->username.len) : NULL;
    log_safe(u, sizeof u, tmp);
    free(tmp);
    RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "authn",
               "authentication failed addr=%s listener=%s username=%s reason=\"%s\"", mc->addr,
               mc->listener ? mc->listener : "-", u, why);
    rmq_metrics_inc(RMQ_M_AUTH_FAILURE);
    connack_fail(mc, level, RMQ_RC_BAD_USERNAME_OR_PASSWORD, "bad username or password");
}

enum authn_step { AUTHN_OK, AUTHN_REFUSED, AUTHN_PENDING };

static void on_connect(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);

/* The codec limits for this connection's input. */
static void input_limits(const struct rmq_mqtt_conn *mc, struct rmq_codec_limits *lim)
{
    const struct rmq_mqtt_settings *cfg = mc->b->cfg;
    memset(lim, 0, sizeof *lim);
    lim->max_packet_size = cfg->max_packet_size > RMQ_MQTT_MAX_PACKET
                               ? RMQ_MQTT_MAX_PACKET
                               : (uint32_t)cfg->max_packet_size;
    lim->max_client_id_len =
        cfg->max_clientid_len > 65535 ? 65535 : (uint16_t)cfg->max_clientid_len;
    lim->role = RMQ_CODEC_ROLE_SERVER;
}

/*
 * The verifier thread is done with this connection's password (core thread,
 * from rmq_mqtt_authn_poll): the kept CONNECT is decoded again and either
 * refused or handled to the end, then reading resumes.
 */
static void authn_done(void *arg, enum rmq_authn_result r, const char *why, bool superuser)
{
    struct rmq_mqtt_conn *mc = arg;
    struct rmq_mqtt *b = mc->b;
    struct rmq_packet pkt;
    struct rmq_packet *p = &pkt;
    struct rmq_codec_limits lim;
    size_t used = 0;
    uint8_t reason = 0;
    char ip[64];
    mc->authn_job = NULL;
    addr_ip(mc->addr, ip, sizeof ip);
    rmq_authn_throttle_end(b->authn, ip);
    input_limits(mc, &lim);
    memset(p, 0, sizeof p->type);
    rmq_err e = rmq_codec_decode(mc->connect_raw, mc->connect_raw_len, &lim, 0, p, &used, &reason);
    mc->state = CS_WAIT_CONNECT;
    if (e != RMQ_OK || p->type != RMQ_PKT_CONNECT) { /* decoded once already: cannot happen */
        mc->state = CS_CLOSED;
        mc->io->close(mc->net);
    } else if (r != RMQ_AUTHN_ALLOW) {
        rmq_authn_throttle_fail(b->authn, ip, mono_ms());
        authn_refuse(mc, p->connect.proto_level, &p->connect, why ? why : "refused");
    } else {
        rmq_authn_throttle_ok(b->authn, ip);
        mc->authn_done = true;
        mc->authn_superuser = superuser;
        on_connect(mc, p);
    }
    free(mc->connect_raw);
    mc->connect_raw = NULL;
    if (mc->state == CS_CONNECTED) {
        mc->io->hold_input(mc->net, false); /* packets sent behind the CONNECT */
    }
}

void rmq_mqtt_conn_authn_cancelled(struct rmq_mqtt_conn *mc)
{
    char ip[64];
    addr_ip(mc->addr, ip, sizeof ip);
    rmq_authn_throttle_end(mc->b->authn, ip);
    mc->authn_job = NULL;
}

/* Hands the password check to the verifier thread; the CONNECT waits. */
static enum authn_step authn_async(struct rmq_mqtt_conn *mc, const struct rmq_connect *c,
                                   const struct rmq_authn_req *req, const char *ip)
{
    if (!rmq_authn_throttle_begin(mc->b->authn, ip)) {
        authn_refuse(mc, c->proto_level, c,
                     "too many authentications in progress from this address");
        return AUTHN_REFUSED;
    }
    mc->connect_raw = malloc(mc->in_raw_len);
    if (mc->connect_raw == NULL) {
        rmq_authn_throttle_end(mc->b->authn, ip);
        connack_fail(mc, mc->version, RMQ_RC_SERVER_UNAVAILABLE, "out of memory");
        return AUTHN_REFUSED;
    }
    memcpy(mc->connect_raw, mc->in_raw, mc->in_raw_len);
    mc->connect_raw_len = mc->in_raw_len;
    mc->authn_job = rmq_authn_start(mc->b->authn, req, authn_done, mc);
    if (mc->authn_job == NULL) {
        rmq_authn_throttle_end(mc->b->authn, ip);
        free(mc->connect_raw);
        mc->connect_raw = NULL;
        connack_fail(mc, mc->version, RMQ_RC_SERVER_UNAVAILABLE, "out of memory");
        return AUTHN_REFUSED;
    }
    mc->state = CS_AUTHENTICATING;
    mc->io->hold_input(mc->net, true);
    return AUTHN_PENDING;
}

/* The authentication chain, after the slow-down check: off the core thread
 * when the net layer can hold input (AUTHN_PENDING), else inline. */
static enum authn_step authn_chain(struct rmq_mqtt_conn *mc, const struct rmq_connect *c,
                                   const char *id, size_t id_len, bool *superuser)
{
    struct rmq_mqtt *b = mc->b;
    char ip[64], why[96];
    addr_ip(mc->addr, ip, sizeof ip);
    uint64_t now = mono_ms();
    uint64_t left = rmq_authn_throttle_left(b->authn, ip, now);
    if (left > 0) {
        snprintf(why, sizeof why, "slowed down after failed attempts, retry in %" PRIu64 " ms",
                 left);
        authn_refuse(mc, c->proto_level, c, why);
        return AUTHN_REFUSED;
    }
    struct rmq_authn_req req = {
        .username = c->has_username ? (const char *)c->username.p : NULL,
        .username_len = c->has_username ? c->username.len : 0,
        .clientid = id,
        .clientid_len = id_len,
        .password = c->has_password ? c->password.p : NULL,
        .password_len = c->has_password ? c->password.len : 0,
    };
    if (mc->io->hold_input != NULL && mc->in_raw != NULL) {
        return authn_async(mc, c, &req, ip);
    }
    const char *reason = NULL;
    if (rmq_authn_check(b->authn, &req, &reason, superuser) != RMQ_AUTHN_ALLOW) {
        rmq_authn_throttle_fail(b->authn, ip, now);
        authn_refuse(mc, c->proto_level, c, reason ? reason : "refused");
        return AUTHN_REFUSED;
    }
    rmq_authn_throttle_ok(b->authn, ip);
    return AUTHN_OK;
}

/*
 * Decides who the client is (the principal's kind): a verified certificate
 * needs nothing more; otherwise the listener's enable_authn and the
 * authentication chain decide. AUTHN_REFUSED: CONNACK sent; AUTHN_PENDING:
 * the password is being checked, on_connect runs again when it is done.
 */
static enum authn_step authenticate(struct rmq_mqtt_conn *mc, const struct rmq_connect *c,
                                    const char *id, size_t id_len, enum rmq_principal_kind *kind,
                                    bool *superuser)
{
    const struct rmq_listener_settings *ls = listener_of(mc);
    int mode = ls ? ls->enable_authn : RMQ_ENABLE_AUTHN_TRUE;
    *superuser = false;
    *kind = RMQ_PRINCIPAL_ANONYMOUS;
    if (mc->authn_done) { /* resumed after the off-thread check */
        *kind = RMQ_PRINCIPAL_USER;
        *superuser = mc->authn_superuser;
        return AUTHN_OK;
    }
    if (mc->peer != NULL && mc->peer->has_cert) {
        *kind = RMQ_PRINCIPAL_CERT;
        return AUTHN_OK;
    }
    if (mode == RMQ_ENABLE_AUTHN_FALSE) {
        return AUTHN_OK;
    }
    if (mode == RMQ_ENABLE_AUTHN_QUICK_DENY && !c->has_username) {
        authn_refuse(mc, c->proto_level, c, "anonymous client (quick_deny_anonymous)");
        return AUTHN_REFUSED;
    }
    if (!rmq_authn_enabled(mc->b->authn)) {
        return AUTHN_OK; /* no authenticator: everyone is let in, as in EMQX */
    }
    enum authn_step st = authn_chain(mc, c, id, id_len, superuser);
    if (st == AUTHN_OK) {
        *kind = RMQ_PRINCIPAL_USER;
    }
    return st;
}

/* mqtt.session_owner_only: a session is taken over or resumed only by its owner. */
static bool owner_check(struct rmq_mqtt_conn *mc, const char *id, size_t id_len)
{
    struct session *s = rmq_session_find(mc->b, id, id_len);
    if (s == NULL || rmq_session_owner_ok(mc->b, s, mc->principal)) {
        return true;
    }
    char owner[900], client[900], cid[128];
    rmq_principal_describe(s->owner, "owner_", owner, sizeof owner);
    rmq_principal_describe(mc->principal, "", client, sizeof client);
    log_safe(cid, sizeof cid, s->client_id);
    RMQ_LOG_RL(10, RMQ_LOG_WARNING, "mqtt",
               "session takeover refused client_id=%s addr=%s listener=%s %s %s", cid, mc->addr,
               mc->listener ? mc->listener : "-", client, owner);
    /* MQTT 5 3.2.2.2 0x87 Not authorized; 3.1.1 return code 5 */
    connack_fail(mc, mc->version, RMQ_RC_NOT_AUTHORIZED,
                 "client id in use by a session of another principal");
    return false;
}

static void takeover(struct rmq_mqtt *b, struct session *s)
{
    struct rmq_mqtt_conn *old = s->conn;
    rmq_info("mqtt", "session taken over client_id=%s old_addr=%s", s->client_id, old->addr);
    /* MQTT-3.1.4-3; v5: DISCONNECT 0x8E. The old connection's will is handled
     * as for any abnormal end (delayed wills are cancelled by the resume). */
    rmq_mqtt_conn_close(old, RMQ_CLOSE_TAKEOVER);
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
static uint32_t expiry_cap(const struct rmq_mqtt *b, uint32_t req)
{
    uint64_t max = b->cfg->session_expiry_interval / 1000;
    return (uint64_t)req > max ? (uint32_t)max : req;
}

static void attach_session(struct rmq_mqtt_conn *mc, const struct rmq_connect *c, const char *id,
                           size_t id_len, bool *present, bool *ok)
{
    struct rmq_mqtt *b = mc->b;
    struct session *s = rmq_session_find(b, id, id_len);
    *present = false;
    *ok = true;
    if (s && s->conn) {
        takeover(b, s);
        s = rmq_session_find(b, id, id_len); /* the old one may have ended */
    }
    if (s && (c->clean_start || (s->expire_at && s->expire_at <= rmq_now_ms()))) {
        /* Clean start, or expired (restored from the store, or not yet seen
         * by the tick): publishes a pending delayed will. */
        rmq_session_destroy(b, s);
        s = NULL;
    }
    if (s) {
        *present = true;
        /* MQTT-3.1.2-8: a will whose delay has passed is due, even when the
         * tick has not published it yet; MQTT-3.1.3-9: one still waiting is
         * cancelled by the resume. */
        if (s->will && s->will_at <= rmq_now_ms()) {
            rmq_session_publish_will(b, s);
        }
        rmq_msg_unref(s->will);
        s->will = NULL;
        rmq_persist_will(b, s);
        s->expire_at = 0;
    } else {
        s = rmq_session_create(b, id, id_len);
        if (!s) {
            *ok = false;
            return;
        }
    }
    if (!rmq_session_set_owner(s, mc->principal)) {
        *ok = false;
        return;
    }
    s->conn = mc;
    mc->session = s;
    rmq_session_pending_update(b, s);
    if (c->proto_level == RMQ_MQTT_V5) {
        uint32_t req =
            rmq_props_has(&c->props, RMQ_PROP_SESSION_EXPIRY) ? c->props.session_expiry : 0;
        s->expiry_s = expiry_cap(b, req);
        mc->expiry_was_zero = req == 0;
    } else {
        uint64_t sec = b->cfg->session_expiry_interval / 1000;
        s->expiry_s = c->clean_start ? 0 : (sec >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)sec);
    }
    rmq_persist_session(b, s, true); /* with its owner: only it may resume after a restart */
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
    struct rmq_mqtt *b = mc->b;
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
    enum rmq_principal_kind kind;
    bool superuser;
    if (authenticate(mc, c, id, id_len, &kind, &superuser) != AUTHN_OK) {
        return;
    }
    const char *uname = peer_field(mc->peer, cfg->peer_cert_as_username);
    if (uname) {
        mc->username = strdup(uname);
    } else if (c->has_username) {
        mc->username = strndup((const char *)c->username.p, c->username.len);
    }
    mc->principal = rmq_principal_new(kind, mc->username, id, id_len, mc->addr, mc->peer);
    if (!mc->principal) {
        connack_fail(mc, level, RMQ_RC_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    mc->principal->superuser = kind == RMQ_PRINCIPAL_USER && superuser;
    if (!owner_check(mc, id, id_len)) {
        return;
    }
    if (!will_setup(mc, c, &reason, &what)) {
        connack_fail(mc, level, reason, what);
        return;
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
    struct rmq_packet ack_pkt;
    struct rmq_packet *ack = &ack_pkt;
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
    char uname_log[128], who[900];
    log_safe(uname_log, sizeof uname_log, mc->username);
    /* the principal's fields, then username= last (a user principal's name is that) */
    if (mc->principal->kind == RMQ_PRINCIPAL_USER) {
        snprintf(who, sizeof who, "principal=user");
    } else {
        rmq_principal_describe(mc->principal, "", who, sizeof who);
    }
    rmq_info("mqtt",
             "connected client_id=%s version=%u addr=%s listener=%s clean_start=%d "
             "session_present=%d keepalive=%u %s username=%s",
             mc->session->client_id, level, mc->addr, mc->listener, c->clean_start, present, ka,
             who, uname_log);
    if (present) {
        rmq_conn_authz_recheck_subs(mc); /* the rules may have changed while it was away */
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
        mc->session->expiry_s = expiry_cap(mc->b, d->props.session_expiry);
    }
    bool will = mc->version == RMQ_MQTT_V5 && d->reason == RMQ_RC_DISCONNECT_WITH_WILL;
    /* MQTT-3.14.4-3: a normal DISCONNECT discards the will. */
    rmq_conn_end(mc, will, "client disconnect");
}

static void on_pingreq(struct rmq_mqtt_conn *mc, const struct rmq_packet *p)
{
    (void)p;
    struct rmq_packet r_pkt;
    struct rmq_packet *r = &r_pkt;
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
    struct rmq_codec_limits lim;
    input_limits(mc, &lim);
    size_t off = 0;
    struct rmq_packet p_pkt;
    struct rmq_packet *p = &p_pkt;
    /* CS_AUTHENTICATING: what follows the CONNECT waits for its verdict; a held
     * publisher (flow.h) is not decoded further until resumed. */
    while (off < len && mc->state != CS_CLOSED && mc->state != CS_AUTHENTICATING &&
           !rmq_flow_held(mc) && mc->publish_budget) {
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
        mc->in_raw = buf + off;
        mc->in_raw_len = used;
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
        mc->in_raw = NULL;
    }
    rmq_persist_input_done(mc->b); /* group commit: one fsync for many reads, then the acks */
    return mc->state == CS_CLOSED ? len : off;
}
