/*
 * net.c — listeners (main thread), worker threads and their mailboxes, the
 * cross-thread entry points. Connection lifecycle is in net_conn.c. See net.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/thread.h>

#include "auth/authn.h"
#include "common/log.h"
#include "mqtt/msg.h"
#include "net/net_int.h"

static char *fmt_err(const char *what, const struct rmq_listener_settings *ls, const char *detail)
{
    char *out = NULL;
    if (asprintf(&out, "listeners.%s.%s.bind: %s:%u: %s: %s", rmq_listener_kind_name(ls->kind),
                 ls->name, ls->bind.host, ls->bind.port, what, detail) < 0) {
        return NULL;
    }
    return out;
}

/* --------------------------------------------------------------- mailbox */

void rmq_net_post(struct worker *w, struct mail *m)
{
    m->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->mail_tail) {
        w->mail_tail->next = m;
    } else {
        w->mail_head = m;
    }
    w->mail_tail = m;
    pthread_mutex_unlock(&w->mu);
    event_active(w->mail_ev, EV_READ, 0);
}

static void close_req_done(struct close_req *req)
{
    if (atomic_fetch_sub(&req->refs, 1) == 1) {
        if (req->arg_free) {
            req->arg_free(req->arg);
        }
        free(req);
    }
}

static void mail_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    pthread_mutex_lock(&w->mu);
    struct mail *m = w->mail_head;
    w->mail_head = w->mail_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (m) {
        struct mail *next = m->next;
        switch (m->type) {
        case MAIL_ACCEPT:
            rmq_net_conn_accept(w, m);
            break;
        case MAIL_ADOPT:
            rmq_net_conn_adopt(w, m->conn);
            break;
        case MAIL_RELAY:
            rmq_net_conn_relay(w, m->conn);
            break;
        case MAIL_WAKE:
            rmq_net_conn_wake(w, m->conn_id);
            break;
        case MAIL_CLOSE_MATCHING:
            rmq_net_conn_close_matching(w, m->req);
            close_req_done(m->req);
            break;
        case MAIL_AUTHN_DONE:
            rmq_mqtt_authn_poll(w->core);
            break;
        case MAIL_END_SESSIONS:
            rmq_mqtt_end_sessions_matching(w->core, m->req->match, m->req->arg);
            close_req_done(m->req);
            break;
        case MAIL_PIPE_IN:
        case MAIL_PIPE_EOF:
        case MAIL_PIPE_WRITABLE:
            if (!rmq_net_pipe_core_mail(m)) {
                rmq_net_pipe_mail_drop(m);
            }
            m = next;
            continue;
        case MAIL_PIPE_OUT:
        case MAIL_PIPE_CLOSE:
        case MAIL_PIPE_RESUME:
            rmq_net_conn_pipe_mail(w, m);
            rmq_net_pipe_mail_drop(m);
            m = next;
            continue;
        case MAIL_STOP:
            rmq_net_conn_close_all(w);
            event_base_loopexit(w->base, NULL);
            break;
        default:
            break;
        }
        free(m);
        m = next;
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    rmq_mqtt_tick(w->core);
    rmq_net_conn_check_send_timeouts(w);
}

/* Runs after the connections that were ready in the same loop turn (it was
 * made active by one of them, so it is queued behind them): one commit, one
 * fsync, for all of their messages. */
static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    rmq_mqtt_commit(w->core);
}

static void request_commit(void *arg, uint64_t delay_ms)
{
    struct worker *w = arg;
    if (delay_ms == 0) {
        event_active(w->commit_ev, EV_TIMEOUT, 0);
        return;
    }
    struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)(delay_ms % 1000) * 1000};
    event_add(w->commit_ev, &tv);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* ------------------------------------------------------------- lifecycle */

