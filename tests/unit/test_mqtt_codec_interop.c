/*
 * test_mqtt_codec_interop.c — decode packets written by independent
 * implementations (paho-mqtt, mosquitto; see test_mqtt_codec_captured.h),
 * check the decoded values of a few, and re-encode every one: the result
 * must decode to an equal packet of the same size (byte-identical except
 * where the peer ordered properties differently).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/codec.h"
#include "test_mqtt_codec_captured.h"
#include "test_mqtt_codec_samples.h"

#define N_CAPTURED (sizeof captured / sizeof captured[0])

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[k];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static void decode_captured(size_t i, uint8_t *buf, size_t *n, struct rmq_packet *p)
{
    const struct captured *c = &captured[i];
    *n = unhex(c->hex, buf, 512);
    struct rmq_codec_limits lim = {.role = c->role};
    size_t used = 0;
    uint8_t rc = 0;
    rmq_err e = rmq_codec_decode(buf, *n, &lim, c->decode_version, p, &used, &rc);
    if (e != RMQ_OK || used != *n) {
        fail_msg("captured %zu (%s) %s: %s reason 0x%02x", i, c->what, c->hex, rmq_err_name(e), rc);
    }
}

static void test_interop__decodes_every_captured_packet(void **state)
{
    size_t identical = 0;
    for (size_t i = 0; i < N_CAPTURED; i++) {
        uint8_t buf[512];
        size_t n = 0;
        struct rmq_packet p, q;
        decode_captured(i, buf, &n, &p);
        struct rmq_buf b;
        rmq_buf_init(&b, 0);
        assert_int_equal(rmq_codec_encode(&p, captured[i].version, &b), RMQ_OK);
        struct rmq_codec_limits lim = {.role = captured[i].role};
        size_t used = 0;
        assert_int_equal(
            rmq_codec_decode(b.data, b.len, &lim, captured[i].decode_version, &q, &used, NULL),
            RMQ_OK);
        if (!rmq_codec_packet_equal(&p, &q)) {
            fail_msg("captured %zu (%s) changed after re-encode", i, captured[i].what);
        }
        /* Same size always; same bytes unless the peer ordered properties
         * differently (we write them by identifier). */
        assert_int_equal(b.len, n);
        identical += memcmp(b.data, buf, n) == 0;
        rmq_buf_release(&b);
    }
    assert_true(identical * 10 >= N_CAPTURED * 8);
}

static const struct captured *find(const char *what, unsigned type, size_t *idx)
{
    for (size_t i = 0; i < N_CAPTURED; i++) {
        unsigned t = 0;
        char hi = captured[i].hex[0];
        t = (unsigned)(hi <= '9' ? hi - '0' : (hi | 0x20) - 'a' + 10);
        if (t == type && strcmp(captured[i].what, what) == 0) {
            *idx = i;
            return &captured[i];
        }
    }
    fail_msg("no captured %s packet of type %u", what, type);
    return NULL;
}

static bool eq(struct rmq_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

static void test_interop__paho_v5_connect_values(void **state)
{
    size_t i = 0;
    uint8_t buf[512];
    size_t n = 0;
    struct rmq_packet p;
    find("v5 c2s", RMQ_PKT_CONNECT, &i);
    decode_captured(i, buf, &n, &p);
    const struct rmq_connect *c = &p.connect;
    assert_int_equal(c->proto_level, 5);
    assert_true(c->clean_start);
    assert_int_equal(c->keepalive, 30);
    assert_true(eq(c->client_id, "paho-v5"));
    assert_true(eq(c->username, "user"));
    assert_true(eq(c->password, "pass"));
    assert_true(c->will);
    assert_int_equal(c->will_qos, 1);
    assert_true(c->will_retain);
    assert_true(eq(c->will_topic, "will/t"));
    assert_true(eq(c->will_payload, "gone"));
    assert_int_equal(c->will_props.will_delay, 5);
    assert_true(eq(c->will_props.content_type, "text/plain"));
    assert_int_equal(c->will_props.n_user_props, 1);
    assert_int_equal(c->props.session_expiry, 60);
    assert_int_equal(c->props.receive_maximum, 20);
    assert_int_equal(c->props.maximum_packet_size, 100000);
    assert_int_equal(c->props.topic_alias_maximum, 4);
    assert_true(rmq_props_has(&c->props, RMQ_PROP_REQUEST_PROBLEM_INFO));
    assert_true(eq(nth_user_prop(c->props.user_props, 0).name, "x"));
    assert_true(eq(nth_user_prop(c->props.user_props, 0).value, "y"));
}

static void test_interop__paho_v5_subscribe_values(void **state)
{
    size_t i = 0;
    uint8_t buf[512];
    size_t n = 0;
    struct rmq_packet p;
    find("v5 c2s", RMQ_PKT_SUBSCRIBE, &i);
    decode_captured(i, buf, &n, &p);
    const struct rmq_subscribe *s = &p.subscribe;
    assert_int_equal(s->props.n_sub_ids, 1);
    assert_int_equal(nth_sub_id(s->props.sub_ids, 0), 7);
    assert_int_equal(s->n_entries, 2);
    assert_true(eq(nth_entry(s->entries, 0).filter, "cap/+/x"));
    assert_int_equal(nth_entry(s->entries, 0).qos, 2);
    assert_true(nth_entry(s->entries, 0).retain_as_published);
    assert_int_equal(nth_entry(s->entries, 0).retain_handling, 1);
    assert_true(eq(nth_entry(s->entries, 1).filter, "cap/#"));
    assert_int_equal(nth_entry(s->entries, 1).qos, 1);
}

static void test_interop__mosquitto_v5_delivery_carries_subscription_id(void **state)
{
    size_t i = 0;
    uint8_t buf[512];
    size_t n = 0;
    struct rmq_packet p;
    find("v5 s2c", RMQ_PKT_PUBLISH, &i);
    decode_captured(i, buf, &n, &p);
    assert_true(p.publish.props.n_sub_ids >= 1);
    assert_int_equal(nth_sub_id(p.publish.props.sub_ids, 0), 7);
    find("v31 c2s", RMQ_PKT_CONNECT, &i);
    decode_captured(i, buf, &n, &p);
    assert_int_equal(p.connect.proto_level, 3);
    assert_true(eq(p.connect.proto_name, "MQIsdp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interop__decodes_every_captured_packet),
        cmocka_unit_test(test_interop__paho_v5_connect_values),
        cmocka_unit_test(test_interop__paho_v5_subscribe_values),
        cmocka_unit_test(test_interop__mosquitto_v5_delivery_carries_subscription_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
