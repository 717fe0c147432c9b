/*
 * principal.h — who a connection is: the identity it proved when its CONNECT
 * was accepted. One of:
 *   CERT       a client certificate verified by a TLS listener (verify_peer):
 *              issuer + serial (the revocation identity), subject DN, CN, and
 *              the CA certificates above it when the TLS layer kept them;
 *   USER       a username proven by an authenticator (src/auth/authn.h);
 *   ANONYMOUS  nothing proven.
 * Every principal also carries the client id, the username as sent (or as
 * taken from the certificate with mqtt.peer_cert_as_username) and the peer
 * address, so ACL rules can refer to them.
 *
 * Sessions belong to the principal that created them (src/mqtt): only the
 * same owner (rmq_principal_same_owner) may take a session over, and a
 * revoked certificate ends every session it owns.
 *
 * Not here: authentication (authn.h), authorization. A principal is a plain
 * value: no I/O, no locks; it is owned by whoever created it (the MQTT core,
 * on the core thread) and never shared between threads.
 */
#ifndef RMQ_AUTH_PRINCIPAL_H
#define RMQ_AUTH_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/peer_info.h"

enum rmq_principal_kind {
    RMQ_PRINCIPAL_ANONYMOUS,
    RMQ_PRINCIPAL_USER,
    RMQ_PRINCIPAL_CERT,
};

struct rmq_principal {
    enum rmq_principal_kind kind;
    bool superuser;  /* USER: is_superuser of its bootstrap entry (EMQX: ACL bypass) */
    unsigned shares; /* holders besides the first (rmq_principal_share); not part of the value */
    char *username;  /* owned: proven (USER), from the certificate or as sent; NULL if none */
    char *clientid;  /* owned, NUL-terminated */
    char *peer_addr; /* owned: "host:port" */
    /* The certificate identity the TLS layer verified (CN, subject, issuer,
     * SANs, issuer hash + serial, revocation identity, chain): non-NULL exactly
     * when kind is CERT. Shared with the connection's kept copy
     * (rmq_peer_info_share), never copied: one identity per client. Read-only. */
    struct rmq_peer_info *cert;
};

/* A certificate identity with room for chain_room chain entries (at most
 * RMQ_PEER_CHAIN_MAX), all zero but has_cert, for loaders
 * (src/mqtt/persist.c); NULL on OOM or a larger chain_room. Freed with its
 * principal, or rmq_peer_info_free. */
struct rmq_peer_info *rmq_principal_cert_new(size_t chain_room);

/* The certificate's CN / subject DN, NULL when none or not CERT. */
const char *rmq_principal_cn(const struct rmq_principal *p);
const char *rmq_principal_subject(const struct rmq_principal *p);

/*
 * A new principal. `peer` (may be NULL) is what the TLS layer verified: with a
 * certificate the kind is CERT whatever `kind` says, and the principal shares
 * `peer`, which must then be a kept copy (rmq_peer_info_keep) that lives on
 * the caller's thread. `username` (may be NULL)
 * and `clientid` are copied. NULL on OOM. Free with rmq_principal_free.
 */
struct rmq_principal *rmq_principal_new(enum rmq_principal_kind kind, const char *username,
                                        const char *clientid, size_t clientid_len,
                                        const char *peer_addr, const struct rmq_peer_info *peer);
/* An owned copy; NULL on OOM or when p is NULL. */
struct rmq_principal *rmq_principal_dup(const struct rmq_principal *p);
/* The same principal for one more holder (a connection and the session it
 * owns hold one principal, not two copies); every holder calls
 * rmq_principal_free once. Only the reference count changes: a principal is
 * never modified once shared. Same thread only. NULL when p is NULL. */
struct rmq_principal *rmq_principal_share(const struct rmq_principal *p);
/* Drops one holder; frees on the last. NULL: no-op. */
void rmq_principal_free(struct rmq_principal *p);

/*
 * Whether a and b are the same owner of a session: two certificates from the
 * same issuer with the same subject (a renewed certificate keeps its device's
 * sessions; revocation is by serial and ends them), two proven usernames that
 * are equal, or two anonymous principals. Different kinds never match.
 */
bool rmq_principal_same_owner(const struct rmq_principal *a, const struct rmq_principal *b);

/* Whether the principal's certificate (leaf, or a CA above it) is `ref`. */
bool rmq_principal_has_cert(const struct rmq_principal *p, const struct rmq_cert_ref *ref);

/* The principal's certificate identity as a struct rmq_peer_info (has_cert,
 * issuer hash, serial, chain; strings empty), for revocation matchers. */
void rmq_principal_peer_ids(const struct rmq_principal *p, struct rmq_peer_info *out);

/*
 * One line fragment for logs, e.g.
 *   principal=cert cn=device-1 serial=1A2B subject="CN=device-1,O=x"
 *   principal=user username=alice
 *   principal=anonymous
 * Peer-supplied text is made printable ('?' for anything else). Always
 * NUL-terminated, truncated to n.
 */
void rmq_principal_describe(const struct rmq_principal *p, const char *prefix, char *out, size_t n);

#endif
