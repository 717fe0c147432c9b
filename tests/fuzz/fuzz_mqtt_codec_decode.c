/*
 * fuzz_mqtt_codec_decode.c — libFuzzer target for the MQTT codec.
 *
 * Input: one selector byte, then wire bytes. The selector picks the
 * connection's protocol level (0 = expect CONNECT, 3, 4, 5), the role and a
 * maximum packet size. Every packet that decodes is re-encoded and decoded
 * again: the second decode must succeed, consume exactly the encoded bytes
 * and give an equal packet; rmq_codec_encoded_size must agree with encode.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mqtt/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        check_reencode(&p, version, &lim);
        if (p.type == RMQ_PKT_CONNECT && version == 0) {
            version = p.connect.proto_level;
        }
        data += used;
        size -= used;
    }
    return 0;
}
