/*
 * fuzz_net_ws.c — libFuzzer target for the WebSocket upgrade and framing path.
 *
 * Input: a selector byte (read chunk size, max_frame_size, mode), then the bytes
 * a client sends. Mode 0 runs rmq_ws_parse_request + rmq_ws_check_request on
 * the input. Mode 1 runs the whole ws transport (handshake, then reads until
 * the input is used up, with a write in between) over an in-memory inner
 * transport that hands out the input in chunks and accepts every write, so the
 * upgrade parser, wslay's frame decoder and our frame rules all see it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
    struct rmq_transport base;
    const uint8_t *data;
    size_t len, off, chunk;
};

static enum rmq_io m_handshake(struct rmq_transport *t)
{
    (void)t;
    return RMQ_IO_OK;
}

static enum rmq_io m_read(struct rmq_transport *t, uint8_t *buf, size_t len, size_t *n)
{
    struct mem *m = (struct mem *)t;
    if (m->off == m->len) {
        return RMQ_IO_EOF;
    }
    size_t k = m->len - m->off;
    k = k < m->chunk ? k : m->chunk;
    k = k < len ? k : len;
    memcpy(buf, m->data + m->off, k);
    m->off += k;
    *n = k;
    return RMQ_IO_OK;
}

static enum rmq_io m_write(struct rmq_transport *t, const uint8_t *buf, size_t len, size_t *n)
{
    (void)t;
    (void)buf;
    *n = len;
    return RMQ_IO_OK;
}

static void m_peer_info(struct rmq_transport *t, struct rmq_peer_info *out)
{
    (void)t;
    memset(out, 0, sizeof *out);
}

static void m_shutdown(struct rmq_transport *t)
{
    (void)t;
}

static void m_free(struct rmq_transport *t)
{
    free(t);
}

static const char *m_last_error(struct rmq_transport *t)
{
    (void)t;
    return "";
}

static const struct rmq_transport_ops mem_ops = {"mem",       m_handshake, m_read, m_write,
                                                 m_peer_info, m_shutdown,  m_free, m_last_error};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0];
    data++;
    size--;
    static char *origins[] = {"http://a.example"};
    struct rmq_ws_settings ws = {.mqtt_path = "/mqtt",
                                 .max_frame_size = (sel & 0x40) ? 64 : UINT64_MAX,
                                 .check_origin_enable = (sel & 0x20) != 0,
                                 .check_origins = {origins, 1}};
    if ((sel & 0x80) == 0) {
        struct rmq_ws_request r;
        if (rmq_ws_parse_request(data, size, &r) == RMQ_OK) {
            const char *why = NULL;
            if (r.len > size) {
                abort();
            }
            (void)rmq_ws_check_request(&r, &ws, &why);
        }
        return 0;
    }
    struct mem *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return 0;
    }
    m->base.ops = &mem_ops;
    m->base.fd = -1;
    m->data = data;
    m->len = size;
    m->chunk = (size_t)(sel & 0x1F) + 1;
    struct rmq_transport *t = rmq_ws_transport_wrap(&m->base, &ws);
    if (t == NULL) {
        return 0;
    }
    enum rmq_io r = t->ops->handshake(t);
    uint8_t buf[512];
    for (int i = 0; r == RMQ_IO_OK && i < 100000; i++) {
        size_t n = 0;
        r = t->ops->read(t, buf, (size_t)(i % 7) * 50 + 1, &n);
        if (r == RMQ_IO_OK && (n == 0 || n > (size_t)(i % 7) * 50 + 1)) {
            abort();
        }
        if (r == RMQ_IO_OK && (i & 3) == 0) {
            size_t w = 0;
            (void)t->ops->write(t, buf, n, &w);
        }
    }
    t->ops->shutdown(t);
    t->ops->free(t);
    return 0;
}
