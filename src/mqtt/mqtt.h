/*
 * mqtt.h — the MQTT core: sessions, the state machine of each MQTT
 * connection, routing, retained messages, wills. It turns decoded packets
 * into actions and encoded replies; it does no I/O and owns no event loop.
 *
 * Threading model (see also src/net/net.h): ALL MQTT state — the session
 * table, the router, the retained store, every struct rmq_mqtt_conn — is
 * owned by ONE thread, the "core" thread, which is worker 0 of the net layer.
 * Every function here must be called on that thread. Today the net layer's
 * other workers (node.workers - 1, net.h) only do TLS handshakes, then
 * hand the connection over, so every MQTT connection lives on worker 0 and
 * calls in directly. To spread MQTT connections over more workers, the plan
 * is that other workers keep sockets/TLS/framing and
 * forward complete frames to worker 0 by message, and worker 0 sends encoded
 * bytes back the same way (struct rmq_conn_io would then post instead of
 * append) — nothing in this module assumes the caller's thread owns the socket.
 *
 * The net layer gives each connection a struct rmq_conn_io (callbacks into
 * the net layer, called on the core thread):
 *   outbuf(net)  the connection's output buffer; the core appends encoded
 *                packets to it, then calls flush(net);
 *   flush(net)   start writing what the buffer holds;
 *   close(net)   write what is buffered, then close; NEVER frees synchronously:
 *                the net layer calls rmq_mqtt_conn_free later, from its own
 *                callback;
 *   connected(net, keepalive_ms)  CONNECT accepted: stop the CONNECT timer and
 *                enforce keep alive (ms without any inbound byte; 0 = none);
 *   hold_input(net, hold)  see below.
 *   pending(net) unwritten bytes in the output buffer (NULL: outbuf()->len);
 *   resume(net)  a publisher the core held (mqtt/flow.h) may be read again:
 *                the net layer feeds its buffered input and reads on, later,
 *                from its own callback (never from inside this call). NULL:
 *                the core never holds publishers of that connection.
 *
 * Backpressure (mqtt/flow.h): a message for a live subscriber whose output
 * is over rmq_mqtt_out_high_water() unwritten bytes, or whose queue is at
 * mqtt.max_mqueue_len, is still queued (QoS 0 too, unless
 * mqtt.mqueue_store_qos0 = false), and its publisher is held: the core stops
 * decoding its input (rmq_mqtt_conn_input returns early; rmq_mqtt_conn_held
 * is true) until the subscriber drains — the net layer reports that with
 * rmq_mqtt_conn_output_drained — or goes. The net layer bounds how long a
 * subscriber may hold others (listener tcp_options.send_timeout, net.h).
 *
 * Ownership: rmq_mqtt_new borrows the settings until rmq_mqtt_free.
 * A struct rmq_mqtt_conn is owned by the core; the net layer holds a handle
 * from rmq_mqtt_conn_new until it calls rmq_mqtt_conn_free.
 */
#ifndef RMQ_MQTT_H
#define RMQ_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "config/settings.h"
#include "common/peer_info.h"

struct rmq_mqtt;
struct rmq_mqtt_conn;

struct rmq_conn_io {
    struct rmq_buf *(*outbuf)(void *net);
    void (*flush)(void *net);
    void (*close)(void *net);
    void (*connected)(void *net, uint64_t keepalive_ms);
    /* May be NULL (passwords are then checked inline). hold = true: stop
     * reading from the connection (its CONNECT is being authenticated off the
     * core thread; bytes already read stay unconsumed); false: read again,
     * handing the kept bytes to rmq_mqtt_conn_input first, later, from the
     * net layer's own callback (never from within this call). */
    void (*hold_input)(void *net, bool hold);
    size_t (*pending)(void *net);
    void (*resume)(void *net);
};

struct rmq_mqtt_stats {
    uint64_t connections;  /* currently connected MQTT clients */
    uint64_t sessions;     /* sessions, connected or not */
    uint64_t messages_in;  /* PUBLISH received */
    uint64_t messages_out; /* PUBLISH sent */
    uint64_t dropped_queue_full;
    uint64_t dropped_expired;
    uint64_t dropped_too_large;
    uint64_t dropped_qos0_backpressure;
    /* QoS 1/2 PUBLISH not accepted: a persistent subscriber had no room
     * (mqtt.max_mqueue_len without a store, or the store's per-session bound). */
    uint64_t refused_queue_full;
};

/* NULL on OOM. `s` is borrowed until rmq_mqtt_free. */
struct rmq_mqtt *rmq_mqtt_new(const struct rmq_settings *s);
/* Every connection must have been freed first. NULL: no-op. */
void rmq_mqtt_free(struct rmq_mqtt *b);
/* Opens <node.data_dir>/store.db when durable_sessions.enable and restores
 * the sessions, subscriptions, queued/in-flight messages, retained messages
 * and delayed wills it holds (one log line with counts and time). Any
 * problem is logged and the broker runs from memory; never fails. Call once,
 * after rmq_mqtt_new, before connections. */
void rmq_mqtt_open_store(struct rmq_mqtt *b);
/* Group commit across connections: with a hook, the core asks for
 * fn(arg, 0) when writes or held acknowledgements wait, at most once until
 * the caller runs rmq_mqtt_commit — which it should do after the other
 * connections ready in the same event-loop turn (the net layer: an event made
 * active behind them). fn(arg, ms) asks for rmq_mqtt_commit in ms
 * milliseconds (durable_sessions.flush_delay); a later fn(arg, 0) may come
 * first. Without a hook the core commits at the end of each input. */
