/*
 * codec.c — MQTT decode (see codec.h): fixed header, primitives and one
 * decoder per control packet. Pure: no I/O, no allocation, no globals.
 *
 * Reason codes follow MQTT 5 §4.13: a packet that cannot be parsed as the
 * spec says (bad flags, lengths, UTF-8, property ids) is 0x81 Malformed
 * Packet; a parsed packet that breaks a rule (duplicate property, packet id
 * 0, no topic filter, value out of range) is 0x82 Protocol Error.
 */
#include <stddef.h>
#include <string.h>

#include "mqtt/codec_int.h"

/* ---- primitives: a short read inside a complete packet is malformed ---- */

rmq_err rmq_dec_u8(struct rmq_dec *d, uint8_t *v)
{
    return rmq_reader_u8(&d->r, v) == RMQ_OK ? RMQ_OK : rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
}

rmq_err rmq_dec_u16(struct rmq_dec *d, uint16_t *v)
{
    return rmq_reader_u16(&d->r, v) == RMQ_OK ? RMQ_OK : rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
}

rmq_err rmq_dec_u32(struct rmq_dec *d, uint32_t *v)
{
    return rmq_reader_u32(&d->r, v) == RMQ_OK ? RMQ_OK : rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
}

rmq_err rmq_dec_vbi(struct rmq_dec *d, uint32_t *v)
{
    uint32_t val = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint8_t b = 0;
        RMQ_TRY(rmq_dec_u8(d, &b));
        val |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = val;
            return RMQ_OK;
        }
    }
    return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT 1.5.5: at most 4 bytes */
}

rmq_err rmq_dec_bin(struct rmq_dec *d, struct rmq_bytes *out)
{
    uint16_t n = 0;
    RMQ_TRY(rmq_dec_u16(d, &n));
    if (rmq_reader_bytes(&d->r, n, &out->p) != RMQ_OK) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
    }
    out->len = n;
    return RMQ_OK;
}

rmq_err rmq_dec_str(struct rmq_dec *d, struct rmq_bytes *out)
{
    RMQ_TRY(rmq_dec_bin(d, out));
    if (!rmq_codec_utf8_valid(out->p, out->len)) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-1.5.4-1, -2 */
    }
    return RMQ_OK;
}

bool rmq_codec_utf8_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (c == 0) {
                return false; /* MQTT-1.5.4-2: no U+0000 */
            }
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong 2-byte lead, or > U+10FFFF */
        }
        if (n > len - i - 1) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = p[i + k];
            if ((cc & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
            return false; /* overlong or out of range */
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            return false; /* MQTT-1.5.4-1: no surrogates */
        }
        i += n + 1;
    }
    return true;
}

static bool has_wildcard(struct rmq_bytes s)
{
    return memchr(s.p, '+', s.len) != NULL || memchr(s.p, '#', s.len) != NULL;
}

static rmq_err expect_end(struct rmq_dec *d)
{
    return rmq_reader_left(&d->r) == 0 ? RMQ_OK : rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
}

static rmq_err packet_id(struct rmq_dec *d, uint16_t *id)
{
    RMQ_TRY(rmq_dec_u16(d, id));
    /* MQTT-2.2.1-3 (v5 MQTT-2.2.1-3): non-zero where a packet id is present */
    return *id == 0 ? rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR) : RMQ_OK;
}

/* ---- CONNECT ---- */

static rmq_err connect_level(struct rmq_dec *d, struct rmq_connect *c)
{
    RMQ_TRY(rmq_dec_bin(d, &c->proto_name));
    RMQ_TRY(rmq_dec_u8(d, &c->proto_level));
    bool mqtt = c->proto_name.len == 4 && memcmp(c->proto_name.p, "MQTT", 4) == 0;
    bool mqisdp = c->proto_name.len == 6 && memcmp(c->proto_name.p, "MQIsdp", 6) == 0;
    if (!mqtt && !mqisdp) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.1.2-1: close */
    }
    if ((mqtt && c->proto_level != RMQ_MQTT_V311 && c->proto_level != RMQ_MQTT_V5) ||
        (mqisdp && c->proto_level != RMQ_MQTT_V31)) {
        return rmq_dec_fail(d, RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION); /* MQTT-3.1.2-2 */
    }
    d->version = c->proto_level;
    return RMQ_OK;
}

