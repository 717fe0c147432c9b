/*
 * ws_transport.c — the WebSocket transport over a TCP or TLS transport; see
 * ws.h for what it does and why wslay. Frames go through wslay's frame API;
 * wslay's send/recv callbacks call the inner transport, and since wslay only
 * reports "would block" for any callback failure, the inner result is kept
 * in `last_io` and returned from there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "common/log.h"
#include "net/ws.h"
#include "tls/tls_ws.h"

#define WS_OUT_FRAME_MAX (256u * 1024u) /* payload per frame we send */
#define WS_CTL_MAX 125                  /* RFC 6455 5.5 */

enum ws_state { WS_INNER, WS_REQUEST, WS_RESPONSE, WS_OPEN, WS_FAILED };

struct ws_transport {
    struct rmq_transport base;
    struct rmq_transport *inner; /* owned */
    const struct rmq_ws_settings *cfg;
    enum ws_state st;
    enum rmq_io last_io;
    uint8_t *req; /* owned during the handshake: request bytes */
    size_t req_len;
    char resp[512];
    size_t resp_len, resp_off;
    bool resp_fail; /* the response refuses the upgrade */
    uint8_t *pre;   /* owned: bytes read after the request, served to wslay first */
    size_t pre_len, pre_off;
    wslay_frame_context_ptr fctx;
    /* receiving */
    uint64_t in_left; /* payload bytes left in the current frame */
    uint8_t in_op;
    bool in_fragmented; /* a data message without its final frame yet */
    uint8_t ctl[WS_CTL_MAX];
    size_t ctl_len;
    uint8_t *rest; /* owned: payload not yet given to the reader */
    size_t rest_len, rest_off;
    bool peer_closed;
    /* sending */
    uint64_t out_total, out_left; /* the current data frame */
    bool octl_pending;
    uint8_t octl_op;
    uint8_t octl[WS_CTL_MAX];
    size_t octl_len, octl_off;
    char err[160];
};

static const struct rmq_transport_ops ws_ops;

/* ------------------------------------------------------------ callbacks */

static ssize_t cb_send(const uint8_t *data, size_t len, int flags, void *arg)
{
    (void)flags;
    struct ws_transport *p = arg;
    size_t n = 0;
    enum rmq_io r = p->inner->ops->write(p->inner, data, len, &n);
    if (r == RMQ_IO_OK && n > 0) {
        return (ssize_t)n;
    }
    p->last_io = r == RMQ_IO_OK ? RMQ_IO_WANT_WRITE : r;
    return -1;
}

static ssize_t cb_recv(uint8_t *buf, size_t len, int flags, void *arg)
{
    (void)flags;
    struct ws_transport *p = arg;
    if (p->pre_off < p->pre_len) {
        size_t n = p->pre_len - p->pre_off < len ? p->pre_len - p->pre_off : len;
        memcpy(buf, p->pre + p->pre_off, n);
        p->pre_off += n;
        return (ssize_t)n;
    }
    size_t n = 0;
    enum rmq_io r = p->inner->ops->read(p->inner, buf, len, &n);
    if (r == RMQ_IO_OK && n > 0) {
        return (ssize_t)n;
    }
    p->last_io = r == RMQ_IO_OK ? RMQ_IO_WANT_READ : r;
    return -1;
}

static int cb_genmask(uint8_t *buf, size_t len, void *arg)
{
    (void)arg;
    memset(buf, 0, len); /* a server never masks (RFC 6455 5.1); not called */
    return 0;
}

static const struct wslay_frame_callbacks callbacks = {cb_send, cb_recv, cb_genmask};

/* ------------------------------------------------------------- sending */

static void fail(struct ws_transport *p, const char *what)
{
    snprintf(p->err, sizeof p->err, "websocket: %s", what);
}

/* Queues a control frame. One at a time: while one is pending (wslay may be
 * in the middle of its header) another is dropped, never spliced into it. */
static void queue_ctl(struct ws_transport *p, uint8_t op, const uint8_t *payload, size_t n)
{
    if (p->octl_pending) {
        return;
    }
    p->octl_pending = true;
    p->octl_op = op;
    p->octl_len = n < WS_CTL_MAX ? n : WS_CTL_MAX;
    p->octl_off = 0;
    memcpy(p->octl, payload, p->octl_len);
}

static void queue_close(struct ws_transport *p, uint16_t status)
{
    uint8_t b[2] = {(uint8_t)(status >> 8), (uint8_t)status};
    queue_ctl(p, WSLAY_CONNECTION_CLOSE, b, 2);
}

