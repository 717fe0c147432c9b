/*
 * props.c — MQTT 5 properties (MQTT 5 §2.2.2): decode with validation of
 * which property is allowed where, duplicates and values; encode.
 * Private to the codec; see codec_int.h.
 */
#include <string.h>

#include "mqtt/codec_int.h"

#define B(id) RMQ_PROP_BIT(RMQ_PROP_##id)

enum rmq_prop_kind rmq_prop_kind(unsigned id)
{
    switch (id) {
    case RMQ_PROP_PAYLOAD_FORMAT:
    case RMQ_PROP_REQUEST_PROBLEM_INFO:
    case RMQ_PROP_REQUEST_RESPONSE_INFO:
    case RMQ_PROP_MAXIMUM_QOS:
    case RMQ_PROP_RETAIN_AVAILABLE:
    case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
    case RMQ_PROP_SUB_ID_AVAILABLE:
    case RMQ_PROP_SHARED_SUB_AVAILABLE:
        return PK_BYTE;
    case RMQ_PROP_SERVER_KEEPALIVE:
    case RMQ_PROP_RECEIVE_MAXIMUM:
    case RMQ_PROP_TOPIC_ALIAS_MAXIMUM:
    case RMQ_PROP_TOPIC_ALIAS:
        return PK_U16;
    case RMQ_PROP_MESSAGE_EXPIRY:
    case RMQ_PROP_SESSION_EXPIRY:
    case RMQ_PROP_WILL_DELAY:
    case RMQ_PROP_MAXIMUM_PACKET_SIZE:
        return PK_U32;
    case RMQ_PROP_SUBSCRIPTION_ID:
        return PK_VBI;
    case RMQ_PROP_CONTENT_TYPE:
    case RMQ_PROP_RESPONSE_TOPIC:
    case RMQ_PROP_ASSIGNED_CLIENT_ID:
    case RMQ_PROP_AUTH_METHOD:
    case RMQ_PROP_RESPONSE_INFO:
    case RMQ_PROP_SERVER_REFERENCE:
    case RMQ_PROP_REASON_STRING:
        return PK_STR;
    case RMQ_PROP_CORRELATION_DATA:
    case RMQ_PROP_AUTH_DATA:
        return PK_BIN;
    case RMQ_PROP_USER_PROPERTY:
        return PK_PAIR;
    default:
        return PK_NONE;
    }
}

/* Which properties each packet may carry (MQTT 5 table 2-4). */
static uint64_t allowed_mask(enum rmq_prop_ctx ctx)
{
    const uint64_t user = B(USER_PROPERTY);
    switch (ctx) {
    case RMQ_PCTX_CONNECT:
        return user | B(SESSION_EXPIRY) | B(AUTH_METHOD) | B(AUTH_DATA) | B(REQUEST_PROBLEM_INFO) |
               B(REQUEST_RESPONSE_INFO) | B(RECEIVE_MAXIMUM) | B(TOPIC_ALIAS_MAXIMUM) |
               B(MAXIMUM_PACKET_SIZE);
    case RMQ_PCTX_WILL:
        return user | B(PAYLOAD_FORMAT) | B(MESSAGE_EXPIRY) | B(CONTENT_TYPE) | B(RESPONSE_TOPIC) |
               B(CORRELATION_DATA) | B(WILL_DELAY);
    case RMQ_PCTX_CONNACK:
        return user | B(SESSION_EXPIRY) | B(ASSIGNED_CLIENT_ID) | B(SERVER_KEEPALIVE) |
               B(AUTH_METHOD) | B(AUTH_DATA) | B(RESPONSE_INFO) | B(SERVER_REFERENCE) |
               B(REASON_STRING) | B(RECEIVE_MAXIMUM) | B(TOPIC_ALIAS_MAXIMUM) | B(MAXIMUM_QOS) |
               B(RETAIN_AVAILABLE) | B(MAXIMUM_PACKET_SIZE) | B(WILDCARD_SUB_AVAILABLE) |
               B(SUB_ID_AVAILABLE) | B(SHARED_SUB_AVAILABLE);
    case RMQ_PCTX_PUBLISH:
        return user | B(PAYLOAD_FORMAT) | B(MESSAGE_EXPIRY) | B(CONTENT_TYPE) | B(RESPONSE_TOPIC) |
               B(CORRELATION_DATA) | B(SUBSCRIPTION_ID) | B(TOPIC_ALIAS);
    case RMQ_PCTX_ACK:
    case RMQ_PCTX_SUBACK:
    case RMQ_PCTX_UNSUBACK:
        return user | B(REASON_STRING);
    case RMQ_PCTX_SUBSCRIBE:
        return user | B(SUBSCRIPTION_ID);
    case RMQ_PCTX_UNSUBSCRIBE:
        return user;
    case RMQ_PCTX_DISCONNECT:
        return user | B(SESSION_EXPIRY) | B(SERVER_REFERENCE) | B(REASON_STRING);
    case RMQ_PCTX_AUTH:
        return user | B(AUTH_METHOD) | B(AUTH_DATA) | B(REASON_STRING);
    default:
        return 0;
    }
}

