/*
 * topic.h — MQTT topic names and topic filters: validation and matching.
 *
 * Pure functions over byte ranges (not NUL-terminated), no allocation, no
 * globals, callable from any thread. UTF-8 well-formedness is the codec's
 * job; here: levels, wildcards, `$`-topics, shared subscriptions.
 *
 * Rules (MQTT 5 §4.7, 3.1.1 §4.7):
 * - names and filters are at least one character (MQTT-4.7.3-1);
 * - names carry no wildcard (MQTT-3.3.2-2);
 * - `#` only as the last level, alone in it (MQTT-4.7.1-2);
 * - `+` alone in its level (MQTT-4.7.1-3);
 * - wildcards at the first level never match a topic starting with `$`
 *   (MQTT-4.7.2-1);
 * - `$share/<group>/<filter>`: group non-empty, no `/`, `+` or `#`, and a
 *   non-empty filter (MQTT 5 §4.8.2).
 */
#ifndef RMQ_TOPIC_H
#define RMQ_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* RMQ_OK or RMQ_ERR_INVALID. max_levels 0 = unlimited. */
RMQ_MUST_USE rmq_err rmq_topic_check_name(const char *t, size_t len, uint32_t max_levels);
RMQ_MUST_USE rmq_err rmq_topic_check_filter(const char *f, size_t len, uint32_t max_levels);

bool rmq_topic_has_wildcard(const char *f, size_t len);

/* Whether `topic` (a valid name) matches `filter` (a valid, non-shared filter). */
bool rmq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

struct rmq_topic_shared {
    bool is_shared;
    const char *group; /* borrowed from the input */
    size_t group_len;
    const char *filter; /* the real filter; the whole input when !is_shared */
    size_t filter_len;
};

/* Splits `$share/<group>/<filter>`; RMQ_ERR_INVALID for a malformed share. */
RMQ_MUST_USE rmq_err rmq_topic_split_shared(const char *f, size_t len,
                                            struct rmq_topic_shared *out);

#endif
