/*
 * peer_info.h — what the transport learned about a connection's peer (TLS
 * client certificate identity, protocol version), as a plain type.
 *
 * It lives in common/ so the MQTT core can read it without depending on the
 * net layer (mqtt/ does not include net/). Filled by the transports
 * (src/net/, src/tls/). A connection keeps a heap copy (rmq_peer_info_keep)
 * that its CERT principal shares instead of copying (rmq_peer_info_share,
 * src/auth/principal.h): one identity per client (issue 18).
 */
#ifndef RMQ_PEER_INFO_H
#define RMQ_PEER_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "common/cert_id.h"

/* A certificate's revocation identity: SHA-256 of its issuer name DER and its
 * serial (big-endian magnitude, no leading zeros). */
struct rmq_cert_ref {
    uint8_t issuer_hash[32];
    uint8_t serial[32];
    size_t serial_len;
};

#define RMQ_PEER_CHAIN_MAX 8

/* What the TLS layer learned about the peer; all zero / empty for TCP. */
struct rmq_peer_info {
    int has_cert;
    char *cn;     /* owned: subject CN, UTF-8 (at most 255 bytes), or NULL */
    char *dn;     /* owned: RFC 2253 subject DN, or NULL */
    char *pem;    /* owned: leaf certificate PEM, or NULL */
    char *sans;   /* owned: subjectAltName as "DNS:a,URI:b,email:c,IP:d", or NULL */
    char md5[33]; /* hex MD5 of the leaf DER */
    /* Revocation identity of the leaf, kept for the connection's life. */
    uint8_t issuer_hash[32]; /* SHA-256 of the issuer name DER */
    uint8_t serial[32];      /* serial number, big-endian, no leading zeros */
    size_t serial_len;
    char serial_hex[65];
    char *issuer_dn; /* owned: RFC 2253 issuer DN, at most 255 bytes (logs), or NULL */
    /* The leaf's revocation identity (issuer name and key, signed serial,
     * CDP names, cA), as the verify callback saw it, or computed from the
     * verified chain on a listener that does not check CRLs; has_id = 0 when
     * neither was available (e.g. resumed without CRL checking). Live-session
     * matching uses this, never the issuer name alone. */
    int has_id;
    struct rmq_cert_id id;
    int tls_version; /* e.g. 0x0304; 0 for TCP */
    int resumed;     /* 1 if the TLS session was resumed */
    /* With crl_cache.check = chain: the verified chain's CA certificates above
     * the leaf, trust anchor excluded, nearest first (at most
     * RMQ_PEER_CHAIN_MAX), so a later CRL revoking one of them finds the
     * connection. Empty otherwise. Read only chain[0 .. chain_len - 1]: a copy
     * kept for a connection's life (rmq_peer_info_keep) has
     * room for chain_len entries only, so chain stays the LAST member and a
     * struct rmq_peer_info is never copied by assignment. */
    unsigned shares; /* holders besides the first (rmq_peer_info_share); not part of the value */
    size_t chain_len;
    struct rmq_cert_id chain[RMQ_PEER_CHAIN_MAX];
};

void rmq_peer_info_clear(struct rmq_peer_info *p); /* frees its strings, zeroes */
/* A heap copy of *p sized for its p->chain_len chain entries only (an idle
 * connection keeps no empty chain slots), taking over p's strings; without
 * `keep_pem` the PEM is dropped (nothing needs it: mqtt.peer_cert_as_* is not
 * pem/crt). *p is cleared either way. NULL when p has no certificate or on
 * OOM. Free with rmq_peer_info_free. */
struct rmq_peer_info *rmq_peer_info_keep(struct rmq_peer_info *p, int keep_pem);
/* The same kept copy for one more holder: only the count changes (a kept copy
 * is never modified). Every holder calls rmq_peer_info_free once. The count
 * is not atomic: share and free on the thread that owns the connection
 * (worker 0 once the handshake worker handed it over). NULL: NULL. */
struct rmq_peer_info *rmq_peer_info_share(const struct rmq_peer_info *p);
/* Drops one holder; frees on the last. NULL: no-op. */
void rmq_peer_info_free(struct rmq_peer_info *p);

#endif
