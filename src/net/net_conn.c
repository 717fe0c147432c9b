/*
 * net_conn.c — one connection on its worker: transport handshake, reading
 * and framing into the MQTT core, the output buffer, timers, close.
 *
 * A connection is freed only from its own event callbacks (or at worker
 * stop), never from inside a call into the core: io_close() only marks it
 * and schedules the write callback, which finishes the close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "mqtt/msg.h"
#include "net/net_int.h"
#include "net/proxy_proto.h"
#include "net/ws.h"

#define READ_CHUNK 16384
#define CLOSE_LINGER_MS 3000
/* Reads one connection gets per loop turn (at most this many chunks of
 * input). After them the loop polls again, so every other connection's
 * input, timers and mail are served before this one is read again. */
#define READS_PER_TURN 4

static void conn_destroy(struct conn *c, const char *why);
static void conn_update_events(struct conn *c);
static bool do_read(struct conn *c);
static bool rate_init(struct conn *c);
static void again_later(struct conn *c);
static void again_after(struct conn *c, uint64_t ms);
static bool addr_admit(struct conn *c);
static void addr_release(struct conn *c);
static void want_write(struct conn *c);
static bool relay_read(struct conn *c);

/* Arms c's one timeout ms from now (0: disarms it); timer_wheel.c. */
static void set_timer(struct conn *c, uint64_t ms)
{
    rmq_net_tw_set(c, ms);
}

/* ------------------------------------------------------------- core I/O */

static struct rmq_buf *io_outbuf(void *net)
{
    struct conn *c = net;
    return &c->out;
}

static size_t out_pending(const struct conn *c)
{
    return c->out.len - c->out_off;
}

/* Tracks the output against the high-water mark: the send timeout runs
 * while it is over; draining to half reports to the core (held publishers
 * go on). */
static void note_output(struct conn *c)
{
    size_t hw = rmq_mqtt_out_high_water(c->w->core);
    size_t pending = out_pending(c);
    if (!c->out_over && pending > hw) {
        c->out_over = true;
        c->over_since = rmq_now_ms();
        c->w->n_over++;
    } else if (c->out_over && pending <= hw / 2) {
        c->out_over = false;
        c->w->n_over--;
        if (c->mc && c->phase == PH_OPEN) {
            rmq_mqtt_conn_output_drained(c->mc);
        }
    }
}

static void io_flush(void *net)
{
    struct conn *c = net;
    if (out_pending(c) > 0) {
        want_write(c);
    }
    if (!c->out_over && out_pending(c) > rmq_mqtt_out_high_water(c->w->core)) {
        note_output(c);
    }
}

static size_t io_pending(void *net)
{
    return out_pending(net);
}

static void io_resume(void *net)
{
    struct conn *c = net;
    c->flow_held = false;
    if (c->phase == PH_OPEN) {
        again_later(c); /* never re-enter the core from inside it */
    }
}

/* The write event exists only while a write waits for the socket (a blocked
 * write, a TLS handshake or read that needs it, a close that flushes): an
 * idle connection keeps none (issue 18). false: no memory for it. */
static void write_cb(evutil_socket_t fd, short what, void *arg);

static bool wev_add(struct conn *c)
{
    if (c->wev == NULL) {
        c->wev = event_new(c->w->base, c->fd, EV_WRITE | EV_PERSIST, write_cb, c);
        if (c->wev == NULL) {
            return false;
        }
    }
    event_add(c->wev, NULL);
    return true;
}

/* Stops waiting for the socket to be writable; frees the event (safe from
 * its own callback: libevent does not touch an event after its callback). */
static void wev_del(struct conn *c)
{
    if (c->wev != NULL) {
        event_free(c->wev);
        c->wev = NULL;
    }
}

static bool wev_pending(const struct conn *c)
{
    return c->wev != NULL && event_pending(c->wev, EV_WRITE, NULL);
}

static void io_close(void *net)
{
    struct conn *c = net;
    if (c->phase == PH_CLOSING) {
        return;
    }
    c->phase = PH_CLOSING;
    event_del(c->rev);
    set_timer(c, CLOSE_LINGER_MS); /* closes it if the write event cannot be made */
    if (wev_add(c)) {
        event_active(c->wev, EV_WRITE, 0); /* finish even when nothing is buffered */
    }
}

static void io_connected(void *net, uint64_t keepalive_ms)
{
    struct conn *c = net;
    /* CONNECT accepted: the timer now enforces keep alive (MQTT-3.1.2-24). */
    c->mqtt_connected = true;
    c->keepalive_ms = keepalive_ms;
    set_timer(c, keepalive_ms);
}

static void io_hold_input(void *net, bool hold)
{
    struct conn *c = net;
    if (c->phase != PH_OPEN) {
        return;
    }
    c->core_hold = hold;
    if (hold) {
        event_del(c->rev);
        return;
    }
    /* Not from here (the core is on the stack): from the read callback. */
    c->refeed = true;
    event_add(c->rev, NULL);
    event_active(c->rev, EV_READ, 0);
}

static const struct rmq_conn_io conn_io = {
    .outbuf = io_outbuf,
    .flush = io_flush,
    .close = io_close,
    .connected = io_connected,
    .hold_input = io_hold_input,
    .pending = io_pending,
    .resume = io_resume,
};

/* ---------------------------------------------------------- flush list */

static void flush_unlink(struct conn *c)
{
    if (!c->flush_queued) {
        return;
    }
    if (c->flush_prev) {
        c->flush_prev->flush_next = c->flush_next;
    } else {
        c->w->flush_head = c->flush_next;
    }
    if (c->flush_next) {
        c->flush_next->flush_prev = c->flush_prev;
    }
    c->flush_next = c->flush_prev = NULL;
    c->flush_queued = false;
}

