/*
 * test_mqtt_codec_roundtrip.c — encode -> decode of every packet type in
 * MQTT 3.1, 3.1.1 and 5.0; truncated prefixes; single-byte flips; limits;
 * encoded size and the Maximum Packet Size helper; name tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/codec.h"
#include "test_mqtt_codec_samples.h"

static struct rmq_codec_limits role_lim(uint8_t role)
{
    struct rmq_codec_limits l = {0};
    l.role = role;
    return l;
}

static void encode_ok(const struct rmq_packet *p, uint8_t v, struct rmq_buf *b)
{
    rmq_buf_init(b, 0);
    assert_int_equal(rmq_codec_encode(p, v, b), RMQ_OK);
    assert_int_equal(rmq_codec_encoded_size(p, v), b->len);
}

/* encode -> decode -> equal; for v3, what v3 cannot carry is expected gone. */
static void roundtrip_version(uint8_t v)
{
    static struct sample s[SAMPLE_MAX];
    size_t n = make_samples(s, v);
    for (size_t i = 0; i < n; i++) {
        struct rmq_buf b;
        struct rmq_packet out;
        size_t used = 0;
        uint8_t rc = 0xEE;
        struct rmq_codec_limits l = role_lim(s[i].role);
        encode_ok(&s[i].pkt, v, &b);
        rmq_err e = rmq_codec_decode(b.data, b.len, &l, decode_version(&s[i], v), &out, &used, &rc);
        if (e != RMQ_OK) {
            fail_msg("v%u sample %zu (%s): %s reason 0x%02x", v, i, s[i].what, rmq_err_name(e), rc);
        }
        assert_int_equal(used, b.len);
        if (!rmq_codec_packet_equal(&s[i].pkt, &out)) {
            fail_msg("v%u sample %zu (%s) differs after round trip", v, i, s[i].what);
        }
        rmq_buf_release(&b);
    }
}

static void test_roundtrip__every_packet_v5(void **state)
{
    roundtrip_version(RMQ_MQTT_V5);
}

static void test_roundtrip__every_packet_v311(void **state)
{
    roundtrip_version(RMQ_MQTT_V311);
}

static void test_roundtrip__every_packet_v31(void **state)
{
    roundtrip_version(RMQ_MQTT_V31);
}

static void test_encode_v311__drops_what_v3_cannot_carry(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBACK};
    p.ack.packet_id = 5;
    p.ack.reason = RMQ_RC_NO_MATCHING_SUBSCRIBERS;
    SAMPLE_PROPS(&p.ack.props, P_ACK);
    struct rmq_buf b;
    encode_ok(&p, RMQ_MQTT_V311, &b);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\x40\x02\x00\x05", 4);
    rmq_buf_release(&b);

    struct rmq_packet d = {.type = RMQ_PKT_DISCONNECT};
    d.disconnect.reason = RMQ_RC_DISCONNECT_WITH_WILL;
    encode_ok(&d, RMQ_MQTT_V311, &b);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\xe0\x00", 2);
    rmq_buf_release(&b);

    struct rmq_packet sa = {.type = RMQ_PKT_SUBACK};
    sa.suback.packet_id = 1;
    sa.suback.n_reasons = 3;
    sa.suback.reasons = LIT("\x01\x97\xa2"); /* v5 failures -> 0x80 */
    encode_ok(&sa, RMQ_MQTT_V311, &b);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "\x90\x05\x00\x01\x01\x80\x80", 7);
    rmq_buf_release(&b);

    struct rmq_packet a = {.type = RMQ_PKT_AUTH};
    rmq_buf_init(&b, 0);
    assert_int_equal(rmq_codec_encode(&a, RMQ_MQTT_V311, &b), RMQ_ERR_INVALID);
    assert_int_equal(b.len, 0);
    assert_int_equal(rmq_codec_encoded_size(&a, RMQ_MQTT_V311), 0);
    rmq_buf_release(&b);
}

