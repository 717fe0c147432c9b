/*
 * codec_encode.c — MQTT encode (see codec.h). Each packet body is written
 * twice by the same code: once counting, once into memory reserved from the
 * count, so the length prefix and the bytes always agree.
 */
#include <string.h>

#include "mqtt/codec_int.h"

/* ---- writer ---- */

static void put(struct rmq_wr *w, uint8_t v)
{
    if (w->p) {
        if (w->n >= w->cap) {
            w->bad = true; /* cannot happen: sizes come from the counting pass */
            return;
        }
        w->p[w->n] = v;
    }
    w->n++;
}

void rmq_wr_u8(struct rmq_wr *w, uint8_t v)
{
    put(w, v);
}

void rmq_wr_u16(struct rmq_wr *w, uint16_t v)
{
    put(w, (uint8_t)(v >> 8));
    put(w, (uint8_t)v);
}

void rmq_wr_u32(struct rmq_wr *w, uint32_t v)
{
    put(w, (uint8_t)(v >> 24));
    put(w, (uint8_t)(v >> 16));
    put(w, (uint8_t)(v >> 8));
    put(w, (uint8_t)v);
}

void rmq_wr_vbi(struct rmq_wr *w, uint32_t v)
{
    if (v > RMQ_MQTT_MAX_REMAINING) {
        w->bad = true;
        return;
    }
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        put(w, v ? (uint8_t)(b | 0x80) : b);
    } while (v);
}

size_t rmq_vbi_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

static void rmq_wr_raw(struct rmq_wr *w, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return;
    }
    if (p == NULL) {
        w->bad = true;
        return;
    }
    if (w->p) {
        if (n > w->cap - w->n || w->n > w->cap) {
            w->bad = true;
            return;
        }
        memcpy(w->p + w->n, p, n);
    }
    w->n += n;
}

void rmq_wr_bin(struct rmq_wr *w, struct rmq_bytes b)
{
    if (b.len > 0xFFFF) {
        w->bad = true;
        return;
    }
    rmq_wr_u16(w, (uint16_t)b.len);
    rmq_wr_raw(w, b.p, b.len);
}

/* ---- packet bodies ---- */

struct enc {
    struct rmq_wr *w;
    uint8_t version;
    unsigned omit; /* RMQ_OMIT_* */
};

static bool is_v5(const struct enc *e)
{
    return e->version == RMQ_MQTT_V5;
}

static void props(struct enc *e, enum rmq_prop_ctx ctx, const struct rmq_props *p)
{
    if (is_v5(e)) {
        rmq_props_encode(e->w, ctx, p, e->omit);
    }
}

static uint8_t connect_flags(const struct rmq_connect *c)
{
    uint8_t f = 0;
    f |= c->clean_start ? 0x02 : 0;
    if (c->will) {
        f |= 0x04 | (uint8_t)((c->will_qos & 3) << 3) | (c->will_retain ? 0x20 : 0);
    }
    f |= c->has_password ? 0x40 : 0;
    f |= c->has_username ? 0x80 : 0;
    return f;
}

static void body_connect(struct enc *e, const struct rmq_connect *c)
{
    struct rmq_wr *w = e->w;
    static const uint8_t mqtt[] = "MQTT", mqisdp[] = "MQIsdp";
    struct rmq_bytes name =
        e->version == RMQ_MQTT_V31 ? (struct rmq_bytes){mqisdp, 6} : (struct rmq_bytes){mqtt, 4};
    if (c->will && c->will_qos > 2) {
        w->bad = true;
    }
    rmq_wr_bin(w, name);
    rmq_wr_u8(w, e->version);
    rmq_wr_u8(w, connect_flags(c));
    rmq_wr_u16(w, c->keepalive);
    props(e, RMQ_PCTX_CONNECT, &c->props);
    rmq_wr_bin(w, c->client_id);
    if (c->will) {
        props(e, RMQ_PCTX_WILL, &c->will_props);
        rmq_wr_bin(w, c->will_topic);
        rmq_wr_bin(w, c->will_payload);
    }
    if (c->has_username) {
        rmq_wr_bin(w, c->username);
    }
    if (c->has_password) {
        rmq_wr_bin(w, c->password);
    }
}

static void body_connack(struct enc *e, const struct rmq_connack *c)
{
    rmq_wr_u8(e->w, c->session_present ? 1 : 0);
    if (is_v5(e)) {
        rmq_wr_u8(e->w, c->reason);
        props(e, RMQ_PCTX_CONNACK, &c->props);
    } else {
        rmq_wr_u8(e->w, rmq_reason_to_v3_connack(c->reason));
    }
}

