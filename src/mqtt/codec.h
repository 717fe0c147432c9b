/*
 * codec.h — MQTT 3.1 / 3.1.1 / 5.0 wire codec: bytes <-> packets.
 *
 * What it is: pure functions (picohttpparser style). Decode takes a byte
 * range and returns one of: one packet (RMQ_OK), need more bytes
 * (RMQ_ERR_NEED_MORE), over the size limit (RMQ_ERR_TOO_LARGE, decided from
 * the fixed header alone), or malformed / protocol error (RMQ_ERR_MALFORMED)
 * together with the MQTT 5 reason code to send. Encode appends the wire bytes
 * of a packet for a given protocol version to an rmq_buf.
 *
 * What it is not: no I/O, no globals, no allocation on decode, no session
 * state. Checks that need state (topic alias range, receive maximum, packet
 * id in use, second CONNECT, AUTH method matching the CONNECT's, topic filter
 * wildcard placement, payload-format UTF-8 check) belong to the broker.
 * All functions are thread-safe (no shared state).
 *
 * One model for every version: v3 packets are decoded into the v5 structs
 * (props empty, reason codes mapped to v5 values: e.g. a v3 CONNACK return
 * code 1 decodes as RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION, a v3 SUBACK failure
 * 0x80 as RMQ_RC_UNSPECIFIED_ERROR). Encoding for v3 drops what v3 cannot
 * carry (properties, reason codes of PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK/
 * DISCONNECT; AUTH cannot be encoded for v3) and maps CONNACK reasons with
 * rmq_reason_to_v3_connack().
 *
 * ===================== OWNERSHIP (read this) =====================
 * Decoding is ZERO-COPY: every `struct rmq_bytes` in a decoded packet
 * (topics, client id, payload, strings and binaries of properties, user
 * property names/values, topic filters) is BORROWED from the input buffer
 * passed to rmq_codec_decode(): valid only while that buffer is unchanged.
 * Copy what you keep before consuming/reusing the input buffer.
 * Strings are NOT NUL-terminated: always use .len.
 * For encoding, the caller's rmq_bytes are only read during the call.
 *
 * ===================== LISTS (read this) =====================
 * A packet is small (a few hundred bytes) and has no arrays: every list
 * (user properties, subscription identifiers, SUBSCRIBE entries, UNSUBSCRIBE
 * filters, SUBACK / UNSUBACK reason codes) is a `struct rmq_bytes` holding
 * the list in its WIRE FORM, plus a count. Decoded, the range is borrowed from
 * the input buffer (see OWNERSHIP); read it with the iterators below
 * (rmq_iter_of + rmq_*_next), which check every length against the range and
 * never read outside it. No cap other than the packet size applies.
 *   - user properties / subscription ids: a run of properties (identifier +
 *     value); decoded, both are the whole property block and the iterator
 *     skips the other properties. For encode, build them with
 *     rmq_put_user_prop / rmq_put_sub_id; encode writes only the 0x26 /
 *     0x0B entries it finds there.
 *   - SUBSCRIBE entries: filter (2-byte length + bytes) + options byte, repeated.
 *   - UNSUBSCRIBE filters: filter (2-byte length + bytes), repeated.
 *   - SUBACK / UNSUBACK reasons: one byte per reason (reasons.p[i] is fine).
 * Counts are set by decode (and by whoever builds a packet, for readers);
 * encode reads the ranges, not the counts.
 *
 * ===================== PROPERTIES =====================
 * struct rmq_props holds every MQTT 5 property as a field. A property is
 * present iff its bit is set in `has` (bit = RMQ_PROP_BIT(id)); user
 * properties and subscription ids are present iff their count is > 0.
 * Encode writes the properties that are present AND allowed in that packet
 * type (others are skipped silently, so one props struct can be reused).
 * For "no properties" zero-initialise it (or call rmq_props_init()); use
 * rmq_props_set() to mark one present.
 */
#ifndef RMQ_CODEC_H
#define RMQ_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

/* Protocol levels (CONNECT "protocol level" byte). */
#define RMQ_MQTT_V31 3  /* protocol name "MQIsdp" */
#define RMQ_MQTT_V311 4 /* protocol name "MQTT" */
#define RMQ_MQTT_V5 5   /* protocol name "MQTT" */

/* Largest remaining length a 4-byte variable byte integer can carry. */
#define RMQ_MQTT_MAX_REMAINING 268435455u
/* Largest total packet: 1 type byte + 4 length bytes + remaining. */
#define RMQ_MQTT_MAX_PACKET (RMQ_MQTT_MAX_REMAINING + 5u)
/* Largest subscription identifier (MQTT 5 3.8.2.1.2). */
#define RMQ_MQTT_MAX_SUB_ID 268435455u