static void test_encode_connack__maps_v5_reasons_to_v3_return_codes(void **state)
{
    static const uint8_t map[][2] = {{0x00, 0}, {0x84, 1}, {0x85, 2}, {0x88, 3}, {0x89, 3},
                                     {0x86, 4}, {0x87, 5}, {0x8A, 5}, {0x8C, 5}, {0x97, 3}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        struct rmq_packet p = {.type = RMQ_PKT_CONNACK};
        p.connack.reason = map[i][0];
        struct rmq_buf b;
        encode_ok(&p, RMQ_MQTT_V311, &b);
        assert_int_equal(b.len, 4);
        assert_int_equal(b.data[3], map[i][1]);
        assert_int_equal(rmq_reason_to_v3_connack(map[i][0]), map[i][1]);
        rmq_buf_release(&b);
    }
    assert_int_equal(rmq_reason_from_v3_connack(1), RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(rmq_reason_from_v3_connack(4), RMQ_RC_BAD_USERNAME_OR_PASSWORD);
    assert_int_equal(rmq_reason_from_v3_connack(6), RMQ_RC_PROTOCOL_ERROR);
}

static void test_encode_v5__short_forms(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBACK};
    p.ack.packet_id = 1;
    struct rmq_buf b;
    encode_ok(&p, RMQ_MQTT_V5, &b);
    assert_int_equal(b.len, 4); /* v5 3.4.2.1: reason and props omitted */
    rmq_buf_release(&b);
    p.ack.reason = 0x10;
    encode_ok(&p, RMQ_MQTT_V5, &b);
    assert_int_equal(b.len, 5);
    rmq_buf_release(&b);
    struct rmq_packet d = {.type = RMQ_PKT_DISCONNECT};
    encode_ok(&d, RMQ_MQTT_V5, &b);
    assert_memory_equal(b.data, "\xe0\x00", 2);
    rmq_buf_release(&b);
}

static void test_encode_connect__v31_uses_mqisdp(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_CONNECT};
    p.connect.client_id = S("c");
    struct rmq_buf b;
    encode_ok(&p, RMQ_MQTT_V31, &b);
    assert_memory_equal(b.data + 2, "\x00\x06MQIsdp\x03", 9);
    rmq_buf_release(&b);
}

/* Every proper prefix of every sample is "need more", nothing consumed. */
static void test_decode__every_truncated_prefix_needs_more(void **state)
{
    static const uint8_t versions[] = {RMQ_MQTT_V31, RMQ_MQTT_V311, RMQ_MQTT_V5};
    static struct sample s[SAMPLE_MAX];
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t v = versions[vi];
        size_t n = make_samples(s, v);
        for (size_t i = 0; i < n; i++) {
            struct rmq_buf b;
            struct rmq_codec_limits l = role_lim(s[i].role);
            encode_ok(&s[i].pkt, v, &b);
            for (size_t k = 0; k < b.len; k++) {
                struct rmq_packet out;
                size_t used = 99;
                uint8_t *copy = malloc(k ? k : 1); /* exact size: ASan sees over-reads */
                assert_non_null(copy);
                memcpy(copy, b.data, k);
                rmq_err e =
                    rmq_codec_decode(copy, k, &l, decode_version(&s[i], v), &out, &used, NULL);
                if (e != RMQ_ERR_NEED_MORE) {
                    fail_msg("v%u %s prefix %zu/%zu: %s", v, s[i].what, k, b.len, rmq_err_name(e));
                }
                assert_int_equal(used, 0);
                free(copy);
            }
            rmq_buf_release(&b);
        }
    }
}

/* Re-encode what decodes, and check the re-decode is equal. */
static void check_stable(const struct rmq_packet *p, uint8_t v, const struct rmq_codec_limits *l)
{
    uint8_t ver = p->type == RMQ_PKT_CONNECT ? p->connect.proto_level : v;
    struct rmq_buf b;
    rmq_buf_init(&b, 0);
    assert_int_equal(rmq_codec_encode(p, ver, &b), RMQ_OK);
    struct rmq_packet q;
    size_t used = 0;
    uint8_t rc = 0;
    rmq_err e =
        rmq_codec_decode(b.data, b.len, l, p->type == RMQ_PKT_CONNECT ? 0 : v, &q, &used, &rc);
    assert_int_equal(e, RMQ_OK);
    assert_true(rmq_codec_packet_equal(p, &q));
    rmq_buf_release(&b);
}

/* Every position of every sample set to every other byte value (255 x len
 * decodes per sample): never a crash or over-read; what decodes re-encodes
 * to an equal packet; what is refused has a failure reason. */
