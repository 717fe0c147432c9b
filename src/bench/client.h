/*
 * client.h — one benchmark MQTT client connection (internal to revmq-bench).
 *
 * A client connects (TCP or TLS, optional client certificate, optional
 * source address), sends CONNECT, and hands every decoded packet from the
 * broker to the mode's callback. Errors are classified for the report
 * ("refused", "timeout", "tls:<alert name>" such as "tls:certificate revoked",
 * "closed", "connack:<reason>", "socket:<errno>", "local:<errno>").
 * Single-threaded: everything runs on the run's event base.
 */
#ifndef RMQ_BENCH_CLIENT_H
#define RMQ_BENCH_CLIENT_H

#include <event2/event.h>
#include <stdint.h>

#include "bench/bench.h"
#include "mqtt/codec.h"

struct bclient;
struct bench_ctx;

struct bench_hooks {
    /* CONNACK accepted: the client is usable. */
    void (*on_ready)(struct bclient *c);
    /* Any other packet from the broker (borrowed for the call). */
    void (*on_packet)(struct bclient *c, const struct rmq_packet *p);
    /* The client failed or closed; `kind` as above. The client is freed after. */
    void (*on_error)(struct bclient *c, const char *kind);
    /* The output buffer drained below the low watermark. */
    void (*on_writable)(struct bclient *c);
};

struct bench_ctx *bench_ctx_new(const struct rmq_bench_opts *o, struct event_base *base);
void bench_ctx_free(struct bench_ctx *ctx);

/* Starts a connection; NULL on a local failure (counted by the caller under
 * bclient_last_error(), e.g. "local:EADDRNOTAVAIL"). `persistent`: its
 * CONNECT asks for a session that outlives the connection (clean start 0,
 * MQTT 5 Session Expiry Interval from o->session_expiry_ms). */
struct bclient *bclient_start(struct bench_ctx *ctx, uint64_t idx, const struct bench_hooks *hooks,
                              void *user, uint16_t keepalive, bool persistent);
const char *bclient_last_error(void);
/* Name of a TLS alert description code ("certificate revoked" for 44,
 * "certificate required" for 116); NULL when unknown. */
const char *bench_alert_name(int code);
/* "<prefix>:<errno name>", e.g. "socket:ECONNRESET" (thread-local buffer). */
const char *bench_errno_kind(const char *prefix, int err);
/* Sends a packet; RMQ_ERR_* on encode failure. */
RMQ_MUST_USE rmq_err bclient_send(struct bclient *c, const struct rmq_packet *p);
/* Bytes queued but not yet written. */
size_t bclient_pending(const struct bclient *c);
/* Closes (sending DISCONNECT when ready) and frees. */
void bclient_close(struct bclient *c);
void *bclient_user(const struct bclient *c);
uint64_t bclient_idx(const struct bclient *c);
/* Microseconds from bclient_start to CONNACK (valid after on_ready). */
uint64_t bclient_connect_us(const struct bclient *c);

#endif
