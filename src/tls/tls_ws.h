/*
 * tls_ws.h — the one cryptographic step of the WebSocket handshake, kept in
 * src/tls with the other OpenSSL calls (CONVENTIONS.md rule 6).
 */
#ifndef RMQ_TLS_WS_H
#define RMQ_TLS_WS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2): base64 of
 * SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"), NUL-terminated in out.
 * RMQ_ERR_INVALID if key_len > 64; RMQ_ERR_CRYPTO if the digest fails.
 */
RMQ_MUST_USE rmq_err rmq_tls_ws_accept(const uint8_t *key, size_t key_len, char out[29]);

#endif