/* Sends the pending control frame between data frames. */
static enum rmq_io flush_ctl(struct ws_transport *p)
{
    while (p->octl_pending && p->out_left == 0) {
        struct wslay_frame_iocb io = {.fin = 1,
                                      .opcode = p->octl_op,
                                      .payload_length = p->octl_len,
                                      .data = p->octl + p->octl_off,
                                      .data_length = p->octl_len - p->octl_off};
        p->last_io = RMQ_IO_OK;
        ssize_t w = wslay_frame_send(p->fctx, &io);
        if (w == WSLAY_ERR_WANT_WRITE) {
            return p->last_io == RMQ_IO_OK ? RMQ_IO_WANT_WRITE : p->last_io;
        }
        if (w < 0) {
            return RMQ_IO_ERROR;
        }
        p->octl_off += (size_t)w;
        if (p->octl_off == p->octl_len) {
            p->octl_pending = false;
        }
    }
    return RMQ_IO_OK;
}

static enum rmq_io ws_write(struct rmq_transport *t, const uint8_t *buf, size_t len, size_t *n)
{
    struct ws_transport *p = (struct ws_transport *)t;
    if (p->peer_closed) {
        return RMQ_IO_ERROR;
    }
    enum rmq_io r = flush_ctl(p);
    if (r != RMQ_IO_OK) {
        return r;
    }
    if (p->out_left == 0) {
        p->out_total = len < WS_OUT_FRAME_MAX ? len : WS_OUT_FRAME_MAX;
        p->out_left = p->out_total;
    }
    /* MQTT 5.0 6.0: binary frames; one frame per chunk of the output buffer */
    struct wslay_frame_iocb io = {.fin = 1,
                                  .opcode = WSLAY_BINARY_FRAME,
                                  .payload_length = p->out_total,
                                  .data = buf,
                                  .data_length = len < p->out_left ? len : (size_t)p->out_left};
    p->last_io = RMQ_IO_OK;
    ssize_t w = wslay_frame_send(p->fctx, &io);
    if (w == WSLAY_ERR_WANT_WRITE || w == 0) {
        return p->last_io == RMQ_IO_OK ? RMQ_IO_WANT_WRITE : p->last_io;
    }
    if (w < 0) {
        return RMQ_IO_ERROR;
    }
    p->out_left -= (uint64_t)w;
    *n = (size_t)w;
    return RMQ_IO_OK;
}

/* ----------------------------------------------------------- receiving */

/* RFC 6455 5.2-5.5 and MQTT 5.0 6.0 on the header of a new frame; 0 = fine,
 * else the close status to answer with. */
static uint16_t check_frame(struct ws_transport *p, const struct wslay_frame_iocb *io)
{
    if (!io->mask || io->rsv != 0) {
        return 1002; /* client frames are masked; no extension negotiated */
    }
    switch (io->opcode) {
    case WSLAY_BINARY_FRAME:
    case WSLAY_CONTINUATION_FRAME:
        if ((io->opcode == WSLAY_CONTINUATION_FRAME) != p->in_fragmented) {
            return 1002;
        }
        if (p->cfg->max_frame_size != UINT64_MAX && io->payload_length > p->cfg->max_frame_size) {
            return 1009;
        }
        p->in_fragmented = !io->fin;
        return 0;
    case WSLAY_TEXT_FRAME:
        return 1003; /* MQTT 5.0 6.0: other data frames close the connection */
    case WSLAY_CONNECTION_CLOSE:
    case WSLAY_PING:
    case WSLAY_PONG:
        return io->fin && io->payload_length <= WS_CTL_MAX ? 0 : 1002;
    default:
        return 1002;
    }
}

/* A complete control frame arrived. */
static void on_control(struct ws_transport *p)
{
    if (p->in_op == WSLAY_PING) {
        queue_ctl(p, WSLAY_PONG, p->ctl, p->ctl_len);
    } else if (p->in_op == WSLAY_CONNECTION_CLOSE) {
        /* RFC 6455 5.5.1: answer with a close (echoing the status), then end */
        queue_ctl(p, WSLAY_CONNECTION_CLOSE, p->ctl, p->ctl_len >= 2 ? 2 : 0);
        p->peer_closed = true;
    }
    p->ctl_len = 0;
}

/* Hands payload to the reader; keeps what does not fit. */
static rmq_err deliver(struct ws_transport *p, const uint8_t *d, size_t dn, uint8_t *buf,
                       size_t len, size_t *n)
{
    size_t k = dn < len ? dn : len;
    memcpy(buf, d, k);
    *n = k;
    if (k < dn) {
        p->rest = malloc(dn - k);
        if (p->rest == NULL) {
            return RMQ_ERR_NOMEM;
        }
        memcpy(p->rest, d + k, dn - k);
        p->rest_len = dn - k;
        p->rest_off = 0;
    }
    return RMQ_OK;
}

