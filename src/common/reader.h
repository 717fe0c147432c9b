/*
 * reader.h — the bounds-checked reader every untrusted byte goes through.
 *
 * A reader is a borrowed view of [data, data+len) and a cursor. Every read
 * checks the remaining length first, by subtraction (`n > len - off`), never
 * by adding to the offset. A failed read changes nothing and returns
 * RMQ_ERR_NEED_MORE. Not here: allocation, I/O, any knowledge of formats.
 *
 * Header-only; no globals; usable from any thread on its own reader.
 */
#ifndef RMQ_READER_H
#define RMQ_READER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"

struct rmq_reader {
    const uint8_t *data; /* borrowed for the reader's life */
    size_t len;
    size_t off;
};

static inline struct rmq_reader rmq_reader_make(const void *data, size_t len)
{
    struct rmq_reader r = {(const uint8_t *)data, len, 0};
    return r;
}

static inline size_t rmq_reader_left(const struct rmq_reader *r)
{
    return r->len - r->off;
}

RMQ_MUST_USE static inline rmq_err rmq_reader_skip(struct rmq_reader *r, size_t n)
{
    if (n > r->len - r->off) {
        return RMQ_ERR_NEED_MORE;
    }
    r->off += n;
    return RMQ_OK;
}

RMQ_MUST_USE static inline rmq_err rmq_reader_u8(struct rmq_reader *r, uint8_t *out)
{
    if (1 > r->len - r->off) {
        return RMQ_ERR_NEED_MORE;
    }
    *out = r->data[r->off++];
    return RMQ_OK;
}

RMQ_MUST_USE static inline rmq_err rmq_reader_u16(struct rmq_reader *r, uint16_t *out)
{
    if (2 > r->len - r->off) {
        return RMQ_ERR_NEED_MORE;
    }
    *out = (uint16_t)((r->data[r->off] << 8) | r->data[r->off + 1]);
    r->off += 2;
    return RMQ_OK;
}

RMQ_MUST_USE static inline rmq_err rmq_reader_u32(struct rmq_reader *r, uint32_t *out)
{
    if (4 > r->len - r->off) {
        return RMQ_ERR_NEED_MORE;
    }
    const uint8_t *p = r->data + r->off;
    *out = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    r->off += 4;
    return RMQ_OK;
}

/* Borrow n bytes in place: *out points into the reader's data. */
RMQ_MUST_USE static inline rmq_err rmq_reader_bytes(struct rmq_reader *r, size_t n,
                                                    const uint8_t **out)
{
    if (n > r->len - r->off) {
        return RMQ_ERR_NEED_MORE;
    }
    *out = r->data + r->off;
    r->off += n;
    return RMQ_OK;
}

/* Bytes left on the current line (up to, not including, '\n'), borrowed. */
RMQ_MUST_USE static inline rmq_err rmq_reader_line(struct rmq_reader *r, const uint8_t **out,
                                                   size_t *n)
{
    if (r->off >= r->len) {
        return RMQ_ERR_EOF;
    }
    const uint8_t *start = r->data + r->off;
    const uint8_t *nl = memchr(start, '\n', r->len - r->off);
    size_t linelen = nl ? (size_t)(nl - start) : r->len - r->off;
    *out = start;
    *n = linelen;
    r->off += linelen + (nl ? 1 : 0);
    return RMQ_OK;
}

#endif