/* Output is pending: write it at the end of this turn, unless the write
 * event already waits for the socket (a blocked write, TLS retrying the
 * same bytes, a close) or a TLS write waits for input. */
static void want_write(struct conn *c)
{
    if (c->flush_queued || (c->phase != PH_OPEN && c->phase != PH_RELAY) || c->write_wants_read ||
        wev_pending(c)) {
        return;
    }
    struct worker *w = c->w;
    c->flush_queued = true;
    c->flush_prev = NULL;
    c->flush_next = w->flush_head;
    if (w->flush_head) {
        w->flush_head->flush_prev = c;
    }
    w->flush_head = c;
    /* Active now, run after the callbacks already active in this turn:
     * no poll (epoll_ctl + epoll_wait) per write. */
    event_active(w->flush_ev, EV_TIMEOUT, 0);
}

/* --------------------------------------------------------------- events */

static void conn_update_events(struct conn *c)
{
    if (c->phase == PH_CLOSING) {
        return;
    }
    bool want_read = !c->read_paused && !c->suspended && !c->core_hold && !c->flow_held &&
                     !c->rate_paused && !c->addr_parked && !c->relay_stopped;
    if (want_read) {
        event_add(c->rev, NULL);
        if (c->piped && rmq_net_pipe_readable((struct pipe *)c->t)) {
            again_later(c); /* no socket announces what came by mail */
        }
    } else {
        event_del(c->rev);
    }
    if (c->read_wants_write) {
        /* Out of memory: retried at the next update; the keep-alive or
         * CONNECT timer bounds the wait. */
        (void)wev_add(c);
    }
    if (out_pending(c) > 0) {
        want_write(c);
    }
}

/* Whether the MQTT core may need the client certificate itself (PEM / CRT as
 * username or client id); otherwise only derived identity fields are kept. */
static bool wants_pem(const struct rmq_settings *s)
{
    enum rmq_peer_cert_as u = s->mqtt.peer_cert_as_username, i = s->mqtt.peer_cert_as_clientid;
    return u == RMQ_PEER_AS_PEM || u == RMQ_PEER_AS_CRT || i == RMQ_PEER_AS_PEM ||
           i == RMQ_PEER_AS_CRT;
}

/* The peer's identity, kept compact for the connection's life. False on OOM. */
static bool keep_peer(struct conn *c)
{
    struct rmq_peer_info pi;
    c->t->ops->peer_info(c->t, &pi);
    bool had = pi.has_cert != 0;
    c->peer = rmq_peer_info_keep(&pi, wants_pem(c->l->net->s));
    return !had || c->peer != NULL;
}

static void conn_open(struct conn *c)
{
    struct worker *w = c->w;
    if (!c->piped && !keep_peer(c)) { /* a split connection's IO side gave it */
        conn_destroy(c, "out of memory");
        return;
    }
    c->mc = rmq_mqtt_conn_new(w->core, &conn_io, c, c->peer, c->addr, c->l->ls->id);
    if (!c->mc) {
        conn_destroy(c, "out of memory");
        return;
    }
    c->phase = PH_OPEN;
    set_timer(c, c->l->net->s->mqtt.idle_timeout);
    if (!rate_init(c)) {
        conn_destroy(c, "out of memory");
        return;
    }
    if (!addr_admit(c)) {
        conn_update_events(c); /* parked: not read until another one closes */
        return;
    }
    if (c->l->has_factory || c->l->ls->is_ws) {
        /* TLS / WebSocket may already hold application data that came with
         * the end of the handshake (no socket event would announce it): read now. */
        do_read(c);
    } else {
        /* TCP: wait for the socket event, so input on this new connection is
         * handled after what earlier connections already sent. */
        conn_update_events(c);
    }
}

static void unlink_conn(struct conn *c)
{
    struct worker *w = c->w;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->next = c->prev = NULL;
}

static void link_conn(struct worker *w, struct conn *c)
{
    c->w = w;
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns) {
        w->conns->prev = c;
    }
    w->conns = c;
}

static void free_events(struct conn *c)
{
    if (c->rev) {
        event_free(c->rev);
    }
    if (c->wev) {
        event_free(c->wev);
    }
    rmq_net_tw_set(c, 0);
    if (c->again) {
        event_free(c->again);
    }
    c->rev = c->wev = c->again = NULL;
}

static bool make_events(struct worker *w, struct conn *c);

/* Handshake done on a handshake worker: the connection is split (struct
 * pipe, net_int.h). This worker keeps the socket and TLS (PH_RELAY); worker
 * 0 gets, by mail, a connection whose transport is the pipe and runs MQTT on
 * it. */
