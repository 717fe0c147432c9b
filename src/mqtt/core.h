/*
 * core.h — internal structures of the MQTT core (mqtt.h), shared by
 * session.c, conn.c, handle_publish.c and handle_subscribe.c. Not a public
 * interface: nothing outside src/mqtt includes it.
 *
 * Threads: everything here lives on the core thread (see mqtt.h).
 */
#ifndef RMQ_MQTT_CORE_H
#define RMQ_MQTT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/acl.h"
#include "auth/authn.h"
#include "auth/principal.h"
#include "mqtt/mqtt.h"
#include "mqtt/codec.h"
#include "mqtt/flow.h"
#include "mqtt/hmap.h"
#include "mqtt/msg.h"
#include "mqtt/retained.h"
#include "mqtt/router.h"

enum delivery_state {
    D_WAIT_ACK,  /* sent, waiting for PUBACK (QoS 1) or PUBREC (QoS 2) */
    D_WAIT_COMP, /* PUBREL sent, waiting for PUBCOMP */
};

/* Subscription identifiers one delivery carries at most: the ids of one
 * session's overlapping subscriptions that match a topic (MQTT 5 3.3.4);
 * past this many the rest are not sent. A routing bound, not a codec cap. */
#define RMQ_CORE_MAX_SUB_IDS 64

/* One message on its way to one session: queued or in flight. */
struct delivery {
    struct delivery *next;
    struct rmq_msg *msg; /* owned reference */
    uint16_t pid;
    uint8_t qos;
    uint8_t state; /* enum delivery_state, when in flight */
    bool retain;
    int64_t sent_at; /* ms, last sent while in flight (mqtt.retry_interval) */
    uint64_t sseq;   /* its row in the store (persist.c); 0 = not stored */
    uint8_t n_sub_ids;
    uint32_t unw; /* 1 + its slot in rmq_mqtt.unw while its row is not yet written; 0 = none */
    uint32_t sub_ids[]; /* n_sub_ids */
};

struct dlist {
    struct delivery *head;
    struct delivery *tail;
    size_t count;
};

struct awaiting_rel {
    uint16_t pid;
    int64_t since; /* ms */
};

struct session {
    char *client_id; /* owned, NUL-terminated */
    size_t id_len;
    struct rmq_mqtt_conn *conn; /* NULL while offline */
    struct rmq_hmap subs;       /* filter -> struct rmq_sub_opts * (owned) */
    struct dlist inflight;      /* outgoing QoS 1/2, in send order */
    struct dlist queue;         /* outgoing QoS 1/2 waiting for a window slot */
    struct awaiting_rel *rel;   /* incoming QoS 2 received, PUBREL not yet */
    size_t n_rel;
    size_t a_rel;
    /* Offline timers: in the broker's pending list when either is set. */
    int64_t expire_at;     /* ms; 0 = none */
    struct rmq_msg *will;  /* delayed will (owned) */
    int64_t will_at;       /* ms */
    struct session *pnext; /* pending list */
    struct session *pprev;
    uint64_t match_gen; /* routing scratch */
    size_t match_idx;
    uint64_t dropped;
    struct rmq_principal *owner; /* owned: who created / last resumed it */
    /* Spilled: QoS 1/2 deliveries in the store only, beyond mqtt.max_mqueue_len,
     * every one queued after everything in memory (store rows with seq >
     * spill_after). While any are spilled, new QoS 1/2 messages are spilled
     * too (order, MQTT-4.6.0); rmq_session_pump reads them back a batch at a
     * time when the queue in memory is empty. */
    uint64_t spilled;
    uint64_t spill_after;
    /* The small fields together: one per session, no padding (issue 18). */
    uint32_t expiry_s; /* session expiry interval; UINT32_MAX = never */
    uint16_t next_pid;
    bool in_pending; /* in the broker's pending list (expire_at / will_at set) */
    bool persist;    /* kept in the store (persist.c) */
};

enum conn_state {
    CS_WAIT_CONNECT,
    CS_AUTHENTICATING, /* CONNECT received, its password being checked off-thread */
    CS_CONNECTED,
    CS_CLOSED, /* the core closed it; waiting for rmq_mqtt_conn_free */
    CS__COUNT
};

/* A v5 connection's topic aliases, both ways; most clients use none, so
 * they are made at the first one (issue 18: memory per idle connection). */
struct conn_aliases {
    struct rmq_hmap in;  /* inbound topic alias (2 bytes) -> char * "len:topic" */
    struct rmq_hmap out; /* outbound: topic -> alias (as uintptr_t), this connection */
};

