/*
 * codec_lists.c — the lists of a packet in wire form (codec.h LISTS):
 * iterators that read them in place and builders that write them.
 *
 * Every read goes through the bounded reader over [it->p, it->p + it->len),
 * so a truncated or lying range fails (RMQ_ERR_MALFORMED) and never reads
 * outside it. A failed iterator stays failed. Pure: no allocation, no globals.
 */
#include <string.h>

#include "mqtt/codec_int.h"

/* A reader positioned at the iterator's cursor. */
static struct rmq_reader at(const struct rmq_iter *it)
{
    struct rmq_reader r = rmq_reader_make(it->p, it->len);
    r.off = it->off;
    return r;
}

static rmq_err fail(struct rmq_iter *it)
{
    it->bad = true;
    return RMQ_ERR_MALFORMED;
}

/* End, failed, or an element to read. */
static rmq_err start(const struct rmq_iter *it)
{
    if (it->bad) {
        return RMQ_ERR_MALFORMED;
    }
    return it->off >= it->len ? RMQ_ERR_EOF : RMQ_OK;
}

static rmq_err rd_vbi(struct rmq_reader *r, uint32_t *v)
{
    uint32_t val = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint8_t b = 0;
        RMQ_TRY(rmq_reader_u8(r, &b));
        val |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = val;
            return RMQ_OK;
        }
    }
    return RMQ_ERR_MALFORMED; /* MQTT 1.5.5: at most 4 bytes */
}

static rmq_err rd_bin(struct rmq_reader *r, struct rmq_bytes *out)
{
    uint16_t n = 0;
    RMQ_TRY(rmq_reader_u16(r, &n));
    RMQ_TRY(rmq_reader_bytes(r, n, &out->p));
    out->len = n;
    return RMQ_OK;
}

/* One property: its identifier, and its value for the two repeatable kinds. */
static rmq_err rd_prop(struct rmq_reader *r, uint32_t *id, uint32_t *vbi, struct rmq_user_prop *up)
{
    RMQ_TRY(rd_vbi(r, id));
    struct rmq_bytes skip;
    switch (rmq_prop_kind(*id)) {
    case PK_BYTE:
        return rmq_reader_skip(r, 1);
    case PK_U16:
        return rmq_reader_skip(r, 2);
    case PK_U32:
        return rmq_reader_skip(r, 4);
    case PK_VBI:
        return rd_vbi(r, vbi);
    case PK_STR:
    case PK_BIN:
        return rd_bin(r, &skip);
    case PK_PAIR:
        RMQ_TRY(rd_bin(r, &up->name));
        return rd_bin(r, &up->value);
    default:
        return RMQ_ERR_MALFORMED;
    }
}

/* Next property with identifier `want` in a property run. */
static rmq_err next_prop(struct rmq_iter *it, uint32_t want, uint32_t *vbi,
                         struct rmq_user_prop *up)
{
    rmq_err e;
    while ((e = start(it)) == RMQ_OK) {
        struct rmq_reader r = at(it);
        uint32_t id = 0;
        if (rd_prop(&r, &id, vbi, up) != RMQ_OK) {
            return fail(it);
        }
        it->off = r.off;
        if (id == want) {
            return RMQ_OK;
        }
    }
    return e;
}

rmq_err rmq_user_prop_next(struct rmq_iter *it, struct rmq_user_prop *out)
{
    uint32_t vbi = 0;
    return next_prop(it, RMQ_PROP_USER_PROPERTY, &vbi, out);
}

rmq_err rmq_sub_id_next(struct rmq_iter *it, uint32_t *out)
{
    struct rmq_user_prop up;
    return next_prop(it, RMQ_PROP_SUBSCRIPTION_ID, out, &up);
}