static void split(struct conn *c)
{
    struct rmq_net *net = c->w->net;
    if (!keep_peer(c)) {
        conn_destroy(c, "out of memory");
        return;
    }
    struct conn *k = calloc(1, sizeof *k);
    struct pipe *p = k != NULL ? rmq_net_pipe_new(c->w, &net->workers[0]) : NULL;
    if (p == NULL) {
        free(k);
        conn_destroy(c, "out of memory");
        return;
    }
    k->l = c->l;
    k->fd = -1;
    k->piped = true;
    k->t = &p->t;
    k->peer = c->peer;
    c->peer = NULL;
    memcpy(k->addr, c->addr, sizeof k->addr);
    rmq_buf_init(&k->in, (size_t)net->s->mqtt.max_packet_size + READ_CHUNK);
    rmq_buf_init(&k->out, 0);
    struct mail *m = calloc(1, sizeof *m);
    if (!m) {
        rmq_peer_info_free(k->peer);
        free(k);
        rmq_net_pipe_unref(p);
        rmq_net_pipe_unref(p);
        conn_destroy(c, "out of memory");
        return;
    }
    p->io_conn = c;
    c->pipe = p;
    c->phase = PH_RELAY;
    atomic_fetch_add(&c->w->relays, 1);
    set_timer(c, 0); /* the core side keeps the CONNECT and keep-alive timers */
    m->type = MAIL_ADOPT;
    m->conn = k;
    rmq_debug("net", "connection split listener=%s addr=%s io_worker=%d", c->l->ls->id, c->addr,
              c->w->idx);
    rmq_net_post(&net->workers[0], m);
    /* TLS may already hold application data that came with the end of the
     * handshake (no socket event would announce it): read now. */
    relay_read(c);
}

/* The handshake worker with the fewest split connections. */
static struct worker *io_worker(struct rmq_net *net)
{
    struct worker *best = NULL;
    unsigned best_n = 0;
    for (int i = 1; i < net->n_workers; i++) {
        unsigned n = atomic_load(&net->workers[i].relays);
        if (best == NULL || n < best_n) {
            best = &net->workers[i];
            best_n = n;
        }
    }
    return best;
}

/* Handshake done on worker 0 while there are handshake workers: the
 * connection's socket and TLS go to one of them, to be split there like the
 * ones they handshake (worker 0 keeps only the MQTT side). From the post on,
 * this thread never touches it again. */
static void move_to_io(struct conn *c)
{
    struct mail *m = calloc(1, sizeof *m);
    if (!m) {
        conn_destroy(c, "out of memory");
        return;
    }
    struct worker *io = io_worker(c->w->net);
    flush_unlink(c);
    free_events(c);
    unlink_conn(c);
    m->type = MAIL_RELAY;
    m->conn = c;
    rmq_net_post(io, m);
}

void rmq_net_conn_relay(struct worker *w, struct conn *c)
{
    link_conn(w, c);
    c->id = w->next_id++;
    if (!make_events(w, c)) {
        conn_destroy(c, "out of memory");
        return;
    }
    split(c);
}

void rmq_net_conn_adopt(struct worker *w, struct conn *c)
{
    link_conn(w, c);
    c->id = w->next_id++;
    if (c->piped) {
        ((struct pipe *)c->t)->core_conn = c;
    }
    if (!make_events(w, c)) {
        conn_destroy(c, "out of memory");
        return;
    }
    conn_open(c);
}

/* A handed-over connection nobody adopted (worker 0 stopped first). */
void rmq_net_conn_discard(struct conn *c)
{
    c->t->ops->free(c->t);
    if (c->fd >= 0) {
        close(c->fd);
    }
    rmq_peer_info_free(c->peer);
    c->peer = NULL;
    rmq_buf_release(&c->in);
    rmq_buf_release(&c->out);
    if (!c->piped) { /* a split connection is counted once, by its IO side */
        atomic_fetch_sub(&c->l->conns, 1);
        atomic_fetch_sub(&c->l->net->total_conns, 1);
    }
    free(c);
}

/* Listener handshake timeout: TLS handshake, or CONNECT for plain TCP. */
static uint64_t handshake_ms(const struct conn *c)
{
    return c->l->has_factory ? c->l->handshake_timeout_ms : c->l->net->s->mqtt.idle_timeout;
}

/* PROXY protocol: once the header is read, the original client address
 * replaces the balancer's and the listener's own timeout starts. */
static void proxy_header_hook(struct conn *c)
{
    if (!c->proxy_pending || !rmq_proxy_transport_header_done(c->t)) {
        return;
    }
    c->proxy_pending = false;
    char orig[sizeof c->addr];
    if (rmq_proxy_transport_client_addr(c->t, orig, sizeof orig)) {
        rmq_debug("net", "PROXY header listener=%s proxy=%s addr=%s", c->l->ls->id, c->addr, orig);
        memcpy(c->addr, orig, sizeof c->addr);
    }
    set_timer(c, handshake_ms(c));
}

/* The TLS handshake given to this worker by accept has ended (done, failed
 * or the connection closed): one fewer in w->handshakes. */
static void handshake_ended(struct conn *c)
{
    if (c->hs_counted) {
        c->hs_counted = false;
        atomic_fetch_sub(&c->w->handshakes, 1);
    }
}

static void drive_handshake(struct conn *c)
{
    enum rmq_io r = c->t->ops->handshake(c->t);
    c->suspended = false;
    proxy_header_hook(c);
    switch (r) {
    case RMQ_IO_OK:
        handshake_ended(c);
        if (c->l->has_factory) {
            rmq_metrics_inc(RMQ_M_TLS_HANDSHAKE_OK);
            rmq_debug("net", "handshake done listener=%s addr=%s worker=%d", c->l->ls->id, c->addr,
                      c->w->idx);
        }
        if (!c->w->core) {
            split(c); /* a handshake worker: MQTT happens on worker 0 */
        } else if (c->l->has_factory && c->l->net->n_workers > 1) {
            move_to_io(c); /* TLS: its records are worth a worker of their own */
        } else {
            conn_open(c);
        }
        return;
    case RMQ_IO_WANT_READ:
        wev_del(c);
        event_add(c->rev, NULL);
        return;
    case RMQ_IO_WANT_WRITE:
        event_del(c->rev);
        if (!wev_add(c)) {
            conn_destroy(c, "out of memory");
        }
        return;
    case RMQ_IO_SUSPENDED:
        c->suspended = true;
        event_del(c->rev);
        wev_del(c);
        return;
    case RMQ_IO_EOF:
    case RMQ_IO_ERROR:
    default:
        rmq_metrics_inc(RMQ_M_TLS_HANDSHAKE_FAILED);
        RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "net", "handshake failed listener=%s addr=%s error=%s",
                   c->l->ls->id, c->addr, c->t->ops->last_error(c->t));
        conn_destroy(c, "handshake failed");
        return;
    }
}

