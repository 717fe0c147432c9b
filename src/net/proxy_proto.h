/*
 * proxy_proto.h — the PROXY protocol (HAProxy, versions 1 and 2) in front of a
 * listener: a balancer sends one header with the original client's address
 * before the client's own bytes (TLS or MQTT).
 *
 * Two parts:
 *  - a pure parser over a byte range (rmq_proxy_parse): need more, done,
 *    malformed; no I/O, no allocation, no globals; every byte read through the
 *    bounded reader (common/reader.h). Any thread.
 *  - a transport wrapper (rmq_proxy_transport_wrap): its handshake first reads
 *    the header from the socket, never a byte past it (the next bytes belong to
 *    the inner transport), then drives the inner transport's handshake; after
 *    that every call goes to the inner transport. Called on the worker thread
 *    that owns the connection, like every transport (transport.h).
 *
 * Not here: timeouts (the net layer's handshake timer, set to
 * proxy_protocol_timeout until rmq_proxy_transport_header_done), TLVs (parsed
 * over for bounds, ignored), PROXY protocol on the sending side.
 */
#ifndef RMQ_PROXY_PROTO_H
#define RMQ_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "net/transport.h"

/* Version 1 lines are at most 107 bytes (spec 2.1). Version 2 headers are 16
 * bytes plus a 16-bit length; we accept at most this many in total (addresses
 * and TLVs; HAProxy's SSL TLVs fit easily). */
#define RMQ_PROXY_V1_MAX 107
#define RMQ_PROXY_V2_MAX 2048

enum rmq_proxy_kind {
    RMQ_PROXY_LOCAL,   /* v2 LOCAL (health check): keep the socket's address */
    RMQ_PROXY_UNKNOWN, /* v1 UNKNOWN or v2 UNSPEC/AF_UNIX: keep the socket's address */
    RMQ_PROXY_TCP4,
    RMQ_PROXY_TCP6,
};

struct rmq_proxy_header {
    int version; /* 1 or 2 */
    enum rmq_proxy_kind kind;
    uint8_t src_addr[16]; /* network order; 4 bytes used for TCP4 */
    uint8_t dst_addr[16];
    uint16_t src_port;
    uint16_t dst_port;
    size_t len; /* bytes of the header, TLVs included */
};

/*
 * Parses one header at the start of [data, data+len).
 * RMQ_OK: *out filled, out->len bytes consumed. RMQ_ERR_NEED_MORE: every byte
 * so far is a valid prefix. RMQ_ERR_MALFORMED: not a PROXY header (or a bad
 * one). RMQ_ERR_TOO_LARGE: a v2 header over RMQ_PROXY_V2_MAX. On error *out
 * is unspecified.
 */
RMQ_MUST_USE rmq_err rmq_proxy_parse(const uint8_t *data, size_t len, struct rmq_proxy_header *out);

/*
 * How many of `more` (bytes seen after the `have` already accumulated) surely
 * belong to the header, so a reader can consume them without taking any byte
 * of the protocol that follows. At least 1 when more_len > 0.
 */
size_t rmq_proxy_header_take(const uint8_t *have, size_t have_len, const uint8_t *more,
                             size_t more_len);

/* "a.b.c.d:port" or "[v6]:port" of the source; false for LOCAL/UNKNOWN. */
bool rmq_proxy_format_src(const struct rmq_proxy_header *h, char *buf, size_t n);

/* Wraps `inner` (ownership transferred; freed with the wrapper, also on
 * failure). NULL when out of memory. */
struct rmq_transport *rmq_proxy_transport_wrap(struct rmq_transport *inner);

/* True once the wrapper's header has been read (or t is not a wrapper). */
bool rmq_proxy_transport_header_done(const struct rmq_transport *t);

/* The original client address once the header is read: "host:port", or false
 * (LOCAL, UNKNOWN, not a wrapper, header not read yet). */
bool rmq_proxy_transport_client_addr(const struct rmq_transport *t, char *buf, size_t n);

#endif
