/*
 * store.h — durable broker state in one SQLite database (WAL mode) under
 * node.data_dir: persistent sessions (expiry, owner principal), their
 * subscriptions, their queued and in-flight QoS 1/2 deliveries, incoming
 * QoS 2 packet ids awaiting PUBREL, retained messages, delayed wills.
 *
 * What it is not: it knows nothing of MQTT structures (src/mqtt/persist.c
 * converts); it never decides what is persistent. It does no I/O but
 * SQLite's.
 *
 * Group commit: every write goes into one open transaction, begun by the
 * first write after a commit; rmq_store_commit() ends it with one fsync
 * (synchronous=FULL in WAL mode) for however many writes it holds. The
 * caller sends the acknowledgements it held only after a commit returned.
 *
 * Failure: a write or commit error (disk full, read-only file, I/O error)
 * rolls the open transaction back, logs one error line naming what is no
 * longer guaranteed, and leaves the store "degraded": later writes are
 * tried again (a freed disk recovers), but until a commit succeeds the
 * broker's acknowledgements are not durable. A database that does not open
 * or fails its integrity check is renamed aside ("store.db.corrupt-<unix
 * time>", with its -wal) and a fresh one is made; never a crash.
 *
 * Times are wall-clock milliseconds since the epoch (monotonic clocks do
 * not survive a restart); 0 means none.
 *
 * Threads: one store belongs to one thread (the MQTT core); no locks.
 */
#ifndef RMQ_STORE_H
#define RMQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rmq_store;

/* A message as stored; every pointer borrowed for the call. */
struct rmq_store_msg {
    const uint8_t *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    uint8_t qos;
    bool retain;
    const uint8_t *props; /* opaque blob (mqtt/persist.c), may be NULL */
    size_t props_len;
    int64_t expire_at; /* wall ms; 0 = never */
};

/* A session as stored; owner is an opaque blob (mqtt/persist.c). */
struct rmq_store_session {
    const char *client_id;
    size_t id_len;
    uint32_t expiry_s;    /* UINT32_MAX = never */
    int64_t disconnected; /* wall ms the client left; 0 = was connected */
    const uint8_t *owner; /* may be NULL: no owner */
    size_t owner_len;
};

struct rmq_store_delivery {
    uint64_t seq; /* row id (set by rmq_store_delivery_add; given on load) */
    uint16_t pid; /* 0: queued, not yet sent */
    uint8_t qos;
    uint8_t state; /* 0 = wait ack, 1 = wait PUBCOMP */
    bool retain;
    const uint32_t *sub_ids;
    uint8_t n_sub_ids;
    struct rmq_store_msg msg;
};

/* Opens (creating) <dir>/store.db. A corrupt file is set aside and a fresh
 * one made (logged). *out owned by the caller (rmq_store_free). Fails only if
 * no usable database can be had at all (directory missing, not writable). */
RMQ_MUST_USE rmq_err rmq_store_open(const char *dir, struct rmq_store **out);
/* Commits what is open first. NULL: no-op. */
void rmq_store_free(struct rmq_store *st);

/* Writes: queued in the open transaction. Errors are reported by
 * rmq_store_commit (and logged), never here. */
void rmq_store_session_put(struct rmq_store *st, const struct rmq_store_session *s);
/* Deletes the session and everything it owns (subs, deliveries, PUBREL ids, will). */
void rmq_store_session_del(struct rmq_store *st, const char *id, size_t len);
void rmq_store_sub_put(struct rmq_store *st, const char *id, size_t len, const char *filter,
                       size_t flen, uint8_t qos, uint8_t flags, uint32_t sub_id);
void rmq_store_sub_del(struct rmq_store *st, const char *id, size_t len, const char *filter,
                       size_t flen);
/* Returns the new row's seq (0 on error): increasing, never handed out twice
 * by one open store, even when the transaction holding it is rolled back. */
uint64_t rmq_store_delivery_add(struct rmq_store *st, const char *id, size_t len,
                                const struct rmq_store_delivery *d);
/* A seq handed out now for a row written later with rmq_store_delivery_put
 * (or never): rows keep the order of their reservations. */