static void test_decode__every_single_byte_change_is_safe(void **state)
{
    static const uint8_t versions[] = {RMQ_MQTT_V31, RMQ_MQTT_V311, RMQ_MQTT_V5};
    static struct sample s[SAMPLE_MAX];
    size_t decoded = 0, refused = 0;
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t v = versions[vi];
        size_t n = make_samples(s, v);
        for (size_t i = 0; i < n; i++) {
            struct rmq_buf b;
            struct rmq_codec_limits l = role_lim(s[i].role);
            encode_ok(&s[i].pkt, v, &b);
            uint8_t *copy = malloc(b.len); /* exact size: ASan sees over-reads */
            assert_non_null(copy);
            memcpy(copy, b.data, b.len);
            for (size_t pos = 0; pos < b.len; pos++) {
                for (unsigned x = 1; x < 256; x++) {
                    copy[pos] = (uint8_t)(b.data[pos] ^ x);
                    struct rmq_packet out;
                    size_t used = 0;
                    uint8_t rc = 0;
                    rmq_err e = rmq_codec_decode(copy, b.len, &l, decode_version(&s[i], v), &out,
                                                 &used, &rc);
                    if (e == RMQ_OK) {
                        assert_true(used <= b.len);
                        check_stable(&out, v, &l);
                        decoded++;
                    } else if (e == RMQ_ERR_MALFORMED) {
                        assert_true(rc >= 0x80);
                        assert_int_equal(used, 0);
                        refused++;
                    } else {
                        assert_int_equal(e, RMQ_ERR_NEED_MORE);
                    }
                }
                copy[pos] = b.data[pos];
            }
            free(copy);
            rmq_buf_release(&b);
        }
    }
    assert_true(decoded > 0 && refused > 0);
}

static void test_decode__two_packets_in_one_buffer(void **state)
{
    static const uint8_t two[] = {0xc0, 0x00, 0x40, 0x02, 0x00, 0x07};
    struct rmq_packet out;
    size_t used = 0;
    assert_int_equal(rmq_codec_decode(two, sizeof two, NULL, 4, &out, &used, NULL), RMQ_OK);
    assert_int_equal(out.type, RMQ_PKT_PINGREQ);
    assert_int_equal(used, 2);
    assert_int_equal(rmq_codec_decode(two + 2, sizeof two - 2, NULL, 4, &out, &used, NULL), RMQ_OK);
    assert_int_equal(out.type, RMQ_PKT_PUBACK);
    assert_int_equal(out.ack.packet_id, 7);
    assert_int_equal(used, 4);
}

static void test_decode__too_large_from_fixed_header_alone(void **state)
{
    /* PUBLISH, remaining length 1000: only the fixed header is present. */
    static const uint8_t hdr[] = {0x30, 0xe8, 0x07};
    struct rmq_codec_limits l = {.max_packet_size = 1002};
    struct rmq_packet out;
    size_t used = 0;
    uint8_t rc = 0;
    assert_int_equal(rmq_codec_decode(hdr, sizeof hdr, &l, 4, &out, &used, &rc), RMQ_ERR_TOO_LARGE);
    assert_int_equal(rc, RMQ_RC_PACKET_TOO_LARGE);
    assert_int_equal(used, 1003);
    l.max_packet_size = 1003; /* exactly at the limit: wait for the body */
    assert_int_equal(rmq_codec_decode(hdr, sizeof hdr, &l, 4, &out, &used, &rc), RMQ_ERR_NEED_MORE);
    /* Only the first length byte so far: still need more (cannot tell yet). */
    l.max_packet_size = 10;
    assert_int_equal(rmq_codec_decode(hdr, 2, &l, 4, &out, &used, &rc), RMQ_ERR_NEED_MORE);
}

static void test_decode__packet_at_size_limit_accepted(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    p.publish.topic = S("t");
    p.publish.payload = S("0123456789");
    struct rmq_buf b;
    encode_ok(&p, 4, &b);
    struct rmq_codec_limits l = {.max_packet_size = (uint32_t)b.len};
    struct rmq_packet out;
    size_t used = 0;
    assert_int_equal(rmq_codec_decode(b.data, b.len, &l, 4, &out, &used, NULL), RMQ_OK);
    l.max_packet_size--;
    assert_int_equal(rmq_codec_decode(b.data, b.len, &l, 4, &out, &used, NULL), RMQ_ERR_TOO_LARGE);
    rmq_buf_release(&b);
}

static void test_peek_length__header_forms(void **state)
{
    size_t total = 0;
    assert_int_equal(rmq_codec_peek_length((const uint8_t *)"", 0, &total), RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_codec_peek_length((const uint8_t *)"\x30", 1, &total), RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_codec_peek_length((const uint8_t *)"\x30\x80", 2, &total),
                     RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_codec_peek_length((const uint8_t *)"\x30\x7f", 2, &total), RMQ_OK);
    assert_int_equal(total, 129);
    assert_int_equal(rmq_codec_peek_length((const uint8_t *)"\x30\xff\xff\xff\x7f", 5, &total),
                     RMQ_OK);
    assert_int_equal(total, 5 + (size_t)RMQ_MQTT_MAX_REMAINING);
    assert_int_equal(rmq_codec_peek_length((const uint8_t *)"\x30\x80\x80\x80\x80\x01", 6, &total),
                     RMQ_ERR_MALFORMED);
}

