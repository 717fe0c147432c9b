/*
 * net_int.h — internal structures of src/net shared by net.c (listeners,
 * workers, mailboxes) and net_conn.c (connection lifecycle). Not public.
 */
#ifndef RMQ_NET_INT_H
#define RMQ_NET_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/buf.h"
#include "mqtt/mqtt.h"
#include "mqtt/hmap.h"
#include "net/net.h"
#include "net/transport.h"

/* A token bucket (ratelimit.c). rate: units per 1000 s; 0 or UINT64_MAX =
 * no limit. Every function takes NULL as "no limit" (a connection on a
 * listener without messages_rate / bytes_rate has no buckets). */
struct rmq_net_bucket {
    uint64_t rate;
    int64_t tokens; /* milli-units; negative = debt */
    int64_t cap;    /* milli-units */
    int64_t last_ms;
};

struct listener {
    struct rmq_net *net;
    const struct rmq_listener_settings *ls;
    bool has_factory;
    struct rmq_transport_factory factory;
    uint64_t handshake_timeout_ms;
    int fd;
    struct event *ev;
    struct event *retry_ev;          /* re-enables ev after accept ran out of descriptors */
    bool starved;                    /* in an out-of-descriptors episode (logged once) */
    uint64_t refused;                /* connections left in the backlog during the episode */
    struct rmq_net_bucket conn_rate; /* max_conn_rate (main thread) */
    char bind_str[300];
    uint16_t port;              /* actually bound */
    atomic_uint_fast64_t conns; /* open connections; accept on main, close on workers */
};

enum mail_type {
    MAIL_ACCEPT,
    MAIL_ADOPT,
    MAIL_RELAY, /* to a handshake worker: a connection handshaken on worker 0, to be split there */
    MAIL_WAKE,
    MAIL_CLOSE_MATCHING,
    MAIL_END_SESSIONS, /* core worker: sessions owned by matching certificates */
    MAIL_AUTHN_DONE,   /* core worker: password checks are done (rmq_authn_poll) */
    /* A split connection (struct pipe): to the core worker */
    MAIL_PIPE_IN,       /* input bytes read by the IO side */
    MAIL_PIPE_EOF,      /* the IO side ended (why) */
    MAIL_PIPE_WRITABLE, /* the IO side has room for output again */
    /* ... and to the IO side's worker */
    MAIL_PIPE_OUT,    /* output bytes to write */
    MAIL_PIPE_CLOSE,  /* write what is buffered, then close */
    MAIL_PIPE_RESUME, /* the core has room for input again */
    MAIL_STOP
};

struct close_req {
    bool (*listener_ok)(const struct rmq_listener_settings *ls); /* NULL: all */
    bool (*match)(const struct rmq_peer_info *, void *);
    void *arg;
    void (*arg_free)(void *);
    atomic_int refs; /* one per worker */
};

struct mail {
    struct mail *next;
    enum mail_type type;
    int fd;
    struct listener *l;
    uint64_t conn_id;
    struct close_req *req;
    struct conn *conn; /* MAIL_ADOPT / _RELAY: a connection whose handshake is done */
    struct pipe *pipe; /* MAIL_PIPE_*: holds one reference */
    const char *why;   /* MAIL_PIPE_EOF: a static string */
    size_t len;        /* bytes in data: MAIL_PIPE_IN / _OUT, MAIL_ACCEPT (the address) */
    uint8_t data[];
};

/* MAIL_ACCEPT's data: the client's "host:port", NUL-terminated. */
#define MAIL_ADDR_LEN 64

/* PH_RELAY: the IO side of a split connection (struct pipe): it only moves
 * bytes between its socket and the core worker. */
enum conn_phase { PH_HANDSHAKE, PH_OPEN, PH_RELAY, PH_CLOSING };