static rmq_err connect_flags(struct rmq_dec *d, struct rmq_connect *c)
{
    RMQ_TRY(rmq_dec_u8(d, &c->flags));
    uint8_t f = c->flags;
    if (f & 0x01) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-3.1.2-3 */
    }
    c->clean_start = (f & 0x02) != 0;
    c->will = (f & 0x04) != 0;
    c->will_qos = (f >> 3) & 0x03;
    c->will_retain = (f & 0x20) != 0;
    c->has_password = (f & 0x40) != 0;
    c->has_username = (f & 0x80) != 0;
    if (c->will_qos == 3) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-3.1.2-12 */
    }
    if (!c->will && (c->will_qos != 0 || c->will_retain)) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-3.1.2-11, -13 */
    }
    if (d->version == RMQ_MQTT_V311 && c->has_password && !c->has_username) {
        /* MQTT-3.1.2-22; allowed again in v5 (3.1.2.9), not forbidden in 3.1 */
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
    }
    return RMQ_OK;
}

static rmq_err connect_client_id(struct rmq_dec *d, const struct rmq_codec_limits *lim,
                                 struct rmq_connect *c)
{
    RMQ_TRY(rmq_dec_str(d, &c->client_id));
    if (c->client_id.len == 0) {
        if (d->version == RMQ_MQTT_V31) {
            return rmq_dec_fail(d, RMQ_RC_CLIENT_ID_NOT_VALID); /* 3.1: 1..23 chars */
        }
        if (d->version == RMQ_MQTT_V311 && !c->clean_start) {
            return rmq_dec_fail(d, RMQ_RC_CLIENT_ID_NOT_VALID); /* MQTT-3.1.3-8 */
        }
    }
    if (lim && lim->max_client_id_len && c->client_id.len > lim->max_client_id_len) {
        return rmq_dec_fail(d, RMQ_RC_CLIENT_ID_NOT_VALID);
    }
    return RMQ_OK;
}

static rmq_err decode_connect(struct rmq_dec *d, const struct rmq_codec_limits *lim,
                              struct rmq_connect *c)
{
    RMQ_TRY(connect_level(d, c));
    RMQ_TRY(connect_flags(d, c));
    RMQ_TRY(rmq_dec_u16(d, &c->keepalive));
    if (d->version == RMQ_MQTT_V5) {
        RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_CONNECT, &c->props));
    }
    RMQ_TRY(connect_client_id(d, lim, c));
    if (c->will) {
        if (d->version == RMQ_MQTT_V5) {
            RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_WILL, &c->will_props));
        }
        RMQ_TRY(rmq_dec_str(d, &c->will_topic));
        if (c->will_topic.len == 0 || has_wildcard(c->will_topic)) {
            return rmq_dec_fail(d, RMQ_RC_TOPIC_NAME_INVALID); /* MQTT-3.1.3-11, 4.7.3 */
        }
        RMQ_TRY(rmq_dec_bin(d, &c->will_payload));
    }
    if (c->has_username) {
        RMQ_TRY(rmq_dec_str(d, &c->username)); /* MQTT-3.1.3-11 */
    }
    if (c->has_password) {
        RMQ_TRY(rmq_dec_bin(d, &c->password));
    }
    return expect_end(d);
}

/* ---- CONNACK ---- */

