/*
 * flow.h — backpressure between publishers and subscribers (issue 13).
 *
 * What it does: when a message is routed to a live subscriber that cannot
 * take more for now — its output holds more than the high-water mark
 * (rmq_mqtt_out_high_water) of unwritten bytes, or its session queue beyond
 * the in-flight window holds mqtt.max_mqueue_len messages — the message is
 * still queued for that subscriber (never dropped), and the publisher whose
 * PUBLISH it was is HELD: the core stops decoding its input after that packet
 * and the net layer stops reading its socket, until every subscriber it waits
 * for is back under its low-water mark (half the high-water mark; half of
 * max_mqueue_len), or gone. A fast publisher thus runs at the pace of its
 * slowest live subscriber, as one TCP connection would.
 *
 * Memory per subscriber stays bounded in bytes: the high-water mark plus at
 * most one packet per publisher that routes to it while it is over (that
 * publisher is held right after that packet).
 *
 * What it does not do: it never waits for offline sessions (beyond
 * max_mqueue_len a persistent session's QoS 1/2 messages are kept on disk
 * only, and where no durable place is left the PUBLISH is refused — see
 * session.c; their QoS 0 is dropped at the limit, counted and logged, and
 * not queued at all when mqtt.mqueue_store_qos0 = false), for wills
 * (no publisher to hold), or when `mqtt.mqueue_store_qos0 = false` for QoS 0
 * (then QoS 0 to a full subscriber is dropped, counted and logged, and the
 * publisher is not held). A subscriber that stops reading would hold its
 * publishers forever, and with them every other subscriber of those
 * publishers: the net layer closes a connection whose output stays over the
 * high-water mark for longer than the listener's `tcp_options.send_timeout`
 * (see net.h), which releases whoever waited for it.
 *
 * Threads: core thread only (see mqtt.h). Ownership: the wait lists are
 * owned by the connections (struct rmq_flow) and emptied by
 * rmq_flow_conn_gone before a connection is freed.
 */
#ifndef RMQ_MQTT_FLOW_H
#define RMQ_MQTT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rmq_mqtt;
struct rmq_mqtt_conn;
struct session;

/* Per connection, both roles, made at its first hold (NULL = nothing held, no waiters);
 * zero-initialised = empty. */
struct rmq_flow {
    struct rmq_mqtt_conn **waiters; /* publishers held for this subscriber (owned array) */
    struct rmq_mqtt_conn **holders; /* subscribers this publisher waits for (owned array) */
    uint32_t n_waiters;             /* 32-bit: one per connection (issue 18) */
    uint32_t a_waiters;
    uint32_t n_holders;
    uint32_t a_holders;
};

/* The publisher whose message route() (handle_publish.c) is delivering (NULL: none, e.g. a
 * will or a retained message); set around routing. */
void rmq_flow_set_publisher(struct rmq_mqtt *b, struct rmq_mqtt_conn *publisher);

/* Whether live subscriber s is over its bounds (output or queue). */
bool rmq_flow_full(const struct rmq_mqtt *b, const struct session *s);

/* s is full (rmq_flow_full) and a message of `qos` is for it: holds the
 * current publisher (if any) until s drains. Returns true if the message must
 * still be queued for s, false if it is to be dropped (QoS 0 with
 * mqtt.mqueue_store_qos0 = false). On out-of-memory the publisher is not held
 * and the message is still queued. */
bool rmq_flow_hold(struct rmq_mqtt *b, struct session *s, int qos);

/* s may have drained (output written, acknowledgements received): releases
 * the publishers held for it once it is under its low-water marks. */
void rmq_flow_check(struct rmq_mqtt *b, struct session *s);

/* True while the connection (as a publisher) is held: its input must not be
 * decoded further. */
bool rmq_flow_held(const struct rmq_mqtt_conn *mc);

/* The connection ends (either role): publishers held for it are released,
 * and it leaves the wait lists of the subscribers it waited for. Frees the
 * lists. */
void rmq_flow_conn_gone(struct rmq_mqtt_conn *mc);

#endif
