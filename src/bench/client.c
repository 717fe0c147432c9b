/* client.c — a benchmark client connection; see client.h. */
#include "bench/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"

struct bench_ctx {
    const struct rmq_bench_opts *o;
    struct event_base *base;
    SSL_CTX *ssl_ctx;
    /* cert_dir: one client context per certificate, owned; a connection
     * takes cert_ctx[idx % n_certs]. A context per certificate (rather than
     * SSL_use_certificate per connection) spares the per-connection key
     * check, which would make the load generator ~10% dearer. */
    SSL_CTX **cert_ctx;
    size_t n_certs, alloc_certs;
    struct sockaddr_in dst;
    uint32_t src_first, src_last;
    bool bind_src;
    struct bclient *clients; /* every live client (freed by bench_ctx_free) */
};

struct bclient {
    struct bench_ctx *ctx;
    struct bclient *prev, *next; /* ctx->clients */
    const struct bench_hooks *hooks;
    void *user;
    uint64_t idx;
    struct bufferevent *bev;
    SSL *ssl;
    struct event *timer;
    uint64_t t_start, t_ready;
    bool ready;
    bool closing; /* DISCONNECT queued: freed once the output drains */
    bool dead;    /* freed while a callback was running: free on return */
    int depth;    /* nesting of our callbacks on the stack */
    uint16_t keepalive;
    bool persistent; /* CONNECT with clean start 0 (and a session expiry in v5) */
    char alert[64];
    struct rmq_buf out;
};

/* TLS alert descriptions (RFC 8446 6, RFC 5246 7.2, RFC 6066), named as
 * OpenSSL's SSL_alert_desc_string_long() does where it knows them (it does
 * not know the TLS 1.3 ones, e.g. 116 certificate required). */
const char *bench_alert_name(int code)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        {0, "close notify"},
        {10, "unexpected_message"},
        {20, "bad record mac"},
        {21, "decryption failed"},
        {22, "record overflow"},
        {30, "decompression failure"},
        {40, "handshake failure"},
        {41, "no certificate"},
        {42, "bad certificate"},
        {43, "unsupported certificate"},
        {44, "certificate revoked"},
        {45, "certificate expired"},
        {46, "certificate unknown"},
        {47, "illegal parameter"},
        {48, "unknown CA"},
        {49, "access denied"},
        {50, "decode error"},
        {51, "decrypt error"},
        {70, "protocol version"},
        {71, "insufficient security"},
        {80, "internal error"},
        {86, "inappropriate fallback"},
        {90, "user canceled"},
        {100, "no renegotiation"},
        {109, "missing extension"},
        {110, "unsupported extension"},
        {111, "certificate unobtainable"},
        {112, "unrecognized name"},
        {113, "bad certificate status response"},
        {114, "bad certificate hash value"},
        {115, "unknown PSK identity"},
        {116, "certificate required"},
        {120, "no application protocol"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].code == code) {
            return names[i].name;
        }
    }
    return NULL;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_ALERT) == 0 || (where & SSL_CB_READ) == 0) {
        return; /* only alerts the server sent us */
    }
    struct bclient *c = SSL_get_app_data(ssl);
    int code = ret & 0xff;
    /* TLS 1.3 sends every alert but close_notify/user_canceled as fatal. */
    if (c && c->alert[0] == '\0' && code != 0) {
        const char *n = bench_alert_name(code);
        if (n) {
            snprintf(c->alert, sizeof c->alert, "%s", n);
        } else {
            snprintf(c->alert, sizeof c->alert, "alert %d", code);
        }
    }
}

/* A TLS 1.3 server checks the client certificate after the client considers
 * the handshake done, so the client's CONNECT may meet a reset socket before
 * the alert was read. The alert still sits in the receive queue: read what
 * is there so info_cb sees it. Non-blocking; errors ignored. */
static void drain_for_alert(struct bclient *c)
{
    unsigned char junk[512];
    for (int i = 0; i < 8 && !c->alert[0]; i++) {
        if (SSL_read(c->ssl, junk, sizeof junk) <= 0) {
            break;
        }
    }
    ERR_clear_error();
}

static SSL_CTX *client_ctx_new(const struct rmq_bench_opts *o);

static int push_cert(struct bench_ctx *ctx, X509 *x, EVP_PKEY *k)
{
    if (ctx->n_certs == ctx->alloc_certs) {
        size_t na = ctx->alloc_certs ? ctx->alloc_certs * 2 : 64;
        SSL_CTX **nc = realloc(ctx->cert_ctx, na * sizeof *nc);
        if (!nc) {
            return -1;
        }
        ctx->cert_ctx = nc;
        ctx->alloc_certs = na;
    }
    SSL_CTX *sc = client_ctx_new(ctx->o);
    if (!sc || SSL_CTX_use_certificate(sc, x) != 1 || SSL_CTX_use_PrivateKey(sc, k) != 1) {
        SSL_CTX_free(sc);
        return -1;
    }
    ctx->cert_ctx[ctx->n_certs++] = sc;
    return 0;
}