static rmq_err decode_connack(struct rmq_dec *d, struct rmq_connack *c)
{
    uint8_t flags = 0, rc = 0;
    RMQ_TRY(rmq_dec_u8(d, &flags));
    RMQ_TRY(rmq_dec_u8(d, &rc));
    if (flags & 0xFE) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-3.2.2-1 */
    }
    c->session_present = flags & 0x01;
    if (d->version == RMQ_MQTT_V5) {
        if (!rmq_reason_valid(rc, RMQ_PKT_CONNACK)) {
            return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
        }
        c->reason = rc;
        RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_CONNACK, &c->props));
    } else {
        if (rc > RMQ_V3_CONNACK_NOT_AUTHORIZED) {
            return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
        }
        c->reason = rmq_reason_from_v3_connack(rc);
    }
    if (c->session_present && c->reason != RMQ_RC_SUCCESS) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.2.2-6 / v5 -6 */
    }
    return expect_end(d);
}

/* ---- PUBLISH ---- */

static rmq_err decode_publish(struct rmq_dec *d, uint8_t flags, struct rmq_publish *p)
{
    p->dup = (flags & 0x08) != 0;
    p->qos = (flags >> 1) & 0x03;
    p->retain = (flags & 0x01) != 0;
    RMQ_TRY(rmq_dec_str(d, &p->topic));
    if (p->qos > 0) {
        RMQ_TRY(packet_id(d, &p->packet_id));
    }
    if (d->version == RMQ_MQTT_V5) {
        RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_PUBLISH, &p->props));
        if (d->role == RMQ_CODEC_ROLE_SERVER && p->props.n_sub_ids > 0) {
            return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.3.4-6 */
        }
    }
    if (p->topic.len == 0 && !rmq_props_has(&p->props, RMQ_PROP_TOPIC_ALIAS)) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-4.7.3-1, v5 3.3.2.1 */
    }
    if (has_wildcard(p->topic)) {
        return rmq_dec_fail(d, RMQ_RC_TOPIC_NAME_INVALID); /* MQTT-3.3.2-2 */
    }
    size_t n = rmq_reader_left(&d->r);
    if (rmq_reader_bytes(&d->r, n, &p->payload.p) != RMQ_OK) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
    }
    p->payload.len = n;
    return RMQ_OK;
}

/* ---- PUBACK, PUBREC, PUBREL, PUBCOMP ---- */

static rmq_err decode_ack(struct rmq_dec *d, unsigned type, struct rmq_ack *a)
{
    RMQ_TRY(packet_id(d, &a->packet_id));
    if (d->version != RMQ_MQTT_V5 || rmq_reader_left(&d->r) == 0) {
        return expect_end(d); /* v5 3.4.2.1: no reason code means 0x00 */
    }
    RMQ_TRY(rmq_dec_u8(d, &a->reason));
    if (!rmq_reason_valid(a->reason, (enum rmq_pkt_type)type)) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
    }
    if (rmq_reader_left(&d->r) > 0) { /* v5 3.4.2.2: no property length means 0 */
        RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_ACK, &a->props));
    }
    return expect_end(d);
}

/* ---- SUBSCRIBE ---- */

static rmq_err sub_options(struct rmq_dec *d, uint8_t o, struct rmq_sub_entry *e)
{
    e->qos = o & 0x03;
    if (d->version != RMQ_MQTT_V5) {
        if ((o & 0xFC) || e->qos == 3) {
            return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* 3.1.1 MQTT-3.8.3-4 */
        }
        return RMQ_OK;
    }
    if (o & 0xC0) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-3.8.3-5 */
    }
    e->no_local = (o & 0x04) != 0;
    e->retain_as_published = (o & 0x08) != 0;
    e->retain_handling = (o >> 4) & 0x03;
    if (e->qos == 3 || e->retain_handling == 3) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* v5 3.8.3.1 */
    }
    if (e->no_local && e->filter.len >= 7 && memcmp(e->filter.p, "$share/", 7) == 0) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.8.3-4 */
    }
    return RMQ_OK;
}

/* The rest of the body, borrowed as a list (codec.h LISTS). */
static struct rmq_bytes rest(const struct rmq_dec *d)
{
    struct rmq_bytes b = {d->r.data + d->r.off, rmq_reader_left(&d->r)};
    return b;
}