/* Only complete control packets keep a connection alive, not stray bytes. */
static void packets_seen(struct conn *c, size_t used)
{
    if (used > 0 && c->mqtt_connected && c->keepalive_ms && c->phase == PH_OPEN) {
        set_timer(c, c->keepalive_ms);
    }
    if (c->phase == PH_OPEN && rmq_mqtt_conn_held(c->mc)) {
        c->flow_held = true; /* read no more until io_resume */
    }
}

static bool rate_limited(uint64_t rate)
{
    return rate != 0 && rate != UINT64_MAX;
}

/* The rate buckets, when the listener limits a rate; false: out of memory. */
static bool rate_init(struct conn *c)
{
    const struct rmq_listener_settings *ls = c->l->ls;
    if (!rate_limited(ls->messages_rate) && !rate_limited(ls->bytes_rate)) {
        return true;
    }
    if ((c->rate = calloc(1, sizeof *c->rate)) == NULL) {
        return false;
    }
    int64_t now = rmq_now_ms();
    rmq_net_bucket_init(&c->rate->msg, ls->messages_rate, 1, now);
    rmq_net_bucket_init(&c->rate->bytes, ls->bytes_rate, READ_CHUNK, now);
    return true;
}

static struct rmq_net_bucket *msg_rate(struct conn *c)
{
    return c->rate != NULL ? &c->rate->msg : NULL;
}

static struct rmq_net_bucket *byte_rate(struct conn *c)
{
    return c->rate != NULL ? &c->rate->bytes : NULL;
}

/* The core decodes input, within the client's messages_rate. */
static size_t core_input(struct conn *c, const uint8_t *p, size_t n)
{
    bool limited = rmq_net_bucket_limited(msg_rate(c));
    if (limited) {
        uint64_t avail = rmq_net_bucket_available(msg_rate(c), rmq_now_ms());
        rmq_mqtt_conn_set_publish_budget(c->mc, avail);
    }
    size_t used = rmq_mqtt_conn_input(c->mc, p, n);
    if (limited) {
        uint64_t pubs = rmq_mqtt_conn_publishes_in(c->mc);
        rmq_net_bucket_spend(msg_rate(c), pubs - c->rate->pubs_seen);
        c->rate->pubs_seen = pubs;
    }
    packets_seen(c, used);
    return used;
}

/* Over messages_rate or bytes_rate: stop reading until the rate allows one
 * more (the client is slowed, never dropped). True if paused. */
static bool rate_wait(struct conn *c)
{
    if (!rmq_net_bucket_limited(msg_rate(c)) && !rmq_net_bucket_limited(byte_rate(c))) {
        return false;
    }
    int64_t now = rmq_now_ms();
    uint64_t wm = rmq_net_bucket_wait_ms(msg_rate(c), now);
    uint64_t wb = rmq_net_bucket_wait_ms(byte_rate(c), now);
    uint64_t wait = wm > wb ? wm : wb;
    if (!wait) {
        return false;
    }
    RMQ_LOG_RL(10, RMQ_LOG_INFO, "net",
               "client slowed by rate limit client_id=%s addr=%s limit=%s "
               "wait_ms=%llu",
               rmq_mqtt_conn_client_id(c->mc), c->addr, wm >= wb ? "messages_rate" : "bytes_rate",
               (unsigned long long)wait);
    c->rate_paused = true;
    again_after(c, wait);
    return true;
}

/* Hands buffered input to the core and drops what it consumed. */
static void feed_core(struct conn *c)
{
    size_t used = core_input(c, c->in.data, c->in.len);
    rmq_buf_consume(&c->in, used);
}

/* How much one read may take: bytes_rate allows at most this much. */
static size_t read_cap(struct conn *c, size_t len)
{
    uint64_t avail = rmq_net_bucket_available(byte_rate(c), rmq_now_ms());
    return avail < len ? (size_t)(avail ? avail : 1) : len;
}

/* One read: into the worker's scratch buffer when nothing is pending (the
 * core decodes straight from it; only an incomplete tail is copied), else
 * into the connection's own buffer behind the pending bytes. */
static enum rmq_io read_once(struct conn *c)
{
    size_t n = 0;
    enum rmq_io r;
    if (c->in.len == 0) {
        uint8_t *scratch = c->w->scratch;
        r = c->t->ops->read(c->t, scratch, read_cap(c, sizeof c->w->scratch), &n);
        if (r != RMQ_IO_OK) {
            return r;
        }
        rmq_net_bucket_spend(byte_rate(c), n);
        size_t used = core_input(c, scratch, n);
        if (used < n && c->phase == PH_OPEN &&
            rmq_buf_append(&c->in, scratch + used, n - used) != RMQ_OK) {
            return RMQ_IO_ERROR;
        }
        return RMQ_IO_OK;
    }
    if (rmq_buf_reserve(&c->in, READ_CHUNK) != RMQ_OK && rmq_buf_reserve(&c->in, 1) != RMQ_OK) {
        return RMQ_IO_ERROR;
    }
    r = c->t->ops->read(c->t, c->in.data + c->in.len, read_cap(c, c->in.alloc - c->in.len), &n);
    if (r == RMQ_IO_OK) {
        rmq_net_bucket_spend(byte_rate(c), n);
        c->in.len += n;
        feed_core(c);
        if (c->in.len == 0) {
            rmq_buf_release(&c->in); /* idle connections hold no input memory */
        }
    }
    return r;
}

