/*
 * codec_equal.c — deep equality of packets (see rmq_codec_packet_equal in
 * codec.h). Used by the unit tests and the fuzz target to check that
 * decode -> encode -> decode is stable.
 */
#include <string.h>

#include "mqtt/codec.h"

static bool beq(struct rmq_bytes a, struct rmq_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The lists are compared element by element through their iterators (the
 * counts are derived from them); a list that does not iterate is unequal. */
static bool user_props_eq(struct rmq_bytes a, struct rmq_bytes b)
{
    struct rmq_iter ia = rmq_iter_of(a), ib = rmq_iter_of(b);
    struct rmq_user_prop x, y;
    for (;;) {
        rmq_err ea = rmq_user_prop_next(&ia, &x), eb = rmq_user_prop_next(&ib, &y);
        if (ea != eb || (ea != RMQ_OK && ea != RMQ_ERR_EOF)) {
            return false;
        }
        if (ea == RMQ_ERR_EOF) {
            return true;
        }
        if (!beq(x.name, y.name) || !beq(x.value, y.value)) {
            return false;
        }
    }
}

static bool sub_ids_eq(struct rmq_bytes a, struct rmq_bytes b)
{
    struct rmq_iter ia = rmq_iter_of(a), ib = rmq_iter_of(b);
    uint32_t x = 0, y = 0;
    for (;;) {
        rmq_err ea = rmq_sub_id_next(&ia, &x), eb = rmq_sub_id_next(&ib, &y);
        if (ea != eb || (ea != RMQ_OK && ea != RMQ_ERR_EOF)) {
            return false;
        }
        if (ea == RMQ_ERR_EOF) {
            return true;
        }
        if (x != y) {
            return false;
        }
    }
}

static bool props_eq(const struct rmq_props *a, const struct rmq_props *b)
{
    if (a->has != b->has) {
        return false;
    }
#define INT_EQ(id, f)                                                                              \
    if (rmq_props_has(a, RMQ_PROP_##id) && a->f != b->f) {                                         \
        return false;                                                                              \
    }
#define BYTES_EQ(id, f)                                                                            \
    if (rmq_props_has(a, RMQ_PROP_##id) && !beq(a->f, b->f)) {                                     \
        return false;                                                                              \
    }
    INT_EQ(PAYLOAD_FORMAT, payload_format)
    INT_EQ(MESSAGE_EXPIRY, message_expiry)
    BYTES_EQ(CONTENT_TYPE, content_type)
    BYTES_EQ(RESPONSE_TOPIC, response_topic)
    BYTES_EQ(CORRELATION_DATA, correlation_data)
    INT_EQ(SESSION_EXPIRY, session_expiry)
    BYTES_EQ(ASSIGNED_CLIENT_ID, assigned_client_id)
    INT_EQ(SERVER_KEEPALIVE, server_keepalive)
    BYTES_EQ(AUTH_METHOD, auth_method)
    BYTES_EQ(AUTH_DATA, auth_data)
    INT_EQ(REQUEST_PROBLEM_INFO, request_problem_info)
    INT_EQ(WILL_DELAY, will_delay)
    INT_EQ(REQUEST_RESPONSE_INFO, request_response_info)
    BYTES_EQ(RESPONSE_INFO, response_info)
    BYTES_EQ(SERVER_REFERENCE, server_reference)
    BYTES_EQ(REASON_STRING, reason_string)
    INT_EQ(RECEIVE_MAXIMUM, receive_maximum)
    INT_EQ(TOPIC_ALIAS_MAXIMUM, topic_alias_maximum)
    INT_EQ(TOPIC_ALIAS, topic_alias)
    INT_EQ(MAXIMUM_QOS, maximum_qos)
    INT_EQ(RETAIN_AVAILABLE, retain_available)
    INT_EQ(MAXIMUM_PACKET_SIZE, maximum_packet_size)
    INT_EQ(WILDCARD_SUB_AVAILABLE, wildcard_sub_available)
    INT_EQ(SUB_ID_AVAILABLE, sub_id_available)
    INT_EQ(SHARED_SUB_AVAILABLE, shared_sub_available)
#undef INT_EQ
#undef BYTES_EQ
    return sub_ids_eq(a->sub_ids, b->sub_ids) && user_props_eq(a->user_props, b->user_props);
}

static bool connect_eq(const struct rmq_connect *a, const struct rmq_connect *b)
{
    if (a->proto_level != b->proto_level || a->clean_start != b->clean_start ||
        a->keepalive != b->keepalive || !props_eq(&a->props, &b->props) ||
        !beq(a->client_id, b->client_id) || a->will != b->will ||
        a->has_username != b->has_username || a->has_password != b->has_password) {
        return false;
    }
    if (a->will && (a->will_qos != b->will_qos || a->will_retain != b->will_retain ||
                    !props_eq(&a->will_props, &b->will_props) ||
                    !beq(a->will_topic, b->will_topic) || !beq(a->will_payload, b->will_payload))) {
        return false;
    }
    return (!a->has_username || beq(a->username, b->username)) &&
           (!a->has_password || beq(a->password, b->password));
}

static bool subscribe_eq(const struct rmq_subscribe *a, const struct rmq_subscribe *b)
{
    if (a->packet_id != b->packet_id || !props_eq(&a->props, &b->props)) {
        return false;
    }
    struct rmq_iter ia = rmq_iter_of(a->entries), ib = rmq_iter_of(b->entries);
    struct rmq_sub_entry x, y;
    for (;;) {
        rmq_err ea = rmq_sub_entry_next(&ia, &x), eb = rmq_sub_entry_next(&ib, &y);
        if (ea != eb || (ea != RMQ_OK && ea != RMQ_ERR_EOF)) {
            return false;
        }
        if (ea == RMQ_ERR_EOF) {
            return true;
        }
        if (!beq(x.filter, y.filter) || x.qos != y.qos || x.no_local != y.no_local ||
            x.retain_as_published != y.retain_as_published ||
            x.retain_handling != y.retain_handling) {
            return false;
        }
    }
}

static bool suback_eq(const struct rmq_suback *a, const struct rmq_suback *b)
{
    return a->packet_id == b->packet_id && props_eq(&a->props, &b->props) &&
           beq(a->reasons, b->reasons);
}

static bool unsubscribe_eq(const struct rmq_unsubscribe *a, const struct rmq_unsubscribe *b)
{
    if (a->packet_id != b->packet_id || !props_eq(&a->props, &b->props)) {
        return false;
    }
    struct rmq_iter ia = rmq_iter_of(a->filters), ib = rmq_iter_of(b->filters);
    struct rmq_bytes x, y;
    for (;;) {
        rmq_err ea = rmq_filter_next(&ia, &x), eb = rmq_filter_next(&ib, &y);
        if (ea != eb || (ea != RMQ_OK && ea != RMQ_ERR_EOF)) {
            return false;
        }
        if (ea == RMQ_ERR_EOF) {
            return true;
        }
        if (!beq(x, y)) {
            return false;
        }
    }
}

bool rmq_codec_packet_equal(const struct rmq_packet *a, const struct rmq_packet *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case RMQ_PKT_CONNECT:
        return connect_eq(&a->connect, &b->connect);
    case RMQ_PKT_CONNACK:
        return a->connack.session_present == b->connack.session_present &&
               a->connack.reason == b->connack.reason &&
               props_eq(&a->connack.props, &b->connack.props);
    case RMQ_PKT_PUBLISH:
        return a->publish.dup == b->publish.dup && a->publish.qos == b->publish.qos &&
               a->publish.retain == b->publish.retain && beq(a->publish.topic, b->publish.topic) &&
               (a->publish.qos == 0 || a->publish.packet_id == b->publish.packet_id) &&
               props_eq(&a->publish.props, &b->publish.props) &&
               beq(a->publish.payload, b->publish.payload);
    case RMQ_PKT_PUBACK:
    case RMQ_PKT_PUBREC:
    case RMQ_PKT_PUBREL:
    case RMQ_PKT_PUBCOMP:
        return a->ack.packet_id == b->ack.packet_id && a->ack.reason == b->ack.reason &&
               props_eq(&a->ack.props, &b->ack.props);
    case RMQ_PKT_SUBSCRIBE:
        return subscribe_eq(&a->subscribe, &b->subscribe);
    case RMQ_PKT_SUBACK:
    case RMQ_PKT_UNSUBACK:
        return suback_eq(&a->suback, &b->suback);
    case RMQ_PKT_UNSUBSCRIBE:
        return unsubscribe_eq(&a->unsubscribe, &b->unsubscribe);
    case RMQ_PKT_DISCONNECT:
        return a->disconnect.reason == b->disconnect.reason &&
               props_eq(&a->disconnect.props, &b->disconnect.props);
    case RMQ_PKT_AUTH:
        return a->auth.reason == b->auth.reason && props_eq(&a->auth.props, &b->auth.props);
    case RMQ_PKT_PINGREQ:
    case RMQ_PKT_PINGRESP:
        return true;
    default:
        return false;
    }
}