static enum rmq_io protocol_error(struct ws_transport *p, uint16_t status, const char *what)
{
    fail(p, what);
    queue_close(p, status);
    (void)flush_ctl(p);
    return RMQ_IO_ERROR;
}

static const char *close_reason(uint16_t status)
{
    return status == 1009   ? "frame over websocket.max_frame_size (close 1009)"
           : status == 1003 ? "text frame (MQTT needs binary frames, close 1003)"
                            : "protocol error (close 1002)";
}

static enum rmq_io ws_read(struct rmq_transport *t, uint8_t *buf, size_t len, size_t *n)
{
    struct ws_transport *p = (struct ws_transport *)t;
    if (p->rest_off < p->rest_len) {
        size_t k = p->rest_len - p->rest_off < len ? p->rest_len - p->rest_off : len;
        memcpy(buf, p->rest + p->rest_off, k);
        p->rest_off += k;
        if (p->rest_off == p->rest_len) {
            free(p->rest);
            p->rest = NULL;
            p->rest_len = p->rest_off = 0;
        }
        *n = k;
        return RMQ_IO_OK;
    }
    for (;;) {
        (void)flush_ctl(p);
        if (p->peer_closed) {
            return RMQ_IO_EOF;
        }
        struct wslay_frame_iocb io;
        memset(&io, 0, sizeof io);
        p->last_io = RMQ_IO_OK;
        ssize_t r = wslay_frame_recv(p->fctx, &io);
        if (r == WSLAY_ERR_WANT_READ) {
            return p->last_io == RMQ_IO_OK ? RMQ_IO_WANT_READ : p->last_io;
        }
        if (r < 0) {
            return protocol_error(p, 1002, "protocol error (close 1002)");
        }
        if (p->in_left == 0) {
            uint16_t st = check_frame(p, &io);
            if (st != 0) {
                return protocol_error(p, st, close_reason(st));
            }
            p->in_left = io.payload_length;
            p->in_op = io.opcode;
        }
        p->in_left -= (uint64_t)r;
        if (wslay_is_ctrl_frame(p->in_op)) {
            size_t k = (size_t)r <= WS_CTL_MAX - p->ctl_len ? (size_t)r : 0;
            memcpy(p->ctl + p->ctl_len, io.data, k);
            p->ctl_len += k;
            if (p->in_left == 0) {
                on_control(p);
            }
            continue;
        }
        if (r > 0) {
            return deliver(p, io.data, (size_t)r, buf, len, n) == RMQ_OK ? RMQ_IO_OK : RMQ_IO_ERROR;
        }
    }
}

/* ----------------------------------------------------------- handshake */

static const char *status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 426:
        return "Upgrade Required";
    case 400:
    default:
        return "Bad Request";
    }
}

