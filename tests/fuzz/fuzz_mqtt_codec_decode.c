/*
 * fuzz_mqtt_codec_decode.c — libFuzzer target for the MQTT codec.
 *
 * Input: one selector byte, then wire bytes. The selector picks the
 * connection's protocol level (0 = expect CONNECT, 3, 4, 5), the role and a
 * maximum packet size. Every packet that decodes is re-encoded and decoded
 * again: the second decode must succeed, consume exactly the encoded bytes
 * and give an equal packet; rmq_codec_encoded_size must agree with encode.
 * The lists of every decoded packet iterate to the end without error and
 * give their counts; the list iterators also run over the raw input itself,
 * where they must stop (end or malformed) without reading outside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mqtt/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Iterates one list to its end; returns the element count, or -1 on error. */
static long count_list(int kind, struct rmq_bytes range)
{
    struct rmq_iter it = rmq_iter_of(range);
    long n = 0;
    for (;;) {
        struct rmq_user_prop up;
        struct rmq_sub_entry se;
        struct rmq_bytes f;
        uint32_t id = 0;
        uint8_t rc = 0;
        rmq_err e;
        switch (kind) {
        case 0:
            e = rmq_user_prop_next(&it, &up);
            break;
        case 1:
            e = rmq_sub_id_next(&it, &id);
            break;
        case 2:
            e = rmq_sub_entry_next(&it, &se);
            break;
        case 3:
            e = rmq_filter_next(&it, &f);
            break;
        default:
            e = rmq_reason_next(&it, &rc);
            break;
        }
        if (e == RMQ_ERR_EOF) {
            return n;
        }
        if (e != RMQ_OK) {
            return -1;
        }
        if (++n > (long)range.len) {
            abort(); /* every element takes at least a byte */
        }
    }
}

static void check_props_lists(const struct rmq_props *p)
{
    if (count_list(0, p->user_props) != (long)p->n_user_props ||
        count_list(1, p->sub_ids) != (long)p->n_sub_ids) {
        abort();
    }
}

/* A decoded packet's lists always iterate cleanly and match the counts. */
static void check_lists(const struct rmq_packet *p)
{
    switch (p->type) {
    case RMQ_PKT_CONNECT:
        check_props_lists(&p->connect.props);
        check_props_lists(&p->connect.will_props);
        break;
    case RMQ_PKT_PUBLISH:
        check_props_lists(&p->publish.props);
        break;
    case RMQ_PKT_SUBSCRIBE:
        check_props_lists(&p->subscribe.props);
        if (count_list(2, p->subscribe.entries) != (long)p->subscribe.n_entries) {
            abort();
        }
        break;
    case RMQ_PKT_UNSUBSCRIBE:
        check_props_lists(&p->unsubscribe.props);
        if (count_list(3, p->unsubscribe.filters) != (long)p->unsubscribe.n_filters) {
            abort();
        }
        break;
    case RMQ_PKT_SUBACK:
    case RMQ_PKT_UNSUBACK:
        check_props_lists(&p->suback.props);
        if (count_list(4, p->suback.reasons) != (long)p->suback.n_reasons) {
            abort();
        }
        break;
    default:
        break;
    }
}

static void check_reencode(const struct rmq_packet *p, uint8_t version,
                           const struct rmq_codec_limits *lim)
{
    uint8_t ver = p->type == RMQ_PKT_CONNECT ? p->connect.proto_level : version;
    struct rmq_buf b;
    rmq_buf_init(&b, 0);
    if (rmq_codec_encode(p, ver, &b) != RMQ_OK) {
        abort(); /* whatever decodes must be encodable */
    }
    if (rmq_codec_encoded_size(p, ver) != b.len) {
        abort();
    }
    struct rmq_codec_limits l2 = *lim;
    l2.max_packet_size = 0;
    struct rmq_packet q;
    size_t used = 0;
    uint8_t rc = 0;
    rmq_err e = rmq_codec_decode(b.data, b.len, &l2, p->type == RMQ_PKT_CONNECT ? 0 : version, &q,
                                 &used, &rc);
    if (e != RMQ_OK || used != b.len || !rmq_codec_packet_equal(p, &q)) {
        abort();
    }
    /* The size-limited encoder never exceeds its limit. */
    size_t before = b.len;
    uint32_t max = (uint32_t)(before / 2 + 1);
    if (rmq_codec_encode_limited(p, ver, max, &b) == RMQ_OK && b.len - before > max) {
        abort();
    }
    rmq_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t versions[4] = {0, RMQ_MQTT_V31, RMQ_MQTT_V311, RMQ_MQTT_V5};
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0];
    uint8_t version = versions[sel & 3];
    struct rmq_codec_limits lim = {0};
    lim.role = (sel >> 2) & 1;
    lim.max_packet_size = (sel & 0x08) ? 256 : 0;
    lim.max_client_id_len = (sel & 0x10) ? 23 : 0;
    data++;
    size--;
    /* The iterators over arbitrary bytes: they stop, inside the range. */
    for (int kind = 0; kind < 5; kind++) {
        (void)count_list(kind, (struct rmq_bytes){data, size});
    }
    /* Decode packets back to back, as a connection would. */
    for (int i = 0; i < 64 && size > 0; i++) {
        struct rmq_packet p;
        size_t used = 0;
        uint8_t rc = 0;
        rmq_err e = rmq_codec_decode(data, size, &lim, version, &p, &used, &rc);
        if (e != RMQ_OK) {
            if (e == RMQ_ERR_MALFORMED && (rc < 0x80 || used != 0)) {
                abort();
            }
            if (e == RMQ_ERR_TOO_LARGE && rc != RMQ_RC_PACKET_TOO_LARGE) {
                abort();
            }
            break;
        }
        if (used == 0 || used > size) {
            abort();
        }
        check_lists(&p);
        check_reencode(&p, version, &lim);
        if (p.type == RMQ_PKT_CONNECT && version == 0) {
            version = p.connect.proto_level;
        }
        data += used;
        size -= used;
    }
    return 0;
}