/*
 * A split connection (issue 16). A TLS connection whose handshake ends on a
 * handshake worker stays there for its socket and TLS records (the IO side:
 * a struct conn in PH_RELAY), and its MQTT connection lives on worker 0 as a
 * struct conn whose transport is this pipe (the core side, pipe.c). Bytes
 * cross by mail, in order (one mailbox per worker, FIFO). Each side touches
 * only its own fields; the counters are the bytes in flight each way and
 * bound them:
 * - input: the IO side stops reading its socket while in_flight is at
 *   PIPE_IN_WINDOW (io_stopped); the core side's read, taking bytes below
 *   half of it, sends MAIL_PIPE_RESUME. A publisher the core holds
 *   (mqtt/flow.h) is not read by the core side, so its socket stops too.
 * - output: the core side's write takes bytes while out_flight is below
 *   PIPE_OUT_WINDOW, else says WANT_WRITE (core_blocked) and its output
 *   stays in its own buffer, where the high-water mark, held publishers and
 *   the send timeout see it as today; the IO side, writing below half,
 *   sends MAIL_PIPE_WRITABLE.
 * Lifetime: one reference per side and per mail in flight. io_gone is set by
 * the IO side when its connection ends (before its last mail); after it
 * nothing is posted to the IO side's worker (at shutdown that worker may be
 * gone).
 */
#define PIPE_IN_WINDOW (128 * 1024)
#define PIPE_OUT_WINDOW (64 * 1024)

struct pipe {
    struct rmq_transport t; /* the core side's transport; first member */
    atomic_int refs;
    struct worker *io;   /* the IO side's worker */
    struct worker *core; /* worker 0 */
    atomic_size_t in_flight;
    atomic_size_t out_flight;
    atomic_bool io_stopped;
    atomic_bool core_blocked;
    atomic_bool io_gone;
    struct conn *io_conn;   /* IO worker only; NULL once that side ended */
    struct conn *core_conn; /* core worker only; NULL until adopted and once ended */
    /* Core worker only: input mails not read yet, how the IO side ended. */
    struct mail *in_head, *in_tail;
    size_t in_off; /* bytes of in_head already read */
    bool eof;
    bool close_sent;
    const char *why;
    /* Made with the pipe, so that each side's end reaches the other even
     * out of memory: the IO side posts eof_mail, the core side close_mail;
     * one never posted is freed with the pipe. */
    struct mail *eof_mail;
    struct mail *close_mail;
};

/* Connection timeouts (handshake, CONNECT, keep alive, close linger) are one
 * timer wheel per worker instead of one libevent timer per connection (128 B
 * each, issue 18): NET_TW_SLOTS circular lists, slot = deadline in
 * NET_TW_MS ticks, one worker event walking the slots that came due. A
 * timeout fires at most NET_TW_MS late. */
#define NET_TW_MS 50
#define NET_TW_SLOTS 256

struct tw_link {
    struct tw_link *prev, *next; /* NULL when not linked */
};

/* A connection's messages_rate / bytes_rate state, made only when its
 * listener sets one: an idle connection without limits keeps none. */
struct conn_rate {
    struct rmq_net_bucket msg;
    struct rmq_net_bucket bytes;
    uint64_t pubs_seen; /* PUBLISH packets already charged to msg */
};