static void again_cb(evutil_socket_t fd, short what, void *arg);

/* Runs read_cb's work again after `tv` (zero: on the next loop turn, after a
 * poll). The timer is made on first use: most connections never need it. Out
 * of memory, the connection is closed (it could not be resumed). */
static void again_in(struct conn *c, const struct timeval *tv)
{
    if (!c->again && !(c->again = evtimer_new(c->w->base, again_cb, c))) {
        rmq_error("net", "out of memory, closing connection addr=%s", c->addr);
        io_close(c);
        return;
    }
    evtimer_add(c->again, tv);
}

static void again_later(struct conn *c)
{
    static const struct timeval zero = {0, 0};
    again_in(c, &zero);
}

static void again_after(struct conn *c, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    again_in(c, &tv);
}

enum read_next { READ_ON, READ_STOP, READ_GONE };

/* What one read's result means for the read loop: read on, stop (wait for
 * the socket; a TLS read that needs it writable says so), or gone (EOF or an
 * error destroyed c). */
static enum read_next after_read(struct conn *c, enum rmq_io r)
{
    switch (r) {
    case RMQ_IO_OK:
        return READ_ON;
    case RMQ_IO_WANT_READ:
        return READ_STOP;
    case RMQ_IO_WANT_WRITE:
        c->read_wants_write = true;
        return READ_STOP;
    default:
        conn_destroy(c, r == RMQ_IO_EOF ? "closed by peer" : "socket error");
        return READ_GONE;
    }
}

/* Reads and feeds the core; false if the connection was destroyed. */
static bool do_read(struct conn *c)
{
    int rounds = 0;
    if (c->refeed && c->phase == PH_OPEN) {
        c->refeed = false;
        if (c->in.len > 0) {
            feed_core(c); /* what came behind a CONNECT that was being authenticated */
        }
    }
    for (; rounds < READS_PER_TURN && c->phase == PH_OPEN && !c->core_hold && !c->flow_held;
         rounds++) {
        if (rate_wait(c)) {
            break;
        }
        enum read_next next = after_read(c, read_once(c));
        if (next == READ_ON) {
            continue;
        }
        if (next == READ_GONE) {
            return false;
        }
        break;
    }
    if (c->phase == PH_OPEN && c->out.len > rmq_mqtt_out_high_water(c->w->core)) {
        c->read_paused = true; /* backpressure: resume once the output drains */
    }
    conn_update_events(c);
    if (rounds == READS_PER_TURN && c->phase == PH_OPEN && !c->read_paused && !c->core_hold &&
        !c->flow_held && !c->rate_paused && (c->l->has_factory || c->l->ls->is_ws)) {
        /* Share used up. TLS / WebSocket may still hold decoded bytes that no
         * socket event will announce: come back after the next poll (a zero
         * timer runs after polling; event_active would run again before it
         * and starve everyone else). TCP needs nothing: the socket stays readable. */
        again_later(c);
    }
    return true;
}

/* ------------------------------------------- split connection, IO side */

/* Bytes read go to the core side by mail; the socket is not read while the
 * core side has PIPE_IN_WINDOW bytes still to take (see struct pipe). */
static bool relay_read(struct conn *c)
{
    struct pipe *p = c->pipe;
    int rounds = 0;
    for (; rounds < READS_PER_TURN && c->phase == PH_RELAY; rounds++) {
        if (atomic_load(&p->in_flight) >= PIPE_IN_WINDOW) {
            atomic_store(&p->io_stopped, true);
            if (atomic_load(&p->in_flight) >= PIPE_IN_WINDOW ||
                !atomic_exchange(&p->io_stopped, false)) {
                c->relay_stopped = true; /* until MAIL_PIPE_RESUME */
                break;
            }
        }
        size_t n = 0;
        enum rmq_io r = c->t->ops->read(c->t, c->w->scratch, sizeof c->w->scratch, &n);
        if (r == RMQ_IO_OK) {
            atomic_fetch_add(&p->in_flight, n);
            if (!rmq_net_pipe_post(p, p->core, MAIL_PIPE_IN, c->w->scratch, n, NULL)) {
                conn_destroy(c, "out of memory");
                return false;
            }
        }
        enum read_next next = after_read(c, r);
        if (next == READ_ON) {
            continue;
        }
        if (next == READ_GONE) {
            return false;
        }
        break;
    }
    conn_update_events(c);
    if (rounds == READS_PER_TURN && c->phase == PH_RELAY && !c->relay_stopped) {
        again_later(c); /* TLS may hold decrypted bytes no socket event announces */
    }
    return true;
}

/* Written bytes leave the output window; the core side, waiting for room,
 * is told when half of it is free. */
static void relay_wrote(struct conn *c, size_t n)
{
    struct pipe *p = c->pipe;
    size_t before = atomic_fetch_sub(&p->out_flight, n);
    if (before - n < PIPE_OUT_WINDOW / 2 && atomic_load(&p->core_blocked) &&
        atomic_exchange(&p->core_blocked, false)) {
        (void)rmq_net_pipe_post(p, p->core, MAIL_PIPE_WRITABLE, NULL, 0, NULL);
    }
}