static rmq_err decode_subscribe(struct rmq_dec *d, struct rmq_subscribe *s)
{
    RMQ_TRY(packet_id(d, &s->packet_id));
    if (d->version == RMQ_MQTT_V5) {
        RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_SUBSCRIBE, &s->props));
    }
    s->entries = rest(d);
    while (rmq_reader_left(&d->r) > 0) {
        struct rmq_sub_entry e = {0};
        uint8_t o = 0;
        RMQ_TRY(rmq_dec_str(d, &e.filter));
        RMQ_TRY(rmq_dec_u8(d, &o));
        RMQ_TRY(sub_options(d, o, &e));
        s->n_entries++;
    }
    if (s->n_entries == 0) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.8.3-3 */
    }
    return RMQ_OK;
}

/* ---- SUBACK, UNSUBACK ---- */

static rmq_err decode_suback(struct rmq_dec *d, unsigned type, struct rmq_suback *s)
{
    RMQ_TRY(packet_id(d, &s->packet_id));
    bool v5 = d->version == RMQ_MQTT_V5;
    if (!v5 && type == RMQ_PKT_UNSUBACK) {
        return expect_end(d); /* 3.1.1: no payload */
    }
    if (v5) {
        RMQ_TRY(rmq_props_decode(d, type == RMQ_PKT_SUBACK ? RMQ_PCTX_SUBACK : RMQ_PCTX_UNSUBACK,
                                 &s->props));
    }
    s->reasons = rest(d);
    while (rmq_reader_left(&d->r) > 0) {
        uint8_t rc = 0;
        RMQ_TRY(rmq_dec_u8(d, &rc));
        bool ok;
        if (v5) {
            ok = rmq_reason_valid(rc, (enum rmq_pkt_type)type);
        } else {
            ok = rc <= 2 || rc == 0x80; /* 3.1.1 MQTT-3.9.3-2 */
        }
        if (!ok) {
            return rmq_dec_fail(d, v5 ? RMQ_RC_PROTOCOL_ERROR : RMQ_RC_MALFORMED_PACKET);
        }
        s->n_reasons++;
    }
    if (s->n_reasons == 0) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
    }
    return RMQ_OK;
}

/* ---- UNSUBSCRIBE ---- */

static rmq_err decode_unsubscribe(struct rmq_dec *d, struct rmq_unsubscribe *u)
{
    RMQ_TRY(packet_id(d, &u->packet_id));
    if (d->version == RMQ_MQTT_V5) {
        RMQ_TRY(rmq_props_decode(d, RMQ_PCTX_UNSUBSCRIBE, &u->props));
    }
    u->filters = rest(d);
    while (rmq_reader_left(&d->r) > 0) {
        struct rmq_bytes f;
        RMQ_TRY(rmq_dec_str(d, &f));
        u->n_filters++;
    }
    if (u->n_filters == 0) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.10.3-2 */
    }
    return RMQ_OK;
}

/* ---- DISCONNECT, AUTH ---- */

/* reason + props, both optional (v5 3.14.2.1, 3.15.2.1). */
static rmq_err decode_reason_props(struct rmq_dec *d, enum rmq_prop_ctx ctx, unsigned type,
                                   uint8_t *reason, struct rmq_props *props)
{
    if (d->version != RMQ_MQTT_V5 || rmq_reader_left(&d->r) == 0) {
        return expect_end(d);
    }
    RMQ_TRY(rmq_dec_u8(d, reason));
    if (!rmq_reason_valid(*reason, (enum rmq_pkt_type)type)) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
    }
    if (rmq_reader_left(&d->r) > 0) {
        RMQ_TRY(rmq_props_decode(d, ctx, props));
    }
    return expect_end(d);
}

/* ---- packet init ---- */

/* Zeroes the member of `type` only: a PUBLISH is about a third of a CONNECT,
 * and this runs once per packet decoded or sent. */
#define ZERO(m) memset(&p->m, 0, sizeof p->m)