struct rmq_mqtt_conn {
    struct rmq_mqtt *b;
    const struct rmq_conn_io *io;
    void *net;
    const struct rmq_peer_info *peer;
    const char *addr;
    const char *listener;
    struct session *session;
    char *username;                  /* owned, may be NULL */
    struct rmq_principal *principal; /* owned; set when CONNECT is accepted */
    /* CS_AUTHENTICATING: the CONNECT's bytes (owned), decoded again when the
     * check is done; the job (owned by the authenticator until done/cancel). */
    const uint8_t *in_raw; /* the packet being handled (borrowed, input loop) */
    size_t in_raw_len;
    uint8_t *connect_raw;
    size_t connect_raw_len;
    struct rmq_authn_job *authn_job;
    struct rmq_msg *will;
    struct conn_aliases *aliases; /* owned; made at the first topic alias (rmq_conn_aliases) */
    struct rmq_authz_client *acl; /* owned: authorization state, made at the first check */
    struct rmq_flow *flow;        /* owned; backpressure wait lists, made at the first hold */
    uint64_t publishes_in;        /* PUBLISH packets decoded (listener messages_rate) */
    uint64_t publish_budget;      /* more PUBLISH packets to decode; UINT64_MAX = no limit */
    /* The small fields together: one per connection, no padding (issue 18). */
    enum conn_state state;
    uint32_t will_delay;
    uint32_t client_max_packet; /* 0 = no limit */
    uint16_t keepalive;
    uint16_t client_receive_max;
    uint16_t client_alias_max; /* client's Topic Alias Maximum (v5 CONNECT) */
    uint16_t out_alias_next;   /* aliases 1..out_alias_next are in use */
    uint8_t version;
    bool authn_done; /* the chain let it in (USER); skip it when CONNECT is resumed */
    bool authn_superuser;
    bool expiry_was_zero; /* v5 CONNECT session expiry was 0 (MQTT-3.14.2-2) */
    bool ack_kept;        /* persist.c commit_release: an earlier ack of it stays held */
    bool problem_info;    /* v5 request problem information */
};

/* A routing target: one session, merged over its overlapping subscriptions. */
struct target {
    struct session *s;
    uint8_t qos;
    bool rap;
    bool shared;
    uint8_t n_sub_ids;
    uint32_t sub_ids[RMQ_CORE_MAX_SUB_IDS];
};

/* An acknowledgement held until the store committed (persist.c). */
struct held_ack {
    struct rmq_mqtt_conn *mc;
    uint8_t type;
    uint8_t reason;
    uint16_t pid;
    bool spilled; /* its message is on disk only for some session: refused if the commit fails */
    /* Numbers of its message's rows put off (rmq_mqtt.unw): [unw_lo, unw_hi). */
    uint64_t unw_lo, unw_hi;
};

/* A delivery whose row is reserved (seq) but not yet written (persist.c). */
struct unwritten {
    struct session *s;
    struct delivery *d; /* NULL: done or freed before it was written */
};

/* What routing one message did (route() in handle_publish.c). */
struct route_result {
    size_t matched;                /* sessions it was routed to */
    size_t refused;                /* persistent sessions that could not keep it */
    const struct session *refuser; /* the first of them (for the log), or NULL */
    bool spilled;                  /* on disk only for at least one session */
};

struct rmq_store;

struct rmq_mqtt {
    const struct rmq_settings *settings;
    const struct rmq_mqtt_settings *cfg;
    struct rmq_router *router;
    struct rmq_retained *retained;
    struct rmq_hmap sessions; /* client id -> struct session * */
    struct session *pending;  /* offline sessions with a timer */
    uint64_t match_gen;
    uint64_t assigned_seq;
    struct target *targets; /* routing scratch */
    size_t n_targets;
    size_t a_targets;
    size_t out_high_water;
    struct rmq_mqtt_conn *flow_pub; /* publisher being routed (flow.h), or NULL */
    struct rmq_mqtt_stats stats;
    uint64_t authz_gen;      /* rule generation the live subscriptions were last checked against */
    struct rmq_authn *authn; /* borrowed (rmq_mqtt_set_authn); NULL: no authentication */
    struct rmq_store *store; /* owned; NULL: nothing durable (persist.c) */
    struct held_ack *held;   /* acks waiting for the next commit, in arrival order */
    size_t n_held;
    size_t a_held;
    /* Deliveries to persistent sessions not yet written: written at the next
     * commit unless acknowledged (then never written) — persist.c. */
    struct unwritten *unw;
    size_t n_unw, a_unw;
    size_t live_unw;       /* entries with d != NULL */
    uint64_t unw_base;     /* number of slot 0 (slots are numbered for held-ack marks) */
    int64_t unw_since_ms;  /* when the oldest entry came */
    bool defer_rows;       /* routing a client's QoS 1 PUBLISH: rows may be put off */
    uint64_t route_unw_lo; /* number of the first row the last route put off */
    void (*commit_hook)(void *arg, uint64_t delay_ms); /* rmq_mqtt_set_commit_hook */
    void *commit_arg;
    bool commit_asked; /* commit_hook called, rmq_mqtt_commit not yet */
};

