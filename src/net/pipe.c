/*
 * pipe.c — the core side of a split connection (struct pipe, net_int.h): a
 * transport on worker 0 whose bytes come from and go to the connection's IO
 * side on a handshake worker, by mail. The IO side is in net_conn.c
 * (PH_RELAY).
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_int.h"

static struct pipe *pipe_of(struct rmq_transport *t)
{
    return (struct pipe *)t; /* t is the first member */
}

void rmq_net_pipe_unref(struct pipe *p)
{
    if (atomic_fetch_sub(&p->refs, 1) == 1) {
        free(p->eof_mail);
        free(p->close_mail);
        free(p);
    }
}

void rmq_net_pipe_post_end(struct pipe *p, bool eof, const char *why)
{
    struct mail **slot = eof ? &p->eof_mail : &p->close_mail;
    struct mail *m = *slot;
    if (m == NULL) {
        return;
    }
    *slot = NULL;
    m->type = eof ? MAIL_PIPE_EOF : MAIL_PIPE_CLOSE;
    m->pipe = p;
    m->why = why;
    atomic_fetch_add(&p->refs, 1);
    rmq_net_post(eof ? p->core : p->io, m);
}

bool rmq_net_pipe_post(struct pipe *p, struct worker *w, enum mail_type type, const uint8_t *data,
                       size_t len, const char *why)
{
    struct mail *m = malloc(sizeof *m + len);
    if (m == NULL) {
        return false;
    }
    memset(m, 0, sizeof *m);
    m->type = type;
    m->pipe = p;
    m->why = why;
    m->len = len;
    if (len > 0) {
        memcpy(m->data, data, len);
    }
    atomic_fetch_add(&p->refs, 1);
    rmq_net_post(w, m);
    return true;
}

void rmq_net_pipe_mail_drop(struct mail *m)
{
    rmq_net_pipe_unref(m->pipe);
    free(m);
}

/* Posts to the IO side unless it is gone (then its worker may be too). */
static void post_io(struct pipe *p, enum mail_type type, const uint8_t *data, size_t len)
{
    if (!atomic_load(&p->io_gone)) {
        (void)rmq_net_pipe_post(p, p->io, type, data, len, NULL);
    }
}

bool rmq_net_pipe_readable(const struct pipe *p)
{
    return p->in_head != NULL || p->eof;
}

bool rmq_net_pipe_core_mail(struct mail *m)
{
    struct pipe *p = m->pipe;
    struct conn *c = p->core_conn;
    if (c == NULL) {
        return false; /* the core side is gone */
    }
    switch (m->type) {
    case MAIL_PIPE_IN:
        m->next = NULL;
        if (p->in_tail != NULL) {
            p->in_tail->next = m;
        } else {
            p->in_head = m;
        }
        p->in_tail = m;
        rmq_net_conn_pipe_readable(c);
        return true;
    case MAIL_PIPE_EOF:
        p->eof = true;
        p->why = m->why;
        rmq_net_conn_pipe_readable(c);
        return false;
    case MAIL_PIPE_WRITABLE:
        rmq_net_conn_pipe_writable(c);
        return false;
    default:
        return false;
    }
}

/* ------------------------------------------------------------ transport */

static enum rmq_io pipe_handshake(struct rmq_transport *t)
{
    (void)t;
    return RMQ_IO_OK;
}

