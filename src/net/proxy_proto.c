/*
 * proxy_proto.c — PROXY protocol v1/v2 parser and the pre-transport phase that
 * reads the header off the socket; see proxy_proto.h. Spec references are to
 * HAProxy's "The PROXY protocol" (doc/proxy-protocol.txt, versions 1 and 2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/reader.h"
#include "net/proxy_proto.h"

/* spec 2.2: the 12-byte binary signature */
static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const uint8_t v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

/* ------------------------------------------------------------------ v1 */

/* Next space-separated token of the line (no empty tokens), borrowed. */
static rmq_err v1_token(struct rmq_reader *r, const uint8_t **tok, size_t *n)
{
    size_t start = r->off;
    while (r->off < r->len && r->data[r->off] != ' ') {
        r->off++;
    }
    *tok = r->data + start;
    *n = r->off - start;
    if (*n == 0) {
        return RMQ_ERR_MALFORMED;
    }
    if (r->off < r->len) {
        r->off++; /* the single separating space */
    }
    return RMQ_OK;
}

static rmq_err v1_addr(struct rmq_reader *r, int af, uint8_t out[16])
{
    const uint8_t *tok;
    size_t n;
    char s[INET6_ADDRSTRLEN];
    RMQ_TRY(v1_token(r, &tok, &n));
    if (n >= sizeof s) {
        return RMQ_ERR_MALFORMED;
    }
    memcpy(s, tok, n);
    s[n] = '\0';
    return inet_pton(af, s, out) == 1 ? RMQ_OK : RMQ_ERR_MALFORMED;
}

static rmq_err v1_port(struct rmq_reader *r, uint16_t *out)
{
    const uint8_t *tok;
    size_t n;
    RMQ_TRY(v1_token(r, &tok, &n));
    if (n > 5 || (n > 1 && tok[0] == '0')) {
        return RMQ_ERR_MALFORMED; /* spec 2.1: no leading zeros */
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9') {
            return RMQ_ERR_MALFORMED;
        }
        v = v * 10 + (uint32_t)(tok[i] - '0');
    }
    if (v > 65535) {
        return RMQ_ERR_MALFORMED;
    }
    *out = (uint16_t)v;
    return RMQ_OK;
}

/* The line between "PROXY " and "\r\n" (spec 2.1). */
static rmq_err v1_fields(const uint8_t *line, size_t n, struct rmq_proxy_header *h)
{
    if (n == 0 || line[n - 1] == ' ') {
        return RMQ_ERR_MALFORMED;
    }
    struct rmq_reader r = rmq_reader_make(line, n);
    const uint8_t *proto;
    size_t pn;
    RMQ_TRY(v1_token(&r, &proto, &pn));
    if (pn == 7 && memcmp(proto, "UNKNOWN", 7) == 0) {
        h->kind = RMQ_PROXY_UNKNOWN; /* the rest of the line is ignored */
        return RMQ_OK;
    }
    int af;
    if (pn == 4 && memcmp(proto, "TCP4", 4) == 0) {
        h->kind = RMQ_PROXY_TCP4;
        af = AF_INET;
    } else if (pn == 4 && memcmp(proto, "TCP6", 4) == 0) {
        h->kind = RMQ_PROXY_TCP6;
        af = AF_INET6;
    } else {
        return RMQ_ERR_MALFORMED;
    }
    RMQ_TRY(v1_addr(&r, af, h->src_addr));
    RMQ_TRY(v1_addr(&r, af, h->dst_addr));
    RMQ_TRY(v1_port(&r, &h->src_port));
    RMQ_TRY(v1_port(&r, &h->dst_port));
    return rmq_reader_left(&r) == 0 ? RMQ_OK : RMQ_ERR_MALFORMED;
}

static rmq_err parse_v1(const uint8_t *data, size_t len, struct rmq_proxy_header *h)
{
    struct rmq_reader r = rmq_reader_make(data, len > RMQ_PROXY_V1_MAX ? RMQ_PROXY_V1_MAX : len);
    const uint8_t *line;
    size_t n;
    if (rmq_reader_line(&r, &line, &n) != RMQ_OK || r.off == n) {
        /* no '\n' yet: a prefix, unless the longest line is already exceeded */
        return len >= RMQ_PROXY_V1_MAX ? RMQ_ERR_MALFORMED : RMQ_ERR_NEED_MORE;
    }
    if (n < sizeof v1_sig + 1 || line[n - 1] != '\r') {
        return RMQ_ERR_MALFORMED;
    }
    h->version = 1;
    h->len = r.off;
    return v1_fields(line + sizeof v1_sig, n - 1 - sizeof v1_sig, h);
}

/* ------------------------------------------------------------------ v2 */