/* session.c */
struct session *rmq_session_find(struct rmq_mqtt *b, const char *id, size_t len);
struct session *rmq_session_create(struct rmq_mqtt *b, const char *id, size_t len);
void rmq_session_destroy(struct rmq_mqtt *b, struct session *s);
void rmq_session_pending_update(struct rmq_mqtt *b, struct session *s);
/* Queues or sends m to s. Returns false when s cannot keep a QoS 1/2
 * message: an offline session whose queue is at mqtt.max_mqueue_len with no
 * durable place for more (store off or failing) or at
 * durable_sessions.max_stored_messages_per_session. *spilled is set when the
 * message went to disk only. QoS 0 is never refused (dropped by policy). */
bool rmq_session_deliver(struct rmq_mqtt *b, struct session *s, struct rmq_msg *m, uint8_t qos,
                         bool retain, const uint32_t *sub_ids, uint8_t n_sub_ids, bool *spilled);
void rmq_session_pump(struct rmq_mqtt *b, struct session *s);
void rmq_session_resend(struct rmq_mqtt *b, struct session *s);
struct delivery *rmq_session_inflight_find(struct session *s, uint16_t pid);
void rmq_session_inflight_remove(struct rmq_mqtt *b, struct session *s, struct delivery *d);
void rmq_session_publish_will(struct rmq_mqtt *b, struct session *s);

/* Restores a stored delivery: in flight when it has a packet id, else queued. */
void rmq_session_restore_delivery(struct session *s, struct delivery *d);
bool rmq_session_rel_add(struct session *s, uint16_t pid, int64_t now);

/* persist.c: hooks into the store; each is a no-op unless the session persists. */
bool rmq_persist_on(const struct rmq_mqtt *b, const struct session *s);
/* Writes the session (after CONNECT, connected = true; at disconnect, false);
 * expiry 0 removes it. */
void rmq_persist_session(struct rmq_mqtt *b, struct session *s, bool connected);
void rmq_persist_session_gone(struct rmq_mqtt *b, struct session *s);
/* o NULL: the subscription was removed. */
void rmq_persist_sub(struct rmq_mqtt *b, struct session *s, const char *f, size_t len,
                     const struct rmq_sub_opts *o);
/* d queued or in flight for s: its row (seq reserved now, so the order is
 * kept) is written at the next commit that is not skipped, unless d is done
 * before (durable_sessions.flush_delay). */
void rmq_persist_delivery_add(struct rmq_mqtt *b, struct session *s, struct delivery *d);
/* Routing of one message begins: defer = its rows for connected subscribers
 * may be put off (a client's QoS 1 PUBLISH); the rows it puts off are then
 * the ones its rmq_persist_ack_publish waits for. */
void rmq_persist_route_begin(struct rmq_mqtt *b, bool defer);
/* d beyond the queue in memory: its row is written now (d->sseq, 0 if the
 * write failed). */
void rmq_persist_delivery_spill(struct rmq_mqtt *b, struct session *s, struct delivery *d);
/* d is being freed: forgets its unwritten row. */
void rmq_persist_delivery_forget(struct rmq_mqtt *b, struct delivery *d);
/* Reads the next spilled deliveries of s (up to mqtt.max_mqueue_len queued
 * ones) into its queue, in order. True if it consumed any (some may have
 * expired while on disk); s->spilled is kept exact. */
bool rmq_persist_refill(struct rmq_mqtt *b, struct session *s);
void rmq_persist_delivery_state(struct rmq_mqtt *b, struct session *s, struct delivery *d);
void rmq_persist_delivery_done(struct rmq_mqtt *b, struct session *s, struct delivery *d);
void rmq_persist_rel(struct rmq_mqtt *b, struct session *s, uint16_t pid, bool add);
/* s->will (NULL: none) as the session's delayed will. */
void rmq_persist_will(struct rmq_mqtt *b, struct session *s);
/* Retains m (limits retainer.*; logged refusal); false if not retained. */
bool rmq_persist_retain(struct rmq_mqtt *b, struct rmq_msg *m);
/* PUBACK / PUBREC / PUBREL / PUBCOMP: sent now, or held until the next commit when
 * writes (or earlier held acks) are pending. */
void rmq_persist_ack(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid,
                     uint8_t reason);
