/*
 * test_revocation_crl_http.h — a tiny HTTP server for the fetcher and CRL
 * engine unit tests (header-only; included by test_revocation_fetcher.c and
 * test_revocation_crl*.c).
 *
 * A libevent evhttp server on 127.0.0.1:<free port>, on its own thread. Each
 * route (exact path) serves a chosen status, body, ETag (If-None-Match -> 304)
 * and delay, optionally chunked (no Content-Length), and counts its hits.
 * "/redir/N" redirects to "/redir/N-1" and "/redir/0" answers 200 "done".
 * "/echo" answers a POST with "<content-type>|<body>".
 * Unknown paths: 404.
 */
#ifndef TEST_REVOCATION_CRL_HTTP_H
#define TEST_REVOCATION_CRL_HTTP_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TH_MAX_ROUTES 32

struct th_delayed;

struct th_route {
    char path[128];
    int status;
    uint8_t *body;
    size_t len;
    int delay_ms;
    bool chunked;
    char etag[64];
    atomic_int hits;
    uint64_t last_hit_ms[64]; /* monotonic times of the hits (first 64) */
};

struct th_server {
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    struct event *poll_ev;
    atomic_bool stop;
    int port;
    pthread_mutex_t mu; /* protects routes */
    struct th_route routes[TH_MAX_ROUTES];
    size_t nroutes;
    struct th_delayed *delayed; /* server thread only */
};

struct th_delayed {
    struct th_delayed *next, *prev;
    struct th_server *srv;
    struct evhttp_request *req;
    struct event *ev;
    int status;
    struct evbuffer *body;
    bool chunked;
};

static inline uint64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void th_send(struct evhttp_request *req, int status, struct evbuffer *body,
                           bool chunked)
{
    if (chunked) {
        evhttp_send_reply_start(req, status, "X");
        evhttp_send_reply_chunk(req, body);
        evhttp_send_reply_end(req);
    } else {
        evhttp_send_reply(req, status, "X", body);
    }
    evbuffer_free(body);
}

static inline void th_delayed_unlink(struct th_delayed *d)
{
    if (d->prev) {
        d->prev->next = d->next;
    } else {
        d->srv->delayed = d->next;
    }
    if (d->next) {
        d->next->prev = d->prev;
    }
}

static inline void th_delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    struct th_delayed *d = arg;
    th_delayed_unlink(d);
    th_send(d->req, d->status, d->body, d->chunked);
    event_free(d->ev);
    free(d);
}

static inline void th_handle(struct evhttp_request *req, void *arg)
{
    struct th_server *s = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    if (!path) {
        path = "/";
    }
    int n;
    if (sscanf(path, "/redir/%d", &n) == 1) {
        if (n <= 0) {
            evbuffer_add_printf(out, "done");
            th_send(req, 200, out, false);
        } else {
            char loc[64];
            snprintf(loc, sizeof loc, "/redir/%d", n - 1);
            evhttp_add_header(oh, "Location", loc);
            th_send(req, 302, out, false);
        }
        return;
    }
    if (strcmp(path, "/echo") == 0) {
        const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        evbuffer_add_printf(out, "%s|", ct ? ct : "");
        evbuffer_add_buffer(out, evhttp_request_get_input_buffer(req));
        th_send(req, 200, out, false);
        return;
    }
    pthread_mutex_lock(&s->mu);
    struct th_route *r = NULL;
    for (size_t i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            r = &s->routes[i];
        }
    }
    if (!r) {
        pthread_mutex_unlock(&s->mu);
        th_send(req, 404, out, false);
        return;
    }
    int h = atomic_fetch_add(&r->hits, 1);
    if (h < 64) {
        r->last_hit_ms[h] = th_now_ms();
    }
    int status = r->status;
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (r->etag[0]) {
        evhttp_add_header(oh, "ETag", r->etag);
    }
    if (r->etag[0] && inm && strcmp(inm, r->etag) == 0) {
        status = 304;
    } else if (r->len) {
        evbuffer_add(out, r->body, r->len);
    }
    int delay = r->delay_ms;
    bool chunked = r->chunked && status != 304;
    pthread_mutex_unlock(&s->mu);
    if (delay <= 0) {
        th_send(req, status, out, chunked);
        return;
    }
    struct th_delayed *d = calloc(1, sizeof *d);
    d->req = req;
    d->status = status;
    d->body = out;
    d->chunked = chunked;
    d->srv = s;
    d->next = s->delayed;
    if (s->delayed) {
        s->delayed->prev = d;
    }
    s->delayed = d;
    d->ev = evtimer_new(s->base, th_delayed_cb, d);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(d->ev, &tv);
}

static inline void th_poll(evutil_socket_t fd, short what, void *arg)
{
    struct th_server *s = arg;
    if (atomic_load(&s->stop)) {
        event_base_loopbreak(s->base);
    }
}

static inline void *th_main(void *arg)
{
    struct th_server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

/* Starts the server; NULL on failure. */
static inline struct th_server *th_start(void)
{
    struct th_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->base = event_base_new();
    s->http = evhttp_new(s->base);
    evhttp_set_gencb(s->http, th_handle, s);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    if (!bs) {
        return NULL;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    s->poll_ev = event_new(s->base, -1, EV_PERSIST, th_poll, s);
    struct timeval tv = {0, 20000};
    event_add(s->poll_ev, &tv);
    pthread_create(&s->thread, NULL, th_main, s);
    return s;
}

static inline void th_stop(struct th_server *s)
{
    if (!s) {
        return;
    }
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    while (s->delayed) {
        struct th_delayed *d = s->delayed;
        s->delayed = d->next;
        event_free(d->ev);
        evbuffer_free(d->body);
        free(d);
    }
    event_free(s->poll_ev);
    evhttp_free(s->http);
    event_base_free(s->base);
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].body);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Adds or replaces a route. */
static inline void th_set(struct th_server *s, const char *path, int status, const void *body,
                          size_t len, int delay_ms, const char *etag, bool chunked)
{
    pthread_mutex_lock(&s->mu);
    struct th_route *r = NULL;
    for (size_t i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            r = &s->routes[i];
        }
    }
    if (!r) {
        r = &s->routes[s->nroutes++];
        snprintf(r->path, sizeof r->path, "%s", path);
    }
    free(r->body);
    r->body = len ? malloc(len) : NULL;
    if (len) {
        memcpy(r->body, body, len);
    }
    r->len = len;
    r->status = status;
    r->delay_ms = delay_ms;
    r->chunked = chunked;
    snprintf(r->etag, sizeof r->etag, "%s", etag ? etag : "");
    pthread_mutex_unlock(&s->mu);
}

static inline int th_hits(struct th_server *s, const char *path)
{
    pthread_mutex_lock(&s->mu);
    int h = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            h = atomic_load(&s->routes[i].hits);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return h;
}

static inline uint64_t th_hit_time(struct th_server *s, const char *path, int i)
{
    pthread_mutex_lock(&s->mu);
    uint64_t t = 0;
    for (size_t k = 0; k < s->nroutes; k++) {
        if (strcmp(s->routes[k].path, path) == 0 && i < 64) {
            t = s->routes[k].last_hit_ms[i];
        }
    }
    pthread_mutex_unlock(&s->mu);
    return t;
}

static inline char *th_url(struct th_server *s, const char *path)
{
    char *u = NULL;
    if (asprintf(&u, "http://127.0.0.1:%d%s", s->port, path) < 0) {
        return NULL;
    }
    return u;
}

/* A port on which nothing listens (bound, then closed). */
static inline int th_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

#endif
