/*
 * transport.h — the byte transport under an MQTT connection: plain TCP or TLS.
 *
 * The net layer owns the socket, the event registration and the buffers; a
 * transport only moves bytes and reports what it is waiting for. TCP is
 * implemented in src/net/, TLS in src/tls/ (OpenSSL stays there). All
 * functions are called on the worker thread that owns the connection.
 *
 * Every call is non-blocking and returns one of enum rmq_io. WANT_READ /
 * WANT_WRITE: call again when the socket is readable / writable. SUSPENDED:
 * the handshake waits on something outside the socket (an on-demand CRL
 * fetch); the transport calls `wake(wake_arg)` on the owning worker's thread
 * when the call should be retried, and the net layer must not drop the
 * connection meanwhile (its handshake timeout still runs).
 */
#ifndef RMQ_TRANSPORT_H
#define RMQ_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/peer_info.h" /* struct rmq_peer_info, struct rmq_cert_ref */

enum rmq_io {
    RMQ_IO_OK,
    RMQ_IO_WANT_READ,
    RMQ_IO_WANT_WRITE,
    RMQ_IO_SUSPENDED,
    RMQ_IO_EOF,
    RMQ_IO_ERROR,
};

/* rmq_peer_info_clear / _keep / _share / _free: common/peer_info.h. */

struct rmq_transport;

struct rmq_transport_ops {
    const char *name; /* "tcp", "ssl" */
    /* Drives the handshake; RMQ_IO_OK once done (at once for TCP). */
    enum rmq_io (*handshake)(struct rmq_transport *t);
    /* Reads up to len bytes; *n bytes read on RMQ_IO_OK (n > 0). */
    enum rmq_io (*read)(struct rmq_transport *t, uint8_t *buf, size_t len, size_t *n);
    /* Writes up to len bytes; *n bytes taken on RMQ_IO_OK. */
    enum rmq_io (*write)(struct rmq_transport *t, const uint8_t *buf, size_t len, size_t *n);
    /* Fills *out after a successful handshake; borrowed strings stay owned by *out. */
    void (*peer_info)(struct rmq_transport *t, struct rmq_peer_info *out);
    /* Best effort close_notify; never blocks. */
    void (*shutdown)(struct rmq_transport *t);
    /* Frees the transport; does not close the fd (the net layer does). */
    void (*free)(struct rmq_transport *t);
    /* A short text for logs of the last error (alert name, errno), or "". */
    const char *(*last_error)(struct rmq_transport *t);
};

struct rmq_transport {
    const struct rmq_transport_ops *ops;
    int fd;                       /* borrowed from the connection */
    void (*wake)(void *wake_arg); /* set by the net layer */
    void *wake_arg;
};

/*
 * A listener's transport factory. For TCP listeners the net layer uses its own;
 * TLS listeners get one from src/tls. `new_transport` is called on the worker
 * thread for each accepted socket; NULL means refuse (logged by the factory).
 */
struct rmq_transport_factory {
    struct rmq_transport *(*new_transport)(void *arg, int fd);
    void *arg;
};

/* The plain TCP transport (src/net/tcp_transport.c). */
struct rmq_transport *rmq_tcp_transport_new(int fd);

#endif
