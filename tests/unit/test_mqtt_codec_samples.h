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

/* The i-th element of a list (codec.h LISTS); the element is zeroed and the
 * call fails the test (via the returned false) when there is none. */
static inline struct rmq_user_prop
nth_user_prop(struct rmq_bytes run, size_t i)
{
    struct rmq_iter it = rmq_iter_of(run);
    struct rmq_user_prop up = {{0}, {0}};
    for (size_t k = 0; k <= i; k++) {
        if (rmq_user_prop_next(&it, &up) != RMQ_OK) {
            return (struct rmq_user_prop){{(const uint8_t *)"<none>", 6}, {0}};
        }
    }
    return up;
}
static inline uint32_t nth_sub_id(struct rmq_bytes run, size_t i)
{
    struct rmq_iter it = rmq_iter_of(run);
    uint32_t v = 0;
    for (size_t k = 0; k <= i; k++) {
        if (rmq_sub_id_next(&it, &v) != RMQ_OK) {
            return 0;
        }
    }
    return v;
}
static inline struct rmq_sub_entry nth_entry(struct rmq_bytes run, size_t i)
{
    struct rmq_iter it = rmq_iter_of(run);
    struct rmq_sub_entry e;
    memset(&e, 0, sizeof e);
    for (size_t k = 0; k <= i; k++) {
        if (rmq_sub_entry_next(&it, &e) != RMQ_OK) {
            memset(&e, 0, sizeof e);
            e.filter = (struct rmq_bytes){(const uint8_t *)"<none>", 6};
            return e;
        }
    }
    return e;
}
static inline struct rmq_bytes nth_filter(struct rmq_bytes run, size_t i)
{
    struct rmq_iter it = rmq_iter_of(run);
    struct rmq_bytes f = {(const uint8_t *)"<none>", 6};
    for (size_t k = 0; k <= i; k++) {
        if (rmq_filter_next(&it, &f) != RMQ_OK) {
            return (struct rmq_bytes){(const uint8_t *)"<none>", 6};
        }
    }
    return f;
}

/* Wire forms of the sample lists. */
#define SAMPLE_SUB_IDS "\x0b\x01\x0b\xff\xff\xff\x7f" /* 1, 268435455 */
#define SAMPLE_USER_PROPS                                                                          \
    "\x26\x00\x01k\x00\x01v\x26\x00\x01k\x00\x02v2\x26\x00\x00\x00\x00" /* repeats allowed */
#define LIT(s) ((struct rmq_bytes){(const uint8_t *)(s), sizeof(s) - 1})

/* Fills the listed properties with distinct values. */
static inline void sample_props(struct rmq_props *p, const uint8_t *ids, size_t n)
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
            p->sub_ids = LIT(SAMPLE_SUB_IDS);
            p->n_sub_ids = 2;
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
            p->user_props = LIT(SAMPLE_USER_PROPS);
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
    /* "a/+/c" "#" "$share/g/x/#" "$SYS/x" with QoS 0 1 2 0; v5 also: retain
     * as published on the first, no local on the second, retain handling
     * 0 1 2 0. */
    sb->entries = v5 ? LIT("\x00\x05"
                           "a/+/c\x08\x00\x01#\x15\x00\x0c$share/g/x/#\x22\x00\x06$SYS/x\x00")
                     : LIT("\x00\x05"
                           "a/+/c\x00\x00\x01#\x01\x00\x0c$share/g/x/#\x02\x00\x06$SYS/x\x00");
    sb->n_entries = 4;
    if (v5) {
        SAMPLE_PROPS(&sb->props, P_SUBSCRIBE);
        sb->props.sub_ids = LIT("\x0b\x2a"); /* 42 */
        sb->props.n_sub_ids = 1;
    }
    struct rmq_suback *sa =
        &sample_add(s, n, RMQ_PKT_SUBACK, RMQ_CODEC_ROLE_CLIENT, "suback")->pkt.suback;
    sa->packet_id = 10;
    sa->n_reasons = 4;
    sa->reasons = v5 ? LIT("\x00\x01\x02\x8f") : LIT("\x00\x01\x02\x80");
    if (v5) {
        SAMPLE_PROPS(&sa->props, P_ACK);
    }
    struct rmq_unsubscribe *u =
        &sample_add(s, n, RMQ_PKT_UNSUBSCRIBE, 0, "unsubscribe")->pkt.unsubscribe;
    u->packet_id = 11;
    u->n_filters = 2;
    u->filters = LIT("\x00\x05"
                     "a/+/c\x00\x01#");
    if (v5) {
        SAMPLE_PROPS(&u->props, P_SUBSCRIBE);
    }
    struct rmq_suback *ua =
        &sample_add(s, n, RMQ_PKT_UNSUBACK, RMQ_CODEC_ROLE_CLIENT, "unsuback")->pkt.unsuback;
    ua->packet_id = 11;
    if (v5) {
        ua->n_reasons = 2;
        ua->reasons = LIT("\x00\x11");
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