enum rmq_pkt_type {
    RMQ_PKT_RESERVED = 0,
    RMQ_PKT_CONNECT = 1,
    RMQ_PKT_CONNACK = 2,
    RMQ_PKT_PUBLISH = 3,
    RMQ_PKT_PUBACK = 4,
    RMQ_PKT_PUBREC = 5,
    RMQ_PKT_PUBREL = 6,
    RMQ_PKT_PUBCOMP = 7,
    RMQ_PKT_SUBSCRIBE = 8,
    RMQ_PKT_SUBACK = 9,
    RMQ_PKT_UNSUBSCRIBE = 10,
    RMQ_PKT_UNSUBACK = 11,
    RMQ_PKT_PINGREQ = 12,
    RMQ_PKT_PINGRESP = 13,
    RMQ_PKT_DISCONNECT = 14,
    RMQ_PKT_AUTH = 15, /* MQTT 5 only */
};

/* "CONNECT", "PUBLISH", …; "RESERVED" for 0 and out-of-range values. Static. */
const char *rmq_pkt_type_name(unsigned type);

/*
 * MQTT 5 reason codes (MQTT 5 §2.4): one table, RMQ_REASON_TABLE, generates
 * the enum, rmq_reason_name() and rmq_reason_valid(). Columns: enum name,
 * code, spec wording, the packets that may carry it (RMQ_RCP_* bits). The
 * packet lists follow the normative lists of each packet (3.2.2.2 CONNACK,
 * 3.4.2.1 PUBACK, 3.5.2.1 PUBREC, 3.6.2.1 PUBREL, 3.7.2.1 PUBCOMP, 3.9.3
 * SUBACK, 3.11.3 UNSUBACK, 3.14.2.1 DISCONNECT, 3.15.2.1 AUTH); where the
 * summary table 2-6 says more (0x8C in DISCONNECT) the packet's list wins.
 */
#define RMQ_RCP_CONNACK 0x01u
#define RMQ_RCP_PUBACK 0x02u /* PUBACK and PUBREC */
#define RMQ_RCP_PUBREL 0x04u /* PUBREL and PUBCOMP */
#define RMQ_RCP_SUBACK 0x08u
#define RMQ_RCP_UNSUBACK 0x10u
#define RMQ_RCP_DISCONNECT 0x20u
#define RMQ_RCP_AUTH 0x40u
#define RMQ_RCP_ACKS_ (RMQ_RCP_CONNACK | RMQ_RCP_PUBACK | RMQ_RCP_SUBACK | RMQ_RCP_UNSUBACK)
#define RMQ_RCP_CD_ (RMQ_RCP_CONNACK | RMQ_RCP_DISCONNECT)

