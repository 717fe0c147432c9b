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

#include "common/cert_id.h"
#include "common/err.h"

enum rmq_io {
    RMQ_IO_OK,
    RMQ_IO_WANT_READ,
    RMQ_IO_WANT_WRITE,
    RMQ_IO_SUSPENDED,
    RMQ_IO_EOF,
    RMQ_IO_ERROR,
};

#define RMQ_PEER_CHAIN_MAX 8

/* What the TLS layer learned about the peer; all zero / empty for TCP. */
struct rmq_peer_info {
    int has_cert;
    char cn[256]; /* subject CN, UTF-8, NUL-terminated */
    char *dn;     /* owned: RFC 2253 subject DN, or NULL */
    char *pem;    /* owned: leaf certificate PEM, or NULL */
    char md5[33]; /* hex MD5 of the leaf DER */
    /* Revocation identity of the leaf, kept for the connection's life. */
    uint8_t issuer_hash[32]; /* SHA-256 of the issuer name DER */
    uint8_t serial[32];      /* serial number, big-endian, no leading zeros */
    size_t serial_len;
    char serial_hex[65];
    char issuer_dn[256]; /* for logs */
    /* The leaf's revocation identity (issuer name and key, signed serial,
     * CDP names, cA), as the verify callback saw it; has_id = 0 when the
     * listener does not check CRLs. Live-session matching uses this, never
     * the issuer name alone. */
    int has_id;
    struct rmq_cert_id id;
    /* With crl_cache.check = chain: the verified chain's CA certificates above
     * the leaf, trust anchor excluded, nearest first (at most
     * RMQ_PEER_CHAIN_MAX), so a later CRL revoking one of them finds the
     * connection. Empty otherwise. */
    struct rmq_cert_id chain[RMQ_PEER_CHAIN_MAX];
    size_t chain_len;
    int tls_version; /* e.g. 0x0304; 0 for TCP */
    int resumed;     /* 1 if the TLS session was resumed */
};

void rmq_peer_info_clear(struct rmq_peer_info *p); /* frees dn and pem, zeroes */

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