void rmq_codec_packet_init(struct rmq_packet *p, enum rmq_pkt_type type)
{
    switch (type) {
    case RMQ_PKT_CONNECT:
        ZERO(connect);
        break;
    case RMQ_PKT_CONNACK:
        ZERO(connack);
        break;
    case RMQ_PKT_PUBLISH:
        ZERO(publish);
        break;
    case RMQ_PKT_PUBACK:
    case RMQ_PKT_PUBREC:
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_PUBCOMP:
        ZERO(ack);
        break;
    case RMQ_PKT_SUBSCRIBE:
        ZERO(subscribe);
        break;
    case RMQ_PKT_SUBACK:
    case RMQ_PKT_UNSUBACK:
        ZERO(suback);
        break;
    case RMQ_PKT_UNSUBSCRIBE:
        ZERO(unsubscribe);
        break;
    case RMQ_PKT_DISCONNECT:
        ZERO(disconnect);
        break;
    case RMQ_PKT_AUTH:
        ZERO(auth);
        break;
    default: /* PINGREQ, PINGRESP, reserved: no body */
        break;
    }
    p->type = type;
}
#undef ZERO

/* ---- fixed header and dispatch ---- */

/* Fixed header: type byte + remaining length (at most 4 bytes, MQTT 1.5.5). */
static rmq_err fixed_header(const uint8_t *buf, size_t len, size_t *hdr_len, uint32_t *rem)
{
    struct rmq_reader r = rmq_reader_make(buf, len);
    uint8_t b = 0;
    uint32_t val = 0;
    RMQ_TRY(rmq_reader_u8(&r, &b));
    for (unsigned i = 0; i < 4; i++) {
        RMQ_TRY(rmq_reader_u8(&r, &b)); /* RMQ_ERR_NEED_MORE */
        val |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *hdr_len = r.off;
            *rem = val;
            return RMQ_OK;
        }
    }
    return RMQ_ERR_MALFORMED;
}

rmq_err rmq_codec_peek_length(const uint8_t *buf, size_t len, size_t *total)
{
    size_t hdr = 0;
    uint32_t rem = 0;
    RMQ_TRY(fixed_header(buf, len, &hdr, &rem));
    *total = hdr + rem;
    return RMQ_OK;
}

/* MQTT-2.1.3-1: reserved flag bits of each packet type. */
static bool flags_ok(unsigned type, uint8_t flags, uint8_t version)
{
    switch (type) {
    case RMQ_PKT_PUBLISH:
        return ((flags >> 1) & 0x03) != 3; /* MQTT-3.3.1-4 */
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_SUBSCRIBE:
    case RMQ_PKT_UNSUBSCRIBE:
        /* MQTT 3.1 let clients set DUP on a retransmission */
        return flags == 0x02 || (version == RMQ_MQTT_V31 && flags == 0x0A);
    default:
        return flags == 0;
    }
}

static rmq_err decode_body(struct rmq_dec *d, unsigned type, uint8_t flags,
                           const struct rmq_codec_limits *lim, struct rmq_packet *out)
{
    rmq_codec_packet_init(out, (enum rmq_pkt_type)type);
    switch (type) {
    case RMQ_PKT_CONNECT:
        return decode_connect(d, lim, &out->connect);
    case RMQ_PKT_CONNACK:
        return decode_connack(d, &out->connack);
    case RMQ_PKT_PUBLISH:
        return decode_publish(d, flags, &out->publish);
    case RMQ_PKT_PUBACK:
    case RMQ_PKT_PUBREC:
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_PUBCOMP:
        return decode_ack(d, type, &out->ack);
    case RMQ_PKT_SUBSCRIBE:
        return decode_subscribe(d, &out->subscribe);
    case RMQ_PKT_SUBACK:
    case RMQ_PKT_UNSUBACK:
        return decode_suback(d, type, &out->suback);
    case RMQ_PKT_UNSUBSCRIBE:
        return decode_unsubscribe(d, &out->unsubscribe);
    case RMQ_PKT_PINGREQ:
    case RMQ_PKT_PINGRESP:
        return expect_end(d);
    case RMQ_PKT_DISCONNECT:
        return decode_reason_props(d, RMQ_PCTX_DISCONNECT, type, &out->disconnect.reason,
                                   &out->disconnect.props);
    case RMQ_PKT_AUTH:
        return decode_reason_props(d, RMQ_PCTX_AUTH, type, &out->auth.reason, &out->auth.props);
    default:
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
    }
}

