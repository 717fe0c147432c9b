/* admin.c — the admin thread: evhttp, API keys, routing, core calls; see
 * admin.h for the contract. */
#include "admin/admin.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "admin/admin_int.h"
#include "common/log.h"
#include "net/net.h"
#include "net/net_core.h"

#define KEYFILE_MAX (1024 * 1024)
#define CORE_WAIT_SEC 5

/* ---------- core calls ---------- */

/* Shared by the waiting admin thread and the core job; the last to let go
 * frees it (and the call, unless the admin thread took it). */
struct call_env {
    atomic_int refs;
    pthread_mutex_t mu; /* protects done and c */
    pthread_cond_t cv;
    bool done;
    struct core_call *c;
};

struct core_call *core_call_new(void (*fn)(struct rmq_mqtt *b, struct core_call *c),
                                const struct rmq_settings *s)
{
    struct core_call *c = calloc(1, sizeof *c);
    if (c) {
        c->fn = fn;
        c->s = s;
        c->status = 200;
    }
    return c;
}

void core_call_free(struct core_call *c)
{
    if (c) {
        free(c->id);
        json_decref(c->in);
        json_decref(c->out);
        free(c->text);
        free(c);
    }
}

static void env_unref(struct call_env *e)
{
    if (atomic_fetch_sub(&e->refs, 1) == 1) {
        core_call_free(e->c);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        free(e);
    }
}

static void on_core(struct rmq_mqtt *b, void *arg)
{
    struct call_env *e = arg;
    e->c->fn(b, e->c);
    pthread_mutex_lock(&e->mu);
    e->done = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    env_unref(e);
}

bool admin_core_call(struct rmq_admin *a, struct core_call *c)
{
    struct call_env *e = calloc(1, sizeof *e);
    if (!e) {
        core_call_free(c);
        return false;
    }
    atomic_init(&e->refs, 2);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->c = c;
    if (rmq_net_run_on_core(a->net, on_core, e) != RMQ_OK) {
        atomic_store(&e->refs, 1);
        env_unref(e);
        return false;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += CORE_WAIT_SEC;
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    while (!e->done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&e->cv, &e->mu, &dl);
    }
    bool done = e->done;
    if (done) {
        e->c = NULL; /* the caller keeps the answer */
    }
    pthread_mutex_unlock(&e->mu);
    env_unref(e);
    if (!done) {
        rmq_warn("admin", "the MQTT core did not answer within %d s", CORE_WAIT_SEC);
    }
    return done;
}

/* ---------- replies ---------- */

static void common_headers(struct evhttp_request *req, const char *ctype)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

void admin_reply_text(struct evhttp_request *req, int status, const char *ctype, const char *body,
                      size_t len)
{
    common_headers(req, ctype);
    struct evbuffer *b = evbuffer_new();
    if (b && body && len) {
        evbuffer_add(b, body, len);
    }
    evhttp_send_reply(req, status, status == 200 ? "OK" : status == 204 ? "No Content" : "", b);
    if (b) {
        evbuffer_free(b);
    }
}

void admin_reply_json(struct evhttp_request *req, int status, json_t *json)
{
    char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (!s) {
        admin_reply_text(req, 500, "application/json",
                         "{\"code\":\"INTERNAL_ERROR\",\"message\":\"out of memory\"}", 52);
        return;
    }
    admin_reply_text(req, status, "application/json", s, strlen(s));
    free(s);
}

void admin_reply_error(struct evhttp_request *req, int status, const char *code,
                       const char *message)
{
    admin_reply_json(req, status, json_pack("{s:s,s:s}", "code", code, "message", message));
}

char *admin_query_param(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    if (!q) {
        return NULL;
    }
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) != 0) {
        evhttp_clear_headers(&kv);
        return NULL;
    }
    const char *v = evhttp_find_header(&kv, name);
    char *r = v ? strdup(v) : NULL;
    evhttp_clear_headers(&kv);
    return r;
}

/* ---------- routing ---------- */

static bool path_is(const char *p, const char *want)
{
    return strcmp(p, want) == 0;
}