static rmq_err v2_addrs(struct rmq_reader *r, uint8_t fam, uint16_t alen,
                        struct rmq_proxy_header *h)
{
    const uint8_t *p;
    size_t alen_need = (fam >> 4) == 1 ? 12 : (fam >> 4) == 2 ? 36 : 0;
    if ((fam >> 4) == 0 || (fam >> 4) == 3) {
        h->kind = RMQ_PROXY_UNKNOWN; /* UNSPEC or AF_UNIX: addresses say nothing useful */
        return RMQ_OK;
    }
    if (alen_need == 0 || (fam & 0x0F) != 1 || alen < alen_need) {
        return RMQ_ERR_MALFORMED; /* unknown family, not STREAM, or short block */
    }
    size_t al = alen_need == 12 ? 4 : 16;
    h->kind = al == 4 ? RMQ_PROXY_TCP4 : RMQ_PROXY_TCP6;
    RMQ_TRY(rmq_reader_bytes(r, al, &p));
    memcpy(h->src_addr, p, al);
    RMQ_TRY(rmq_reader_bytes(r, al, &p));
    memcpy(h->dst_addr, p, al);
    RMQ_TRY(rmq_reader_u16(r, &h->src_port));
    return rmq_reader_u16(r, &h->dst_port);
}

static rmq_err parse_v2(const uint8_t *data, size_t len, struct rmq_proxy_header *h)
{
    struct rmq_reader r = rmq_reader_make(data, len);
    const uint8_t *sig;
    uint8_t ver_cmd, fam;
    uint16_t alen;
    RMQ_TRY(rmq_reader_bytes(&r, sizeof v2_sig, &sig));
    RMQ_TRY(rmq_reader_u8(&r, &ver_cmd));
    if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0F) > 1) {
        return RMQ_ERR_MALFORMED; /* spec 2.2: version 2; LOCAL (0) or PROXY (1) */
    }
    RMQ_TRY(rmq_reader_u8(&r, &fam));
    RMQ_TRY(rmq_reader_u16(&r, &alen));
    if (16 + (size_t)alen > RMQ_PROXY_V2_MAX) {
        return RMQ_ERR_TOO_LARGE;
    }
    const uint8_t *block;
    RMQ_TRY(rmq_reader_bytes(&r, alen, &block));
    h->version = 2;
    h->len = r.off;
    if ((ver_cmd & 0x0F) == 0) {
        h->kind = RMQ_PROXY_LOCAL; /* spec 2.2: addresses, if any, are ignored */
        return RMQ_OK;
    }
    struct rmq_reader ar = rmq_reader_make(block, alen);
    rmq_err e = v2_addrs(&ar, fam, alen, h);
    return e == RMQ_ERR_NEED_MORE ? RMQ_ERR_MALFORMED : e; /* the block is complete */
}

/* --------------------------------------------------------------- public */

rmq_err rmq_proxy_parse(const uint8_t *data, size_t len, struct rmq_proxy_header *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) {
        return RMQ_ERR_NEED_MORE;
    }
    if (data[0] == v2_sig[0]) {
        size_t k = len < sizeof v2_sig ? len : sizeof v2_sig;
        if (memcmp(data, v2_sig, k) != 0) {
            return RMQ_ERR_MALFORMED;
        }
        return parse_v2(data, len, out);
    }
    size_t k = len < sizeof v1_sig ? len : sizeof v1_sig;
    if (memcmp(data, v1_sig, k) != 0) {
        return RMQ_ERR_MALFORMED;
    }
    return parse_v1(data, len, out);
}

size_t rmq_proxy_header_take(const uint8_t *have, size_t have_len, const uint8_t *more,
                             size_t more_len)
{
    if (more_len == 0) {
        return 0;
    }
    uint8_t first = have_len > 0 ? have[0] : more[0];
    size_t want;
    if (first == v2_sig[0]) {
        want = 16; /* the fixed part, then the length it announces */
        if (have_len + more_len >= 16) {
            uint8_t hi = have_len > 14 ? have[14] : more[14 - have_len];
            uint8_t lo = have_len > 15 ? have[15] : more[15 - have_len];
            size_t total = 16 + (((size_t)hi << 8) | lo);
            want = total <= RMQ_PROXY_V2_MAX ? total : 16;
        }
    } else {
        const uint8_t *nl = memchr(more, '\n', more_len);
        want = have_len + (nl != NULL ? (size_t)(nl - more) + 1 : more_len);
        if (want > RMQ_PROXY_V1_MAX) {
            want = RMQ_PROXY_V1_MAX;
        }
    }
    size_t take = want > have_len ? want - have_len : 1; /* 1: let the parser say why */
    return take < more_len ? take : more_len;
}

bool rmq_proxy_format_src(const struct rmq_proxy_header *h, char *buf, size_t n)
{
    char host[INET6_ADDRSTRLEN];
    int af = h->kind == RMQ_PROXY_TCP4 ? AF_INET : h->kind == RMQ_PROXY_TCP6 ? AF_INET6 : 0;
    if (af == 0 || inet_ntop(af, h->src_addr, host, sizeof host) == NULL) {
        return false;
    }
    /* the same form as the net layer's own addresses */
    int w = snprintf(buf, n, "%s:%u", host, (unsigned)h->src_port);
    return w > 0 && (size_t)w < n;
}

/* ------------------------------------------------------------ transport */

struct proxy_transport {
    struct rmq_transport base;
    struct rmq_transport *inner; /* owned */
    uint8_t *acc;                /* owned until the header is read */
    size_t acc_len;
    bool done;
    struct rmq_proxy_header h;
    char err[96];
};

