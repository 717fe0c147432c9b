/* tcp_transport.c — the plain TCP transport; see transport.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/transport.h"

struct tcp_transport {
    struct rmq_transport base;
    int last_errno;
};

static enum rmq_io tcp_handshake(struct rmq_transport *t)
{
    (void)t;
    return RMQ_IO_OK;
}

static enum rmq_io tcp_read(struct rmq_transport *t, uint8_t *buf, size_t len, size_t *n)
{
    struct tcp_transport *tt = (struct tcp_transport *)t;
    for (;;) {
        ssize_t r = recv(t->fd, buf, len, 0);
        if (r > 0) {
            *n = (size_t)r;
            return RMQ_IO_OK;
        }
        if (r == 0) {
            return RMQ_IO_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return RMQ_IO_WANT_READ;
        }
        tt->last_errno = errno;
        return RMQ_IO_ERROR;
    }
}

static enum rmq_io tcp_write(struct rmq_transport *t, const uint8_t *buf, size_t len, size_t *n)
{
    struct tcp_transport *tt = (struct tcp_transport *)t;
    for (;;) {
        ssize_t w = send(t->fd, buf, len, MSG_NOSIGNAL);
        if (w >= 0) {
            *n = (size_t)w;
            return RMQ_IO_OK;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return RMQ_IO_WANT_WRITE;
        }
        tt->last_errno = errno;
        return RMQ_IO_ERROR;
    }
}

static void tcp_peer_info(struct rmq_transport *t, struct rmq_peer_info *out)
{
    (void)t;
    memset(out, 0, sizeof *out);
}

static void tcp_shutdown(struct rmq_transport *t)
{
    (void)t;
}

static void tcp_free(struct rmq_transport *t)
{
    free(t);
}

static const char *tcp_last_error(struct rmq_transport *t)
{
    struct tcp_transport *tt = (struct tcp_transport *)t;
    const char *s = tt->last_errno ? strerrordesc_np(tt->last_errno) : NULL;
    return s ? s : "";
}

static const struct rmq_transport_ops tcp_ops = {
    .name = "tcp",
    .handshake = tcp_handshake,
    .read = tcp_read,
    .write = tcp_write,
    .peer_info = tcp_peer_info,
    .shutdown = tcp_shutdown,
    .free = tcp_free,
    .last_error = tcp_last_error,
};

struct rmq_transport *rmq_tcp_transport_new(int fd)
{
    struct tcp_transport *t = calloc(1, sizeof *t);
    if (!t) {
        return NULL;
    }
    t->base.ops = &tcp_ops;
    t->base.fd = fd;
    return &t->base;
}
