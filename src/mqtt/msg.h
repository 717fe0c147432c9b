/*
 * msg.h — an application message as the broker keeps it: refcounted,
 * immutable once made, shared by every queue and store that holds it.
 *
 * One allocation holds the struct, the topic, the payload and the MQTT 5
 * properties that are passed through to subscribers (payload format, message
 * expiry, content type, response topic, correlation data, user properties).
 * Per-delivery things (QoS granted, packet id, subscription ids, topic alias,
 * DUP) are not here.
 *
 * Threads: refcount is not atomic; messages stay on the MQTT core thread.
 */
#ifndef RMQ_MSG_H
#define RMQ_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rmq_msg_bytes {
    const uint8_t *p; /* NULL = absent */
    size_t len;
};

struct rmq_msg {
    unsigned refs;
    char *topic; /* NUL-terminated for logs; topic_len bytes */
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    uint8_t qos;
    bool retain;
    bool has_payload_format;
    uint8_t payload_format;
    bool has_expiry;
    uint32_t expiry;   /* seconds, as received */
    int64_t expire_at; /* monotonic ms; valid when has_expiry */
    struct rmq_msg_bytes content_type;
    struct rmq_msg_bytes response_topic;
    struct rmq_msg_bytes correlation_data;
    /* User properties in MQTT 5 wire form (0x26 name value, ...), read with
     * rmq_user_prop_next (codec.h). In a template: any property run, of
     * which rmq_msg_new keeps only the user properties. */
    struct rmq_msg_bytes user_props;
    size_t n_user_props;
    const void *publisher; /* identity of the publishing session (no-local); never dereferenced */
};

/* Deep-copies `tmpl` (whose pointers are borrowed) into a new message with one
 * reference. expire_at is computed from tmpl->expiry and `now_ms`. NULL on OOM. */
struct rmq_msg *rmq_msg_new(const struct rmq_msg *tmpl, int64_t now_ms);
struct rmq_msg *rmq_msg_ref(struct rmq_msg *m);
void rmq_msg_unref(struct rmq_msg *m); /* NULL: no-op */

/* Monotonic milliseconds: rmq_clock_mono_ms() (common/clock.h), signed for
 * the core's deadline arithmetic. */
int64_t rmq_now_ms(void);

#endif
