/*
 * test_mqtt_fake_io.h — drives the MQTT core (mqtt/mqtt.h) without sockets
 * for the unit tests: a fake net layer collects what the core writes; packets
 * are built and parsed with the codec. Header-only, static helpers.
 */
#ifndef TEST_MQTT_FAKE_IO_H
#define TEST_MQTT_FAKE_IO_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/settings.h"
#include "mqtt/mqtt.h"
#include "mqtt/codec.h"

struct fake_net {
    struct rmq_buf out;
    bool closed;
    uint64_t keepalive_ms;
    struct rmq_mqtt_conn *mc;
    uint8_t version;
    int resumed; /* io->resume calls: a held publisher released (flow.h) */
};

static inline struct rmq_buf *f_outbuf(void *n)
{
    return &((struct fake_net *)n)->out;
}
static inline void f_flush(void *n)
{
    (void)n;
}
static inline void f_close(void *n)
{
    ((struct fake_net *)n)->closed = true;
}
static inline void f_connected(void *n, uint64_t ka)
{
    ((struct fake_net *)n)->keepalive_ms = ka;
}
static inline void f_resume(void *n)
{
    ((struct fake_net *)n)->resumed++;
}
/* hold_input NULL: passwords checked inline; pending NULL: out.len */
static const struct rmq_conn_io fake_io = {f_outbuf, f_flush, f_close, f_connected,
                                           NULL,     NULL,    f_resume};

static struct rmq_settings settings;
static struct rmq_peer_info no_peer;

static inline struct rmq_mqtt *new_broker(uint32_t max_inflight, uint32_t max_mqueue_len)
{
    memset(&settings, 0, sizeof settings);
    struct rmq_mqtt_settings m = {.max_packet_size = 1 << 20,
                                  .max_clientid_len = 65535,
                                  .max_topic_levels = 128,
                                  .max_qos_allowed = 2,
                                  .retain_available = true,
                                  .wildcard_subscription = true,
                                  .shared_subscription = true,
                                  .max_inflight = max_inflight,
                                  .max_mqueue_len = max_mqueue_len,
                                  .session_expiry_interval = 7200000,
                                  .keepalive_multiplier = 1.5,
                                  .max_topic_alias = 65535,
                                  .retry_interval = 30000,
                                  .max_awaiting_rel = 100,
                                  .await_rel_timeout = 300000};
    settings.mqtt = m;
    struct rmq_mqtt *b = rmq_mqtt_new(&settings);
    assert_non_null(b);
    return b;
}

static inline void feed(struct fake_net *n, const struct rmq_packet *p)
{
    struct rmq_buf in;
    rmq_buf_init(&in, 0);
    assert_int_equal(rmq_codec_encode(p, n->version, &in), RMQ_OK);
    assert_int_equal(rmq_mqtt_conn_input(n->mc, in.data, in.len), in.len);
    rmq_buf_release(&in);
}

/* Takes the next packet the core wrote to n; false when there is none. */
static inline bool take(struct fake_net *n, struct rmq_packet *p, uint8_t *storage, size_t cap)
{
    size_t used = 0;
    struct rmq_codec_limits lim = {.role = RMQ_CODEC_ROLE_CLIENT};
    if (n->out.len == 0) {
        return false;
    }
    assert_true(n->out.len <= cap);
    memcpy(storage, n->out.data, n->out.len);
    size_t len = n->out.len;
    assert_int_equal(rmq_codec_decode(storage, len, &lim, n->version, p, &used, NULL), RMQ_OK);
    rmq_buf_consume(&n->out, used);
    return true;
}

static inline struct fake_net *client(struct rmq_mqtt *b, const char *id, uint8_t version)
{
    struct fake_net *n = calloc(1, sizeof *n);
    rmq_buf_init(&n->out, 0);
    n->version = version;
    n->mc = rmq_mqtt_conn_new(b, &fake_io, n, &no_peer, "test", "default");
    struct rmq_packet p = {.type = RMQ_PKT_CONNECT};
    p.connect.proto_name = (struct rmq_bytes){(const uint8_t *)"MQTT", 4};
    p.connect.proto_level = version;
    p.connect.clean_start = true;
    p.connect.keepalive = 10;
    p.connect.client_id = (struct rmq_bytes){(const uint8_t *)id, strlen(id)};
    feed(n, &p);
    uint8_t st[256];
    assert_true(take(n, &p, st, sizeof st));
    assert_int_equal(p.type, RMQ_PKT_CONNACK);
    assert_int_equal(p.connack.reason, 0);
    assert_int_equal(n->keepalive_ms, 15000);
    return n;
}

static inline void drop(struct fake_net *n)
{
    rmq_mqtt_conn_free(n->mc, "test");
    rmq_buf_release(&n->out);
    free(n);
}

static inline void subscribe(struct fake_net *n, const char *filter, uint8_t qos, uint32_t sub_id,
                             bool no_local)
{
    struct rmq_packet p = {.type = RMQ_PKT_SUBSCRIBE};
    p.subscribe.packet_id = 7;
    p.subscribe.n_entries = 1;
    struct rmq_sub_entry e = {
        .filter = {(const uint8_t *)filter, strlen(filter)}, .qos = qos, .no_local = no_local};
    uint8_t entry[128], sid[RMQ_PUT_SUB_ID_MAX];
    size_t elen = 0, slen = 0;
    assert_int_equal(rmq_put_sub_entry(entry, sizeof entry, &elen, &e), RMQ_OK);
    p.subscribe.entries = (struct rmq_bytes){entry, elen};
    if (sub_id) {
        assert_int_equal(rmq_put_sub_id(sid, sizeof sid, &slen, sub_id), RMQ_OK);
        p.subscribe.props.sub_ids = (struct rmq_bytes){sid, slen};
        p.subscribe.props.n_sub_ids = 1;
    }
    feed(n, &p);
    uint8_t st[256];
    assert_true(take(n, &p, st, sizeof st));
    assert_int_equal(p.type, RMQ_PKT_SUBACK);
    assert_int_equal(p.suback.reasons.p[0], qos);
}

static inline void publish(struct fake_net *n, const char *topic, uint8_t qos, uint16_t pid)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    p.publish.topic = (struct rmq_bytes){(const uint8_t *)topic, strlen(topic)};
    p.publish.qos = qos;
    p.publish.packet_id = pid;
    p.publish.payload = (struct rmq_bytes){(const uint8_t *)"x", 1};
    feed(n, &p);
    if (qos == 1) {
        uint8_t st[64];
        assert_true(take(n, &p, st, sizeof st));
        assert_int_equal(p.type, RMQ_PKT_PUBACK);
    }
}

#endif