/* Is `id` allowed in ctx? */
static bool rmq_props_allowed(enum rmq_prop_ctx ctx, unsigned id)
{
    return id < 64 && (allowed_mask(ctx) & RMQ_PROP_BIT(id)) != 0;
}

static bool has_wildcard(struct rmq_bytes s)
{
    return memchr(s.p, '+', s.len) != NULL || memchr(s.p, '#', s.len) != NULL;
}

/* Value rules of single-byte / integer properties. */
static rmq_err check_int_value(struct rmq_dec *d, unsigned id, uint32_t v)
{
    switch (id) {
    case RMQ_PROP_PAYLOAD_FORMAT:
    case RMQ_PROP_REQUEST_PROBLEM_INFO:
    case RMQ_PROP_REQUEST_RESPONSE_INFO:
    case RMQ_PROP_MAXIMUM_QOS:
    case RMQ_PROP_RETAIN_AVAILABLE:
    case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
    case RMQ_PROP_SUB_ID_AVAILABLE:
    case RMQ_PROP_SHARED_SUB_AVAILABLE:
        /* "It is a Protocol Error to include a value other than 0 or 1" */
        return v > 1 ? rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR) : RMQ_OK;
    case RMQ_PROP_RECEIVE_MAXIMUM:     /* MQTT 5 3.1.2.11.3 */
    case RMQ_PROP_MAXIMUM_PACKET_SIZE: /* MQTT 5 3.1.2.11.4 */
    case RMQ_PROP_SUBSCRIPTION_ID:     /* MQTT 5 3.8.2.1.2 */
        return v == 0 ? rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR) : RMQ_OK;
    case RMQ_PROP_TOPIC_ALIAS: /* MQTT-3.3.2-8 */
        return v == 0 ? rmq_dec_fail(d, RMQ_RC_TOPIC_ALIAS_INVALID) : RMQ_OK;
    default:
        return RMQ_OK;
    }
}

static void store_int(struct rmq_props *o, unsigned id, uint32_t v)
{
    switch (id) {
    case RMQ_PROP_PAYLOAD_FORMAT:
        o->payload_format = (uint8_t)v;
        break;
    case RMQ_PROP_REQUEST_PROBLEM_INFO:
        o->request_problem_info = (uint8_t)v;
        break;
    case RMQ_PROP_REQUEST_RESPONSE_INFO:
        o->request_response_info = (uint8_t)v;
        break;
    case RMQ_PROP_MAXIMUM_QOS:
        o->maximum_qos = (uint8_t)v;
        break;
    case RMQ_PROP_RETAIN_AVAILABLE:
        o->retain_available = (uint8_t)v;
        break;
    case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
        o->wildcard_sub_available = (uint8_t)v;
        break;
    case RMQ_PROP_SUB_ID_AVAILABLE:
        o->sub_id_available = (uint8_t)v;
        break;
    case RMQ_PROP_SHARED_SUB_AVAILABLE:
        o->shared_sub_available = (uint8_t)v;
        break;
    case RMQ_PROP_SERVER_KEEPALIVE:
        o->server_keepalive = (uint16_t)v;
        break;
    case RMQ_PROP_RECEIVE_MAXIMUM:
        o->receive_maximum = (uint16_t)v;
        break;
    case RMQ_PROP_TOPIC_ALIAS_MAXIMUM:
        o->topic_alias_maximum = (uint16_t)v;
        break;
    case RMQ_PROP_TOPIC_ALIAS:
        o->topic_alias = (uint16_t)v;
        break;
    case RMQ_PROP_MESSAGE_EXPIRY:
        o->message_expiry = v;
        break;
    case RMQ_PROP_SESSION_EXPIRY:
        o->session_expiry = v;
        break;
    case RMQ_PROP_WILL_DELAY:
        o->will_delay = v;
        break;
    case RMQ_PROP_MAXIMUM_PACKET_SIZE:
        o->maximum_packet_size = v;
        break;
    default:
        break;
    }
}

static struct rmq_bytes *bytes_field(struct rmq_props *o, unsigned id)
{
    switch (id) {
    case RMQ_PROP_CONTENT_TYPE:
        return &o->content_type;
    case RMQ_PROP_RESPONSE_TOPIC:
        return &o->response_topic;
    case RMQ_PROP_CORRELATION_DATA:
        return &o->correlation_data;
    case RMQ_PROP_ASSIGNED_CLIENT_ID:
        return &o->assigned_client_id;
    case RMQ_PROP_AUTH_METHOD:
        return &o->auth_method;
    case RMQ_PROP_AUTH_DATA:
        return &o->auth_data;
    case RMQ_PROP_RESPONSE_INFO:
        return &o->response_info;
    case RMQ_PROP_SERVER_REFERENCE:
        return &o->server_reference;
    case RMQ_PROP_REASON_STRING:
        return &o->reason_string;
    default:
        return NULL;
    }
}