struct conn {
    struct conn *next; /* worker's list */
    struct conn *prev;
    struct worker *w;
    struct listener *l;
    uint64_t id;
    struct rmq_transport *t;
    struct event *rev;
    struct event *wev;
    struct tw_link tw; /* in a worker wheel slot while a timeout is armed */
    /* The deadline (rmq_clock_mono_ms) of its one timeout: handshake,
     * CONNECT, keep alive or close linger. */
    int64_t tw_due;
    struct event *again;     /* more work after the next poll / a wait; NULL until first needed */
    struct conn *flush_next; /* worker's flush list (output to write at the end of the turn) */
    struct conn *flush_prev;
    struct rmq_buf in;
    struct rmq_buf out;
    size_t out_off;             /* bytes of `out` already written */
    struct rmq_peer_info *peer; /* owned; NULL without a client certificate (TCP too) */
    struct pipe *pipe;          /* PH_RELAY (and closing after it): the split connection */
    struct rmq_mqtt_conn *mc;
    uint64_t keepalive_ms;
    struct conn_rate *rate; /* owned; NULL when the listener limits neither rate */
    int64_t over_since;     /* when out_over was set (ms) */
    int fd;
    enum conn_phase phase;
    /* The flags together, one bit each (issue 18). */
    bool flush_queued : 1;     /* on the worker's flush list */
    bool mqtt_connected : 1;   /* CONNECT accepted: the timer is the keep alive */
    bool read_paused : 1;      /* output over the high-water mark */
    bool core_hold : 1;        /* the core holds input (CONNECT being authenticated) */
    bool refeed : 1;           /* hand kept input to the core on the next read event */
    bool read_wants_write : 1; /* TLS: a read needs the socket writable */
    bool write_wants_read : 1; /* TLS: a write needs the socket readable */
    bool suspended : 1;        /* handshake waits for wake */
    bool proxy_pending : 1;    /* PROXY protocol header not read yet */
    bool flow_held : 1;        /* the core holds this publisher (mqtt/flow.h) */
    bool rate_paused : 1;      /* over messages_rate / bytes_rate: read after the wait */
    bool addr_parked : 1;      /* over max_conn_per_addr: not read until another closes */
    bool addr_counted : 1;     /* counted in the worker's per-address table */
    bool hs_counted : 1;       /* counted in w->handshakes (a TLS handshake not ended) */
    bool piped : 1;            /* the core side of a split connection (transport: struct pipe) */
    bool relay_stopped : 1;    /* PH_RELAY: not read until MAIL_PIPE_RESUME (input window full) */
    bool out_over : 1; /* unwritten output went over the high-water mark at over_since and has not
                      drained to half since */
    char addr[64];
};

struct worker {
    struct rmq_net *net;
    int idx;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct event *mail_ev;
    struct event *tick_ev;   /* worker 0: the MQTT core tick */
    struct event *commit_ev; /* worker 0: the store's group commit, end of a loop turn */
    /* Output is written without a poll round-trip: io_flush puts the
     * connection on flush_head and activates flush_ev (no poll in between),
     * whose callback writes every listed connection once, after the
     * callbacks of this turn that were already active (so one write carries
     * all the packets the turn produced). The write event is armed only when
     * a write would block (EAGAIN, partial write, TLS WANT_WRITE). */
    struct event *flush_ev;
    struct conn *flush_head;
    struct event *tw_ev;                   /* every NET_TW_MS while tw_count > 0 */
    struct tw_link tw_slots[NET_TW_SLOTS]; /* sentinels of the wheel's slots */
    struct tw_link tw_fire;                /* sentinel: the slot being fired */
    int64_t tw_next_tick;                  /* first tick not walked yet */
    size_t tw_count;                       /* connections linked in the wheel */
    pthread_mutex_t mu;                    /* protects mail_head/mail_tail */
    struct mail *mail_head;
    struct mail *mail_tail;
    struct conn *conns;
    size_t n_over;            /* connections with out_over set */
    size_t n_parked;          /* connections with addr_parked set */
    struct rmq_hmap per_addr; /* "listener/host" -> open MQTT connections (uintptr_t) */
    uint64_t next_id;
    /* TLS handshakes given to this worker and not ended yet (in its mailbox,
     * running or suspended): the accept thread adds, the worker subtracts
     * when the handshake ends; rmq_net accept picks the worker with fewest. */
    atomic_uint handshakes;
    /* Split connections whose IO side is on this worker (struct pipe). */
    atomic_uint relays;
    struct rmq_mqtt *core;  /* worker 0 only */
    uint8_t scratch[16384]; /* read buffer shared by this worker's connections */
};

struct rmq_net {
    const struct rmq_settings *s;
    struct event_base *main_base;
    struct listener *listeners;
    size_t n_listeners;
    size_t a_listeners;
    struct worker *workers; /* n_workers; [0] is the core worker */
    int n_workers;
    size_t rr;
    atomic_uint_fast64_t total_conns;
    struct rmq_authn *authn; /* borrowed (rmq_net_set_authn); its notify hook points here */
};

