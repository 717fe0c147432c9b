/*
 * test_mqtt_codec_samples.h — sample packets of every type for the codec
 * unit tests (shared by test_mqtt_codec_*.c; header-only, static helpers).
 *
 * Properties per packet are listed here from the MQTT 5 spec (table 2-4),
 * independently of src/mqtt/props.c, so a round trip also checks that table.
 */
#ifndef TEST_MQTT_CODEC_SAMPLES_H
#define TEST_MQTT_CODEC_SAMPLES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqtt/codec.h"

static inline struct rmq_bytes S(const char *s) {
    struct rmq_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

/* Fills the listed properties with distinct values. */
static inline void
sample_props(struct rmq_props *p, const uint8_t *ids, size_t n)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        uint8_t id = ids[i];
        switch (id) {
        case RMQ_PROP_PAYLOAD_FORMAT:
            p->payload_format = 1;
            break;
        case RMQ_PROP_MESSAGE_EXPIRY:
            p->message_expiry = 3600;
            break;
        case RMQ_PROP_CONTENT_TYPE:
            p->content_type = S("text/plain");
            break;
        case RMQ_PROP_RESPONSE_TOPIC:
            p->response_topic = S("reply/here");
            break;
        case RMQ_PROP_CORRELATION_DATA:
            p->correlation_data = (struct rmq_bytes){(const uint8_t *)"\x00\x01\xff", 3};
            break;
        case RMQ_PROP_SUBSCRIPTION_ID:
            p->sub_ids[p->n_sub_ids++] = 1;
            p->sub_ids[p->n_sub_ids++] = 268435455;
            continue;
        case RMQ_PROP_SESSION_EXPIRY:
            p->session_expiry = 0xFFFFFFFF;
            break;
        case RMQ_PROP_ASSIGNED_CLIENT_ID:
            p->assigned_client_id = S("auto-1234");
            break;
        case RMQ_PROP_SERVER_KEEPALIVE:
            p->server_keepalive = 120;
            break;
        case RMQ_PROP_AUTH_METHOD:
            p->auth_method = S("SCRAM-SHA-256");
            break;
        case RMQ_PROP_AUTH_DATA:
            p->auth_data = (struct rmq_bytes){(const uint8_t *)"\x01\x00\x02", 3};
            break;
        case RMQ_PROP_REQUEST_PROBLEM_INFO:
            p->request_problem_info = 0;
            break;
        case RMQ_PROP_WILL_DELAY:
            p->will_delay = 30;
            break;
        case RMQ_PROP_REQUEST_RESPONSE_INFO:
            p->request_response_info = 1;
            break;
        case RMQ_PROP_RESPONSE_INFO:
            p->response_info = S("resp/");
            break;
        case RMQ_PROP_SERVER_REFERENCE:
            p->server_reference = S("other:1883");
            break;
        case RMQ_PROP_REASON_STRING:
            p->reason_string = S("because \xc3\xa9t\xc3\xa9");
            break;
        case RMQ_PROP_RECEIVE_MAXIMUM:
            p->receive_maximum = 10;
            break;
        case RMQ_PROP_TOPIC_ALIAS_MAXIMUM:
            p->topic_alias_maximum = 5;
            break;
        case RMQ_PROP_TOPIC_ALIAS:
            p->topic_alias = 3;
            break;
        case RMQ_PROP_MAXIMUM_QOS:
            p->maximum_qos = 1;
            break;
        case RMQ_PROP_RETAIN_AVAILABLE:
            p->retain_available = 0;
            break;
        case RMQ_PROP_USER_PROPERTY:
            p->user_props[0] = (struct rmq_user_prop){S("k"), S("v")};
            p->user_props[1] = (struct rmq_user_prop){S("k"), S("v2")}; /* repeats allowed */
            p->user_props[2] = (struct rmq_user_prop){S(""), S("")};
            p->n_user_props = 3;
            continue;
        case RMQ_PROP_MAXIMUM_PACKET_SIZE:
            p->maximum_packet_size = 65536;
            break;
        case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
            p->wildcard_sub_available = 1;
            break;
        case RMQ_PROP_SUB_ID_AVAILABLE:
            p->sub_id_available = 0;
            break;
        case RMQ_PROP_SHARED_SUB_AVAILABLE:
            p->shared_sub_available = 1;
            break;
        default:
            break;
        }
        rmq_props_set(p, (enum rmq_prop_id)id);
    }
}

#define SAMPLE_PROPS(p, ...)                                                                       \
    do {                                                                                           \
        static const uint8_t ids_[] = {__VA_ARGS__};                                               \
        sample_props((p), ids_, sizeof ids_);                                                      \
    } while (0)

/* Properties allowed per packet (MQTT 5 table 2-4). */
#define P_CONNECT 0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27
#define P_WILL 0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26
#define P_CONNACK                                                                                  \
    0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27, 0x28,      \
        0x29, 0x2A