/* X(name, code, "spec wording", packets) */
#define RMQ_REASON_TABLE(X)                                                                        \
    X(SUCCESS, 0x00, "Success",                                                                    \
      RMQ_RCP_ACKS_ | RMQ_RCP_PUBREL | RMQ_RCP_DISCONNECT | RMQ_RCP_AUTH)                          \
    X(GRANTED_QOS1, 0x01, "Granted QoS 1", RMQ_RCP_SUBACK)                                         \
    X(GRANTED_QOS2, 0x02, "Granted QoS 2", RMQ_RCP_SUBACK)                                         \
    X(DISCONNECT_WITH_WILL, 0x04, "Disconnect with Will Message", RMQ_RCP_DISCONNECT)              \
    X(NO_MATCHING_SUBSCRIBERS, 0x10, "No matching subscribers", RMQ_RCP_PUBACK)                    \
    X(NO_SUBSCRIPTION_EXISTED, 0x11, "No subscription existed", RMQ_RCP_UNSUBACK)                  \
    X(CONTINUE_AUTHENTICATION, 0x18, "Continue authentication", RMQ_RCP_AUTH)                      \
    X(REAUTHENTICATE, 0x19, "Re-authenticate", RMQ_RCP_AUTH)                                       \
    X(UNSPECIFIED_ERROR, 0x80, "Unspecified error", RMQ_RCP_ACKS_ | RMQ_RCP_DISCONNECT)            \
    X(MALFORMED_PACKET, 0x81, "Malformed Packet", RMQ_RCP_CD_)                                     \
    X(PROTOCOL_ERROR, 0x82, "Protocol Error", RMQ_RCP_CD_)                                         \
    X(IMPLEMENTATION_SPECIFIC_ERROR, 0x83, "Implementation specific error",                        \
      RMQ_RCP_ACKS_ | RMQ_RCP_DISCONNECT)                                                          \
    X(UNSUPPORTED_PROTOCOL_VERSION, 0x84, "Unsupported Protocol Version", RMQ_RCP_CONNACK)         \
    X(CLIENT_ID_NOT_VALID, 0x85, "Client Identifier not valid", RMQ_RCP_CONNACK)                   \
    X(BAD_USERNAME_OR_PASSWORD, 0x86, "Bad User Name or Password", RMQ_RCP_CONNACK)                \
    X(NOT_AUTHORIZED, 0x87, "Not authorized", RMQ_RCP_ACKS_ | RMQ_RCP_DISCONNECT)                  \
    X(SERVER_UNAVAILABLE, 0x88, "Server unavailable", RMQ_RCP_CONNACK)                             \
    X(SERVER_BUSY, 0x89, "Server busy", RMQ_RCP_CD_)                                               \
    X(BANNED, 0x8A, "Banned", RMQ_RCP_CONNACK)                                                     \
    X(SERVER_SHUTTING_DOWN, 0x8B, "Server shutting down", RMQ_RCP_DISCONNECT)                      \
    X(BAD_AUTHENTICATION_METHOD, 0x8C, "Bad authentication method", RMQ_RCP_CONNACK)               \
    X(KEEP_ALIVE_TIMEOUT, 0x8D, "Keep Alive timeout", RMQ_RCP_DISCONNECT)                          \
    X(SESSION_TAKEN_OVER, 0x8E, "Session taken over", RMQ_RCP_DISCONNECT)                          \
    X(TOPIC_FILTER_INVALID, 0x8F, "Topic Filter invalid",                                          \
      RMQ_RCP_SUBACK | RMQ_RCP_UNSUBACK | RMQ_RCP_DISCONNECT)                                      \
    X(TOPIC_NAME_INVALID, 0x90, "Topic Name invalid", RMQ_RCP_CD_ | RMQ_RCP_PUBACK)                \
    X(PACKET_ID_IN_USE, 0x91, "Packet Identifier in use",                                          \
      RMQ_RCP_PUBACK | RMQ_RCP_SUBACK | RMQ_RCP_UNSUBACK)                                          \
    X(PACKET_ID_NOT_FOUND, 0x92, "Packet Identifier not found", RMQ_RCP_PUBREL)                    \
    X(RECEIVE_MAXIMUM_EXCEEDED, 0x93, "Receive Maximum exceeded", RMQ_RCP_DISCONNECT)              \
    X(TOPIC_ALIAS_INVALID, 0x94, "Topic Alias invalid", RMQ_RCP_DISCONNECT)                        \
    X(PACKET_TOO_LARGE, 0x95, "Packet too large", RMQ_RCP_CD_)                                     \
    X(MESSAGE_RATE_TOO_HIGH, 0x96, "Message rate too high", RMQ_RCP_DISCONNECT)                    \
    X(QUOTA_EXCEEDED, 0x97, "Quota exceeded", RMQ_RCP_CD_ | RMQ_RCP_PUBACK | RMQ_RCP_SUBACK)       \
    X(ADMINISTRATIVE_ACTION, 0x98, "Administrative action", RMQ_RCP_DISCONNECT)                    \
    X(PAYLOAD_FORMAT_INVALID, 0x99, "Payload format invalid", RMQ_RCP_CD_ | RMQ_RCP_PUBACK)        \
    X(RETAIN_NOT_SUPPORTED, 0x9A, "Retain not supported", RMQ_RCP_CD_)                             \
    X(QOS_NOT_SUPPORTED, 0x9B, "QoS not supported", RMQ_RCP_CD_)                                   \
    X(USE_ANOTHER_SERVER, 0x9C, "Use another server", RMQ_RCP_CD_)                                 \
    X(SERVER_MOVED, 0x9D, "Server moved", RMQ_RCP_CD_)                                             \
    X(SHARED_SUBS_NOT_SUPPORTED, 0x9E, "Shared Subscriptions not supported",                       \
      RMQ_RCP_SUBACK | RMQ_RCP_DISCONNECT)                                                         \
    X(CONNECTION_RATE_EXCEEDED, 0x9F, "Connection rate exceeded", RMQ_RCP_CD_)                     \
    X(MAXIMUM_CONNECT_TIME, 0xA0, "Maximum connect time", RMQ_RCP_DISCONNECT)                      \
    X(SUB_IDS_NOT_SUPPORTED, 0xA1, "Subscription Identifiers not supported",                       \
      RMQ_RCP_SUBACK | RMQ_RCP_DISCONNECT)                                                         \
    X(WILDCARD_SUBS_NOT_SUPPORTED, 0xA2, "Wildcard Subscriptions not supported",                   \
      RMQ_RCP_SUBACK | RMQ_RCP_DISCONNECT)