/* Is this packet type acceptable at all for `version`? Sets the reason. */
static rmq_err type_ok(struct rmq_dec *d, unsigned type, uint8_t flags, uint8_t version)
{
    if (type == RMQ_PKT_RESERVED) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
    }
    if (version == 0 && type != RMQ_PKT_CONNECT) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.1.0-1 */
    }
    if (type == RMQ_PKT_AUTH && version != RMQ_MQTT_V5) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* reserved type before v5 */
    }
    if (!flags_ok(type, flags, version)) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET); /* MQTT-2.1.3-1 */
    }
    if (type == RMQ_PKT_PUBLISH && (flags & 0x08) && ((flags >> 1) & 0x03) == 0) {
        /* MQTT-3.3.1-2: DUP on QoS 0 parses fine but breaks a rule (v5 4.13). */
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
    }
    return RMQ_OK;
}

rmq_err rmq_codec_decode(const uint8_t *buf, size_t len, const struct rmq_codec_limits *lim,
                         uint8_t version, struct rmq_packet *out, size_t *consumed, uint8_t *reason)
{
    uint8_t dummy_reason = 0;
    uint8_t *rc = reason ? reason : &dummy_reason;
    size_t hdr = 0;
    uint32_t rem = 0;
    *consumed = 0;
    *rc = RMQ_RC_SUCCESS;
    out->type = RMQ_PKT_RESERVED;
    if (version != 0 && version != RMQ_MQTT_V31 && version != RMQ_MQTT_V311 &&
        version != RMQ_MQTT_V5) {
        *rc = RMQ_RC_IMPLEMENTATION_SPECIFIC_ERROR;
        return RMQ_ERR_INVALID;
    }
    rmq_err e = fixed_header(buf, len, &hdr, &rem);
    if (e == RMQ_ERR_MALFORMED) {
        *rc = RMQ_RC_MALFORMED_PACKET; /* MQTT 1.5.5: at most 4 bytes */
        return e;
    }
    if (e != RMQ_OK) {
        return e;
    }
    unsigned type = buf[0] >> 4;
    uint8_t flags = buf[0] & 0x0F;
    struct rmq_dec d = {.version = version, .role = lim ? lim->role : 0};
    out->type = (enum rmq_pkt_type)type;
    if (type == RMQ_PKT_CONNECT) {
        out->connect.proto_level = 0; /* documented: 0 until read */
    }
    if (type_ok(&d, type, flags, version) != RMQ_OK) {
        *rc = d.reason;
        return RMQ_ERR_MALFORMED;
    }
    size_t total = hdr + rem;
    uint64_t max = lim && lim->max_packet_size ? lim->max_packet_size : RMQ_MQTT_MAX_PACKET;
    if ((uint64_t)total > max) {
        *rc = RMQ_RC_PACKET_TOO_LARGE;
        *consumed = total;
        return RMQ_ERR_TOO_LARGE;
    }
    if (rem > len - hdr) {
        return RMQ_ERR_NEED_MORE;
    }
    d.r = rmq_reader_make(buf + hdr, rem);
    e = decode_body(&d, type, flags, lim, out);
    if (e != RMQ_OK) {
        *rc = d.reason;
        return e;
    }
    *consumed = total;
    return RMQ_OK;
}

/* ---- names ---- */