/* Fixed header + body into a fresh buffer. */
static void frame(struct rmq_buf *out, uint8_t first, const struct rmq_buf *body)
{
    uint8_t hdr[5] = {first};
    size_t h = 1, n = body->len;
    do {
        hdr[h++] = (uint8_t)((n & 0x7F) | (n > 0x7F ? 0x80 : 0));
        n >>= 7;
    } while (n);
    rmq_buf_init(out, 0);
    assert_int_equal(rmq_buf_append(out, hdr, h), RMQ_OK);
    assert_int_equal(rmq_buf_append(out, body->data, body->len), RMQ_OK);
}

/* Appends a variable byte integer. */
static void put_vbi(struct rmq_buf *b, size_t n)
{
    do {
        uint8_t x = (uint8_t)((n & 0x7F) | (n > 0x7F ? 0x80 : 0));
        assert_int_equal(rmq_buf_append(b, &x, 1), RMQ_OK);
        n >>= 7;
    } while (n);
}

static rmq_err decode_buf(const struct rmq_buf *b, uint8_t v, uint8_t role, struct rmq_packet *p,
                          uint8_t *rc)
{
    struct rmq_codec_limits l = role_lim(role);
    size_t used = 0;
    return rmq_codec_decode(b->data, b->len, &l, v, p, &used, rc);
}

/* A packet full of garbage, to show decode sets every field. */
static struct rmq_packet *new_packet(void)
{
    struct rmq_packet *p = malloc(sizeof *p);
    assert_non_null(p);
    memset(p, 0xA5, sizeof *p);
    return p;
}

/* Lists have no cap but the packet size (codec.h LISTS): far more elements
 * than the old inline arrays held (512 user properties, 64 subscription
 * ids, 1024 topics) decode, read back through the iterators and round-trip. */
#define MANY 5000

/* PUBLISH v5 with MANY user properties "k"="v" then a last one "k"="end". */
static void test_decode__user_properties_have_no_cap(void **state)
{
    struct rmq_packet *out = new_packet();
    struct rmq_buf body, b;
    rmq_buf_init(&body, 0);
    assert_int_equal(rmq_buf_append(&body, "\x00\x01t", 3), RMQ_OK);
    put_vbi(&body, 7 * (size_t)MANY + 9);
    for (unsigned i = 0; i < MANY; i++) {
        assert_int_equal(rmq_buf_append(&body, "\x26\x00\x01k\x00\x01v", 7), RMQ_OK);
    }
    assert_int_equal(rmq_buf_append(&body,
                                    "\x26\x00\x01k\x00\x03"
                                    "end",
                                    9),
                     RMQ_OK);
    frame(&b, 0x30, &body);
    uint8_t rc = 0;
    assert_int_equal(decode_buf(&b, 5, RMQ_CODEC_ROLE_SERVER, out, &rc), RMQ_OK);
    assert_int_equal(out->publish.props.n_user_props, MANY + 1);
    struct rmq_user_prop last = nth_user_prop(out->publish.props.user_props, MANY);
    assert_int_equal(last.value.len, 3);
    assert_memory_equal(last.value.p, "end", 3);
    check_stable(out, 5, NULL);
    rmq_buf_release(&body);
    rmq_buf_release(&b);
    free(out);
}

/* SUBSCRIBE with MANY entries, v3.1.1 and v5; the last has QoS 2. */
static void test_decode__subscribe_entries_have_no_cap(void **state)
{
    struct rmq_packet *out = new_packet();
    for (unsigned v = 4; v <= 5; v++) {
        struct rmq_buf body, b;
        rmq_buf_init(&body, 0);
        assert_int_equal(rmq_buf_append(&body, "\x00\x01", 2), RMQ_OK);
        if (v == 5) {
            assert_int_equal(rmq_buf_append(&body, "\x00", 1), RMQ_OK);
        }
        for (unsigned i = 0; i < MANY; i++) {
            assert_int_equal(rmq_buf_append(&body, "\x00\x01x\x01", 4), RMQ_OK);
        }
        assert_int_equal(rmq_buf_append(&body, "\x00\x01y\x02", 4), RMQ_OK);
        frame(&b, 0x82, &body);
        uint8_t rc = 0;
        assert_int_equal(decode_buf(&b, (uint8_t)v, RMQ_CODEC_ROLE_SERVER, out, &rc), RMQ_OK);
        assert_int_equal(out->subscribe.n_entries, MANY + 1);
        struct rmq_sub_entry e = nth_entry(out->subscribe.entries, MANY);
        assert_int_equal(e.qos, 2);
        assert_memory_equal(e.filter.p, "y", 1);
        check_stable(out, (uint8_t)v, NULL);
        rmq_buf_release(&body);
        rmq_buf_release(&b);
    }
    free(out);
}