static const struct rmq_bytes *bytes_field_c(const struct rmq_props *o, unsigned id)
{
    return bytes_field((struct rmq_props *)o, id);
}

/* One property (identifier already read and checked as allowed). */
static rmq_err decode_one(struct rmq_dec *d, enum rmq_prop_ctx ctx, unsigned id,
                          struct rmq_props *o)
{
    enum rmq_prop_kind k = rmq_prop_kind(id);
    uint32_t v = 0;

    if (k == PK_PAIR) {
        struct rmq_user_prop up;
        RMQ_TRY(rmq_dec_str(d, &up.name));
        RMQ_TRY(rmq_dec_str(d, &up.value));
        o->n_user_props++; /* read again through o->user_props (codec.h LISTS) */
        return RMQ_OK;
    }
    if (k == PK_VBI) { /* subscription identifier */
        RMQ_TRY(rmq_dec_vbi(d, &v));
        RMQ_TRY(check_int_value(d, id, v));
        if (ctx == RMQ_PCTX_SUBSCRIBE && o->n_sub_ids > 0) {
            return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT 5 3.8.2.1.2 */
        }
        o->n_sub_ids++;
        return RMQ_OK;
    }
    /* Single-valued: a second occurrence is a protocol error (MQTT 5 §3.x.2.2). */
    if (o->has & RMQ_PROP_BIT(id)) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR);
    }
    if (k == PK_STR || k == PK_BIN) {
        struct rmq_bytes *f = bytes_field(o, id);
        RMQ_TRY(k == PK_STR ? rmq_dec_str(d, f) : rmq_dec_bin(d, f));
        if (id == RMQ_PROP_RESPONSE_TOPIC && (f->len == 0 || has_wildcard(*f))) {
            return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT-3.3.2-14 */
        }
    } else {
        uint8_t b = 0;
        uint16_t s = 0;
        if (k == PK_BYTE) {
            RMQ_TRY(rmq_dec_u8(d, &b));
            v = b;
        } else if (k == PK_U16) {
            RMQ_TRY(rmq_dec_u16(d, &s));
            v = s;
        } else {
            RMQ_TRY(rmq_dec_u32(d, &v));
        }
        RMQ_TRY(check_int_value(d, id, v));
        store_int(o, id, v);
    }
    o->has |= RMQ_PROP_BIT(id);
    return RMQ_OK;
}

rmq_err rmq_props_decode(struct rmq_dec *d, enum rmq_prop_ctx ctx, struct rmq_props *out)
{
    uint32_t plen = 0;
    RMQ_TRY(rmq_dec_vbi(d, &plen));
    if (plen > rmq_reader_left(&d->r)) {
        return rmq_dec_fail(d, RMQ_RC_MALFORMED_PACKET);
    }
    /* A sub-reader over exactly the property block. */
    struct rmq_dec sub = *d;
    sub.r = rmq_reader_make(d->r.data + d->r.off, plen);
    while (rmq_reader_left(&sub.r) > 0) {
        uint32_t id = 0;
        rmq_err e = rmq_dec_vbi(&sub, &id);
        if (e == RMQ_OK && !rmq_props_allowed(ctx, id)) {
            /* MQTT 5 2.2.2.2: an identifier not valid for the packet type */
            e = rmq_dec_fail(&sub, RMQ_RC_MALFORMED_PACKET);
        }
        if (e == RMQ_OK) {
            e = decode_one(&sub, ctx, id, out);
        }
        if (e != RMQ_OK) {
            d->reason = sub.reason;
            return e;
        }
    }
    /* The repeatable properties are read in place (codec.h LISTS). */
    struct rmq_bytes block = {sub.r.data, plen};
    if (out->n_user_props) {
        out->user_props = block;
    }
    if (out->n_sub_ids) {
        out->sub_ids = block;
    }
    if ((out->has & RMQ_PROP_BIT(RMQ_PROP_AUTH_DATA)) &&
        !(out->has & RMQ_PROP_BIT(RMQ_PROP_AUTH_METHOD))) {
        return rmq_dec_fail(d, RMQ_RC_PROTOCOL_ERROR); /* MQTT 5 3.1.2.11.10 */
    }
    d->r.off += plen;
    return RMQ_OK;
}

/* ---- encode ---- */