static enum rmq_io pipe_read(struct rmq_transport *t, uint8_t *buf, size_t len, size_t *n)
{
    struct pipe *p = pipe_of(t);
    size_t got = 0;
    while (got < len && p->in_head != NULL) {
        struct mail *m = p->in_head;
        size_t take = m->len - p->in_off;
        if (take > len - got) {
            take = len - got;
        }
        memcpy(buf + got, m->data + p->in_off, take);
        got += take;
        p->in_off += take;
        if (p->in_off == m->len) {
            p->in_head = m->next;
            if (p->in_head == NULL) {
                p->in_tail = NULL;
            }
            p->in_off = 0;
            rmq_net_pipe_mail_drop(m);
        }
    }
    if (got == 0) {
        if (!p->eof) {
            return RMQ_IO_WANT_READ;
        }
        /* The IO side's reason: the peer closed, or its socket or TLS failed. */
        return p->why != NULL && strcmp(p->why, "closed by peer") != 0 ? RMQ_IO_ERROR : RMQ_IO_EOF;
    }
    size_t before = atomic_fetch_sub(&p->in_flight, got);
    if (before - got < PIPE_IN_WINDOW / 2 && atomic_load(&p->io_stopped) &&
        atomic_exchange(&p->io_stopped, false)) {
        post_io(p, MAIL_PIPE_RESUME, NULL, 0);
    }
    *n = got;
    return RMQ_IO_OK;
}

static enum rmq_io pipe_write(struct rmq_transport *t, const uint8_t *buf, size_t len, size_t *n)
{
    struct pipe *p = pipe_of(t);
    if (p->eof || atomic_load(&p->io_gone)) {
        *n = len; /* nobody to write to: the read side reports the end */
        return RMQ_IO_OK;
    }
    size_t flight = atomic_load(&p->out_flight);
    if (flight >= PIPE_OUT_WINDOW) {
        atomic_store(&p->core_blocked, true);
        flight = atomic_load(&p->out_flight);
        if (flight >= PIPE_OUT_WINDOW) {
            return RMQ_IO_WANT_WRITE; /* MAIL_PIPE_WRITABLE comes */
        }
        atomic_store(&p->core_blocked, false);
    }
    size_t take = PIPE_OUT_WINDOW - flight;
    if (take > len) {
        take = len;
    }
    atomic_fetch_add(&p->out_flight, take);
    if (!rmq_net_pipe_post(p, p->io, MAIL_PIPE_OUT, buf, take, NULL)) {
        atomic_fetch_sub(&p->out_flight, take);
        return RMQ_IO_ERROR;
    }
    *n = take;
    return RMQ_IO_OK;
}

static void pipe_peer_info(struct rmq_transport *t, struct rmq_peer_info *out)
{
    (void)t;
    memset(out, 0, sizeof *out); /* the IO side gave the core side its peer */
}

static void pipe_shutdown(struct rmq_transport *t)
{
    struct pipe *p = pipe_of(t);
    if (!p->close_sent) {
        p->close_sent = true;
        if (!atomic_load(&p->io_gone)) {
            rmq_net_pipe_post_end(p, false, NULL);
        }
    }
}

static void pipe_free(struct rmq_transport *t)
{
    struct pipe *p = pipe_of(t);
    pipe_shutdown(t);
    p->core_conn = NULL;
    while (p->in_head != NULL) {
        struct mail *m = p->in_head;
        p->in_head = m->next;
        rmq_net_pipe_mail_drop(m);
    }
    p->in_tail = NULL;
    rmq_net_pipe_unref(p);
}

static const char *pipe_last_error(struct rmq_transport *t)
{
    struct pipe *p = pipe_of(t);
    return p->why != NULL ? p->why : "";
}

static const struct rmq_transport_ops pipe_ops = {
    .name = "pipe",
    .handshake = pipe_handshake,
    .read = pipe_read,
    .write = pipe_write,
    .peer_info = pipe_peer_info,
    .shutdown = pipe_shutdown,
    .free = pipe_free,
    .last_error = pipe_last_error,
};

struct pipe *rmq_net_pipe_new(struct worker *io, struct worker *core)
{
    struct pipe *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->eof_mail = calloc(1, sizeof *p->eof_mail);
    p->close_mail = calloc(1, sizeof *p->close_mail);
    if (p->eof_mail == NULL || p->close_mail == NULL) {
        free(p->eof_mail);
        free(p->close_mail);
        free(p);
        return NULL;
    }
    atomic_init(&p->refs, 2);
    p->io = io;
    p->core = core;
    p->t.ops = &pipe_ops;
    p->t.fd = -1;
    return p;
}