/* Server -> client PUBLISH with 1000 subscription ids 1001, 1002, ... */
static void test_decode__subscription_ids_have_no_cap(void **state)
{
    struct rmq_packet *p = new_packet();
    unsigned n = 1000;
    struct rmq_buf body, b;
    rmq_buf_init(&body, 0);
    assert_int_equal(rmq_buf_append(&body, "\x00\x01t", 3), RMQ_OK);
    put_vbi(&body, 3 * (size_t)n);
    for (unsigned i = 0; i < n; i++) {
        size_t id = 1001 + i; /* 2-byte VBI */
        uint8_t x[3] = {RMQ_PROP_SUBSCRIPTION_ID, (uint8_t)((id & 0x7F) | 0x80),
                        (uint8_t)(id >> 7)};
        assert_int_equal(rmq_buf_append(&body, x, 3), RMQ_OK);
    }
    frame(&b, 0x30, &body);
    uint8_t rc = 0;
    assert_int_equal(decode_buf(&b, 5, RMQ_CODEC_ROLE_CLIENT, p, &rc), RMQ_OK);
    assert_int_equal(p->publish.props.n_sub_ids, n);
    assert_int_equal(nth_sub_id(p->publish.props.sub_ids, n - 1), 1000 + n);
    check_stable(p, 5, &(struct rmq_codec_limits){.role = RMQ_CODEC_ROLE_CLIENT});
    rmq_buf_release(&body);
    rmq_buf_release(&b);
    free(p);
}

/* UNSUBSCRIBE filters and SUBACK / UNSUBACK reason codes: MANY of them. */
static void test_decode__unsubscribe_and_ack_lists_have_no_cap(void **state)
{
    static const struct {
        uint8_t first, v, role;
        const char *item;
        size_t item_len;
    } kinds[] = {
        {0xa2, 4, RMQ_CODEC_ROLE_SERVER, "\x00\x01x", 3},
        {0xa2, 5, RMQ_CODEC_ROLE_SERVER, "\x00\x01x", 3},
        {0x90, 4, RMQ_CODEC_ROLE_CLIENT, "\x01", 1},
        {0x90, 5, RMQ_CODEC_ROLE_CLIENT, "\x01", 1},
        {0xb0, 5, RMQ_CODEC_ROLE_CLIENT, "\x11", 1},
    };
    struct rmq_packet *p = new_packet();
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        struct rmq_buf body, b;
        rmq_buf_init(&body, 0);
        assert_int_equal(rmq_buf_append(&body, "\x00\x09", 2), RMQ_OK);
        if (kinds[k].v == 5) {
            assert_int_equal(rmq_buf_append(&body, "\x00", 1), RMQ_OK);
        }
        for (unsigned i = 0; i < MANY; i++) {
            assert_int_equal(rmq_buf_append(&body, kinds[k].item, kinds[k].item_len), RMQ_OK);
        }
        frame(&b, kinds[k].first, &body);
        uint8_t rc = 0;
        assert_int_equal(decode_buf(&b, kinds[k].v, kinds[k].role, p, &rc), RMQ_OK);
        unsigned count =
            p->type == RMQ_PKT_UNSUBSCRIBE ? p->unsubscribe.n_filters : p->suback.n_reasons;
        assert_int_equal(count, MANY);
        if (p->type == RMQ_PKT_UNSUBSCRIBE) {
            assert_memory_equal(nth_filter(p->unsubscribe.filters, MANY - 1).p, "x", 1);
        } else {
            assert_int_equal(p->suback.reasons.len, MANY);
        }
        check_stable(p, kinds[k].v, &(struct rmq_codec_limits){.role = kinds[k].role});
        rmq_buf_release(&body);
        rmq_buf_release(&b);
    }
    free(p);
}

/* Decoding into a packet full of garbage gives exactly what decoding into a
 * zeroed one gives (every sample of every version). */