uint64_t rmq_store_seq_reserve(struct rmq_store *st);
/* Writes the row with a seq from rmq_store_seq_reserve; false on error. */
RMQ_MUST_USE bool rmq_store_delivery_put(struct rmq_store *st, uint64_t seq, const char *id,
                                         size_t len, const struct rmq_store_delivery *d);
void rmq_store_delivery_update(struct rmq_store *st, uint64_t seq, uint16_t pid, uint8_t state);
void rmq_store_delivery_del(struct rmq_store *st, uint64_t seq);
void rmq_store_rel_put(struct rmq_store *st, const char *id, size_t len, uint16_t pid);
void rmq_store_rel_del(struct rmq_store *st, const char *id, size_t len, uint16_t pid);
/* Replaces the topic's retained message. */
void rmq_store_retained_put(struct rmq_store *st, const struct rmq_store_msg *m);
void rmq_store_retained_del(struct rmq_store *st, const uint8_t *topic, size_t len);
void rmq_store_will_put(struct rmq_store *st, const char *id, size_t len,
                        const struct rmq_store_msg *m, int64_t will_at);
void rmq_store_will_del(struct rmq_store *st, const char *id, size_t len);

/* True while a transaction holds writes not yet committed. */
bool rmq_store_dirty(const struct rmq_store *st);
/* Commits the open transaction (one fsync). On error: rolled back, logged,
 * store degraded; RMQ_ERR_IO returned. No-op when nothing is open. */
RMQ_MUST_USE rmq_err rmq_store_commit(struct rmq_store *st);
/* Commits done (each one fsync) and writes committed, for logs and tests. */
void rmq_store_counts(const struct rmq_store *st, uint64_t *commits, uint64_t *writes);

/* Load: callbacks called in this order — sessions, subs, deliveries (in
 * seq order per session), PUBREL ids, retained, wills. Borrowed data valid
 * for the call. A callback may be NULL. */
struct rmq_store_loader {
    void *arg;
    void (*session)(void *arg, const struct rmq_store_session *s);
    void (*sub)(void *arg, const char *id, size_t len, const char *filter, size_t flen, uint8_t qos,
                uint8_t flags, uint32_t sub_id);
    void (*delivery)(void *arg, const char *id, size_t len, const struct rmq_store_delivery *d);
    void (*rel)(void *arg, const char *id, size_t len, uint16_t pid);
    void (*retained)(void *arg, const struct rmq_store_msg *m);
    void (*will)(void *arg, const char *id, size_t len, const struct rmq_store_msg *m,
                 int64_t will_at);
    /* May be NULL. Asked first for each delivery row, before the row is
     * decoded: true = the caller only counts it (delivery is not called), so a
     * row left on disk costs no decoding. */
    bool (*delivery_skip)(void *arg, const char *id, size_t len, uint64_t seq, uint16_t pid);
};
/* Deletes the queued and in-flight messages whose expiry has passed (in the
 * open transaction); returns how many. Call before rmq_store_load. */
uint64_t rmq_store_drop_expired(struct rmq_store *st);
RMQ_MUST_USE rmq_err rmq_store_load(struct rmq_store *st, const struct rmq_store_loader *l);

/* One session's deliveries with seq > after, in seq order (the order they
 * were queued), including writes not yet committed: fn is called for each
 * until it returns false (that row is then left where it is). Borrowed data
 * valid for the call; fn must not write to the store. Used to load a
 * session's queue a batch at a time (what is beyond mqtt.max_mqueue_len stays
 * on disk only: mqtt/persist.c). RMQ_ERR_DB (logged) on a read error. */
RMQ_MUST_USE rmq_err
rmq_store_session_deliveries(struct rmq_store *st, const char *id, size_t len, uint64_t after,
                             bool (*fn)(void *arg, const struct rmq_store_delivery *d), void *arg);
/* How many deliveries of the session have seq > after (0 on a read error). */
uint64_t rmq_store_session_deliveries_count(struct rmq_store *st, const char *id, size_t len,
                                            uint64_t after);

/* Rows in the sessions and deliveries tables (0 on a read error). */
void rmq_store_row_counts(struct rmq_store *st, uint64_t *sessions, uint64_t *deliveries);

/* Wall clock, ms since the epoch. */
int64_t rmq_store_wall_ms(void);

#endif
