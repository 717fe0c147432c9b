/*
 * conn_authz.c — the MQTT core's calls into authorization (auth/acl.h): who
 * a connection is, and what a refusal looks like for each kind of packet.
 * The handlers call one function per check point; everything about rules,
 * caching and reload is in src/auth.
 *
 * Threads: the core thread, like every struct rmq_mqtt_conn.
 */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "common/log.h"
#include "common/metrics.h"
#include "mqtt/core.h"
#include "mqtt/topic.h"

/*
 * The identity ACL rules see. This is the one place that reads it off the
 * connection (username as CONNECT or mqtt.peer_cert_as_username set it, the
 * session's client id, the verified certificate's CN and subject, the peer
 * address); a principal object can replace these fields here alone.
 */
static void conn_identity(const struct rmq_mqtt_conn *mc, struct rmq_acl_identity *id)
{
    memset(id, 0, sizeof *id);
    const struct rmq_principal *p = mc->principal;
    if (p != NULL) { /* set when CONNECT was accepted: what was proven */
        id->username = p->username;
        id->clientid = p->clientid;
        id->cert_cn = rmq_principal_cn(p);
        id->cert_subject = rmq_principal_subject(p);
    } else {
        id->username = mc->username;
        id->clientid = mc->session ? mc->session->client_id : NULL;
        if (mc->peer && mc->peer->has_cert) {
            id->cert_cn = mc->peer->cn != NULL && mc->peer->cn[0] ? mc->peer->cn : NULL;
            id->cert_subject = mc->peer->dn;
        }
    }
    (void)rmq_acl_identity_set_addr(id, mc->addr);
}

/* A peer-supplied string for one log field: printable ASCII kept, the rest '?'. */
static void log_field(char *dst, size_t n, const char *src, size_t len)
{
    size_t i = 0;
    for (; src && i < len && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    dst[i] = '\0';
    if (i == 0) {
        snprintf(dst, n, "-");
    }
}

bool rmq_session_authz_will(const struct session *s, const struct rmq_msg *will)
{
    struct rmq_authz *a = rmq_authz_installed();
    const struct rmq_principal *p = s->owner;
    if (!a) {
        return true;
    }
    if (p != NULL && p->superuser) {
        return true;
    }
    struct rmq_acl_identity id;
    memset(&id, 0, sizeof id);
    if (p != NULL) {
        id.username = p->username;
        id.clientid = p->clientid;
        id.cert_cn = rmq_principal_cn(p);
        id.cert_subject = rmq_principal_subject(p);
        (void)rmq_acl_identity_set_addr(&id, p->peer_addr);
    } else {
        id.clientid = s->client_id;
    }
    struct rmq_authz_client *c = rmq_authz_client_new(&id);
    const char *rule = NULL;
    bool ok = c != NULL && rmq_authz_check(a, c, RMQ_ACL_PUBLISH, will->topic, will->topic_len,
                                           will->qos, will->retain, rmq_now_ms(), &rule);
    rmq_authz_client_free(c);
    if (!ok) {
        rmq_metrics_inc(RMQ_M_ACL_DENIED);
        rmq_info("authz", "delayed will dropped, not authorized client_id=%s topic=%s rule=%s",
                 s->client_id, will->topic, rule ? rule : "out_of_memory");
    }
    return ok;
}

bool rmq_conn_authz_allowed(struct rmq_mqtt_conn *mc, enum rmq_acl_action action, const char *topic,
                            size_t len, uint8_t qos, bool retain)
{
    struct rmq_authz *a = rmq_authz_installed();
    if (!a) {
        return true;
    }
    if (mc->principal != NULL && mc->principal->superuser) {
        return true; /* EMQX: is_superuser of the authenticated user skips authorization */
    }
    if (!mc->acl) {
        struct rmq_acl_identity id;
        conn_identity(mc, &id);
        if (!(mc->acl = rmq_authz_client_new(&id))) {
            RMQ_LOG_RL(1, RMQ_LOG_WARNING, "authz", "out of memory: request refused");
            return false; /* fail closed */
        }
    }
    const char *rule = NULL;
    if (rmq_authz_check(a, mc->acl, action, topic, len, qos, retain, rmq_now_ms(), &rule)) {
        return true;
    }
    rmq_metrics_inc(RMQ_M_ACL_DENIED);
    char t[160], u[80];
    log_field(t, sizeof t, topic, len);
    log_field(u, sizeof u, mc->username, mc->username ? strlen(mc->username) : 0);
    RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "authz",
               "denied client_id=%s username=%s addr=%s action=%s topic=%s qos=%u retain=%d "
               "rule=%s",
               rmq_mqtt_conn_client_id(mc), u, mc->addr,
               action == RMQ_ACL_PUBLISH ? "publish" : "subscribe", t, qos, retain, rule);
    return false;
}