void rmq_net_conn_pipe_mail(struct worker *w, struct mail *m)
{
    (void)w;
    struct conn *c = m->pipe->io_conn;
    if (c == NULL) {
        return; /* this side ended already */
    }
    switch (m->type) {
    case MAIL_PIPE_OUT:
        if (c->phase == PH_RELAY || c->phase == PH_CLOSING) {
            if (rmq_buf_append(&c->out, m->data, m->len) != RMQ_OK) {
                conn_destroy(c, "out of memory");
                return;
            }
            if (c->phase == PH_RELAY) {
                want_write(c);
            }
        }
        return;
    case MAIL_PIPE_CLOSE:
        io_close(c); /* writes what is buffered, then closes */
        return;
    case MAIL_PIPE_RESUME:
        if (c->phase == PH_RELAY && c->relay_stopped) {
            c->relay_stopped = false;
            again_later(c); /* TLS may hold input already */
        }
        return;
    default:
        return;
    }
}

/* -------------------------------------------- split connection, core side */

void rmq_net_conn_pipe_readable(struct conn *c)
{
    /* Read after the next poll (the zero timer), never event_active: input
     * keeps coming by mail from a flooding client, and reading it again and
     * again within one loop turn would keep worker 0 from polling, so other
     * connections (a fresh CONNECT, a PINGREQ) would wait. The read event is
     * pending only while nothing holds the connection's input. */
    if (c->phase == PH_OPEN && event_pending(c->rev, EV_READ, NULL)) {
        again_later(c);
    }
}

void rmq_net_conn_pipe_writable(struct conn *c)
{
    if (wev_pending(c)) {
        event_active(c->wev, EV_WRITE, 0);
    } else if (c->phase == PH_OPEN && out_pending(c) > 0) {
        want_write(c);
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct conn *c = arg;
    (void)what;
    if (c->phase == PH_HANDSHAKE) {
        drive_handshake(c);
        return;
    }
    if (c->write_wants_read) {
        c->write_wants_read = false;
        if (!wev_add(c)) {
            conn_destroy(c, "out of memory");
            return;
        }
    }
    if (c->phase == PH_RELAY) {
        relay_read(c);
        return;
    }
    do_read(c);
}

static void again_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->rate_paused = false;
    if (c->phase == PH_RELAY) {
        if (!c->relay_stopped) {
            relay_read(c);
        }
        return;
    }
    if (c->phase != PH_OPEN || c->read_paused || c->flow_held || c->addr_parked) {
        conn_update_events(c);
        return;
    }
    if (c->in.len > 0) {
        /* Input kept while the core held this publisher. */
        feed_core(c);
        if (c->in.len == 0) {
            rmq_buf_release(&c->in);
        }
        if (c->phase != PH_OPEN || c->flow_held) {
            conn_update_events(c);
            return;
        }
    }
    do_read(c);
}

static void finish_close(struct conn *c)
{
    c->t->ops->shutdown(c->t);
    conn_destroy(c, NULL);
}

enum write_res { WR_DONE, WR_BLOCKED, WR_GONE };

/* Writes the pending output until it is all written or the socket would
 * block. WR_BLOCKED: wait for the write event (or, TLS WANT_READ, the read
 * event; write_wants_read set). WR_GONE: c was destroyed. */
static enum write_res write_out(struct conn *c)
{
    while (c->out.len > c->out_off) {
        size_t n = 0;
        enum rmq_io r =
            c->t->ops->write(c->t, c->out.data + c->out_off, c->out.len - c->out_off, &n);
        if (r == RMQ_IO_OK) {
            /* Drop written bytes lazily: no memmove of a large backlog per write. */
            c->out_off += n;
            if (c->pipe != NULL) {
                relay_wrote(c, n);
            }
            if (c->out_over) {
                note_output(c);
            }
            if (c->out_off == c->out.len) {
                c->out.len = 0;
                c->out_off = 0;
            } else if (c->out_off > 4 * READ_CHUNK && c->out_off > c->out.len / 2) {
                rmq_buf_consume(&c->out, c->out_off);
                c->out_off = 0;
            }
            continue;
        }
        if (r == RMQ_IO_WANT_WRITE) {
            return WR_BLOCKED;
        }
        if (r == RMQ_IO_WANT_READ) {
            c->write_wants_read = true;
            wev_del(c);
            event_add(c->rev, NULL);
            return WR_BLOCKED;
        }
        conn_destroy(c, "socket error");
        return WR_GONE;
    }
    return WR_DONE;
}

/* All output written (connection open): the buffer is given back, so an idle
 * connection holds no output memory; the next packet allocates a small one
 * and rmq_buf grows it on demand. */
static void output_written(struct conn *c)
{
    rmq_buf_release(&c->out);
    if (c->read_paused) {
        c->read_paused = false;
        conn_update_events(c);
    }
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->phase == PH_HANDSHAKE) {
        drive_handshake(c);
        return;
    }
    if (c->read_wants_write) {
        c->read_wants_write = false;
        if (!(c->phase == PH_RELAY ? relay_read(c) : do_read(c))) {
            return;
        }
    }
    flush_unlink(c); /* written here */
    enum write_res r = write_out(c);
    if (r != WR_DONE) {
        return; /* gone, or wev stays added / rev waits */
    }
    if (!c->read_wants_write) {
        wev_del(c);
    }
    if (c->phase == PH_CLOSING) {
        finish_close(c);
        return;
    }
    output_written(c);
}