static rmq_err worker_init(struct rmq_net *net, struct worker *w, int idx)
{
    w->net = net;
    w->idx = idx;
    w->next_id = 1;
    rmq_hmap_init(&w->per_addr);
    pthread_mutex_init(&w->mu, NULL);
    w->base = event_base_new();
    if (!w->base) {
        return RMQ_ERR_NOMEM;
    }
    w->mail_ev = event_new(w->base, -1, EV_READ | EV_PERSIST, mail_cb, w);
    if (!w->mail_ev || event_add(w->mail_ev, NULL) != 0) {
        return RMQ_ERR_NOMEM;
    }
    w->flush_ev = event_new(w->base, -1, 0, rmq_net_conn_flush_cb, w);
    if (!w->flush_ev || rmq_net_tw_init(w) != RMQ_OK) {
        return RMQ_ERR_NOMEM;
    }
    if (idx == 0) {
        w->core = rmq_mqtt_new(net->s);
        w->commit_ev = event_new(w->base, -1, 0, commit_cb, w);
        if (w->core && w->commit_ev) {
            rmq_mqtt_open_store(w->core);
            rmq_mqtt_set_commit_hook(w->core, request_commit, w);
        }
        w->tick_ev = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
        struct timeval tv = {0, 250000};
        if (!w->core || !w->tick_ev || event_add(w->tick_ev, &tv) != 0) {
            return RMQ_ERR_NOMEM;
        }
    }
    return RMQ_OK;
}