static void body_publish(struct enc *e, const struct rmq_publish *p)
{
    if (p->qos > 2) {
        e->w->bad = true;
    }
    rmq_wr_bin(e->w, p->topic);
    if (p->qos > 0) {
        rmq_wr_u16(e->w, p->packet_id);
    }
    props(e, RMQ_PCTX_PUBLISH, &p->props);
    rmq_wr_raw(e->w, p->payload.p, p->payload.len);
}

/* Shortest v5 form: omit reason and property length when they are defaults. */
static bool props_empty(const struct enc *e, enum rmq_prop_ctx ctx, const struct rmq_props *p)
{
    struct rmq_wr c = {0};
    rmq_props_encode(&c, ctx, p, e->omit);
    return c.n == 1 && !c.bad;
}

static void body_ack(struct enc *e, const struct rmq_ack *a)
{
    rmq_wr_u16(e->w, a->packet_id);
    if (!is_v5(e)) {
        return;
    }
    bool no_props = props_empty(e, RMQ_PCTX_ACK, &a->props);
    if (a->reason == 0 && no_props) {
        return; /* v5 3.4.2.1 */
    }
    rmq_wr_u8(e->w, a->reason);
    if (!no_props) {
        props(e, RMQ_PCTX_ACK, &a->props);
    }
}

static void body_subscribe(struct enc *e, const struct rmq_subscribe *s)
{
    rmq_wr_u16(e->w, s->packet_id);
    props(e, RMQ_PCTX_SUBSCRIBE, &s->props);
    struct rmq_iter it = rmq_iter_of(s->entries);
    struct rmq_sub_entry x;
    rmq_err r;
    while ((r = rmq_sub_entry_next(&it, &x)) == RMQ_OK) {
        uint8_t o = x.qos;
        if (is_v5(e)) {
            o |= (x.no_local ? 0x04 : 0) | (x.retain_as_published ? 0x08 : 0) |
                 (uint8_t)(x.retain_handling << 4);
        }
        rmq_wr_bin(e->w, x.filter);
        rmq_wr_u8(e->w, o);
    }
    e->w->bad = e->w->bad || r != RMQ_ERR_EOF;
}

static void body_suback(struct enc *e, unsigned type, const struct rmq_suback *s)
{
    rmq_wr_u16(e->w, s->packet_id);
    if (!is_v5(e)) {
        if (type == RMQ_PKT_UNSUBACK) {
            return; /* 3.1.1: no payload */
        }
        struct rmq_iter it = rmq_iter_of(s->reasons);
        uint8_t rc = 0;
        while (rmq_reason_next(&it, &rc) == RMQ_OK) {
            rmq_wr_u8(e->w, rc >= 0x80 ? 0x80 : rc);
        }
        return;
    }
    props(e, type == RMQ_PKT_SUBACK ? RMQ_PCTX_SUBACK : RMQ_PCTX_UNSUBACK, &s->props);
    rmq_wr_raw(e->w, s->reasons.p, s->reasons.len);
}

static void body_unsubscribe(struct enc *e, const struct rmq_unsubscribe *u)
{
    rmq_wr_u16(e->w, u->packet_id);
    props(e, RMQ_PCTX_UNSUBSCRIBE, &u->props);
    struct rmq_iter it = rmq_iter_of(u->filters);
    struct rmq_bytes f;
    rmq_err r;
    while ((r = rmq_filter_next(&it, &f)) == RMQ_OK) {
        rmq_wr_bin(e->w, f);
    }
    e->w->bad = e->w->bad || r != RMQ_ERR_EOF;
}

static void body_reason_props(struct enc *e, enum rmq_prop_ctx ctx, uint8_t reason,
                              const struct rmq_props *p)
{
    if (!is_v5(e)) {
        return;
    }
    bool no_props = props_empty(e, ctx, p);
    if (reason == 0 && no_props) {
        return; /* v5 3.14.2.1, 3.15.2.1: remaining length 0 */
    }
    rmq_wr_u8(e->w, reason);
    if (!no_props) {
        props(e, ctx, p);
    }
}

static uint8_t first_byte(const struct rmq_packet *p)
{
    uint8_t t = (uint8_t)((unsigned)p->type << 4);
    switch (p->type) {
    case RMQ_PKT_PUBLISH:
        return t | (p->publish.dup ? 0x08 : 0) | (uint8_t)((p->publish.qos & 3) << 1) |
               (p->publish.retain ? 0x01 : 0);
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_SUBSCRIBE:
    case RMQ_PKT_UNSUBSCRIBE:
        return t | 0x02;
    default:
        return t;
    }
}