enum rmq_reason {
#define RMQ_REASON_ENUM(name, code, text, pkts) RMQ_RC_##name = code,
    RMQ_REASON_TABLE(RMQ_REASON_ENUM)
#undef RMQ_REASON_ENUM
    /* Other names of 0x00 (MQTT 5 §2.4). */
    RMQ_RC_NORMAL_DISCONNECTION = 0x00,
    RMQ_RC_GRANTED_QOS0 = 0x00,
};

/* "Success", "Malformed Packet", … (spec wording); "Unknown" otherwise. Static. */
const char *rmq_reason_name(uint8_t rc);

/* May a packet of `type` carry reason code rc in MQTT 5? (The table's packet
 * column; false for types without a reason code.) */
bool rmq_reason_valid(uint8_t rc, enum rmq_pkt_type type);

/* rc when a packet of `type` may carry it, else RMQ_RC_UNSPECIFIED_ERROR
 * (valid in every packet with failure codes): for the broker choosing a
 * reason, so that a code meant for one packet never goes out in another. */
uint8_t rmq_reason_for(enum rmq_pkt_type type, uint8_t rc);

/* MQTT 3.1 / 3.1.1 CONNACK return codes. */
enum rmq_v3_connack_rc {
    RMQ_V3_CONNACK_ACCEPTED = 0,
    RMQ_V3_CONNACK_BAD_PROTOCOL_VERSION = 1,
    RMQ_V3_CONNACK_IDENTIFIER_REJECTED = 2,
    RMQ_V3_CONNACK_SERVER_UNAVAILABLE = 3,
    RMQ_V3_CONNACK_BAD_USERNAME_OR_PASSWORD = 4,
    RMQ_V3_CONNACK_NOT_AUTHORIZED = 5,
};

/*
 * v5 reason code -> v3 CONNACK return code: 0x00->0; 0x80..0x84->1;
 * 0x85->2; 0x86->4; 0x87,0x8A,0x8C->5; any other failure (>= 0x80)->3.
 * Note: after a decode error other than 0x84/0x85 a v3 server should simply
 * close (MQTT-3.2.2-4/-5 only name those CONNACK refusals for bad CONNECTs).
 */
uint8_t rmq_reason_to_v3_connack(uint8_t rc);
/* v3 CONNACK return code -> v5 reason (0->0, 1->0x84, 2->0x85, 3->0x88,
 * 4->0x86, 5->0x87); RMQ_RC_PROTOCOL_ERROR for other values. */
uint8_t rmq_reason_from_v3_connack(uint8_t v3rc);

/* MQTT 5 property identifiers (MQTT 5 §2.2.2.2). */
enum rmq_prop_id {
    RMQ_PROP_PAYLOAD_FORMAT = 0x01,
    RMQ_PROP_MESSAGE_EXPIRY = 0x02,
    RMQ_PROP_CONTENT_TYPE = 0x03,
    RMQ_PROP_RESPONSE_TOPIC = 0x08,
    RMQ_PROP_CORRELATION_DATA = 0x09,
    RMQ_PROP_SUBSCRIPTION_ID = 0x0B,
    RMQ_PROP_SESSION_EXPIRY = 0x11,
    RMQ_PROP_ASSIGNED_CLIENT_ID = 0x12,
    RMQ_PROP_SERVER_KEEPALIVE = 0x13,
    RMQ_PROP_AUTH_METHOD = 0x15,
    RMQ_PROP_AUTH_DATA = 0x16,
    RMQ_PROP_REQUEST_PROBLEM_INFO = 0x17,
    RMQ_PROP_WILL_DELAY = 0x18,
    RMQ_PROP_REQUEST_RESPONSE_INFO = 0x19,
    RMQ_PROP_RESPONSE_INFO = 0x1A,
    RMQ_PROP_SERVER_REFERENCE = 0x1C,
    RMQ_PROP_REASON_STRING = 0x1F,
    RMQ_PROP_RECEIVE_MAXIMUM = 0x21,
    RMQ_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    RMQ_PROP_TOPIC_ALIAS = 0x23,
    RMQ_PROP_MAXIMUM_QOS = 0x24,
    RMQ_PROP_RETAIN_AVAILABLE = 0x25,
    RMQ_PROP_USER_PROPERTY = 0x26,
    RMQ_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    RMQ_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    RMQ_PROP_SUB_ID_AVAILABLE = 0x29,
    RMQ_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

#define RMQ_PROP_BIT(id) (UINT64_C(1) << (unsigned)(id))

/* A byte range. Decoded: BORROWED from the input buffer (see OWNERSHIP). */
struct rmq_bytes {
    const uint8_t *p;
    size_t len;
};

struct rmq_user_prop {
    struct rmq_bytes name;  /* UTF-8 */
    struct rmq_bytes value; /* UTF-8 */
};

struct rmq_props {
    uint64_t has; /* RMQ_PROP_BIT(id) for each single-valued property present */