/* Every connection is a descriptor: use all the hard limit allows. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) {
        return;
    }
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rmq_warn("net", "cannot raise the open files limit from=%llu to=%llu error=%s",
                 (unsigned long long)old, (unsigned long long)rl.rlim_max, strerrordesc_np(errno));
        return;
    }
    rmq_info("net", "open files limit raised from=%llu to=%llu", (unsigned long long)old,
             (unsigned long long)rl.rlim_max);
}

/* node.workers, or one per CPU online (at least 1). */
static int worker_count(const struct rmq_settings *s)
{
    if (s->node_workers > 0) {
        return (int)s->node_workers;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

rmq_err rmq_net_new(const struct rmq_settings *s, struct rmq_net **out)
{
    *out = NULL;
    raise_nofile_limit();
    if (evthread_use_pthreads() != 0) {
        return RMQ_ERR_INTERNAL;
    }
    struct rmq_net *net = calloc(1, sizeof *net);
    if (!net) {
        return RMQ_ERR_NOMEM;
    }
    net->s = s;
    net->main_base = event_base_new();
    net->n_workers = worker_count(s);
    net->workers = calloc((size_t)net->n_workers, sizeof *net->workers);
    rmq_err e = net->main_base && net->workers ? RMQ_OK : RMQ_ERR_NOMEM;
    for (int i = 0; e == RMQ_OK && i < net->n_workers; i++) {
        e = worker_init(net, &net->workers[i], i);
    }
    if (e != RMQ_OK) {
        rmq_net_free(net);
        return e;
    }
    *out = net;
    return RMQ_OK;
}

uint16_t rmq_net_listener_port(const struct rmq_net *net, size_t i)
{
    return i < net->n_listeners ? net->listeners[i].port : 0;
}

struct event_base *rmq_net_main_base(struct rmq_net *net)
{
    return net->main_base;
}

uint64_t rmq_net_connection_count(const struct rmq_net *net)
{
    return atomic_load(&((struct rmq_net *)net)->total_conns);
}

/* ------------------------------------------------------------- listeners */

/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_BACKOFF_MS 250

static bool out_of_descriptors(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Out of descriptors: the pending connection stays in the backlog and the
 * listener stays readable, so accepting again at once would spin. Stop
 * watching it for a while (retry_cb), log once per episode. */
static void accept_backoff(struct listener *l, int err)
{
    if (!l->starved) {
        l->starved = true;
        l->refused = 0;
        rmq_warn("listener", "out of file descriptors, pausing accept name=%s error=%s retry_ms=%d",
                 l->ls->name, strerrordesc_np(err), ACCEPT_BACKOFF_MS);
    }
    l->refused++;
    event_del(l->ev);
    struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
    evtimer_add(l->retry_ev, &tv);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = arg;
    event_add(l->ev, NULL);
    event_active(l->ev, EV_READ, 0); /* try now; backs off again if still out */
}

/* max_conn_rate: over it, stop watching the listener until the rate allows
 * one more (clients wait in the backlog, none is refused). True if paused. */
static bool conn_rate_wait(struct listener *l)
{
    uint64_t wait = rmq_net_bucket_wait_ms(&l->conn_rate, rmq_now_ms());
    if (!wait) {
        return false;
    }
    RMQ_LOG_RL(1, RMQ_LOG_INFO, "listener", "accept paused by max_conn_rate name=%s wait_ms=%llu",
               l->ls->name, (unsigned long long)wait);
    event_del(l->ev);
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
    evtimer_add(l->retry_ev, &tv);
    return true;
}

/* The worker with the fewest TLS handshakes in progress, counted from the
 * hand-out: handshake workers first (round robin among equals), the core
 * worker only when it has fewer than every one of them. In a reconnect storm
 * the core (idle of MQTT work) then takes its share and no thread does them
 * all; under MQTT load its handshakes take longer, so it gets fewer; with
 * steady traffic and few handshakes they stay off the core. Counts the
 * chosen one (the worker subtracts when the handshake ends). */
static struct worker *handshake_worker(struct rmq_net *net)
{
    size_t hs = (size_t)net->n_workers - 1, start = net->rr++;
    struct worker *best = NULL;
    unsigned best_n = 0;
    for (size_t i = 0; i < hs; i++) {
        struct worker *w = &net->workers[1 + (start + i) % hs];
        unsigned k = atomic_load(&w->handshakes);
        if (best == NULL || k < best_n) {
            best = w;
            best_n = k;
        }
    }
    struct worker *core = &net->workers[0];
    if (best == NULL || atomic_load(&core->handshakes) < best_n) {
        best = core;
    }
    atomic_fetch_add(&best->handshakes, 1);
    return best;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    struct listener *l = arg;
    struct rmq_net *net = l->net;
    for (int i = 0; i < 64; i++) {
        if (conn_rate_wait(l)) {
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (out_of_descriptors(err)) {
                accept_backoff(l, err);
                return;
            }
            if (err == ECONNABORTED || err == EPROTO) {
                continue; /* that one client is gone; the next may be there */
            }
            if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
                RMQ_LOG_RL(1, RMQ_LOG_WARNING, "listener", "accept failed name=%s error=%s",
                           l->ls->name, strerrordesc_np(err));
            }
            return;
        }
        rmq_net_bucket_spend(&l->conn_rate, 1);
        if (l->starved) {
            l->starved = false;
            rmq_notice("listener", "accepting again name=%s retries=%llu", l->ls->name,
                       (unsigned long long)l->refused);
        }
        uint64_t max = l->ls->max_connections;
        if (max && atomic_load(&l->conns) >= max) {
            RMQ_LOG_RL(1, RMQ_LOG_WARNING, "listener",
                       "connection refused name=%s reason=max_connections max_connections=%llu",
                       l->ls->name, (unsigned long long)max);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct mail *m = calloc(1, sizeof *m + MAIL_ADDR_LEN); /* data: the address */
        if (!m) {
            close(fd);
            continue;
        }
        m->type = MAIL_ACCEPT;
        m->fd = fd;
        m->l = l;
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        m->len = MAIL_ADDR_LEN;
        snprintf((char *)m->data, MAIL_ADDR_LEN, "%s:%d", host, port);
        atomic_fetch_add(&l->conns, 1);
        atomic_fetch_add(&net->total_conns, 1);
        /* TCP straight to the core; a TLS handshake to the least busy worker */
        struct worker *w = l->has_factory ? handshake_worker(net) : &net->workers[0];
        rmq_net_post(w, m);
    }
}

static int bind_socket(const struct rmq_listener_settings *ls, char **errmsg)
{
    const struct rmq_bind *b = &ls->bind;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", b->port);
    int gai = getaddrinfo(b->host[0] ? b->host : NULL, port, &hints, &res);
    if (gai != 0) {
        *errmsg = fmt_err("cannot resolve bind host", ls, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *errmsg = fmt_err("cannot bind", ls, strerrordesc_np(err));
    }
    return fd;
}

rmq_err rmq_net_listen(struct rmq_net *net, const struct rmq_listener_settings *ls,
                       const struct rmq_transport_factory *factory, uint64_t handshake_timeout_ms,
                       char **errmsg)
{
    *errmsg = NULL;
    if (net->n_listeners == net->a_listeners) {
        size_t na = net->a_listeners ? net->a_listeners * 2 : 4;
        /* Listeners are referenced by pointer from connections: never moved
         * after start; grown only before rmq_net_start. */
        struct listener *nl = realloc(net->listeners, na * sizeof *nl);
        if (!nl) {
            return RMQ_ERR_NOMEM;
        }
        net->listeners = nl;
        net->a_listeners = na;
    }
    int fd = bind_socket(ls, errmsg);
    if (fd < 0) {
        return RMQ_ERR_IO;
    }
    struct listener *l = &net->listeners[net->n_listeners++];
    memset(l, 0, sizeof *l);
    l->net = net;
    l->ls = ls;
    l->fd = fd;
    l->has_factory = factory != NULL;
    if (factory) {
        l->factory = *factory;
    }
    l->handshake_timeout_ms = handshake_timeout_ms;
    atomic_init(&l->conns, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = ls->bind.port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(l->bind_str, sizeof l->bind_str, "%s:%d", ls->bind.host, port);
    l->port = (uint16_t)port;
    return RMQ_OK;
}

rmq_err rmq_net_start(struct rmq_net *net)
{
    sigset_t all, old;
    sigfillset(&all);
    /* Workers never take signals: the main thread's base handles them. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < net->n_workers; i++) {
        struct worker *w = &net->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return RMQ_ERR_INTERNAL;
        }
        w->started = true;
        char name[16];
        if (i == 0) {
            snprintf(name, sizeof name, "revmq-core");
        } else {
            snprintf(name, sizeof name, "revmq-hs%u", (unsigned)i & 0xffu);
        }
        pthread_setname_np(w->thread, name);
    }
    rmq_info("net", "workers=%d core=1 handshake=%d", net->n_workers, net->n_workers - 1);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; i < net->n_listeners; i++) {
        struct listener *l = &net->listeners[i];
        l->ev = event_new(net->main_base, l->fd, EV_READ | EV_PERSIST, accept_cb, l);
        l->retry_ev = evtimer_new(net->main_base, accept_retry_cb, l);
        rmq_net_bucket_init(&l->conn_rate, l->ls->max_conn_rate, 1, rmq_now_ms());
        if (!l->ev || !l->retry_ev || event_add(l->ev, NULL) != 0) {
            return RMQ_ERR_NOMEM;
        }
        rmq_info("listener", "started name=%s kind=%s bind=%s", l->ls->name,
                 rmq_listener_kind_name(l->ls->kind), l->bind_str);
    }
    return RMQ_OK;
}

void rmq_net_run(struct rmq_net *net)
{
    event_base_loop(net->main_base, EVLOOP_NO_EXIT_ON_EMPTY);
}

void rmq_net_stop(struct rmq_net *net)
{
    event_base_loopexit(net->main_base, NULL);
}

/* Verifier thread (authenticator's lock held): wake the core worker. */
static void authn_notify(void *arg)
{
    struct rmq_net *net = arg;
    struct mail *m = calloc(1, sizeof *m);
    if (m) {
        m->type = MAIL_AUTHN_DONE;
        rmq_net_post(&net->workers[0], m);
    }
}

void rmq_net_set_authn(struct rmq_net *net, struct rmq_authn *a)
{
    net->authn = a;
    rmq_mqtt_set_authn(net->workers[0].core, a);
    rmq_authn_set_notify(a, authn_notify, net);
}

void rmq_net_end_sessions_matching(struct rmq_net *net,
                                   bool (*match)(const struct rmq_peer_info *, void *arg),
                                   void *arg, void (*arg_free)(void *))
{
    struct close_req *req = calloc(1, sizeof *req);
    struct mail *m = req ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        rmq_error("net", "end_sessions_matching: out of memory");
        free(req);
        if (arg_free) {
            arg_free(arg);
        }
        return;
    }
    req->match = match;
    req->arg = arg;
    req->arg_free = arg_free;
    atomic_init(&req->refs, 1);
    m->type = MAIL_END_SESSIONS;
    m->req = req;
    rmq_net_post(&net->workers[0], m); /* the core worker owns the sessions */
}

void rmq_net_close_matching(struct rmq_net *net,
                            bool (*match)(const struct rmq_peer_info *, void *arg), void *arg,
                            void (*arg_free)(void *))
{
    rmq_net_close_matching_on(net, NULL, match, arg, arg_free);
}

void rmq_net_close_matching_on(struct rmq_net *net,
                               bool (*listener_ok)(const struct rmq_listener_settings *ls),
                               bool (*match)(const struct rmq_peer_info *, void *arg), void *arg,
                               void (*arg_free)(void *))
{
    struct close_req *req = calloc(1, sizeof *req);
    if (!req) {
        rmq_error("net", "close_matching: out of memory");
        if (arg_free) {
            arg_free(arg);
        }
        return;
    }
    req->listener_ok = listener_ok;
    req->match = match;
    req->arg = arg;
    req->arg_free = arg_free;
    atomic_init(&req->refs, net->n_workers);
    for (int i = 0; i < net->n_workers; i++) {
        struct mail *m = calloc(1, sizeof *m);
        if (!m) {
            close_req_done(req);
            continue;
        }
        m->type = MAIL_CLOSE_MATCHING;
        m->req = req;
        rmq_net_post(&net->workers[i], m);
    }
}

/* Posts STOP (the worker closes its connections) and joins the thread. */
static void worker_stop(struct worker *w)
{
    if (w->started) {
        struct mail *m = calloc(1, sizeof *m);
        if (m) {
            m->type = MAIL_STOP;
            rmq_net_post(w, m);
        } else {
            event_base_loopbreak(w->base);
        }
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

static void worker_free(struct worker *w)
{
    worker_stop(w);
    /* Mail that arrived after STOP. */
    struct mail *m = w->mail_head;
    while (m) {
        struct mail *next = m->next;
        if (m->type == MAIL_ACCEPT) {
            close(m->fd);
            atomic_fetch_sub(&m->l->conns, 1);
            atomic_fetch_sub(&w->net->total_conns, 1);
        } else if (m->type == MAIL_ADOPT || m->type == MAIL_RELAY) {
            rmq_net_conn_discard(m->conn);
        } else if (m->type == MAIL_CLOSE_MATCHING) {
            close_req_done(m->req);
        } else if (m->pipe != NULL) {
            rmq_net_pipe_mail_drop(m);
            m = next;
            continue;
        }
        free(m);
        m = next;
    }
    w->mail_head = w->mail_tail = NULL;
    if (w->conns) {
        rmq_net_conn_close_all(w);
    }
    if (w->commit_ev) {
        event_free(w->commit_ev);
    }
    rmq_mqtt_free(w->core);
    w->core = NULL;
    rmq_hmap_release(&w->per_addr);
    if (w->tick_ev) {
        event_free(w->tick_ev);
    }
    if (w->mail_ev) {
        event_free(w->mail_ev);
    }
    if (w->flush_ev) {
        event_free(w->flush_ev);
    }
    if (w->tw_ev) {
        event_free(w->tw_ev);
    }
    if (w->base) {
        event_base_free(w->base);
    }
    pthread_mutex_destroy(&w->mu);
}

void rmq_net_free(struct rmq_net *net)
{
    if (!net) {
        return;
    }
    rmq_authn_set_notify(net->authn, NULL, NULL); /* no wake-up mail after this */
    for (size_t i = 0; i < net->n_listeners; i++) {
        struct listener *l = &net->listeners[i];
        if (l->ev) {
            event_free(l->ev);
        }
        if (l->retry_ev) {
            event_free(l->retry_ev);
        }
        close(l->fd);
    }
    /* Worker 0 stops first: it says goodbye to every MQTT client, and the
     * output of split connections goes, by mail, to their IO sides, which
     * are still running and write it when they stop. Mail to worker 0 after
     * that waits in its mailbox, freed last. Nothing is posted to a split
     * connection's IO side once it has ended (struct pipe), and every IO
     * side has ended when its worker stops. */
    if (net->workers != NULL && net->workers[0].net != NULL) {
        worker_stop(&net->workers[0]);
    }
    for (int i = net->n_workers - 1; net->workers && i >= 0; i--) {
        if (net->workers[i].net) {
            worker_free(&net->workers[i]);
        }
    }
    free(net->workers);
    free(net->listeners);
    if (net->main_base) {
        event_base_free(net->main_base);
    }
    free(net);
}