static void test_decode__into_dirty_packet_same_as_into_zeroed(void **state)
{
    static const uint8_t versions[] = {RMQ_MQTT_V31, RMQ_MQTT_V311, RMQ_MQTT_V5};
    static struct sample s[SAMPLE_MAX];
    struct rmq_packet *clean = calloc(1, sizeof *clean), *dirty = new_packet();
    assert_non_null(clean);
    for (size_t vi = 0; vi < sizeof versions; vi++) {
        uint8_t v = versions[vi];
        size_t n = make_samples(s, v);
        for (size_t i = 0; i < n; i++) {
            struct rmq_buf b;
            encode_ok(&s[i].pkt, v, &b);
            struct rmq_codec_limits l = role_lim(s[i].role);
            uint8_t dv = decode_version(&s[i], v), rc = 0;
            size_t used = 0;
            memset(clean, 0, sizeof *clean);
            memset(dirty, 0xA5, sizeof *dirty);
            assert_int_equal(rmq_codec_decode(b.data, b.len, &l, dv, clean, &used, &rc), RMQ_OK);
            assert_int_equal(rmq_codec_decode(b.data, b.len, &l, dv, dirty, &used, &rc), RMQ_OK);
            assert_true(rmq_codec_packet_equal(clean, dirty));
            assert_true(rmq_codec_packet_equal(&s[i].pkt, dirty));
            struct rmq_buf b2;
            encode_ok(dirty, dirty->type == RMQ_PKT_CONNECT ? dirty->connect.proto_level : v, &b2);
            assert_int_equal(b2.len, b.len);
            assert_memory_equal(b2.data, b.data, b.len);
            rmq_buf_release(&b2);
            rmq_buf_release(&b);
        }
    }
    free(clean);
    free(dirty);
}

/* rmq_codec_packet_init() on garbage reads as a zeroed packet of that type. */
static void test_packet_init__zeroes(void **state)
{
    struct rmq_packet *z = calloc(1, sizeof *z), *g = new_packet();
    assert_non_null(z);
    for (unsigned t = RMQ_PKT_CONNECT; t <= RMQ_PKT_AUTH; t++) {
        memset(z, 0, sizeof *z);
        z->type = (enum rmq_pkt_type)t;
        memset(g, 0xA5, sizeof *g);
        rmq_codec_packet_init(g, (enum rmq_pkt_type)t);
        assert_int_equal(g->type, t);
        assert_true(rmq_codec_packet_equal(z, g));
        for (uint8_t v = RMQ_MQTT_V31; v <= RMQ_MQTT_V5; v++) {
            assert_int_equal(rmq_codec_encoded_size(g, v), rmq_codec_encoded_size(z, v));
        }
    }
    free(z);
    free(g);
}

/* What codec.h promises about size: small enough to live on any stack. */
static void test_packet__is_small(void **state)
{
    assert_true(sizeof(struct rmq_packet) < 1024);
}

static void test_roundtrip__longest_string_65535(void **state)
{
    static uint8_t topic[65535];
    memset(topic, 'a', sizeof topic);
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    p.publish.topic = (struct rmq_bytes){topic, sizeof topic};
    p.publish.payload = S("x");
    struct rmq_buf b;
    encode_ok(&p, 4, &b);
    assert_int_equal(b.len, 1 + 3 + 2 + 65535 + 1);
    struct rmq_packet out;
    size_t used = 0;
    assert_int_equal(rmq_codec_decode(b.data, b.len, NULL, 4, &out, &used, NULL), RMQ_OK);
    assert_int_equal(out.publish.topic.len, 65535);
    assert_true(rmq_codec_packet_equal(&p, &out));
    rmq_buf_release(&b);
}

static void test_decode_connect__client_id_length_limit(void **state)
{
    static const uint8_t pkt[] = {0x10, 0x11, 0, 4, 'M', 'Q', 'T', 'T', 4,  0x02,
                                  0,    60,   0, 5, 'a', 'b', 'c', 'd', 'e'};
    struct rmq_codec_limits l = {.max_client_id_len = 5};
    struct rmq_packet out;
    size_t used = 0;
    uint8_t rc = 0;
    assert_int_equal(rmq_codec_decode(pkt, sizeof pkt, &l, 0, &out, &used, &rc), RMQ_OK);
    l.max_client_id_len = 4;
    assert_int_equal(rmq_codec_decode(pkt, sizeof pkt, &l, 0, &out, &used, &rc), RMQ_ERR_MALFORMED);
    assert_int_equal(rc, RMQ_RC_CLIENT_ID_NOT_VALID);
    assert_int_equal(out.connect.proto_level, 4);
}