static void route(struct rmq_admin *a, struct evhttp_request *req, const char *path,
                  enum evhttp_cmd_type m, enum rmq_admin_role role)
{
    bool get = m == EVHTTP_REQ_GET;
    bool write = m == EVHTTP_REQ_POST || m == EVHTTP_REQ_DELETE;
    if (write && role != RMQ_ROLE_ADMIN) {
        admin_reply_error(req, 403, "FORBIDDEN", "this API key may only read");
        return;
    }
    static const char cl[] = "/api/v5/clients/";
    if (get && (path_is(path, "/") || path_is(path, "/index.html"))) {
        api_page(a, req);
    } else if (get && path_is(path, "/api/v5/clients")) {
        api_clients(a, req);
    } else if ((get || m == EVHTTP_REQ_DELETE) && strncmp(path, cl, sizeof cl - 1) == 0 &&
               path[sizeof cl - 1] != '\0') {
        char *id = evhttp_uridecode(path + sizeof cl - 1, 0, NULL);
        if (!id) {
            admin_reply_error(req, 400, "BAD_REQUEST", "bad client id");
            return;
        }
        api_client_one(a, req, id, m == EVHTTP_REQ_DELETE);
        free(id);
    } else if (get && path_is(path, "/api/v5/subscriptions")) {
        api_subscriptions(a, req);
    } else if (get && path_is(path, "/api/v5/stats")) {
        api_stats(a, req);
    } else if (get && path_is(path, "/api/v5/metrics")) {
        api_metrics(a, req);
    } else if (get && path_is(path, "/api/v5/prometheus/stats")) {
        api_prometheus(a, req);
    } else if ((get && path_is(path, "/api/v5/revmq/crl")) ||
               (m == EVHTTP_REQ_POST && path_is(path, "/api/v5/revmq/crl/refresh"))) {
        api_crl(a, req, !get);
    } else if ((get && path_is(path, "/api/v5/revmq/ocsp")) ||
               (m == EVHTTP_REQ_POST && path_is(path, "/api/v5/revmq/ocsp/refresh"))) {
        api_ocsp(a, req, !get);
    } else if (get && path_is(path, "/api/v5/revmq/listeners")) {
        api_listeners(a, req);
    } else if (get && path_is(path, "/api/v5/revmq/status")) {
        api_status(a, req);
    } else {
        admin_reply_error(req, 404, "NOT_FOUND", "no such endpoint");
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct rmq_admin *a = arg;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    enum rmq_admin_role role = rmq_apikeys_check(a->keys, auth);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (role == RMQ_ROLE_NONE) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "WWW-Authenticate", "Basic realm=\"revmq\"");
        RMQ_LOG_RL(5, RMQ_LOG_NOTICE, "admin", "unauthorized request path=\"%.128s\" auth=%s",
                   path ? path : "", auth ? "invalid" : "missing");
        admin_reply_error(req, 401, "BAD_API_KEY_OR_SECRET", "API key or secret required");
        return;
    }
    route(a, req, path && path[0] ? path : "/", evhttp_request_get_command(req), role);
}

/* ---------- life ---------- */