static void body(struct enc *e, const struct rmq_packet *p)
{
    switch (p->type) {
    case RMQ_PKT_CONNECT:
        body_connect(e, &p->connect);
        break;
    case RMQ_PKT_CONNACK:
        body_connack(e, &p->connack);
        break;
    case RMQ_PKT_PUBLISH:
        body_publish(e, &p->publish);
        break;
    case RMQ_PKT_PUBACK:
    case RMQ_PKT_PUBREC:
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_PUBCOMP:
        body_ack(e, &p->ack);
        break;
    case RMQ_PKT_SUBSCRIBE:
        body_subscribe(e, &p->subscribe);
        break;
    case RMQ_PKT_SUBACK:
    case RMQ_PKT_UNSUBACK:
        body_suback(e, p->type, &p->suback);
        break;
    case RMQ_PKT_UNSUBSCRIBE:
        body_unsubscribe(e, &p->unsubscribe);
        break;
    case RMQ_PKT_PINGREQ:
    case RMQ_PKT_PINGRESP:
        break;
    case RMQ_PKT_DISCONNECT:
        body_reason_props(e, RMQ_PCTX_DISCONNECT, p->disconnect.reason, &p->disconnect.props);
        break;
    case RMQ_PKT_AUTH:
        if (!is_v5(e)) {
            e->w->bad = true;
        }
        body_reason_props(e, RMQ_PCTX_AUTH, p->auth.reason, &p->auth.props);
        break;
    default:
        e->w->bad = true;
        break;
    }
}

/* Counting pass: body length; false when unencodable. */
static bool body_size(const struct rmq_packet *p, uint8_t version, unsigned omit, size_t *n)
{
    if (version != RMQ_MQTT_V31 && version != RMQ_MQTT_V311 && version != RMQ_MQTT_V5) {
        return false;
    }
    struct rmq_wr c = {0};
    struct enc e = {&c, version, omit};
    body(&e, p);
    if (c.bad || c.n > RMQ_MQTT_MAX_REMAINING) {
        return false;
    }
    *n = c.n;
    return true;
}

/* Total size, or 0 when unencodable. */
static size_t size_with(const struct rmq_packet *p, uint8_t version, unsigned omit)
{
    size_t n = 0;
    if (!body_size(p, version, omit, &n)) {
        return 0;
    }
    return 1 + rmq_vbi_size((uint32_t)n) + n;
}

static rmq_err encode_with(const struct rmq_packet *p, uint8_t version, unsigned omit,
                           struct rmq_buf *out)
{
    size_t body_len = 0;
    if (!body_size(p, version, omit, &body_len)) {
        return RMQ_ERR_INVALID;
    }
    size_t total = 1 + rmq_vbi_size((uint32_t)body_len) + body_len;
    RMQ_TRY(rmq_buf_reserve(out, total));
    struct rmq_wr w = {out->data + out->len, 0, total, false};
    struct enc e = {&w, version, omit};
    rmq_wr_u8(&w, first_byte(p));
    rmq_wr_vbi(&w, (uint32_t)body_len);
    body(&e, p);
    if (w.bad || w.n != total) {
        return RMQ_ERR_INTERNAL; /* out->len unchanged */
    }
    out->len += total;
    return RMQ_OK;
}

rmq_err rmq_codec_encode(const struct rmq_packet *p, uint8_t version, struct rmq_buf *out)
{
    return encode_with(p, version, 0, out);
}

size_t rmq_codec_encoded_size(const struct rmq_packet *p, uint8_t version)
{
    return size_with(p, version, 0);
}

rmq_err rmq_codec_encode_limited(const struct rmq_packet *p, uint8_t version, uint32_t max_size,
                                 struct rmq_buf *out)
{
    static const unsigned steps[] = {0, RMQ_OMIT_REASON_STRING,
                                     RMQ_OMIT_REASON_STRING | RMQ_OMIT_USER_PROPS};
    size_t nsteps = p->type == RMQ_PKT_PUBLISH ? 1 : 3; /* MQTT-3.3.2-17: keep them */
    for (size_t i = 0; i < nsteps; i++) {
        size_t n = size_with(p, version, steps[i]);
        if (n == 0) {
            return RMQ_ERR_INVALID;
        }
        if (max_size == 0 || n <= max_size) {
            return encode_with(p, version, steps[i], out);
        }
    }
    return RMQ_ERR_TOO_LARGE;
}