/* Loads <dir>/0.crt + 0.key, 1.crt + 1.key, … until the first missing number. */
static int load_cert_dir(struct bench_ctx *ctx, const char *dir)
{
    for (size_t i = 0;; i++) {
        char cp[4096], kp[4096];
        snprintf(cp, sizeof cp, "%s/%zu.crt", dir, i);
        snprintf(kp, sizeof kp, "%s/%zu.key", dir, i);
        FILE *cf = fopen(cp, "r");
        if (!cf) {
            break;
        }
        FILE *kf = fopen(kp, "r");
        X509 *x = PEM_read_X509(cf, NULL, NULL, NULL);
        EVP_PKEY *k = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
        fclose(cf);
        if (kf) {
            fclose(kf);
        }
        int rc = (x && k) ? push_cert(ctx, x, k) : -1;
        X509_free(x); /* the context holds its own references */
        EVP_PKEY_free(k);
        if (rc != 0) {
            fprintf(stderr, "revmq-bench: cannot load %s / %s\n", cp, kp);
            return -1;
        }
    }
    if (ctx->n_certs == 0) {
        fprintf(stderr, "revmq-bench: no <n>.crt/<n>.key pairs in %s\n", dir);
        return -1;
    }
    if (!ctx->o->quiet) {
        fprintf(stderr, "revmq-bench: %zu client certificates from %s\n", ctx->n_certs, dir);
    }
    return 0;
}

/* A client context with the run's versions, alert capture and (with
 * --cafile) server verification; NULL on failure (message printed). */
static SSL_CTX *client_ctx_new(const struct rmq_bench_opts *o)
{
    SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
    if (!sc) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(sc, o->tls_version ? o->tls_version : TLS1_2_VERSION);
    if (o->tls_version) {
        SSL_CTX_set_max_proto_version(sc, o->tls_version);
    }
    SSL_CTX_set_info_callback(sc, info_cb);
    if (o->cafile) {
        if (SSL_CTX_load_verify_locations(sc, o->cafile, NULL) != 1) {
            fprintf(stderr, "revmq-bench: cannot load --cafile %s\n", o->cafile);
            SSL_CTX_free(sc);
            return NULL;
        }
        SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
    }
    return sc;
}

static int setup_tls(struct bench_ctx *ctx)
{
    const struct rmq_bench_opts *o = ctx->o;
    ctx->ssl_ctx = client_ctx_new(o);
    if (!ctx->ssl_ctx) {
        return -1;
    }
    if (o->certfile) {
        if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, o->certfile) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, o->keyfile ? o->keyfile : o->certfile,
                                        SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "revmq-bench: cannot load --cert/--key\n");
            return -1;
        }
    }
    if (o->cert_dir && load_cert_dir(ctx, o->cert_dir) != 0) {
        return -1;
    }
    return 0;
}

struct bench_ctx *bench_ctx_new(const struct rmq_bench_opts *o, struct event_base *base)
{
    struct bench_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        return NULL;
    }
    ctx->o = o;
    ctx->base = base;
    ctx->dst.sin_family = AF_INET;
    ctx->dst.sin_port = htons(o->port);
    if (inet_pton(AF_INET, o->host, &ctx->dst.sin_addr) != 1) {
        fprintf(stderr, "revmq-bench: --host must be an IPv4 address: %s\n", o->host);
        goto fail;
    }
    if (o->source_ips) {
        if (rmq_bench_parse_ip_range(o->source_ips, &ctx->src_first, &ctx->src_last) != RMQ_OK) {
            fprintf(stderr, "revmq-bench: bad --source-ips %s\n", o->source_ips);
            goto fail;
        }
        ctx->bind_src = true;
    }
    if (o->tls && setup_tls(ctx) != 0) {
        goto fail;
    }
    return ctx;
fail:
    bench_ctx_free(ctx);
    return NULL;
}

static void client_free(struct bclient *c);