    uint8_t payload_format;              /* 0x01: 0 bytes, 1 UTF-8 */
    uint32_t message_expiry;             /* 0x02: seconds */
    struct rmq_bytes content_type;       /* 0x03 */
    struct rmq_bytes response_topic;     /* 0x08 */
    struct rmq_bytes correlation_data;   /* 0x09: binary */
    uint32_t session_expiry;             /* 0x11: seconds */
    struct rmq_bytes assigned_client_id; /* 0x12 */
    uint16_t server_keepalive;           /* 0x13: seconds */
    struct rmq_bytes auth_method;        /* 0x15 */
    struct rmq_bytes auth_data;          /* 0x16: binary */
    uint8_t request_problem_info;        /* 0x17: 0/1 (absent means 1) */
    uint32_t will_delay;                 /* 0x18: seconds */
    uint8_t request_response_info;       /* 0x19: 0/1 */
    struct rmq_bytes response_info;      /* 0x1A */
    struct rmq_bytes server_reference;   /* 0x1C */
    struct rmq_bytes reason_string;      /* 0x1F */
    uint16_t receive_maximum;            /* 0x21: 1..65535 (absent means 65535) */
    uint16_t topic_alias_maximum;        /* 0x22 */
    uint16_t topic_alias;                /* 0x23: 1..65535 */
    uint8_t maximum_qos;                 /* 0x24: 0/1 */
    uint8_t retain_available;            /* 0x25: 0/1 */
    uint32_t maximum_packet_size;        /* 0x27: 1.. (absent means no limit) */
    uint8_t wildcard_sub_available;      /* 0x28: 0/1 */
    uint8_t sub_id_available;            /* 0x29: 0/1 */
    uint8_t shared_sub_available;        /* 0x2A: 0/1 */
    uint32_t n_sub_ids;                  /* 0x0B entries in sub_ids */
    uint32_t n_user_props;               /* 0x26 entries in user_props */
    /* Repeatable properties in wire form (see LISTS): 0x0B (repeatable in
     * PUBLISH server->client, at most one in SUBSCRIBE) and 0x26 (order kept). */
    struct rmq_bytes sub_ids;
    struct rmq_bytes user_props;
};

/* "No properties". */
static inline void rmq_props_init(struct rmq_props *p)
{
    memset(p, 0, sizeof *p);
}

static inline bool rmq_props_has(const struct rmq_props *p, enum rmq_prop_id id)
{
    return (p->has & RMQ_PROP_BIT(id)) != 0;
}
/* Marks a single-valued property present (set its field too). */
static inline void rmq_props_set(struct rmq_props *p, enum rmq_prop_id id)
{
    p->has |= RMQ_PROP_BIT(id);
}
static inline void rmq_props_clear(struct rmq_props *p, enum rmq_prop_id id)
{
    p->has &= ~RMQ_PROP_BIT(id);
}

/* CONNECT (client -> server). */
struct rmq_connect {
    struct rmq_bytes proto_name; /* "MQTT" or "MQIsdp" */
    uint8_t proto_level;         /* RMQ_MQTT_V31 / V311 / V5 */
    uint8_t flags;               /* raw connect flags byte (decode only) */
    bool clean_start;            /* v3: clean session */
    uint16_t keepalive;          /* seconds */
    struct rmq_bytes client_id;  /* may be empty (len 0) */
    bool will;                   /* will flag: will_* fields valid */
    uint8_t will_qos;
    bool will_retain;
    struct rmq_bytes will_topic;
    struct rmq_bytes will_payload;
    bool has_username;
    struct rmq_bytes username;
    bool has_password;
    struct rmq_bytes password; /* binary */
    struct rmq_props props;
    struct rmq_props will_props; /* v5 will properties */
};

/* CONNACK (server -> client). reason is a v5 reason code in every version. */
struct rmq_connack {
    bool session_present;
    uint8_t reason;
    struct rmq_props props;
};

/* PUBLISH (both directions). */
struct rmq_publish {
    bool dup;
    uint8_t qos; /* 0..2 */
    bool retain;
    struct rmq_bytes topic; /* v5: may be empty when props has a topic alias */
    uint16_t packet_id;     /* only when qos > 0 */
    struct rmq_bytes payload;
    struct rmq_props props;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. v3: reason decodes as 0, not encoded. */
struct rmq_ack {
    uint16_t packet_id;
    uint8_t reason;
    struct rmq_props props;
};

struct rmq_sub_entry {
    struct rmq_bytes filter;  /* UTF-8; wildcard placement NOT checked here */
    uint8_t qos;              /* maximum QoS 0..2 */
    bool no_local;            /* v5 */
    bool retain_as_published; /* v5 */
    uint8_t retain_handling;  /* v5: 0..2 */
};

/* SUBSCRIBE (client -> server): at least one entry. */
struct rmq_subscribe {
    uint16_t packet_id;
    uint32_t n_entries;       /* entries in `entries` */
    struct rmq_bytes entries; /* wire form (LISTS): read with rmq_sub_entry_next */
    struct rmq_props props;   /* v5: at most one subscription id */
};

/*
 * SUBACK and UNSUBACK (server -> client): one v5 reason code per filter.
 * SUBACK v3 encode: 0..2 kept, any failure (>= 0x80) becomes 0x80.
 * UNSUBACK v3 has no payload: reasons are not encoded; decode gives n_reasons 0.
 */
struct rmq_suback {
    uint16_t packet_id;
    uint32_t n_reasons;       /* bytes in `reasons` (set it when building) */
    struct rmq_bytes reasons; /* one byte per reason (LISTS) */
    struct rmq_props props;
};

/* UNSUBSCRIBE (client -> server): at least one filter. */
struct rmq_unsubscribe {
    uint16_t packet_id;
    uint32_t n_filters;       /* filters in `filters` */
    struct rmq_bytes filters; /* wire form (LISTS): read with rmq_filter_next */
    struct rmq_props props;
};

/* DISCONNECT (both directions in v5) and AUTH (v5 only). v3: reason/props
 * are not encoded; a decoded v3 DISCONNECT has reason 0. */
struct rmq_disconnect {
    uint8_t reason;
    struct rmq_props props;
};
struct rmq_auth {
    uint8_t reason; /* 0x00, 0x18, 0x19 */
    struct rmq_props props;
};

/*
 * A decoded or to-be-encoded packet. `type` selects the union member:
 * CONNECT connect, CONNACK connack, PUBLISH publish,
 * PUBACK/PUBREC/PUBREL/PUBCOMP ack, SUBSCRIBE subscribe, SUBACK suback,
 * UNSUBSCRIBE unsubscribe, UNSUBACK unsuback, DISCONNECT disconnect,
 * AUTH auth, PINGREQ/PINGRESP none. Before filling one for encode call
 * rmq_codec_packet_init() or zero-initialise it. Small (under 1 KB, checked
 * below): fine on the stack and to copy.
 */
struct rmq_packet {
    enum rmq_pkt_type type;
    union {
        struct rmq_connect connect;
        struct rmq_connack connack;
        struct rmq_publish publish;
        struct rmq_ack ack;
        struct rmq_subscribe subscribe;
        struct rmq_suback suback;
        struct rmq_unsubscribe unsubscribe;
        struct rmq_suback unsuback;
        struct rmq_disconnect disconnect;
        struct rmq_auth auth;
    };
};

_Static_assert(sizeof(struct rmq_packet) < 1024, "struct rmq_packet must stay small");

/* Sets p->type = type and zeroes the union member of that type, so *p reads
 * as a zero-initialised packet of that type (any value is accepted). */
void rmq_codec_packet_init(struct rmq_packet *p, enum rmq_pkt_type type);

/*
 * Iterators over the lists of a packet (see LISTS). Make one with
 * rmq_iter_of(range), then call the rmq_*_next of that list until it stops:
 *   RMQ_OK            *out = the next element (byte ranges borrowed from the
 *                     range);
 *   RMQ_ERR_EOF       the list is done;
 *   RMQ_ERR_MALFORMED the range is truncated or holds something that is not
 *                     an element of that list; the iterator stays failed.
 * They read only inside the range, allocate nothing and are pure. A decoded
 * packet's lists always iterate without error (decode validated them);
 * UTF-8 is checked by decode, not by the iterators.
 */
struct rmq_iter {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
};

static inline struct rmq_iter rmq_iter_of(struct rmq_bytes range)
{
    struct rmq_iter it = {range.p, range.p ? range.len : 0, 0, false};
    return it;
}

/* User properties (0x26) of a property run; other properties are skipped. */
RMQ_MUST_USE rmq_err rmq_user_prop_next(struct rmq_iter *it, struct rmq_user_prop *out);
/* Subscription identifiers (0x0B) of a property run; others are skipped. */
RMQ_MUST_USE rmq_err rmq_sub_id_next(struct rmq_iter *it, uint32_t *out);
/* SUBSCRIBE entries; options with reserved bits, QoS 3 or retain handling 3
 * are malformed. */
RMQ_MUST_USE rmq_err rmq_sub_entry_next(struct rmq_iter *it, struct rmq_sub_entry *out);
/* UNSUBSCRIBE filters. */
RMQ_MUST_USE rmq_err rmq_filter_next(struct rmq_iter *it, struct rmq_bytes *out);
/* SUBACK / UNSUBACK reason codes. */
RMQ_MUST_USE rmq_err rmq_reason_next(struct rmq_iter *it, uint8_t *out);

/*
 * Builders for the lists of a packet to encode: each appends the wire form
 * of one element at dst[*len..cap) and advances *len. RMQ_ERR_TOO_LARGE
 * (nothing written) when it does not fit; RMQ_ERR_INVALID when it cannot be
 * encoded (string over 65535 bytes, subscription id 0 or over
 * RMQ_MQTT_MAX_SUB_ID, QoS or retain handling over 2).
 */
#define RMQ_PUT_SUB_ID_MAX 5 /* bytes one subscription id takes at most */
RMQ_MUST_USE rmq_err rmq_put_user_prop(uint8_t *dst, size_t cap, size_t *len, struct rmq_bytes name,
                                       struct rmq_bytes value);
RMQ_MUST_USE rmq_err rmq_put_sub_id(uint8_t *dst, size_t cap, size_t *len, uint32_t id);
RMQ_MUST_USE rmq_err rmq_put_sub_entry(uint8_t *dst, size_t cap, size_t *len,
                                       const struct rmq_sub_entry *e);
RMQ_MUST_USE rmq_err rmq_put_filter(uint8_t *dst, size_t cap, size_t *len, struct rmq_bytes f);

/* Copies the user properties (0x26) of a property run to dst in wire form
 * (other properties dropped) and returns the bytes they take; dst NULL:
 * only counts. Stops at the first malformed element. */
size_t rmq_props_copy_user(struct rmq_bytes run, uint8_t *dst);

/* Which side decodes: what is legal differs slightly by direction
 * (e.g. MQTT-3.3.4-6: a client's PUBLISH must not carry a subscription id). */
enum rmq_codec_role {
    RMQ_CODEC_ROLE_SERVER = 0, /* the broker: decodes what clients send */
    RMQ_CODEC_ROLE_CLIENT = 1, /* revmq-bench / tests: decodes what servers send */
};

/* Decode limits. A NULL pointer or all-zero struct means protocol maxima. */
struct rmq_codec_limits {
    /* Max TOTAL packet size in bytes (fixed header included, like MQTT 5's
     * Maximum Packet Size); 0 = RMQ_MQTT_MAX_PACKET. Over it: RMQ_ERR_TOO_LARGE. */
    uint32_t max_packet_size;
    /* Max client id length in bytes; 0 = no limit. Over it: 0x85. */
    uint16_t max_client_id_len;
    uint8_t role; /* enum rmq_codec_role */
};

/*
 * Reads the fixed header only. RMQ_OK: *total = full packet length in bytes
 * (header + remaining length). RMQ_ERR_NEED_MORE: the fixed header is not
 * complete yet. RMQ_ERR_MALFORMED: the remaining length takes more than 4
 * bytes. Does not look at the type or flags.
 */
RMQ_MUST_USE rmq_err rmq_codec_peek_length(const uint8_t *buf, size_t len, size_t *total);

/*
 * Decodes one packet from the start of buf[0..len).
 *   version: the connection's protocol level (3, 4, 5) or 0 before CONNECT,
 *            in which case only CONNECT is accepted (others -> 0x82). A
 *            CONNECT is decoded by its own protocol level whatever `version`
 *            is (rejecting a second CONNECT is the broker's job).
 *   lim:     may be NULL.
 * Returns:
 *   RMQ_OK            *out holds the packet (borrowing from buf),
 *                     *consumed = its total length.
 *   RMQ_ERR_NEED_MORE the packet is not complete; *consumed = 0. Returned
 *                     only while fewer than the packet's bytes are present:
 *                     inside a complete packet, a length that runs past the
 *                     end is malformed.
 *   RMQ_ERR_TOO_LARGE from the fixed header alone (body need not be there):
 *                     total > lim->max_packet_size; *reason = 0x95,
 *                     *consumed = total length (informative; close anyway).
 *   RMQ_ERR_MALFORMED *reason = the v5 reason code to send: 0x81 malformed,
 *                     0x82 protocol error, 0x84 unsupported protocol version
 *                     (CONNECT), 0x85 client id not valid (CONNECT), 0x90
 *                     topic name invalid (PUBLISH / will topic), 0x94 topic
 *                     alias 0.
 *                     *consumed = 0. out->type is set if the fixed header was
 *                     read; for CONNECT, out->connect.proto_level is set once
 *                     read (0 before), so the broker can choose v3/v5 CONNACK.
 *   RMQ_ERR_INVALID   `version` is not 0, 3, 4 or 5 (caller bug).
 * `reason` may be NULL; `consumed` and `out` may not. Nothing is allocated;
 * no state is kept.
 * Not checked here (broker's job): packet direction (e.g. a client sending
 * CONNACK), topic filter syntax (an empty filter or a misplaced wildcard
 * decodes fine: answer with SUBACK 0x8F), topic alias range, AUTH method.
 */
RMQ_MUST_USE rmq_err rmq_codec_decode(const uint8_t *buf, size_t len,
                                      const struct rmq_codec_limits *lim, uint8_t version,
                                      struct rmq_packet *out, size_t *consumed, uint8_t *reason);

/*
 * Appends the wire bytes of *p for protocol level `version` (3, 4, 5) to
 * out. A CONNECT is written with protocol name/level of `version`
 * (p->connect.proto_name/proto_level are ignored).
 * Errors: RMQ_ERR_INVALID (unencodable: bad version, string > 65535 bytes,
 * a list range that does not iterate, qos > 2, subscription id 0 or too big, AUTH for
 * v3, remaining length over RMQ_MQTT_MAX_REMAINING, …), or the buffer's
 * RMQ_ERR_NOMEM / RMQ_ERR_TOO_LARGE. On error out is unchanged.
 * Encode writes what it is given: it does not check semantics (e.g. packet
 * id 0 or reason codes not allowed in that packet).
 */
RMQ_MUST_USE rmq_err rmq_codec_encode(const struct rmq_packet *p, uint8_t version,
                                      struct rmq_buf *out);

/* Total bytes rmq_codec_encode() would append; 0 if it would fail with
 * RMQ_ERR_INVALID. */
size_t rmq_codec_encoded_size(const struct rmq_packet *p, uint8_t version);

/*
 * Like rmq_codec_encode(), honouring the receiver's Maximum Packet Size
 * (max_size, total bytes; 0 = no limit). If the packet is too large and it is
 * NOT a PUBLISH, it is encoded again without Reason String, then also without
 * User Properties (MQTT-3.1.2-25 and the "MUST NOT send this property if it
 * would increase the size beyond the Maximum Packet Size" rules of each
 * packet). If it is still too large (always the case for an oversized
 * PUBLISH: its properties belong to the message), returns RMQ_ERR_TOO_LARGE
 * and appends nothing: the caller discards the packet (for PUBLISH it
 * behaves as if it had been sent, MQTT-3.1.2-25).
 */
RMQ_MUST_USE rmq_err rmq_codec_encode_limited(const struct rmq_packet *p, uint8_t version,
                                              uint32_t max_size, struct rmq_buf *out);

/* Deep comparison of two packets of one type: every field, byte ranges by
 * content (not by pointer), lists element by element. For tests and fuzzing
 * (decode -> encode -> decode must give an equal packet). */
bool rmq_codec_packet_equal(const struct rmq_packet *a, const struct rmq_packet *b);

/* Well-formed UTF-8 per MQTT-1.5.4: no U+0000, no surrogates, no overlong
 * forms, nothing above U+10FFFF. For the broker's payload-format check. */
bool rmq_codec_utf8_valid(const uint8_t *p, size_t len);

#endif