/* Runs on the admin thread: a break requested from another thread before the
 * loop started would be lost (event_base_loop clears it on entry); an active
 * event is not. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rmq_admin *a = arg;
    event_base_loopbreak(a->base);
}

static void *admin_main(void *arg)
{
    struct rmq_admin *a = arg;
    event_base_loop(a->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static rmq_err load_keys(struct rmq_admin *a, char **errmsg)
{
    const char *path = a->s->api_key_bootstrap_file;
    if (!path || !path[0]) {
        return RMQ_OK;
    }
    FILE *f = fopen(path, "rb");
    char buf[512];
    if (!f) {
        snprintf(buf, sizeof buf, "api_key.bootstrap_file: %s: %s", path, strerror(errno));
        *errmsg = strdup(buf);
        return RMQ_ERR_CONFIG;
    }
    char *text = malloc(KEYFILE_MAX + 1);
    size_t n = text ? fread(text, 1, KEYFILE_MAX + 1, f) : 0;
    fclose(f);
    if (!text || n > KEYFILE_MAX) {
        free(text);
        snprintf(buf, sizeof buf, "api_key.bootstrap_file: %s: %s", path,
                 text ? "larger than 1 MB" : "out of memory");
        *errmsg = strdup(buf);
        return RMQ_ERR_CONFIG;
    }
    char *perr = NULL;
    snprintf(buf, sizeof buf, "api_key.bootstrap_file: %s", path);
    rmq_err e = rmq_apikeys_parse(buf, text, n, &a->keys, &perr);
    memset(text, 0, n);
    free(text);
    if (e != RMQ_OK) {
        *errmsg = perr ? perr : strdup("api_key.bootstrap_file: out of memory");
    }
    return e;
}

static rmq_err bind_http(struct rmq_admin *a, char **errmsg)
{
    const struct rmq_bind *b = &a->s->dashboard_bind;
    a->http = evhttp_new(a->base);
    if (!a->http) {
        return RMQ_ERR_NOMEM;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
    evhttp_set_max_headers_size(a->http, 16384);
    evhttp_set_max_body_size(a->http, 65536);
    evhttp_set_timeout(a->http, 30);
    evhttp_set_gencb(a->http, on_request, a);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(a->http, b->host, b->port);
    if (!s) {
        char buf[512];
        snprintf(buf, sizeof buf, "dashboard.listeners.http.bind: %s:%u: %s", b->host,
                 (unsigned)b->port, strerror(errno ? errno : EADDRINUSE));
        *errmsg = strdup(buf);
        return RMQ_ERR_CONFIG;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl) == 0) {
        a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    }
    rmq_info("admin", "listener started bind=%s:%u keys=%zu", b->host, (unsigned)a->port,
             rmq_apikeys_count(a->keys));
    return RMQ_OK;
}

rmq_err rmq_admin_new(const struct rmq_admin_deps *d, struct rmq_admin **out, char **errmsg)
{
    *out = NULL;
    *errmsg = NULL;
    struct rmq_admin *a = calloc(1, sizeof *a);
    if (!a) {
        return RMQ_ERR_NOMEM;
    }
    a->s = d->s;
    a->net = d->net;
    a->rev = d->rev;
    a->tls = d->tls;
    a->started_at = time(NULL);
    rmq_err e = load_keys(a, errmsg);
    if (e == RMQ_OK) {
        a->base = event_base_new();
        a->stop_ev = a->base ? event_new(a->base, -1, 0, stop_cb, a) : NULL;
        e = a->stop_ev ? RMQ_OK : RMQ_ERR_NOMEM;
    }
    if (e == RMQ_OK && a->s->dashboard_enable) {
        if (rmq_apikeys_count(a->keys) == 0) {
            rmq_notice("admin", "listener not started: no API key (set api_key.bootstrap_file)");
        } else {
            e = bind_http(a, errmsg);
        }
    }
    if (e == RMQ_OK) {
        e = admin_sys_start(a);
    }
    if (e == RMQ_OK) {
        e = pthread_create(&a->thread, NULL, admin_main, a) == 0 ? RMQ_OK : RMQ_ERR_NOMEM;
        a->thread_started = e == RMQ_OK;
    }
    if (e != RMQ_OK) {
        rmq_admin_free(a);
        return e;
    }
    *out = a;
    return RMQ_OK;
}

void rmq_admin_free(struct rmq_admin *a)
{
    if (!a) {
        return;
    }
    if (a->thread_started) {
        event_active(a->stop_ev, EV_READ, 0);
        pthread_join(a->thread, NULL);
    }
    if (a->stop_ev) {
        event_free(a->stop_ev);
    }
    if (a->sys_timer) {
        event_free(a->sys_timer);
    }
    if (a->http) {
        evhttp_free(a->http);
    }
    if (a->base) {
        event_base_free(a->base);
    }
    rmq_apikeys_free(a->keys);
    free(a);
}