static const struct rmq_transport_ops proxy_ops;

static enum rmq_io header_fail(struct proxy_transport *p, const char *why)
{
    snprintf(p->err, sizeof p->err, "PROXY protocol: %s", why);
    return RMQ_IO_ERROR;
}

static enum rmq_io header_parsed(struct proxy_transport *p, rmq_err e)
{
    if (e == RMQ_ERR_MALFORMED) {
        return header_fail(p, p->acc_len > 0 && p->acc[0] != 'P' && p->acc[0] != v2_sig[0]
                                  ? "no header (connection without PROXY header refused)"
                                  : "malformed header");
    }
    if (e == RMQ_ERR_TOO_LARGE) {
        return header_fail(p, "header over the size limit");
    }
    p->done = true;
    free(p->acc);
    p->acc = NULL;
    return RMQ_IO_OK;
}

/* Reads the header: peek, consume only the bytes that are surely header. */
static enum rmq_io read_header(struct proxy_transport *p)
{
    size_t cap = RMQ_PROXY_V2_MAX;
    for (;;) {
        ssize_t n = recv(p->base.fd, p->acc + p->acc_len, cap - p->acc_len, MSG_PEEK);
        if (n == 0) {
            (void)header_fail(p, "connection closed before the header");
            return RMQ_IO_EOF;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return RMQ_IO_WANT_READ;
            }
            return header_fail(p, strerror(errno));
        }
        size_t take = rmq_proxy_header_take(p->acc, p->acc_len, p->acc + p->acc_len, (size_t)n);
        ssize_t got = recv(p->base.fd, p->acc + p->acc_len, take, 0);
        if (got <= 0) {
            return header_fail(p, "read failed");
        }
        p->acc_len += (size_t)got;
        rmq_err e = rmq_proxy_parse(p->acc, p->acc_len, &p->h);
        if (e != RMQ_ERR_NEED_MORE) {
            return header_parsed(p, e);
        }
        if (p->acc_len == cap) {
            return header_fail(p, "header over the size limit");
        }
    }
}

static enum rmq_io proxy_handshake(struct rmq_transport *t)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    if (!p->done) {
        enum rmq_io r = read_header(p);
        if (r != RMQ_IO_OK) {
            return r;
        }
    }
    p->inner->wake = t->wake;
    p->inner->wake_arg = t->wake_arg;
    return p->inner->ops->handshake(p->inner);
}

static enum rmq_io proxy_read(struct rmq_transport *t, uint8_t *buf, size_t len, size_t *n)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    return p->inner->ops->read(p->inner, buf, len, n);
}

static enum rmq_io proxy_write(struct rmq_transport *t, const uint8_t *buf, size_t len, size_t *n)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    return p->inner->ops->write(p->inner, buf, len, n);
}

static void proxy_peer_info(struct rmq_transport *t, struct rmq_peer_info *out)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    p->inner->ops->peer_info(p->inner, out);
}

static void proxy_shutdown(struct rmq_transport *t)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    p->inner->ops->shutdown(p->inner);
}

static void proxy_free(struct rmq_transport *t)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    if (p == NULL) {
        return;
    }
    if (p->inner != NULL) {
        p->inner->ops->free(p->inner);
    }
    free(p->acc);
    free(p);
}

static const char *proxy_last_error(struct rmq_transport *t)
{
    struct proxy_transport *p = (struct proxy_transport *)t;
    return p->done ? p->inner->ops->last_error(p->inner) : p->err;
}

static const struct rmq_transport_ops proxy_ops = {
    .name = "proxy",
    .handshake = proxy_handshake,
    .read = proxy_read,
    .write = proxy_write,
    .peer_info = proxy_peer_info,
    .shutdown = proxy_shutdown,
    .free = proxy_free,
    .last_error = proxy_last_error,
};

struct rmq_transport *rmq_proxy_transport_wrap(struct rmq_transport *inner)
{
    if (inner == NULL) {
        return NULL;
    }
    struct proxy_transport *p = calloc(1, sizeof *p);
    uint8_t *acc = malloc(RMQ_PROXY_V2_MAX);
    if (p == NULL || acc == NULL) {
        free(p);
        free(acc);
        inner->ops->free(inner);
        return NULL;
    }
    p->base.ops = &proxy_ops;
    p->base.fd = inner->fd;
    p->inner = inner;
    p->acc = acc;
    snprintf(p->err, sizeof p->err, "PROXY protocol: header not read");
    return &p->base;
}

bool rmq_proxy_transport_header_done(const struct rmq_transport *t)
{
    if (t == NULL || t->ops != &proxy_ops) {
        return true;
    }
    return ((const struct proxy_transport *)t)->done;
}

bool rmq_proxy_transport_client_addr(const struct rmq_transport *t, char *buf, size_t n)
{
    if (t == NULL || t->ops != &proxy_ops || !((const struct proxy_transport *)t)->done) {
        return false;
    }
    return rmq_proxy_format_src(&((const struct proxy_transport *)t)->h, buf, n);
}
