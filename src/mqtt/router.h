/*
 * router.h — the subscription tree: topic filter -> subscribers.
 *
 * One node per topic level, children in a hash map, `+` and `#` as ordinary
 * children with special meaning at match time. A node holds the plain
 * subscriptions on its filter (one per subscriber, keyed by the subscriber
 * pointer) and the shared-subscription groups (`$share/<group>/<filter>`),
 * each delivering a message to ONE member (round robin, preferring members
 * for which `online()` is true).
 *
 * What it is not: it does not merge overlapping subscriptions of one
 * subscriber (the caller does: deliver once at the maximum QoS), it knows
 * nothing of sessions or packets. Subscribers are opaque borrowed pointers.
 *
 * Threads: not thread-safe; owned by the MQTT core thread.
 */
#ifndef RMQ_ROUTER_H
#define RMQ_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rmq_sub_opts {
    uint8_t qos;   /* granted QoS 0..2 */
    bool no_local; /* MQTT 5 */
    bool retain_as_published;
    uint8_t retain_handling; /* 0..2 */
    uint32_t sub_id;         /* MQTT 5 subscription identifier; 0 = none */
};

struct rmq_router;

struct rmq_router *rmq_router_new(bool (*online)(void *subscriber));
void rmq_router_free(struct rmq_router *r);

/* Adds or replaces `subscriber`'s subscription on `filter` (a valid filter,
 * possibly `$share/g/f`). *existed (may be NULL) tells whether it replaced. */
RMQ_MUST_USE rmq_err rmq_router_add(struct rmq_router *r, const char *filter, size_t len,
                                    void *subscriber, const struct rmq_sub_opts *opts,
                                    bool *existed);

/* Removes it; false if there was no such subscription. */
bool rmq_router_remove(struct rmq_router *r, const char *filter, size_t len, void *subscriber);

typedef void (*rmq_router_cb)(void *subscriber, const struct rmq_sub_opts *opts, bool shared,
                              void *arg);

/* Calls cb for each subscription matching `topic` (a valid name); for a
 * shared group, once, for the chosen member. cb must not change the router. */
void rmq_router_match(struct rmq_router *r, const char *topic, size_t len, rmq_router_cb cb,
                      void *arg);

/* Number of subscriptions (plain + shared members). */
size_t rmq_router_count(const struct rmq_router *r);

#endif
