/*
 * introspect.h — read-only views of the MQTT core for operators (admin API,
 * $SYS), plus the administrative kick.
 *
 * What it is not: a second way to change MQTT state. Besides kick, nothing
 * here modifies the broker; the views are copies made during the call.
 *
 * Threads: like everything in mqtt.h, these run on the CORE thread only
 * (src/admin gets there through rmq_net_run_on_core). Pointers inside the
 * structs handed to callbacks are borrowed for the duration of the callback.
 */
#ifndef RMQ_MQTT_INTROSPECT_H
#define RMQ_MQTT_INTROSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/principal.h"

#include "mqtt/mqtt.h"

struct rmq_client_view {
    const char *client_id;
    const char *username;              /* NULL: none */
    const char *addr;                  /* "ip:port", NULL when offline */
    const char *listener;              /* "tcp:default", NULL when offline */
    const struct rmq_peer_info *peer;  /* NULL when offline */
    const struct rmq_principal *owner; /* the session's owner (auth/principal.h); may be NULL */
    bool connected;
    uint8_t proto_ver; /* 3, 4, 5; 0 when offline */
    uint16_t keepalive;
    uint32_t expiry_interval; /* seconds; UINT32_MAX: never */
    size_t subscriptions;
    size_t inflight;
    size_t queued;
    uint64_t dropped;
};

/* Calls fn for every session (connected or not), in no particular order.
 * fn returns false to stop. */
void rmq_mqtt_each_client(struct rmq_mqtt *b,
                          bool (*fn)(const struct rmq_client_view *v, void *arg), void *arg);

/* fn for the session with this client id; false when there is none. */
bool rmq_mqtt_find_client(struct rmq_mqtt *b, const char *client_id,
                          void (*fn)(const struct rmq_client_view *v, void *arg), void *arg);

/* Calls fn for every subscription of every session; fn returns false to stop. */
void rmq_mqtt_each_subscription(struct rmq_mqtt *b,
                                bool (*fn)(const char *client_id, const char *filter, uint8_t qos,
                                           bool no_local, void *arg),
                                void *arg);

/* Disconnects the client (v5: DISCONNECT 0x98 "administrative action"; v3:
 * close; the will is published) and discards its session, as EMQX's
 * DELETE /clients/{id} does. False when no such client. */
bool rmq_mqtt_kick_client(struct rmq_mqtt *b, const char *client_id);

/* Connected clients per listener ("tcp:NAME" / "ssl:NAME"): fn(listener,
 * count) once per listener that has at least one. */
void rmq_mqtt_each_listener_count(struct rmq_mqtt *b,
                                  void (*fn)(const char *listener, uint64_t n, void *arg),
                                  void *arg);

/* Publishes a retained QoS 0 message from the broker itself (for $SYS):
 * stored as retained and routed like any PUBLISH. False on OOM. */
bool rmq_mqtt_publish_sys(struct rmq_mqtt *b, const char *topic, const char *payload);

/* Counts for /api/v5/stats. */
struct rmq_mqtt_counts {
    uint64_t sessions;
    uint64_t connections;
    uint64_t subscriptions;
    uint64_t retained;
};
void rmq_mqtt_counts(struct rmq_mqtt *b, struct rmq_mqtt_counts *out);

#endif