void bench_ctx_free(struct bench_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    while (ctx->clients) { /* e.g. still connecting when a timed run ended */
        ctx->clients->depth = 0;
        client_free(ctx->clients);
    }
    for (size_t i = 0; i < ctx->n_certs; i++) {
        SSL_CTX_free(ctx->cert_ctx[i]);
    }
    free(ctx->cert_ctx);
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

static void client_free(struct bclient *c)
{
    if (c->depth > 0) {
        c->dead = true; /* a callback of ours is on the stack: free on return */
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        return;
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else if (c->ctx->clients == c) {
        c->ctx->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    if (c->timer) {
        event_free(c->timer);
    }
    if (c->bev) {
        bufferevent_free(c->bev); /* frees the SSL and closes the fd */
    }
    rmq_buf_release(&c->out);
    free(c);
}

static void client_fail(struct bclient *c, const char *kind)
{
    const struct bench_hooks *h = c->hooks;
    if (h->on_error) {
        h->on_error(c, kind);
    }
    client_free(c);
}

const char *bench_errno_kind(const char *prefix, int err)
{
    static __thread char kind[96];
    const char *name = err ? strerrorname_np(err) : NULL;
    snprintf(kind, sizeof kind, "%s:%s", prefix, name ? name : "unknown");
    return kind;
}

/* Error kinds: "refused", "tls:<alert the server sent>", "tls:<OpenSSL
 * reason>", "closed_before_connack", "closed", "socket:<errno name>". */
static const char *classify_error(struct bclient *c, short what)
{
    static __thread char kind[160];
    int err = EVUTIL_SOCKET_ERROR();
    if (c->ssl && !c->alert[0]) {
        drain_for_alert(c);
    }
    if (c->alert[0]) {
        snprintf(kind, sizeof kind, "tls:%s", c->alert);
        return kind;
    }
    if (!c->ready && err == ECONNREFUSED) {
        return "refused"; /* OpenSSL bufferevents report it as EOF */
    }
    unsigned long e = c->ssl ? bufferevent_get_openssl_error(c->bev) : 0;
    if (e != 0 && ERR_GET_LIB(e) != 0) { /* lib 0: libevent's SSL_get_error() value */
        const char *reason = ERR_reason_error_string(e);
        snprintf(kind, sizeof kind, "tls:%s", reason ? reason : "error");
        return kind;
    }
    if (what & BEV_EVENT_EOF) {
        return c->ready ? "closed" : "closed_before_connack";
    }
    return bench_errno_kind("socket", err);
}

static void on_packet_bytes(struct bclient *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    const struct rmq_codec_limits lim = {.role = RMQ_CODEC_ROLE_CLIENT};
    for (;;) {
        if (c->dead || c->closing) {
            return;
        }
        size_t avail = evbuffer_get_length(in);
        if (avail < 2) {
            return;
        }
        uint8_t hdr[5];
        size_t hl = avail < sizeof hdr ? avail : sizeof hdr;
        evbuffer_copyout(in, hdr, hl);
        size_t total = 0;
        rmq_err e = rmq_codec_peek_length(hdr, hl, &total);
        if (e == RMQ_ERR_NEED_MORE || (e == RMQ_OK && avail < total)) {
            return;
        }
        if (e != RMQ_OK) {
            client_fail(c, "protocol");
            return;
        }
        const uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)total);
        struct rmq_packet p;
        size_t used = 0;
        uint8_t reason = 0;
        e = rmq_codec_decode(buf, total, &lim, c->ctx->o->mqtt_version, &p, &used, &reason);
        if (e != RMQ_OK) {
            client_fail(c, "protocol");
            return;
        }
        if (p.type == RMQ_PKT_CONNACK && !c->ready) {
            if (p.connack.reason != 0) {
                static __thread char kind[64];
                snprintf(kind, sizeof kind, "connack:%s", rmq_reason_name(p.connack.reason));
                evbuffer_drain(in, used);
                client_fail(c, kind);
                return;
            }
            c->ready = true;
            c->t_ready = rmq_clock_mono_us();
            event_del(c->timer);
            evbuffer_drain(in, used);
            if (c->hooks->on_ready) {
                c->hooks->on_ready(c); /* may close c: checked at the loop head */
            }
            continue;
        }
        if (p.type == RMQ_PKT_DISCONNECT) {
            evbuffer_drain(in, used);
            client_fail(c, "disconnected_by_server");
            return;
        }
        if (c->hooks->on_packet) {
            c->hooks->on_packet(c, &p);
        }
        evbuffer_drain(in, used);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct bclient *c = arg;
    c->depth++;
    on_packet_bytes(c);
    if (--c->depth == 0 && c->dead) {
        client_free(c);
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct bclient *c = arg;
    if (c->closing) {
        client_free(c);
        return;
    }
    if (c->ready && c->hooks->on_writable) {
        c->depth++;
        c->hooks->on_writable(c);
        if (--c->depth == 0 && c->dead) {
            client_free(c);
        }
    }
}

static void send_connect(struct bclient *c)
{
    const struct rmq_bench_opts *o = c->ctx->o;
    char cid[64];
    snprintf(cid, sizeof cid, "%s%llu", o->client_prefix ? o->client_prefix : "bench-",
             (unsigned long long)c->idx);
    struct rmq_packet p;
    rmq_codec_packet_init(&p, RMQ_PKT_CONNECT);
    p.connect.proto_name.p = (const uint8_t *)"MQTT";
    p.connect.proto_name.len = 4;
    p.connect.proto_level = o->mqtt_version;
    p.connect.clean_start = !c->persistent;
    if (c->persistent && o->mqtt_version == 5) {
        uint64_t s = (o->session_expiry_ms + 999) / 1000;
        p.connect.props.session_expiry = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
        rmq_props_set(&p.connect.props, RMQ_PROP_SESSION_EXPIRY);
    }
    p.connect.keepalive = c->keepalive;
    p.connect.client_id.p = (const uint8_t *)cid;
    p.connect.client_id.len = strlen(cid);
    if (bclient_send(c, &p) != RMQ_OK) {
        client_fail(c, "encode");
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct bclient *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        send_connect(c);
        return;
    }
    if (c->closing) {
        client_free(c);
        return;
    }
    client_fail(c, classify_error(c, what));
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    client_fail(arg, "timeout");
}

static int make_socket(struct bench_ctx *ctx, uint64_t idx)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ctx->bind_src) {
        uint32_t span = ctx->src_last - ctx->src_first + 1;
        struct sockaddr_in src = {.sin_family = AF_INET};
        /* Choose the port at connect() time, by the whole 4-tuple, so each
         * source address gives a full ephemeral range per destination. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        src.sin_addr.s_addr = htonl(ctx->src_first + (uint32_t)(idx % span));
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
    }
    return fd;
}

static int attach_tls(struct bclient *c, int fd)
{
    struct bench_ctx *ctx = c->ctx;
    c->ssl = SSL_new(ctx->n_certs ? ctx->cert_ctx[c->idx % ctx->n_certs] : ctx->ssl_ctx);
    if (!c->ssl) {
        return -1;
    }
    SSL_set_app_data(c->ssl, c);
    c->bev = bufferevent_openssl_socket_new(ctx->base, fd, c->ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    return 0;
}

static __thread char last_error[96];

const char *bclient_last_error(void)
{
    return last_error[0] ? last_error : "local";
}

struct bclient *bclient_start(struct bench_ctx *ctx, uint64_t idx, const struct bench_hooks *hooks,
                              void *user, uint16_t keepalive, bool persistent)
{
    struct bclient *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    c->ctx = ctx;
    c->hooks = hooks;
    c->user = user;
    c->idx = idx;
    c->keepalive = keepalive;
    c->persistent = persistent;
    rmq_buf_init(&c->out, 0);
    c->t_start = rmq_clock_mono_us();
    int fd = make_socket(ctx, idx);
    if (fd < 0) {
        snprintf(last_error, sizeof last_error, "%s", bench_errno_kind("local", errno));
        free(c);
        return NULL;
    }
    int rc = ctx->o->tls ? attach_tls(c, fd) : 0;
    if (!ctx->o->tls) {
        c->bev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
        rc = c->bev ? 0 : -1;
    }
    if (rc != 0) {
        snprintf(last_error, sizeof last_error, "local:setup");
        close(fd);
        free(c);
        return NULL;
    }
    c->next = ctx->clients;
    if (c->next) {
        c->next->prev = c;
    }
    ctx->clients = c;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->timer = evtimer_new(ctx->base, timeout_cb, c);
    struct timeval tv = {(time_t)(ctx->o->timeout_ms / 1000),
                         (suseconds_t)(ctx->o->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ctx->dst, sizeof ctx->dst) != 0) {
        snprintf(last_error, sizeof last_error, "%s", bench_errno_kind("local", errno));
        client_free(c);
        return NULL;
    }
    return c;
}

rmq_err bclient_send(struct bclient *c, const struct rmq_packet *p)
{
    c->out.len = 0;
    RMQ_TRY(rmq_codec_encode(p, c->ctx->o->mqtt_version, &c->out));
    if (bufferevent_write(c->bev, c->out.data, c->out.len) != 0) {
        return RMQ_ERR_IO;
    }
    return RMQ_OK;
}

size_t bclient_pending(const struct bclient *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static const struct bench_hooks closing_hooks = {0};

void bclient_close(struct bclient *c)
{
    if (c->closing || c->dead) {
        return;
    }
    if (c->ready) {
        struct rmq_packet p;
        rmq_codec_packet_init(&p, RMQ_PKT_DISCONNECT);
        /* Freed by write_cb once DISCONNECT is written (or by event_cb). */
        c->closing = true;
        c->hooks = &closing_hooks;
        if (bclient_send(c, &p) == RMQ_OK) {
            bufferevent_disable(c->bev, EV_READ);
            return;
        }
    }
    client_free(c);
}

void *bclient_user(const struct bclient *c)
{
    return c->user;
}

uint64_t bclient_idx(const struct bclient *c)
{
    return c->idx;
}

uint64_t bclient_connect_us(const struct bclient *c)
{
    return c->t_ready - c->t_start;
}