/* The PUBACK / PUBREC of a routed PUBLISH; spilled: the message is on disk
 * only for some session, so if the commit fails it is refused instead
 * (rmq_publish_refuse) — no copy of it is left in memory. */
void rmq_persist_ack_publish(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid,
                             uint8_t reason, bool spilled);
/* Writes the unwritten deliveries, commits (one fsync) and sends the held acks. */
void rmq_persist_flush(struct rmq_mqtt *b);
/* End of an input: commits now, or asks the commit hook for a commit soon. */
void rmq_persist_input_done(struct rmq_mqtt *b);
/* Forgets held acks of a connection being freed. */
void rmq_persist_conn_gone(struct rmq_mqtt *b, struct rmq_mqtt_conn *mc);

/* conn.c */
/* mc's topic aliases, made on first use; NULL: out of memory. */
struct conn_aliases *rmq_conn_aliases(struct rmq_mqtt_conn *mc);
void rmq_conn_send(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
void rmq_conn_send_ack(struct rmq_mqtt_conn *mc, enum rmq_pkt_type type, uint16_t pid,
                       uint8_t reason);
/* Leaves the connected state (close after flush, will, session detach). */
void rmq_conn_end(struct rmq_mqtt_conn *mc, bool send_will, const char *why);
/* Protocol error / server disconnect: v5 DISCONNECT(reason), v3 close; will sent. */
void rmq_conn_fail(struct rmq_mqtt_conn *mc, uint8_t reason, const char *what);
bool rmq_conn_send_publish(struct rmq_mqtt_conn *mc, const struct delivery *d, bool dup);

/* session_owner.c */
/* Whether principal p may take over / resume session s (mqtt.session_owner_only). */
bool rmq_session_owner_ok(const struct rmq_mqtt *b, const struct session *s,
                          const struct rmq_principal *p);
/* Makes p (copied) the owner of s; false on OOM (s unchanged). */
bool rmq_session_set_owner(struct session *s, const struct rmq_principal *p);

/* handle_connect.c */
/* The connection's pending password check was cancelled (it is being freed). */
void rmq_mqtt_conn_authn_cancelled(struct rmq_mqtt_conn *mc);

/* handle_publish.c */
/* A QoS 1/2 PUBLISH some persistent session could not keep: not accepted.
 * MQTT 5: PUBACK / PUBREC 0x97 Quota exceeded (no PUBREL state kept);
 * 3.1.1 (no negative ack): the connection is closed without the ack, after
 * the acks held before it are sent. Counted; the log line is the caller's. */
void rmq_publish_refuse(struct rmq_mqtt_conn *mc, uint8_t qos, uint16_t pid);
/* Publishes a will: stores it when retained, routes it. */
void rmq_publish_will_msg(struct rmq_mqtt *b, struct rmq_msg *m);
void rmq_handle_publish(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
void rmq_handle_puback(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
void rmq_handle_pubrec(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
void rmq_handle_pubrel(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
void rmq_handle_pubcomp(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
/* Makes a message from a PUBLISH / will (borrowed fields copied). NULL on OOM. */
struct rmq_msg *rmq_msg_from(const struct rmq_bytes *topic, const struct rmq_bytes *payload,
                             uint8_t qos, bool retain, const struct rmq_props *props,
                             const void *publisher);

/* conn_authz.c: authorization check points (allow all when no authorizer is installed). */
bool rmq_conn_authz_allowed(struct rmq_mqtt_conn *mc, enum rmq_acl_action action, const char *topic,
                            size_t len, uint8_t qos, bool retain);
/* A PUBLISH: true if allowed. If refused, *stop says the caller must return
 * now (refusal sent, QoS 0 dropped, or connection failed per deny_action);
 * otherwise (3.1.1 QoS 1/2) it acknowledges as usual without routing. */
bool rmq_conn_authz_publish(struct rmq_mqtt_conn *mc, const char *topic, size_t len, uint8_t qos,
                            bool retain, uint16_t pid, bool *stop);

/* Removes the session's subscriptions the rules no longer allow (logged). */
void rmq_conn_authz_recheck_subs(struct rmq_mqtt_conn *mc);
/* A delayed will, when its delay is over (the connection is gone): checked
 * against the rules in force then, as the session's owner. */
bool rmq_session_authz_will(const struct session *s, const struct rmq_msg *will);
/* After a rule reload: rechecks the subscriptions of every connected session. */
void rmq_conn_authz_tick(struct rmq_mqtt *b);

/* handle_subscribe.c */
void rmq_handle_subscribe(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);
void rmq_handle_unsubscribe(struct rmq_mqtt_conn *mc, const struct rmq_packet *p);

#endif