rmq_err rmq_sub_entry_next(struct rmq_iter *it, struct rmq_sub_entry *out)
{
    RMQ_TRY(start(it));
    struct rmq_reader r = at(it);
    uint8_t o = 0;
    if (rd_bin(&r, &out->filter) != RMQ_OK || rmq_reader_u8(&r, &o) != RMQ_OK) {
        return fail(it);
    }
    out->qos = o & 0x03;
    out->no_local = (o & 0x04) != 0;
    out->retain_as_published = (o & 0x08) != 0;
    out->retain_handling = (o >> 4) & 0x03;
    if ((o & 0xC0) || out->qos == 3 || out->retain_handling == 3) {
        return fail(it);
    }
    it->off = r.off;
    return RMQ_OK;
}

rmq_err rmq_filter_next(struct rmq_iter *it, struct rmq_bytes *out)
{
    RMQ_TRY(start(it));
    struct rmq_reader r = at(it);
    if (rd_bin(&r, out) != RMQ_OK) {
        return fail(it);
    }
    it->off = r.off;
    return RMQ_OK;
}

rmq_err rmq_reason_next(struct rmq_iter *it, uint8_t *out)
{
    RMQ_TRY(start(it));
    *out = it->p[it->off++];
    return RMQ_OK;
}

/* ---- builders ---- */

/* A writer over the next n bytes at dst[*len..cap), if they fit. */
static rmq_err room(uint8_t *dst, size_t cap, const size_t *len, size_t n, struct rmq_wr *w)
{
    if (*len > cap || n > cap - *len) {
        return RMQ_ERR_TOO_LARGE;
    }
    *w = (struct rmq_wr){dst + *len, 0, n, false};
    return RMQ_OK;
}

rmq_err rmq_put_user_prop(uint8_t *dst, size_t cap, size_t *len, struct rmq_bytes name,
                          struct rmq_bytes value)
{
    if (name.len > 65535 || value.len > 65535) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_wr w;
    RMQ_TRY(room(dst, cap, len, 5 + name.len + value.len, &w));
    rmq_wr_u8(&w, RMQ_PROP_USER_PROPERTY);
    rmq_wr_bin(&w, name);
    rmq_wr_bin(&w, value);
    *len += w.n;
    return RMQ_OK;
}

rmq_err rmq_put_sub_id(uint8_t *dst, size_t cap, size_t *len, uint32_t id)
{
    if (id == 0 || id > RMQ_MQTT_MAX_SUB_ID) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_wr w;
    RMQ_TRY(room(dst, cap, len, 1 + rmq_vbi_size(id), &w));
    rmq_wr_u8(&w, RMQ_PROP_SUBSCRIPTION_ID);
    rmq_wr_vbi(&w, id);
    *len += w.n;
    return RMQ_OK;
}

rmq_err rmq_put_sub_entry(uint8_t *dst, size_t cap, size_t *len, const struct rmq_sub_entry *e)
{
    if (e->qos > 2 || e->retain_handling > 2 || e->filter.len > 65535) {
        return RMQ_ERR_INVALID;
    }
    uint8_t o = (uint8_t)(e->qos | (e->no_local ? 0x04 : 0) | (e->retain_as_published ? 0x08 : 0) |
                          (e->retain_handling << 4));
    struct rmq_wr w;
    RMQ_TRY(room(dst, cap, len, 3 + e->filter.len, &w));
    rmq_wr_bin(&w, e->filter);
    rmq_wr_u8(&w, o);
    *len += w.n;
    return RMQ_OK;
}

rmq_err rmq_put_filter(uint8_t *dst, size_t cap, size_t *len, struct rmq_bytes f)
{
    if (f.len > 65535) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_wr w;
    RMQ_TRY(room(dst, cap, len, 2 + f.len, &w));
    rmq_wr_bin(&w, f);
    *len += w.n;
    return RMQ_OK;
}

size_t rmq_props_copy_user(struct rmq_bytes run, uint8_t *dst)
{
    struct rmq_iter it = rmq_iter_of(run);
    struct rmq_user_prop up;
    size_t n = 0;
    while (rmq_user_prop_next(&it, &up) == RMQ_OK) {
        size_t one = 5 + up.name.len + up.value.len;
        if (dst) {
            size_t len = 0;
            if (rmq_put_user_prop(dst + n, one, &len, up.name, up.value) != RMQ_OK) {
                break;
            }
        }
        n += one;
    }
    return n;
}