void rmq_net_conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    struct conn *c;
    /* Output added while flushing (the core told of drained output) is
     * queued at the head and written in this same pass. */
    while ((c = w->flush_head) != NULL) {
        flush_unlink(c);
        if ((c->phase != PH_OPEN && c->phase != PH_RELAY) || c->write_wants_read ||
            wev_pending(c)) {
            continue; /* the write or read event writes it */
        }
        enum write_res r = write_out(c);
        if (r == WR_BLOCKED && !c->write_wants_read) {
            if (!wev_add(c)) { /* EAGAIN / partial write: wait for the socket */
                conn_destroy(c, "out of memory");
            }
        } else if (r == WR_DONE) {
            output_written(c);
        }
    }
}

void rmq_net_conn_timeout(struct conn *c)
{
    if (c->phase == PH_OPEN && c->mqtt_connected && c->flow_held) {
        /* Not read while held: its PINGREQs wait in the socket. */
        set_timer(c, c->keepalive_ms);
        return;
    }
    if (c->phase == PH_OPEN && c->mqtt_connected) {
        /* The core says it (v5: DISCONNECT 0x8D), then the normal close (will published). */
        rmq_mqtt_conn_close(c->mc, RMQ_CLOSE_KEEPALIVE);
        return;
    }
    const char *why = c->phase == PH_HANDSHAKE && c->proxy_pending ? "PROXY protocol header timeout"
                      : c->phase == PH_HANDSHAKE                   ? "handshake timeout"
                      : c->phase == PH_OPEN                        ? "CONNECT timeout"
                                                                   : NULL;
    if (c->phase == PH_HANDSHAKE && c->l->has_factory) {
        rmq_metrics_inc(RMQ_M_TLS_HANDSHAKE_FAILED);
    }
    if (why) {
        RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "net", "%s listener=%s addr=%s", why, c->l->ls->id, c->addr);
    }
    conn_destroy(c, why ? why : "close linger expired");
}

/* ------------------------------------------------------------ lifecycle */

static void transport_wake(void *arg)
{
    /* Any thread: only immutable fields are read; the worker looks the
     * connection up by id, so a wake for a closed one is ignored. */
    struct conn *c = arg;
    struct mail *m = calloc(1, sizeof *m);
    if (!m) {
        return;
    }
    m->type = MAIL_WAKE;
    m->conn_id = c->id;
    rmq_net_post(c->w, m);
}

static bool make_events(struct worker *w, struct conn *c)
{
    c->rev = event_new(w->base, c->fd, EV_READ | EV_PERSIST, read_cb, c);
    c->wev = NULL;   /* wev_add() makes it when a write waits */
    c->again = NULL; /* again_in() makes it when needed */
    return c->rev != NULL;
}

void rmq_net_conn_accept(struct worker *w, struct mail *m)
{
    struct listener *l = m->l;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        if (l->has_factory) {
            atomic_fetch_sub(&w->handshakes, 1);
        }
        close(m->fd);
        atomic_fetch_sub(&l->conns, 1);
        atomic_fetch_sub(&w->net->total_conns, 1);
        return;
    }
    c->w = w;
    c->l = l;
    c->hs_counted = l->has_factory; /* accept counted it in w->handshakes */
    c->id = w->next_id++;
    c->fd = m->fd;
    snprintf(c->addr, sizeof c->addr, "%s", (const char *)m->data); /* MAIL_ADDR_LEN bytes */
    size_t cap = (size_t)w->net->s->mqtt.max_packet_size + READ_CHUNK;
    rmq_buf_init(&c->in, cap);
    rmq_buf_init(&c->out, 0);
    bool ev_ok = make_events(w, c);
    c->t = l->has_factory ? l->factory.new_transport(l->factory.arg, c->fd)
                          : rmq_tcp_transport_new(c->fd);
    if (c->t != NULL && l->ls->is_ws) {
        c->t = rmq_ws_transport_wrap(c->t, &l->ls->ws);
    }
    if (c->t != NULL && l->ls->proxy_protocol) {
        c->t = rmq_proxy_transport_wrap(c->t);
        c->proxy_pending = true;
    }
    link_conn(w, c);
    if (!ev_ok || !c->t) {
        conn_destroy(c, "refused");
        return;
    }
    c->t->wake = transport_wake;
    c->t->wake_arg = c;
    c->phase = PH_HANDSHAKE;
    set_timer(c, c->proxy_pending ? l->ls->proxy_protocol_timeout : handshake_ms(c));
    drive_handshake(c);
}

void rmq_net_conn_wake(struct worker *w, uint64_t id)
{
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->id == id) {
            if (c->phase == PH_HANDSHAKE && c->suspended) {
                drive_handshake(c);
            }
            return;
        }
    }
}