static void test_encode__rejects_unencodable(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    static const uint8_t big[70000];
    p.publish.topic = (struct rmq_bytes){big, 65536}; /* string over 65535 */
    assert_int_equal(rmq_codec_encoded_size(&p, 5), 0);
    p.publish.topic = S("t");
    p.publish.qos = 3;
    assert_int_equal(rmq_codec_encoded_size(&p, 5), 0);
    p.publish.qos = 0;
    /* remaining length over 268435455: counted, never touched */
    p.publish.payload = (struct rmq_bytes){big, RMQ_MQTT_MAX_REMAINING};
    assert_int_equal(rmq_codec_encoded_size(&p, 5), 0);
    p.publish.payload = (struct rmq_bytes){big, RMQ_MQTT_MAX_REMAINING - 3};
    assert_int_equal(rmq_codec_encoded_size(&p, 4), RMQ_MQTT_MAX_PACKET);
    assert_int_equal(rmq_codec_encoded_size(&p, 6), 0); /* bad version */
    /* list ranges that do not iterate */
    struct rmq_packet s = {.type = RMQ_PKT_SUBSCRIBE};
    s.subscribe.entries = LIT("\x00\x05"
                              "ab"); /* truncated filter */
    assert_int_equal(rmq_codec_encoded_size(&s, 4), 0);
    s.subscribe.entries = LIT("\x00\x01x\x03"); /* QoS 3 */
    assert_int_equal(rmq_codec_encoded_size(&s, 4), 0);
    struct rmq_packet u = {.type = RMQ_PKT_UNSUBSCRIBE};
    u.unsubscribe.filters = LIT("\x00\x01x\x00");
    assert_int_equal(rmq_codec_encoded_size(&u, 4), 0);
    struct rmq_packet x = {.type = RMQ_PKT_PUBLISH};
    x.publish.topic = S("t");
    x.publish.props.user_props = LIT("\x26\x00\x01k\x00");
    assert_int_equal(rmq_codec_encoded_size(&x, 5), 0);
    x.publish.props.user_props = LIT("\x7f\x00"); /* not a property */
    assert_int_equal(rmq_codec_encoded_size(&x, 5), 0);
    x.publish.props.user_props = (struct rmq_bytes){0};
    x.publish.props.sub_ids = LIT("\x0b\x00"); /* sub id 0 is not encodable */
    assert_int_equal(rmq_codec_encoded_size(&x, 5), 0);
}