bool rmq_conn_authz_publish(struct rmq_mqtt_conn *mc, const char *topic, size_t len, uint8_t qos,
                            bool retain, uint16_t pid, bool *stop)
{
    *stop = false;
    if (rmq_conn_authz_allowed(mc, RMQ_ACL_PUBLISH, topic, len, qos, retain)) {
        return true;
    }
    *stop = true;
    if (rmq_authz_disconnect_on_deny(rmq_authz_installed())) {
        rmq_conn_fail(mc, RMQ_RC_NOT_AUTHORIZED, "publish not authorized");
    } else if (qos > 0 && mc->version == RMQ_MQTT_V5) {
        /* MQTT 5 3.4.2.1 / 3.5.2.1: the refusal is the ack's reason code. */
        rmq_persist_ack(mc, qos == 1 ? RMQ_PKT_PUBACK : RMQ_PKT_PUBREC, pid,
                        RMQ_RC_NOT_AUTHORIZED); /* behind its held acks (MQTT 4.6) */
    } else if (qos > 0) {
        *stop = false; /* 3.1.1 has no refusal: acknowledged, not routed (as EMQX) */
    }
    return false;
}

/* Whether the subscription stored under `f` (a filter, maybe $share/g/…) is allowed. */
static bool sub_allowed(struct rmq_mqtt_conn *mc, const char *f, size_t len, uint8_t qos)
{
    struct rmq_topic_shared sh;
    if (rmq_topic_split_shared(f, len, &sh) != RMQ_OK) {
        return false;
    }
    return rmq_conn_authz_allowed(mc, RMQ_ACL_SUBSCRIBE, sh.filter, sh.filter_len, qos, false);
}

void rmq_conn_authz_recheck_subs(struct rmq_mqtt_conn *mc)
{
    struct session *s = mc->session;
    if (!s || !rmq_authz_installed() || s->subs.count == 0) {
        return;
    }
    size_t n = 0, it;
    char **gone = calloc(s->subs.count, sizeof *gone);
    if (!gone) {
        return;
    }
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&s->subs, &it); e;
         e = rmq_hmap_next(&s->subs, e, &it)) {
        const struct rmq_sub_opts *o = e->value;
        if (!sub_allowed(mc, e->key, e->klen, o->qos) && (gone[n] = strndup(e->key, e->klen))) {
            n++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(gone[i]);
        rmq_router_remove(mc->b->router, gone[i], len, s);
        free(rmq_hmap_del(&s->subs, gone[i], len));
        rmq_persist_sub(mc->b, s, gone[i], len, NULL);
        char f[160];
        log_field(f, sizeof f, gone[i], len);
        rmq_notice("authz", "subscription removed, no longer authorized client_id=%s filter=%s",
                   s->client_id, f);
        free(gone[i]);
    }
    free(gone);
}

void rmq_conn_authz_tick(struct rmq_mqtt *b)
{
    struct rmq_authz *a = rmq_authz_installed();
    uint64_t gen = a ? rmq_authz_generation(a) : 0;
    if (gen == b->authz_gen) {
        return;
    }
    b->authz_gen = gen;
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&b->sessions, &it); e;
         e = rmq_hmap_next(&b->sessions, e, &it)) {
        struct session *s = e->value;
        if (s->conn && s->conn->state == CS_CONNECTED) {
            rmq_conn_authz_recheck_subs(s->conn);
        }
    }
}