/* pipe.c: a pipe between io (a handshake worker) and core (worker 0), two
 * references (the two sides); NULL when out of memory. */
struct pipe *rmq_net_pipe_new(struct worker *io, struct worker *core);
void rmq_net_pipe_unref(struct pipe *p);
/* Posts the pipe's own end mail (eof_mail: MAIL_PIPE_EOF with why, to the
 * core side; close_mail: MAIL_PIPE_CLOSE, to the IO side), at most once. */
void rmq_net_pipe_post_end(struct pipe *p, bool eof, const char *why);
/* Posts a MAIL_PIPE_* mail of len bytes to w (taking a reference); false
 * when out of memory. */
bool rmq_net_pipe_post(struct pipe *p, struct worker *w, enum mail_type type, const uint8_t *data,
                       size_t len, const char *why);
/* Core worker: a MAIL_PIPE_IN / _EOF / _WRITABLE arrived; true if the mail
 * was kept (queued input), else the caller frees it. */
bool rmq_net_pipe_core_mail(struct mail *m);
/* Whether the core side has input or an end to read. */
bool rmq_net_pipe_readable(const struct pipe *p);
/* Any worker: a mail left in a mailbox at shutdown. */
void rmq_net_pipe_mail_drop(struct mail *m);

/* ratelimit.c */
void rmq_net_bucket_init(struct rmq_net_bucket *b, uint64_t rate, uint64_t min_burst,
                         int64_t now_ms);
bool rmq_net_bucket_limited(const struct rmq_net_bucket *b);
/* Whole units that may be spent now (UINT64_MAX: no limit). */
uint64_t rmq_net_bucket_available(struct rmq_net_bucket *b, int64_t now_ms);
/* 0 if a unit may be spent now, else the ms until one may. */
uint64_t rmq_net_bucket_wait_ms(struct rmq_net_bucket *b, int64_t now_ms);
void rmq_net_bucket_spend(struct rmq_net_bucket *b, uint64_t units);

/* net.c */
void rmq_net_post(struct worker *w, struct mail *m);

/* net_conn.c */
void rmq_net_conn_accept(struct worker *w, struct mail *m);
void rmq_net_conn_adopt(struct worker *w, struct conn *c);
void rmq_net_conn_relay(struct worker *w, struct conn *c);
void rmq_net_conn_discard(struct conn *c);
/* IO worker: a MAIL_PIPE_OUT / _CLOSE / _RESUME arrived (the caller frees it). */
void rmq_net_conn_pipe_mail(struct worker *w, struct mail *m);
/* Core worker: the core side may read (input or an end arrived) / write again. */
void rmq_net_conn_pipe_readable(struct conn *c);
void rmq_net_conn_pipe_writable(struct conn *c);
void rmq_net_conn_wake(struct worker *w, uint64_t id);
void rmq_net_conn_close_matching(struct worker *w, struct close_req *req);
void rmq_net_conn_close_all(struct worker *w);
/* Worker 0, from its tick: closes connections over the high-water mark for
 * longer than their listener's tcp_options.send_timeout. */
void rmq_net_conn_check_send_timeouts(struct worker *w);
/* flush_ev's callback: writes the output of every connection on the
 * worker's flush list. */
void rmq_net_conn_flush_cb(evutil_socket_t fd, short what, void *arg);
/* The connection's timeout came (timer_wheel.c calls it, unlinked). */
void rmq_net_conn_timeout(struct conn *c);

/* timer_wheel.c: set up a worker's wheel (slots empty, tw_ev made); arm c's
 * one timeout ms from now, replacing any (0: disarm; c->w is its worker);
 * tw_ev's callback. */
rmq_err rmq_net_tw_init(struct worker *w);
void rmq_net_tw_set(struct conn *c, uint64_t ms);
void rmq_net_tw_cb(evutil_socket_t fd, short what, void *arg);

#endif