static void test_encode__buffer_cap_leaves_buffer_unchanged(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    p.publish.topic = S("t");
    p.publish.payload = S("0123456789");
    struct rmq_buf b;
    rmq_buf_init(&b, 8);
    assert_int_equal(rmq_codec_encode(&p, 4, &b), RMQ_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    rmq_buf_release(&b);
}

static void test_encode_limited__drops_reason_string_then_user_props(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBACK};
    p.ack.packet_id = 1;
    p.ack.reason = 0x80;
    SAMPLE_PROPS(&p.ack.props, P_ACK);
    size_t full = rmq_codec_encoded_size(&p, 5);
    struct rmq_buf b;
    rmq_buf_init(&b, 0);
    assert_int_equal(rmq_codec_encode_limited(&p, 5, (uint32_t)full, &b), RMQ_OK);
    assert_int_equal(b.len, full);
    b.len = 0;
    assert_int_equal(rmq_codec_encode_limited(&p, 5, (uint32_t)full - 1, &b), RMQ_OK);
    struct rmq_packet out;
    size_t used = 0;
    assert_int_equal(rmq_codec_decode(b.data, b.len, NULL, 5, &out, &used, NULL), RMQ_OK);
    assert_false(rmq_props_has(&out.ack.props, RMQ_PROP_REASON_STRING));
    assert_int_equal(out.ack.props.n_user_props, 3);
    b.len = 0;
    assert_int_equal(rmq_codec_encode_limited(&p, 5, 6, &b), RMQ_OK);
    assert_int_equal(rmq_codec_decode(b.data, b.len, NULL, 5, &out, &used, NULL), RMQ_OK);
    assert_int_equal(out.ack.props.n_user_props, 0);
    assert_int_equal(out.ack.reason, 0x80);
    b.len = 0;
    assert_int_equal(rmq_codec_encode_limited(&p, 5, 4, &b), RMQ_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    rmq_buf_release(&b);
}

static void test_encode_limited__never_strips_publish(void **state)
{
    struct rmq_packet p = {.type = RMQ_PKT_PUBLISH};
    p.publish.topic = S("t");
    SAMPLE_PROPS(&p.publish.props, 0x26);
    size_t full = rmq_codec_encoded_size(&p, 5);
    struct rmq_buf b;
    rmq_buf_init(&b, 0);
    assert_int_equal(rmq_codec_encode_limited(&p, 5, (uint32_t)full - 1, &b), RMQ_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    assert_int_equal(rmq_codec_encode_limited(&p, 5, 0, &b), RMQ_OK); /* 0 = no limit */
    assert_int_equal(b.len, full);
    rmq_buf_release(&b);
}

static void test_names__tables(void **state)
{
    assert_string_equal(rmq_pkt_type_name(RMQ_PKT_CONNECT), "CONNECT");
    assert_string_equal(rmq_pkt_type_name(RMQ_PKT_AUTH), "AUTH");
    assert_string_equal(rmq_pkt_type_name(0), "RESERVED");
    assert_string_equal(rmq_pkt_type_name(99), "RESERVED");
    assert_string_equal(rmq_reason_name(RMQ_RC_MALFORMED_PACKET), "Malformed Packet");
    assert_string_equal(rmq_reason_name(RMQ_RC_PROTOCOL_ERROR), "Protocol Error");
    assert_string_equal(rmq_reason_name(RMQ_RC_PACKET_TOO_LARGE), "Packet too large");
    assert_string_equal(rmq_reason_name(RMQ_RC_WILDCARD_SUBS_NOT_SUPPORTED),
                        "Wildcard Subscriptions not supported");
    assert_string_equal(rmq_reason_name(0x03), "Unknown");
    for (unsigned rc = 0; rc < 256; rc++) {
        assert_non_null(rmq_reason_name((uint8_t)rc));
    }
}

static void test_utf8__validity(void **state)
{
    assert_true(rmq_codec_utf8_valid((const uint8_t *)"", 0));
    assert_true(rmq_codec_utf8_valid((const uint8_t *)"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    assert_true(rmq_codec_utf8_valid((const uint8_t *)"\xef\xbf\xbf", 3)); /* U+FFFF allowed */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"a\x00", 2));
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* U+D800 */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xed\xbf\xbf", 3));     /* U+DFFF */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xc0\x80", 2));         /* overlong NUL */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));     /* overlong */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xf0\x80\x80\xaf", 4)); /* overlong */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xc3", 1));             /* truncated */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\x80", 1));             /* stray cont. */
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xc3\x28", 2));
    assert_false(rmq_codec_utf8_valid((const uint8_t *)"\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip__every_packet_v5),
        cmocka_unit_test(test_roundtrip__every_packet_v311),
        cmocka_unit_test(test_roundtrip__every_packet_v31),
        cmocka_unit_test(test_encode_v311__drops_what_v3_cannot_carry),
        cmocka_unit_test(test_encode_connack__maps_v5_reasons_to_v3_return_codes),
        cmocka_unit_test(test_encode_v5__short_forms),
        cmocka_unit_test(test_encode_connect__v31_uses_mqisdp),
        cmocka_unit_test(test_decode__every_truncated_prefix_needs_more),
        cmocka_unit_test(test_decode__every_single_byte_change_is_safe),
        cmocka_unit_test(test_decode__two_packets_in_one_buffer),
        cmocka_unit_test(test_decode__too_large_from_fixed_header_alone),
        cmocka_unit_test(test_decode__packet_at_size_limit_accepted),
        cmocka_unit_test(test_peek_length__header_forms),
        cmocka_unit_test(test_decode__user_properties_have_no_cap),
        cmocka_unit_test(test_decode__subscribe_entries_have_no_cap),
        cmocka_unit_test(test_decode__subscription_ids_have_no_cap),
        cmocka_unit_test(test_decode__unsubscribe_and_ack_lists_have_no_cap),
        cmocka_unit_test(test_decode__into_dirty_packet_same_as_into_zeroed),
        cmocka_unit_test(test_packet_init__zeroes),
        cmocka_unit_test(test_packet__is_small),
        cmocka_unit_test(test_roundtrip__longest_string_65535),
        cmocka_unit_test(test_decode_connect__client_id_length_limit),
        cmocka_unit_test(test_encode__rejects_unencodable),
        cmocka_unit_test(test_encode__buffer_cap_leaves_buffer_unchanged),
        cmocka_unit_test(test_encode_limited__drops_reason_string_then_user_props),
        cmocka_unit_test(test_encode_limited__never_strips_publish),
        cmocka_unit_test(test_names__tables),
        cmocka_unit_test(test_utf8__validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