#define P_PUBLISH_C2S 0x01, 0x02, 0x03, 0x08, 0x09, 0x23, 0x26
#define P_PUBLISH_S2C 0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26
#define P_ACK 0x1F, 0x26
#define P_SUBSCRIBE 0x26
#define P_DISCONNECT 0x11, 0x1C, 0x1F, 0x26
#define P_AUTH 0x15, 0x16, 0x1F, 0x26

enum { SAMPLE_MAX = 40 };

/* One sample: the packet and the role that decodes it. */
struct sample {
    struct rmq_packet pkt;
    uint8_t role;
    const char *what;
};

static inline struct sample *sample_add(struct sample *s, size_t *n, enum rmq_pkt_type t,
                                        uint8_t role, const char *what)
{
    struct sample *x = &s[(*n)++];
    memset(x, 0, sizeof *x);
    x->pkt.type = t;
    x->role = role;
    x->what = what;
    return x;
}

static inline void sample_connects(struct sample *s, size_t *n, uint8_t v)
{
    bool v5 = v == RMQ_MQTT_V5;
    struct rmq_connect *c = &sample_add(s, n, RMQ_PKT_CONNECT, 0, "connect full")->pkt.connect;
    c->proto_level = v;
    c->clean_start = true;
    c->keepalive = 60;
    c->client_id = S("client-\xe2\x82\xac");
    c->will = true;
    c->will_qos = 2;
    c->will_retain = true;
    c->will_topic = S("last/will");
    c->will_payload = (struct rmq_bytes){(const uint8_t *)"bye\x00!", 5};
    c->has_username = true;
    c->username = S("user");
    c->has_password = true;
    c->password = (struct rmq_bytes){(const uint8_t *)"p\x00w", 3};
    if (v5) {
        SAMPLE_PROPS(&c->props, P_CONNECT);
        SAMPLE_PROPS(&c->will_props, P_WILL);
    }
    c = &sample_add(s, n, RMQ_PKT_CONNECT, 0, "connect minimal")->pkt.connect;
    c->proto_level = v;
    c->clean_start = v != RMQ_MQTT_V31;
    c->client_id = v == RMQ_MQTT_V31 ? S("c") : S("");
}

static inline void sample_publishes(struct sample *s, size_t *n, uint8_t v)
{
    bool v5 = v == RMQ_MQTT_V5;
    for (uint8_t qos = 0; qos <= 2; qos++) {
        struct rmq_publish *p =
            &sample_add(s, n, RMQ_PKT_PUBLISH, RMQ_CODEC_ROLE_SERVER, "publish c2s")->pkt.publish;
        p->qos = qos;
        p->dup = qos > 0;
        p->retain = qos == 1;
        p->topic = S("a/b/c");
        p->packet_id = qos ? (uint16_t)(0xFFFF - qos) : 0;
        p->payload = S("hello world");
        if (v5) {
            SAMPLE_PROPS(&p->props, P_PUBLISH_C2S);
        }
    }
    struct rmq_publish *p =
        &sample_add(s, n, RMQ_PKT_PUBLISH, RMQ_CODEC_ROLE_CLIENT, "publish s2c")->pkt.publish;
    p->qos = 1;
    p->packet_id = 7;
    p->topic = v5 ? S("") : S("x");
    if (v5) {
        SAMPLE_PROPS(&p->props, P_PUBLISH_S2C); /* empty topic + alias */
    }
}

static inline void sample_acks(struct sample *s, size_t *n, uint8_t v)
{
    bool v5 = v == RMQ_MQTT_V5;
    static const enum rmq_pkt_type types[] = {RMQ_PKT_PUBACK, RMQ_PKT_PUBREC, RMQ_PKT_PUBREL,
                                              RMQ_PKT_PUBCOMP};
    for (size_t i = 0; i < 4; i++) {
        struct rmq_ack *a = &sample_add(s, n, types[i], 0, "ack")->pkt.ack;
        a->packet_id = (uint16_t)(i + 1);
        if (v5) {
            a->reason = types[i] == RMQ_PKT_PUBREL || types[i] == RMQ_PKT_PUBCOMP ? 0x92 : 0x10;
            SAMPLE_PROPS(&a->props, P_ACK);
        }
        a = &sample_add(s, n, types[i], 0, "ack short")->pkt.ack;
        a->packet_id = 0x1234;
    }
    if (v5) {
        struct rmq_ack *a = &sample_add(s, n, RMQ_PKT_PUBACK, 0, "ack reason only")->pkt.ack;
        a->packet_id = 9;
        a->reason = 0x87;
    }
}

