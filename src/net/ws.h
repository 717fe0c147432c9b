/*
 * ws.h — MQTT over WebSocket (RFC 6455; MQTT 5.0 section 6): the HTTP upgrade
 * request parser and a transport that wraps a TCP or TLS transport.
 *
 * Framing is wslay's (Debian's libwslay), through its frame-level API
 * (wslay_frame_send / wslay_frame_recv): wslay is a framing-only library that
 * leaves sockets, event loops and buffers to its caller, so it sits beneath
 * our own event loop and transport vtable (transport.h) without a second loop
 * or thread. libwebsockets was not chosen: it owns the event loop, the sockets
 * and the TLS (its own OpenSSL context), which would bypass our TLS layer and
 * with it CRL checking, live disconnects on revocation and OCSP stapling.
 *
 * What is ours: the upgrade request (parsed through the bounded reader, at most
 * RMQ_WS_REQUEST_MAX bytes), the policy on frames (client frames must be
 * masked; MQTT needs binary frames, text closes with 1003; a frame over
 * websocket.max_frame_size closes with 1009 before its payload is read; ping
 * answered with pong, close answered with close) and the byte stream the MQTT
 * core sees (frame payloads concatenated; one MQTT packet may span frames and
 * one frame may hold several packets, MQTT 5.0 6.0). The message size limit is
 * the core's mqtt.max_packet_size, which applies however packets are framed.
 *
 * Threads: like every transport, used on the worker thread that owns the
 * connection. The parser is pure (no I/O, no allocation, no globals).
 */
#ifndef RMQ_NET_WS_H
#define RMQ_NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "config/settings.h"
#include "net/transport.h"

#define RMQ_WS_REQUEST_MAX 8192 /* bytes of the HTTP upgrade request, headers included */

struct rmq_ws_request {
    const uint8_t *path; /* borrowed: request target without the query string */
    size_t path_len;
    const uint8_t *key; /* borrowed: Sec-WebSocket-Key */
    size_t key_len;
    const uint8_t *origin; /* borrowed: Origin, NULL if absent */
    size_t origin_len;
    const char *subprotocol; /* static: the first offered one we speak, NULL if none */
    bool has_host, upgrade_websocket, connection_upgrade, version_13, protocol_offered;
    size_t len; /* bytes of the request, through the empty line */
};

/*
 * Parses an HTTP/1.1 upgrade request at the start of [data, data+len).
 * RMQ_OK: *out filled (borrowing from data). RMQ_ERR_NEED_MORE: no end of
 * headers yet. RMQ_ERR_TOO_LARGE: no end of headers within RMQ_WS_REQUEST_MAX.
 * RMQ_ERR_MALFORMED: not a GET HTTP/1.1 request line or a bad header line.
 */
RMQ_MUST_USE rmq_err rmq_ws_parse_request(const uint8_t *data, size_t len,
                                          struct rmq_ws_request *out);

/*
 * Applies the listener's websocket settings to a parsed request: 101 to
 * accept, else the HTTP status to answer (400 bad request, 403 origin not
 * allowed, 404 other path, 426 other WebSocket version); *why says why.
 */
int rmq_ws_check_request(const struct rmq_ws_request *r, const struct rmq_ws_settings *ws,
                         const char **why);

/*
 * Wraps `inner` (ownership transferred; freed on failure too): its handshake
 * runs the inner handshake (TLS), reads and answers the upgrade request, then
 * reads and writes MQTT bytes as WebSocket binary frames. `ws` is borrowed for
 * the transport's life. NULL when out of memory.
 */
struct rmq_transport *rmq_ws_transport_wrap(struct rmq_transport *inner,
                                            const struct rmq_ws_settings *ws);

#endif