static uint32_t load_int(const struct rmq_props *p, unsigned id)
{
    switch (id) {
    case RMQ_PROP_PAYLOAD_FORMAT:
        return p->payload_format;
    case RMQ_PROP_REQUEST_PROBLEM_INFO:
        return p->request_problem_info;
    case RMQ_PROP_REQUEST_RESPONSE_INFO:
        return p->request_response_info;
    case RMQ_PROP_MAXIMUM_QOS:
        return p->maximum_qos;
    case RMQ_PROP_RETAIN_AVAILABLE:
        return p->retain_available;
    case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
        return p->wildcard_sub_available;
    case RMQ_PROP_SUB_ID_AVAILABLE:
        return p->sub_id_available;
    case RMQ_PROP_SHARED_SUB_AVAILABLE:
        return p->shared_sub_available;
    case RMQ_PROP_SERVER_KEEPALIVE:
        return p->server_keepalive;
    case RMQ_PROP_RECEIVE_MAXIMUM:
        return p->receive_maximum;
    case RMQ_PROP_TOPIC_ALIAS_MAXIMUM:
        return p->topic_alias_maximum;
    case RMQ_PROP_TOPIC_ALIAS:
        return p->topic_alias;
    case RMQ_PROP_MESSAGE_EXPIRY:
        return p->message_expiry;
    case RMQ_PROP_SESSION_EXPIRY:
        return p->session_expiry;
    case RMQ_PROP_WILL_DELAY:
        return p->will_delay;
    case RMQ_PROP_MAXIMUM_PACKET_SIZE:
        return p->maximum_packet_size;
    default:
        return 0;
    }
}

/* One single-valued property: identifier then value. */
static void encode_one(struct rmq_wr *w, unsigned id, const struct rmq_props *p)
{
    rmq_wr_u8(w, (uint8_t)id);
    switch (rmq_prop_kind(id)) {
    case PK_BYTE:
        rmq_wr_u8(w, (uint8_t)load_int(p, id));
        break;
    case PK_U16:
        rmq_wr_u16(w, (uint16_t)load_int(p, id));
        break;
    case PK_U32:
        rmq_wr_u32(w, load_int(p, id));
        break;
    case PK_STR:
    case PK_BIN:
        rmq_wr_bin(w, *bytes_field_c(p, id));
        break;
    default:
        w->bad = true;
        break;
    }
}

static void encode_list(struct rmq_wr *w, enum rmq_prop_ctx ctx, const struct rmq_props *p,
                        unsigned omit)
{
    uint64_t mask = allowed_mask(ctx) & p->has;
    if (omit & RMQ_OMIT_REASON_STRING) {
        mask &= ~RMQ_PROP_BIT(RMQ_PROP_REASON_STRING);
    }
    mask &= ~(RMQ_PROP_BIT(RMQ_PROP_SUBSCRIPTION_ID) | RMQ_PROP_BIT(RMQ_PROP_USER_PROPERTY));
    while (mask) { /* the properties present, in identifier order */
        unsigned id = (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        if (rmq_prop_kind(id) != PK_NONE) {
            encode_one(w, id, p);
        }
    }
    if (p->sub_ids.len && rmq_props_allowed(ctx, RMQ_PROP_SUBSCRIPTION_ID)) {
        struct rmq_iter it = rmq_iter_of(p->sub_ids);
        uint32_t id = 0;
        rmq_err e;
        while ((e = rmq_sub_id_next(&it, &id)) == RMQ_OK) {
            if (id == 0 || id > RMQ_MQTT_MAX_SUB_ID) {
                w->bad = true;
            }
            rmq_wr_u8(w, RMQ_PROP_SUBSCRIPTION_ID);
            rmq_wr_vbi(w, id);
        }
        w->bad = w->bad || e != RMQ_ERR_EOF;
    }
    if (p->user_props.len && !(omit & RMQ_OMIT_USER_PROPS)) {
        struct rmq_iter it = rmq_iter_of(p->user_props);
        struct rmq_user_prop up;
        rmq_err e;
        while ((e = rmq_user_prop_next(&it, &up)) == RMQ_OK) {
            rmq_wr_u8(w, RMQ_PROP_USER_PROPERTY);
            rmq_wr_bin(w, up.name);
            rmq_wr_bin(w, up.value);
        }
        w->bad = w->bad || e != RMQ_ERR_EOF;
    }
}

void rmq_props_encode(struct rmq_wr *w, enum rmq_prop_ctx ctx, const struct rmq_props *p,
                      unsigned omit)
{
    struct rmq_wr c = {0};
    encode_list(&c, ctx, p, omit);
    if (c.bad || c.n > RMQ_MQTT_MAX_REMAINING) {
        w->bad = true;
        return;
    }
    rmq_wr_vbi(w, (uint32_t)c.n);
    encode_list(w, ctx, p, omit);
}
