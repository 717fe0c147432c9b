/*
 * buf.h — a growable byte buffer with a hard cap.
 *
 * Owned memory; grows geometrically up to `cap` bytes and refuses beyond it
 * (RMQ_ERR_TOO_LARGE), so an untrusted peer cannot make it grow without bound.
 * Not thread-safe: one owner.
 */
#ifndef RMQ_BUF_H
#define RMQ_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rmq_buf {
    uint8_t *data; /* owned */
    size_t len;
    size_t alloc;
    size_t cap; /* 0 = SIZE_MAX */
};

void rmq_buf_init(struct rmq_buf *b, size_t cap);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void rmq_buf_release(struct rmq_buf *b);
/* Makes room for n more bytes; on error nothing changed. */
RMQ_MUST_USE rmq_err rmq_buf_reserve(struct rmq_buf *b, size_t n);
RMQ_MUST_USE rmq_err rmq_buf_append(struct rmq_buf *b, const void *p, size_t n);
/* Drops the first n bytes (n <= len). */
void rmq_buf_consume(struct rmq_buf *b, size_t n);

#endif
