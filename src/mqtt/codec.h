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
 * ===================== ARRAYS (read this) =====================
 * Arrays are stored INLINE in the structs with fixed capacities, so a
 * struct rmq_packet needs no scratch memory and no allocation:
 *   - user properties:          RMQ_CODEC_MAX_USER_PROPS  (512) per property set
 *   - subscription identifiers: RMQ_CODEC_MAX_SUB_IDS     (64) per property set
 *   - SUBSCRIBE entries, UNSUBSCRIBE filters, SUBACK / UNSUBACK reason codes:
 *                               RMQ_CODEC_MAX_TOPICS      (1024) per packet
 * The MQTT spec sets no such limits; these are far above what real clients
 * send (a packet with more is also over any sane packet size). A received
 * packet carrying more is refused with RMQ_ERR_MALFORMED and reason
 * RMQ_RC_QUOTA_EXCEEDED (0x97): the broker sends DISCONNECT 0x97 (v5) or
 * closes (v3). Encoding a struct whose count exceeds a capacity returns
 * RMQ_ERR_INVALID.
 *
 * INVARIANT — arrays are valid only up to their count: user_props[0 ..
 * n_user_props), sub_ids[0 .. n_sub_ids), entries[0 .. n_entries),
 * reasons[0 .. n_reasons), filters[0 .. n_filters). Elements past the count
 * are INDETERMINATE: decode does not zero them (so a PUBLISH decode does not
 * clear kilobytes), nor does rmq_codec_packet_init(). Every reader — encode,
 * rmq_codec_packet_equal, the broker, revmq-bench — must read only up to the
 * count. Each struct is laid out "scalars first, arrays last" so that the
 * scalar head can be zeroed alone (RMQ_PROPS_HEAD_SIZE, rmq_codec_packet_init).
 *
 * Size: sizeof(struct rmq_packet) is about 41 KB (SUBSCRIBE: 1024 entries +
 * one property set with 512 user properties; CONNECT ~33 KB, PUBLISH ~17 KB).
 * Fine on a worker stack (8 MB default), a handful per call chain at most:
 * do not copy packets by value on hot paths or keep many of them around
 * (copy out what you need). Do NOT zero a whole packet or props struct with
 * "= {0}" / memset(sizeof) on a hot path — that clears ~41 KB / ~17 KB: use
 * rmq_codec_packet_init() / rmq_props_init(), which clear only the head
 * (a few hundred bytes). A compile-time check keeps the size under 64 KB.
 *
 * ===================== PROPERTIES =====================
 * struct rmq_props holds every MQTT 5 property as a field. A property is
 * present iff its bit is set in `has` (bit = RMQ_PROP_BIT(id)); user
 * properties and subscription ids are present iff their count is > 0.
 * Encode writes the properties that are present AND allowed in that packet
 * type (others are skipped silently, so one props struct can be reused).
 * For "no properties" call rmq_props_init() (or zero-initialise it, which
 * is correct but clears the whole ~17 KB); use rmq_props_set() to mark one
 * present.
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

/* Inline array capacities (see ARRAYS above). */
#define RMQ_CODEC_MAX_USER_PROPS 512
#define RMQ_CODEC_MAX_SUB_IDS 64
#define RMQ_CODEC_MAX_TOPICS 1024

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

/* MQTT 5 reason codes (MQTT 5 §2.4). Some values have several names. */
enum rmq_reason {
    RMQ_RC_SUCCESS = 0x00,
    RMQ_RC_NORMAL_DISCONNECTION = 0x00,
    RMQ_RC_GRANTED_QOS0 = 0x00,
    RMQ_RC_GRANTED_QOS1 = 0x01,
    RMQ_RC_GRANTED_QOS2 = 0x02,
    RMQ_RC_DISCONNECT_WITH_WILL = 0x04,
    RMQ_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    RMQ_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    RMQ_RC_CONTINUE_AUTHENTICATION = 0x18,
    RMQ_RC_REAUTHENTICATE = 0x19,
    RMQ_RC_UNSPECIFIED_ERROR = 0x80,
    RMQ_RC_MALFORMED_PACKET = 0x81,
    RMQ_RC_PROTOCOL_ERROR = 0x82,
    RMQ_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
    RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    RMQ_RC_CLIENT_ID_NOT_VALID = 0x85,
    RMQ_RC_BAD_USERNAME_OR_PASSWORD = 0x86,
    RMQ_RC_NOT_AUTHORIZED = 0x87,
    RMQ_RC_SERVER_UNAVAILABLE = 0x88,
    RMQ_RC_SERVER_BUSY = 0x89,
    RMQ_RC_BANNED = 0x8A,
    RMQ_RC_SERVER_SHUTTING_DOWN = 0x8B,
    RMQ_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
    RMQ_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    RMQ_RC_SESSION_TAKEN_OVER = 0x8E,
    RMQ_RC_TOPIC_FILTER_INVALID = 0x8F,
    RMQ_RC_TOPIC_NAME_INVALID = 0x90,
    RMQ_RC_PACKET_ID_IN_USE = 0x91,
    RMQ_RC_PACKET_ID_NOT_FOUND = 0x92,
    RMQ_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    RMQ_RC_TOPIC_ALIAS_INVALID = 0x94,
    RMQ_RC_PACKET_TOO_LARGE = 0x95,
    RMQ_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    RMQ_RC_QUOTA_EXCEEDED = 0x97,
    RMQ_RC_ADMINISTRATIVE_ACTION = 0x98,
    RMQ_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    RMQ_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    RMQ_RC_QOS_NOT_SUPPORTED = 0x9B,
    RMQ_RC_USE_ANOTHER_SERVER = 0x9C,
    RMQ_RC_SERVER_MOVED = 0x9D,
    RMQ_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    RMQ_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    RMQ_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    RMQ_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    RMQ_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* "Success", "Malformed Packet", … (spec wording); "Unknown" otherwise. Static. */
const char *rmq_reason_name(uint8_t rc);

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
    uint16_t n_sub_ids;                  /* entries of sub_ids[] in use */
    uint16_t n_user_props;               /* entries of user_props[] in use */