void rmq_mqtt_set_commit_hook(struct rmq_mqtt *b, void (*fn)(void *arg, uint64_t delay_ms),
                              void *arg);
/* Writes what must be durable, commits the store's open writes (one fsync)
 * and sends the acknowledgements that waited for them; or, when only young
 * deferred rows wait, asks the hook again for later. */
void rmq_mqtt_commit(struct rmq_mqtt *b);
/* Timers (will delay, session expiry); call every ~250 ms. */
void rmq_mqtt_tick(struct rmq_mqtt *b);
const struct rmq_mqtt_stats *rmq_mqtt_stats(const struct rmq_mqtt *b);
/* Over this many unwritten bytes in a connection's output buffer, its
 * publishers are held (or, with mqtt.mqueue_store_qos0 = false, QoS 0 to it
 * is dropped), and the net layer stops reading from it. */
size_t rmq_mqtt_out_high_water(const struct rmq_mqtt *b);

/* A new network connection (after any TLS handshake). `peer` and `addr` are
 * borrowed until rmq_mqtt_conn_free; a `peer` with a certificate must be a
 * kept copy (rmq_peer_info_keep): the principal made at CONNECT shares it
 * (rmq_peer_info_share) and may outlive the connection as a session owner.
 * NULL on OOM. */
struct rmq_mqtt_conn *rmq_mqtt_conn_new(struct rmq_mqtt *b, const struct rmq_conn_io *io, void *net,
                                        const struct rmq_peer_info *peer, const char *addr,
                                        const char *listener);

/* Decodes and handles every complete packet in buf[0..len); returns the bytes
 * consumed (the rest is an incomplete packet to keep). A packet over
 * mqtt.max_packet_size is refused from its fixed header alone (v5: DISCONNECT
 * 0x95; before CONNECT and v3: close). After the core decided to close, the
 * rest is ignored (everything is reported consumed). */
size_t rmq_mqtt_conn_input(struct rmq_mqtt_conn *mc, const uint8_t *buf, size_t len);

/* Why the server closes a connection. The caller (the net layer, the admin
 * API, revocation) says why; the core alone picks the v5 DISCONNECT reason,
 * the reason string, the log line and the counters (rmq_mqtt_conn_close). */
enum rmq_close_intent {
    RMQ_CLOSE_KEEPALIVE, /* keep alive expired: 0x8D */
    RMQ_CLOSE_REVOKED,   /* its client certificate was revoked: 0x98, logged, counted */
    RMQ_CLOSE_SHUTDOWN,  /* the server is shutting down: 0x8B */
    RMQ_CLOSE_ADMIN,     /* an operator kicked it: 0x98 */
    RMQ_CLOSE_TAKEOVER,  /* another connection took its session over: 0x8E */
};

/* Server-initiated disconnect for `why`: v5 DISCONNECT with the intent's
 * reason code, v3 close. The will is published (MQTT-3.1.2-8) except that the
 * caller of a revocation ends the owner's sessions separately. No-op on a
 * connection the core already closed. */
void rmq_mqtt_conn_close(struct rmq_mqtt_conn *mc, enum rmq_close_intent why);

/* The network connection is gone. If the core had not already closed it,
 * this is an abnormal disconnect (socket error, EOF without DISCONNECT, keep
 * alive timeout): the will is handled and the session detached. `why` is for
 * the log. Frees mc. */
void rmq_mqtt_conn_free(struct rmq_mqtt_conn *mc, const char *why);

struct rmq_authn;
struct rmq_principal;
/* The authentication chain CONNECTs are checked against (borrowed until
 * rmq_mqtt_free; NULL: none, every client is let in). Before connections. */
void rmq_mqtt_set_authn(struct rmq_mqtt *b, struct rmq_authn *a);
/* Finishes the CONNECTs whose password check is done (rmq_authn_poll); call
 * after the authenticator's notify hook fired. */
void rmq_mqtt_authn_poll(struct rmq_mqtt *b);

/*
 * Revocation: ends every session whose owner is a certificate principal for
 * which match(&ids, arg) is true (ids: rmq_principal_peer_ids), on whatever
 * listener it was made: a live connection gets v5 DISCONNECT 0x98
 * "certificate revoked" (3.1.x: close), the session, its subscriptions and
 * its queued messages are dropped, and one line per session is logged.
 * Returns how many sessions ended.
 */
size_t rmq_mqtt_end_sessions_matching(struct rmq_mqtt *b,
                                      bool (*match)(const struct rmq_peer_info *, void *arg),
                                      void *arg);

/* True while the core holds this connection as a publisher (do not read it
 * until io->resume). */
bool rmq_mqtt_conn_held(const struct rmq_mqtt_conn *mc);

/* The connection's unwritten output fell to half the high-water mark or
 * less after having been over it: publishers held for it may go on. */
void rmq_mqtt_conn_output_drained(struct rmq_mqtt_conn *mc);

/* PUBLISH packets decoded from this connection so far (for rate limits). */
uint64_t rmq_mqtt_conn_publishes_in(const struct rmq_mqtt_conn *mc);
/* rmq_mqtt_conn_input decodes at most n more PUBLISH packets (it stops after
 * the n-th; the rest is reported unconsumed); UINT64_MAX, the default, means
 * no limit. For the listener's messages_rate. */
void rmq_mqtt_conn_set_publish_budget(struct rmq_mqtt_conn *mc, uint64_t n);

/* The client id ("" before CONNECT); borrowed. */
const char *rmq_mqtt_conn_client_id(const struct rmq_mqtt_conn *mc);

#endif