static void conn_destroy(struct conn *c, const char *why)
{
    struct worker *w = c->w;
    if (c->out_over) {
        c->out_over = false;
        w->n_over--;
    }
    addr_release(c);
    handshake_ended(c);
    if (c->mc) {
        rmq_mqtt_conn_free(c->mc, why);
        c->mc = NULL;
    }
    flush_unlink(c);
    unlink_conn(c);
    free_events(c);
    if (c->pipe != NULL) {
        /* The IO side of a split connection ends: the core side reads the
         * end after the input already sent. Nothing is posted to this worker
         * after io_gone. */
        struct pipe *p = c->pipe;
        atomic_fetch_sub(&w->relays, 1);
        p->io_conn = NULL;
        atomic_store(&p->io_gone, true);
        rmq_net_pipe_post_end(p, true, why ? why : "closed");
        rmq_net_pipe_unref(p);
        c->pipe = NULL;
    }
    if (c->t) {
        c->t->ops->free(c->t);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    rmq_peer_info_free(c->peer);
    c->peer = NULL;
    free(c->rate);
    rmq_buf_release(&c->in);
    rmq_buf_release(&c->out);
    if (!c->piped) { /* a split connection is counted once, by its IO side */
        atomic_fetch_sub(&c->l->conns, 1);
        atomic_fetch_sub(&w->net->total_conns, 1);
    }
    free(c);
}

void rmq_net_conn_close_matching(struct worker *w, struct close_req *req)
{
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->phase != PH_OPEN || !c->mc || !c->peer) {
            continue;
        }
        if (req->listener_ok && !req->listener_ok(c->l->ls)) {
            continue;
        }
        if (!req->match(c->peer, req->arg)) {
            continue;
        }
        rmq_mqtt_conn_close(c->mc, RMQ_CLOSE_REVOKED); /* the core logs and counts it */
    }
}

void rmq_net_conn_close_all(struct worker *w)
{
    /* Server shutting down: v5 clients get DISCONNECT 0x8B, one last write. */
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->phase == PH_OPEN && c->mc) {
            rmq_mqtt_conn_close(c->mc, RMQ_CLOSE_SHUTDOWN);
        }
    }
    while (w->conns) {
        struct conn *c = w->conns;
        if (c->out.len > c->out_off && c->phase != PH_HANDSHAKE) {
            size_t n;
            (void)c->t->ops->write(c->t, c->out.data + c->out_off, c->out.len - c->out_off, &n);
        }
        conn_destroy(c, "server shutting down");
    }
}

void rmq_net_conn_check_send_timeouts(struct worker *w)
{
    if (w->n_over == 0) {
        return;
    }
    int64_t now = rmq_now_ms();
    struct conn *next;
    for (struct conn *c = w->conns; c; c = next) {
        next = c->next;
        uint64_t limit = c->l->ls->send_timeout;
        if (!c->out_over || c->phase != PH_OPEN || !limit || now - c->over_since < (int64_t)limit) {
            continue;
        }
        RMQ_LOG_RL(10, RMQ_LOG_WARNING, "net",
                   "send timeout, closing slow subscriber client_id=%s addr=%s listener=%s "
                   "queued_bytes=%zu send_timeout_ms=%llu",
                   rmq_mqtt_conn_client_id(c->mc), c->addr, c->l->ls->id, out_pending(c),
                   (unsigned long long)limit);
        conn_destroy(c, "send timeout");
    }
}

/* ------------------------------------------------ max_conn_per_addr */

/* "listener/host" for the per-address table (the port is left out). */
static size_t addr_key(const struct conn *c, char *key, size_t cap)
{
    size_t host = strlen(c->addr);
    while (host > 0 && c->addr[host - 1] != ':') {
        host--;
    }
    host = host ? host - 1 : strlen(c->addr);
    int n = snprintf(key, cap, "%s/%.*s", c->l->ls->id, (int)host, c->addr);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static uintptr_t addr_count(struct worker *w, const char *key, size_t klen)
{
    return (uintptr_t)rmq_hmap_get(&w->per_addr, key, klen);
}

static bool addr_set(struct worker *w, const char *key, size_t klen, uintptr_t n)
{
    if (n == 0) {
        rmq_hmap_del(&w->per_addr, key, klen);
        return true;
    }
    return rmq_hmap_put(&w->per_addr, key, klen, (void *)n, NULL) == RMQ_OK;
}

/* Counts c against its address; false (c parked) when the address is at
 * the listener's max_conn_per_addr. */
static bool addr_admit(struct conn *c)
{
    uint64_t max = c->l->ls->max_conn_per_addr;
    if (max == 0 || max == UINT64_MAX) {
        return true;
    }
    char key[400];
    size_t klen = addr_key(c, key, sizeof key);
    uintptr_t n = addr_count(c->w, key, klen);
    if (n >= max) {
        RMQ_LOG_RL(10, RMQ_LOG_NOTICE, "net",
                   "connection waits, max_conn_per_addr reached listener=%s addr=%s "
                   "max_conn_per_addr=%llu",
                   c->l->ls->id, c->addr, (unsigned long long)max);
        c->addr_parked = true;
        c->w->n_parked++;
        return false;
    }
    if (!addr_set(c->w, key, klen, n + 1)) {
        return true; /* out of memory: not counted, not limited */
    }
    c->addr_counted = true;
    return true;
}

/* c closes: uncount it, and let the oldest connection parked for the same
 * address go on. */
static void addr_release(struct conn *c)
{
    struct worker *w = c->w;
    if (c->addr_parked) {
        c->addr_parked = false;
        w->n_parked--;
        return;
    }
    if (!c->addr_counted) {
        return;
    }
    c->addr_counted = false;
    char key[400];
    size_t klen = addr_key(c, key, sizeof key);
    uintptr_t n = addr_count(w, key, klen);
    (void)addr_set(w, key, klen, n ? n - 1 : 0);
    struct conn *oldest = NULL;
    for (struct conn *o = w->conns; o && w->n_parked; o = o->next) {
        char okey[400];
        if (o->addr_parked && o->l == c->l && addr_key(o, okey, sizeof okey) == klen &&
            memcmp(okey, key, klen) == 0) {
            oldest = o; /* the list is newest first: the last match is the oldest */
        }
    }
    if (oldest) {
        oldest->addr_parked = false;
        w->n_parked--;
        if (addr_admit(oldest)) {
            again_later(oldest); /* TLS may hold input already: read via the zero timer */
        }
    }
}