static inline void sample_subs(struct sample *s, size_t *n, uint8_t v)
{
    bool v5 = v == RMQ_MQTT_V5;
    struct rmq_subscribe *sb = &sample_add(s, n, RMQ_PKT_SUBSCRIBE, 0, "subscribe")->pkt.subscribe;
    sb->packet_id = 10;
    const char *filters[] = {"a/+/c", "#", "$share/g/x/#", "$SYS/x"};
    for (unsigned i = 0; i < 4; i++) {
        struct rmq_sub_entry *e = &sb->entries[sb->n_entries++];
        e->filter = S(filters[i]);
        e->qos = (uint8_t)(i % 3);
        if (v5) {
            e->no_local = i == 1;
            e->retain_as_published = i == 0;
            e->retain_handling = (uint8_t)(i % 3);
        }
    }
    if (v5) {
        SAMPLE_PROPS(&sb->props, P_SUBSCRIBE);
        sb->props.sub_ids[0] = 42;
        sb->props.n_sub_ids = 1;
    }
    struct rmq_suback *sa =
        &sample_add(s, n, RMQ_PKT_SUBACK, RMQ_CODEC_ROLE_CLIENT, "suback")->pkt.suback;
    sa->packet_id = 10;
    sa->n_reasons = 4;
    memcpy(sa->reasons, v5 ? "\x00\x01\x02\x8f" : "\x00\x01\x02\x80", 4);
    if (v5) {
        SAMPLE_PROPS(&sa->props, P_ACK);
    }
    struct rmq_unsubscribe *u =
        &sample_add(s, n, RMQ_PKT_UNSUBSCRIBE, 0, "unsubscribe")->pkt.unsubscribe;
    u->packet_id = 11;
    u->n_filters = 2;
    u->filters[0] = S("a/+/c");
    u->filters[1] = S("#");
    if (v5) {
        SAMPLE_PROPS(&u->props, P_SUBSCRIBE);
    }
    struct rmq_suback *ua =
        &sample_add(s, n, RMQ_PKT_UNSUBACK, RMQ_CODEC_ROLE_CLIENT, "unsuback")->pkt.unsuback;
    ua->packet_id = 11;
    if (v5) {
        ua->n_reasons = 2;
        ua->reasons[0] = 0x00;
        ua->reasons[1] = 0x11;
        SAMPLE_PROPS(&ua->props, P_ACK);
    }
}

static inline void sample_others(struct sample *s, size_t *n, uint8_t v)
{
    bool v5 = v == RMQ_MQTT_V5;
    struct rmq_connack *ca =
        &sample_add(s, n, RMQ_PKT_CONNACK, RMQ_CODEC_ROLE_CLIENT, "connack")->pkt.connack;
    ca->session_present = true;
    if (v5) {
        SAMPLE_PROPS(&ca->props, P_CONNACK);
    }
    ca = &sample_add(s, n, RMQ_PKT_CONNACK, RMQ_CODEC_ROLE_CLIENT, "connack refused")->pkt.connack;
    ca->reason = RMQ_RC_NOT_AUTHORIZED;
    sample_add(s, n, RMQ_PKT_PINGREQ, 0, "pingreq");
    sample_add(s, n, RMQ_PKT_PINGRESP, RMQ_CODEC_ROLE_CLIENT, "pingresp");
    sample_add(s, n, RMQ_PKT_DISCONNECT, 0, "disconnect");
    if (v5) {
        struct rmq_disconnect *d =
            &sample_add(s, n, RMQ_PKT_DISCONNECT, 0, "disconnect props")->pkt.disconnect;
        d->reason = RMQ_RC_DISCONNECT_WITH_WILL;
        SAMPLE_PROPS(&d->props, P_DISCONNECT);
        d = &sample_add(s, n, RMQ_PKT_DISCONNECT, 0, "disconnect reason")->pkt.disconnect;
        d->reason = RMQ_RC_ADMINISTRATIVE_ACTION;
        struct rmq_auth *a = &sample_add(s, n, RMQ_PKT_AUTH, 0, "auth")->pkt.auth;
        a->reason = RMQ_RC_CONTINUE_AUTHENTICATION;
        SAMPLE_PROPS(&a->props, P_AUTH);
        sample_add(s, n, RMQ_PKT_AUTH, 0, "auth empty");
    }
}

/* Every packet type valid for version v; returns the count. */
static inline size_t make_samples(struct sample *s, uint8_t v)
{
    size_t n = 0;
    sample_connects(s, &n, v);
    sample_publishes(s, &n, v);
    sample_acks(s, &n, v);
    sample_subs(s, &n, v);
    sample_others(s, &n, v);
    return n;
}

/* The version argument to pass to rmq_codec_decode for a sample. */
static inline uint8_t decode_version(const struct sample *x, uint8_t v)
{
    return x->pkt.type == RMQ_PKT_CONNECT ? 0 : v;
}

#endif
