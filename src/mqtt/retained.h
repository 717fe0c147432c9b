/*
 * retained.h — the retained-message store: one message per topic name.
 *
 * A tree of topic levels (like the router's) so a wildcard subscription finds
 * its retained messages by walking only the matching branches. Messages are
 * refcounted (struct rmq_msg, msg.h): the store holds one reference per
 * stored message.
 *
 * Threads: not thread-safe; owned by the MQTT core thread.
 */
#ifndef RMQ_RETAINED_H
#define RMQ_RETAINED_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct rmq_msg;
struct rmq_retained;

struct rmq_retained *rmq_retained_new(void);
void rmq_retained_free(struct rmq_retained *r);

/* Stores msg (takes a new reference) under its topic, replacing what was
 * there; a message with an empty payload deletes the topic's entry instead
 * (MQTT-3.3.1-10). */
RMQ_MUST_USE rmq_err rmq_retained_set(struct rmq_retained *r, struct rmq_msg *msg);

/* Calls cb for each stored message whose topic matches `filter` (a valid,
 * non-shared filter). The message is borrowed for the call. */
void rmq_retained_match(struct rmq_retained *r, const char *filter, size_t len,
                        void (*cb)(struct rmq_msg *m, void *arg), void *arg);

size_t rmq_retained_count(const struct rmq_retained *r);

/* Whether a message is stored under this topic name. */
bool rmq_retained_has(struct rmq_retained *r, const char *topic, size_t len);

#endif