    /* ---- arrays: keep them LAST (see ARRAYS: valid only up to the counts) ---- */
    /* 0x0B, repeatable in PUBLISH server->client; at most one in SUBSCRIBE. */
    uint32_t sub_ids[RMQ_CODEC_MAX_SUB_IDS]; /* each 1..RMQ_MQTT_MAX_SUB_ID */
    /* 0x26, repeatable, order kept. */
    struct rmq_user_prop user_props[RMQ_CODEC_MAX_USER_PROPS];
};

/* Bytes of struct rmq_props before its arrays: what rmq_props_init() zeroes. */
#define RMQ_PROPS_HEAD_SIZE offsetof(struct rmq_props, sub_ids)

/* "No properties": zeroes the scalar head (has, values, counts), not the
 * arrays (see ARRAYS). Equivalent to "= {0}" for every reader that respects
 * the counts, at a few hundred bytes instead of ~17 KB. */
static inline void rmq_props_init(struct rmq_props *p)
{
    memset(p, 0, RMQ_PROPS_HEAD_SIZE);
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

/*
 * Layout rule for every packet struct below (see ARRAYS): scalar fields
 * first, then the property set(s), then the packet's own array. The scalar
 * head is everything before the first `props` member.
 */

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

/* SUBSCRIBE (client -> server): 1..RMQ_CODEC_MAX_TOPICS entries. */
struct rmq_subscribe {
    uint16_t packet_id;
    uint16_t n_entries;     /* entries[] in use */
    struct rmq_props props; /* v5: at most one subscription id */
    struct rmq_sub_entry entries[RMQ_CODEC_MAX_TOPICS];
};

/*
 * SUBACK and UNSUBACK (server -> client): one v5 reason code per filter.
 * SUBACK v3 encode: 0..2 kept, any failure (>= 0x80) becomes 0x80.
 * UNSUBACK v3 has no payload: reasons are not encoded; decode gives n_reasons 0.
 */
struct rmq_suback {
    uint16_t packet_id;
    uint16_t n_reasons; /* reasons[] in use */
    struct rmq_props props;
    uint8_t reasons[RMQ_CODEC_MAX_TOPICS];
};

/* UNSUBSCRIBE (client -> server): 1..RMQ_CODEC_MAX_TOPICS filters. */
struct rmq_unsubscribe {
    uint16_t packet_id;
    uint16_t n_filters; /* filters[] in use */
    struct rmq_props props;
    struct rmq_bytes filters[RMQ_CODEC_MAX_TOPICS];
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
 * rmq_codec_packet_init() (cheap) — or zero-initialise it (correct, but
 * clears all ~41 KB). sizeof(struct rmq_packet) < 64 KB (checked below).
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

_Static_assert(sizeof(struct rmq_packet) < 64 * 1024, "struct rmq_packet must stay stack-sized");

/*
 * Prepares *p for filling in (encode) or decoding: sets p->type = type and
 * zeroes the scalar head of the union member of `type` and the head of each
 * of its property sets — NOT the inline arrays (see ARRAYS): the result
 * reads exactly like a zero-initialised packet of that type to anyone who
 * respects the counts. Cost: a few hundred bytes of memset. Any type value
 * is accepted (PINGREQ, PINGRESP and unknown types: only `type` is set).
 */
void rmq_codec_packet_init(struct rmq_packet *p, enum rmq_pkt_type type);

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
 *                     alias 0, 0x97 an inline array capacity exceeded.
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
 * count over a capacity, qos > 2, subscription id 0 or too big, AUTH for
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
 * content (not by pointer), arrays up to their counts. For tests and fuzzing
 * (decode -> encode -> decode must give an equal packet). */
bool rmq_codec_packet_equal(const struct rmq_packet *a, const struct rmq_packet *b);

/* Well-formed UTF-8 per MQTT-1.5.4: no U+0000, no surrogates, no overlong
 * forms, nothing above U+10FFFF. For the broker's payload-format check. */
bool rmq_codec_utf8_valid(const uint8_t *p, size_t len);

#endif
