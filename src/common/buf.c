/* buf.c — growable byte buffer; see buf.h. */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

void rmq_buf_init(struct rmq_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : SIZE_MAX;
}

void rmq_buf_release(struct rmq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

rmq_err rmq_buf_reserve(struct rmq_buf *b, size_t n)
{
    if (n > b->cap - b->len) {
        return RMQ_ERR_TOO_LARGE;
    }
    size_t need = b->len + n;
    if (need <= b->alloc) {
        return RMQ_OK;
    }
    size_t na = b->alloc ? b->alloc : 256;
    while (na < need) {
        na = na > SIZE_MAX / 2 ? need : na * 2;
    }
    if (na > b->cap) {
        na = b->cap;
    }
    uint8_t *p = realloc(b->data, na);
    if (!p) {
        return RMQ_ERR_NOMEM;
    }
    b->data = p;
    b->alloc = na;
    return RMQ_OK;
}

rmq_err rmq_buf_append(struct rmq_buf *b, const void *p, size_t n)
{
    RMQ_TRY(rmq_buf_reserve(b, n));
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return RMQ_OK;
}

void rmq_buf_consume(struct rmq_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