const char *rmq_pkt_type_name(unsigned type)
{
    static const char *const names[16] = {"RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
                                          "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                          "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                          "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
    return type < 16 ? names[type] : "RESERVED";
}

const char *rmq_reason_name(uint8_t rc)
{
    switch (rc) {
#define RMQ_REASON_NAME(name, code, text, pkts)                                                    \
    case code:                                                                                     \
        return text;
        RMQ_REASON_TABLE(RMQ_REASON_NAME)
#undef RMQ_REASON_NAME
    default:
        return "Unknown";
    }
}

static unsigned reason_packets(uint8_t rc)
{
    switch (rc) {
#define RMQ_REASON_PKTS(name, code, text, pkts)                                                    \
    case code:                                                                                     \
        return pkts;
        RMQ_REASON_TABLE(RMQ_REASON_PKTS)
#undef RMQ_REASON_PKTS
    default:
        return 0;
    }
}

static unsigned packet_bit(enum rmq_pkt_type type)
{
    switch (type) {
    case RMQ_PKT_CONNACK:
        return RMQ_RCP_CONNACK;
    case RMQ_PKT_PUBACK:
    case RMQ_PKT_PUBREC:
        return RMQ_RCP_PUBACK;
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_PUBCOMP:
        return RMQ_RCP_PUBREL;
    case RMQ_PKT_SUBACK:
        return RMQ_RCP_SUBACK;
    case RMQ_PKT_UNSUBACK:
        return RMQ_RCP_UNSUBACK;
    case RMQ_PKT_DISCONNECT:
        return RMQ_RCP_DISCONNECT;
    case RMQ_PKT_AUTH:
        return RMQ_RCP_AUTH;
    default:
        return 0;
    }
}

bool rmq_reason_valid(uint8_t rc, enum rmq_pkt_type type)
{
    return (reason_packets(rc) & packet_bit(type)) != 0;
}

uint8_t rmq_reason_for(enum rmq_pkt_type type, uint8_t rc)
{
    return rmq_reason_valid(rc, type) ? rc : RMQ_RC_UNSPECIFIED_ERROR;
}

uint8_t rmq_reason_to_v3_connack(uint8_t rc)
{
    switch (rc) {
    case RMQ_RC_SUCCESS:
        return RMQ_V3_CONNACK_ACCEPTED;
    case RMQ_RC_UNSPECIFIED_ERROR:
    case RMQ_RC_MALFORMED_PACKET:
    case RMQ_RC_PROTOCOL_ERROR:
    case RMQ_RC_IMPLEMENTATION_SPECIFIC_ERROR:
    case RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION:
        return RMQ_V3_CONNACK_BAD_PROTOCOL_VERSION;
    case RMQ_RC_CLIENT_ID_NOT_VALID:
        return RMQ_V3_CONNACK_IDENTIFIER_REJECTED;
    case RMQ_RC_BAD_USERNAME_OR_PASSWORD:
        return RMQ_V3_CONNACK_BAD_USERNAME_OR_PASSWORD;
    case RMQ_RC_NOT_AUTHORIZED:
    case RMQ_RC_BANNED:
    case RMQ_RC_BAD_AUTHENTICATION_METHOD:
        return RMQ_V3_CONNACK_NOT_AUTHORIZED;
    default:
        return RMQ_V3_CONNACK_SERVER_UNAVAILABLE;
    }
}

uint8_t rmq_reason_from_v3_connack(uint8_t v3rc)
{
    switch (v3rc) {
    case RMQ_V3_CONNACK_ACCEPTED:
        return RMQ_RC_SUCCESS;
    case RMQ_V3_CONNACK_BAD_PROTOCOL_VERSION:
        return RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION;
    case RMQ_V3_CONNACK_IDENTIFIER_REJECTED:
        return RMQ_RC_CLIENT_ID_NOT_VALID;
    case RMQ_V3_CONNACK_SERVER_UNAVAILABLE:
        return RMQ_RC_SERVER_UNAVAILABLE;
    case RMQ_V3_CONNACK_BAD_USERNAME_OR_PASSWORD:
        return RMQ_RC_BAD_USERNAME_OR_PASSWORD;
    case RMQ_V3_CONNACK_NOT_AUTHORIZED:
        return RMQ_RC_NOT_AUTHORIZED;
    default:
        return RMQ_RC_PROTOCOL_ERROR;
    }
}