static void make_response(struct ws_transport *p, int status, const struct rmq_ws_request *rq)
{
    char accept[29];
    if (status == 101 && rmq_tls_ws_accept(rq->key, rq->key_len, accept) != RMQ_OK) {
        status = 400;
    }
    int w;
    if (status == 101) {
        w = snprintf(p->resp, sizeof p->resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     accept, rq->subprotocol);
    } else {
        w = snprintf(p->resp, sizeof p->resp,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n%s\r\n", status,
                     status_text(status), status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
    }
    p->resp_len = w > 0 && (size_t)w < sizeof p->resp ? (size_t)w : 0;
    p->resp_off = 0;
    p->resp_fail = status != 101;
}

/* Reads the request; RMQ_IO_OK once a response is ready. */
static enum rmq_io read_request(struct ws_transport *p)
{
    for (;;) {
        size_t n = 0;
        enum rmq_io r =
            p->inner->ops->read(p->inner, p->req + p->req_len, RMQ_WS_REQUEST_MAX - p->req_len, &n);
        if (r != RMQ_IO_OK) {
            if (r == RMQ_IO_EOF || r == RMQ_IO_ERROR) {
                fail(p, r == RMQ_IO_EOF ? "connection closed before the upgrade request"
                                        : "read error before the upgrade request");
            }
            return r;
        }
        p->req_len += n;
        struct rmq_ws_request rq;
        rmq_err e = rmq_ws_parse_request(p->req, p->req_len, &rq);
        if (e == RMQ_ERR_NEED_MORE && p->req_len < RMQ_WS_REQUEST_MAX) {
            continue;
        }
        if (e != RMQ_OK) {
            fail(p, e == RMQ_ERR_MALFORMED ? "400 malformed upgrade request"
                                           : "400 upgrade request too large");
            make_response(p, 400, &rq);
            return RMQ_IO_OK;
        }
        const char *why = "";
        int status = rmq_ws_check_request(&rq, p->cfg, &why);
        if (status != 101) {
            snprintf(p->err, sizeof p->err, "websocket: %d %s", status, why);
        }
        make_response(p, status, &rq);
        if (p->req_len > rq.len) {
            p->pre_len = p->req_len - rq.len; /* sent before our answer: keep for wslay */
            p->pre = malloc(p->pre_len);
            if (p->pre == NULL) {
                return RMQ_IO_ERROR;
            }
            memcpy(p->pre, p->req + rq.len, p->pre_len);
        }
        return RMQ_IO_OK;
    }
}

static enum rmq_io write_response(struct ws_transport *p)
{
    while (p->resp_off < p->resp_len) {
        size_t n = 0;
        enum rmq_io r = p->inner->ops->write(p->inner, (const uint8_t *)p->resp + p->resp_off,
                                             p->resp_len - p->resp_off, &n);
        if (r != RMQ_IO_OK) {
            return r;
        }
        p->resp_off += n;
    }
    return RMQ_IO_OK;
}

static enum rmq_io ws_handshake(struct rmq_transport *t)
{
    struct ws_transport *p = (struct ws_transport *)t;
    p->inner->wake = t->wake;
    p->inner->wake_arg = t->wake_arg;
    enum rmq_io r = RMQ_IO_OK;
    switch (p->st) {
    case WS_INNER:
        r = p->inner->ops->handshake(p->inner);
        if (r != RMQ_IO_OK) {
            return r;
        }
        p->req = malloc(RMQ_WS_REQUEST_MAX);
        if (p->req == NULL) {
            return RMQ_IO_ERROR;
        }
        p->st = WS_REQUEST;
        /* fall through */
    case WS_REQUEST:
        r = read_request(p);
        if (r != RMQ_IO_OK) {
            return r;
        }
        free(p->req);
        p->req = NULL;
        p->st = WS_RESPONSE;
        /* fall through */
    case WS_RESPONSE:
        r = write_response(p);
        if (r != RMQ_IO_OK) {
            return r;
        }
        if (p->resp_fail || p->resp_len == 0) {
            p->st = WS_FAILED;
            return RMQ_IO_ERROR;
        }
        if (wslay_frame_context_init(&p->fctx, &callbacks, p) != 0) {
            return RMQ_IO_ERROR;
        }
        p->st = WS_OPEN;
        p->err[0] = '\0';
        return RMQ_IO_OK;
    case WS_OPEN:
        return RMQ_IO_OK;
    case WS_FAILED:
    default:
        return RMQ_IO_ERROR;
    }
}

/* --------------------------------------------------------------- rest */

static void ws_peer_info(struct rmq_transport *t, struct rmq_peer_info *out)
{
    struct ws_transport *p = (struct ws_transport *)t;
    p->inner->ops->peer_info(p->inner, out);
}

static void ws_shutdown(struct rmq_transport *t)
{
    struct ws_transport *p = (struct ws_transport *)t;
    if (p->st == WS_OPEN && !p->peer_closed) {
        queue_close(p, 1000); /* RFC 6455 7.1.2: best effort, never blocks */
        (void)flush_ctl(p);
    }
    p->inner->ops->shutdown(p->inner);
}

static void ws_free(struct rmq_transport *t)
{
    struct ws_transport *p = (struct ws_transport *)t;
    if (p == NULL) {
        return;
    }
    if (p->fctx != NULL) {
        wslay_frame_context_free(p->fctx);
    }
    p->inner->ops->free(p->inner);
    free(p->req);
    free(p->pre);
    free(p->rest);
    free(p);
}

static const char *ws_last_error(struct rmq_transport *t)
{
    struct ws_transport *p = (struct ws_transport *)t;
    return p->err[0] != '\0' ? p->err : p->inner->ops->last_error(p->inner);
}

static const struct rmq_transport_ops ws_ops = {
    .name = "ws",
    .handshake = ws_handshake,
    .read = ws_read,
    .write = ws_write,
    .peer_info = ws_peer_info,
    .shutdown = ws_shutdown,
    .free = ws_free,
    .last_error = ws_last_error,
};

struct rmq_transport *rmq_ws_transport_wrap(struct rmq_transport *inner,
                                            const struct rmq_ws_settings *ws)
{
    if (inner == NULL) {
        return NULL;
    }
    struct ws_transport *p = calloc(1, sizeof *p);
    if (p == NULL) {
        inner->ops->free(inner);
        return NULL;
    }
    p->base.ops = &ws_ops;
    p->base.fd = inner->fd;
    p->inner = inner;
    p->cfg = ws;
    p->st = WS_INNER;
    return &p->base;
}
