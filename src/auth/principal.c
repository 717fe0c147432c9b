/* principal.c — connection identities; see principal.h. */
#include "auth/principal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static bool dup_ok(const char *src, const char *copy)
{
    return src == NULL || copy != NULL;
}

/* Bytes of a certificate block with n chain entries (see chain in principal.h). */
static size_t cert_size(size_t n)
{
    return offsetof(struct rmq_principal_cert, chain) + n * sizeof(struct rmq_cert_id);
}

struct rmq_principal_cert *rmq_principal_cert_new(size_t chain_room)
{
    if (chain_room > RMQ_PEER_CHAIN_MAX) {
        return NULL;
    }
    return calloc(1, cert_size(chain_room));
}

void rmq_principal_cert_free(struct rmq_principal_cert *c)
{
    if (c == NULL) {
        return;
    }
    free(c->cn);
    free(c->subject);
    free(c->issuer);
    free(c->sans);
    free(c);
}

static bool fill_cert(struct rmq_principal *p, const struct rmq_peer_info *peer)
{
    size_t n = peer->chain_len <= RMQ_PEER_CHAIN_MAX ? peer->chain_len : 0;
    struct rmq_principal_cert *c = rmq_principal_cert_new(n);
    if (c == NULL) {
        return false;
    }
    p->kind = RMQ_PRINCIPAL_CERT;
    p->cert = c;
    c->cn = peer->cn != NULL && peer->cn[0] ? strdup(peer->cn) : NULL;
    c->subject = dup_or_null(peer->dn);
    c->issuer = peer->issuer_dn != NULL && peer->issuer_dn[0] ? strdup(peer->issuer_dn) : NULL;
    c->sans = dup_or_null(peer->sans);
    memcpy(c->ref.issuer_hash, peer->issuer_hash, sizeof c->ref.issuer_hash);
    size_t sl = peer->serial_len <= sizeof c->ref.serial ? peer->serial_len : 0;
    memcpy(c->ref.serial, peer->serial, sl);
    c->ref.serial_len = sl;
    snprintf(c->serial_hex, sizeof c->serial_hex, "%s", peer->serial_hex);
    c->has_id = peer->has_id;
    c->id = peer->id;
    c->chain_len = n;
    memcpy(c->chain, peer->chain, n * sizeof *c->chain);
    return (peer->cn == NULL || peer->cn[0] == '\0' || c->cn) && dup_ok(peer->dn, c->subject) &&
           (peer->issuer_dn == NULL || peer->issuer_dn[0] == '\0' || c->issuer) &&
           dup_ok(peer->sans, c->sans);
}

struct rmq_principal *rmq_principal_new(enum rmq_principal_kind kind, const char *username,
                                        const char *clientid, size_t clientid_len,
                                        const char *peer_addr, const struct rmq_peer_info *peer)
{
    struct rmq_principal *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->kind = kind == RMQ_PRINCIPAL_CERT ? RMQ_PRINCIPAL_ANONYMOUS : kind;
    p->username = dup_or_null(username);
    p->clientid = strndup(clientid != NULL ? clientid : "", clientid_len);
    p->peer_addr = strdup(peer_addr != NULL ? peer_addr : "");
    bool ok = dup_ok(username, p->username) && p->clientid && p->peer_addr;
    if (ok && peer != NULL && peer->has_cert) {
        ok = fill_cert(p, peer);
    }
    if (!ok) {
        rmq_principal_free(p);
        return NULL;
    }
    return p;
}

static struct rmq_principal_cert *cert_dup(const struct rmq_principal_cert *c)
{
    size_t n = c->chain_len <= RMQ_PEER_CHAIN_MAX ? c->chain_len : 0;
    struct rmq_principal_cert *d = malloc(cert_size(n));
    if (d == NULL) {
        return NULL;
    }
    memcpy(d, c, cert_size(n));
    d->chain_len = n;
    d->cn = dup_or_null(c->cn);
    d->subject = dup_or_null(c->subject);
    d->issuer = dup_or_null(c->issuer);
    d->sans = dup_or_null(c->sans);
    if (!dup_ok(c->cn, d->cn) || !dup_ok(c->subject, d->subject) || !dup_ok(c->issuer, d->issuer) ||
        !dup_ok(c->sans, d->sans)) {
        rmq_principal_cert_free(d);
        return NULL;
    }
    return d;
}

struct rmq_principal *rmq_principal_dup(const struct rmq_principal *p)
{
    if (p == NULL) {
        return NULL;
    }
    struct rmq_principal *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->kind = p->kind;
    c->superuser = p->superuser;
    c->username = dup_or_null(p->username);
    c->clientid = dup_or_null(p->clientid);
    c->peer_addr = dup_or_null(p->peer_addr);
    c->cert = p->cert != NULL ? cert_dup(p->cert) : NULL;
    if ((p->cert != NULL && c->cert == NULL) || !dup_ok(p->username, c->username) ||
        !dup_ok(p->clientid, c->clientid) || !dup_ok(p->peer_addr, c->peer_addr)) {
        rmq_principal_free(c);
        return NULL;
    }
    return c;
}

struct rmq_principal *rmq_principal_share(const struct rmq_principal *p)
{
    if (p == NULL) {
        return NULL;
    }
    /* The count is bookkeeping, not the value the const promises to keep. */
    struct rmq_principal *q = (struct rmq_principal *)p;
    q->shares++;
    return q;
}

void rmq_principal_free(struct rmq_principal *p)
{
    if (p == NULL) {
        return;
    }
    if (p->shares > 0) {
        p->shares--;
        return;
    }
    free(p->username);
    free(p->clientid);
    free(p->peer_addr);
    rmq_principal_cert_free(p->cert);
    free(p);
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

bool rmq_principal_same_owner(const struct rmq_principal *a, const struct rmq_principal *b)
{
    if (a == NULL || b == NULL || a->kind != b->kind) {
        return false;
    }
    switch (a->kind) {
    case RMQ_PRINCIPAL_CERT:
        /* Same issuer name AND key: two CAs that share a name (a re-keyed CA,
         * two tenants) are different owners. Without a key on one side (not
         * computed), fail closed: not the same owner. */
        return a->cert != NULL && b->cert != NULL && a->cert->has_id && b->cert->has_id &&
               memcmp(a->cert->id.issuer_hash, b->cert->id.issuer_hash,
                      sizeof a->cert->id.issuer_hash) == 0 &&
               memcmp(a->cert->id.issuer_key, b->cert->id.issuer_key,
                      sizeof a->cert->id.issuer_key) == 0 &&
               str_eq(a->cert->subject, b->cert->subject);
    case RMQ_PRINCIPAL_USER:
        return str_eq(a->username, b->username);
    case RMQ_PRINCIPAL_ANONYMOUS:
        return true;
    default:
        return false;
    }
}

static bool ref_eq(const struct rmq_cert_ref *a, const struct rmq_cert_ref *b)
{
    return a->serial_len == b->serial_len &&
           memcmp(a->issuer_hash, b->issuer_hash, sizeof a->issuer_hash) == 0 &&
           memcmp(a->serial, b->serial, a->serial_len) == 0;
}

static bool id_is_ref(const struct rmq_cert_id *a, const struct rmq_cert_ref *b)
{
    return a->serial_len == b->serial_len &&
           memcmp(a->issuer_hash, b->issuer_hash, sizeof a->issuer_hash) == 0 &&
           memcmp(a->serial, b->serial, a->serial_len) == 0;
}

bool rmq_principal_has_cert(const struct rmq_principal *p, const struct rmq_cert_ref *ref)
{
    if (p == NULL || p->kind != RMQ_PRINCIPAL_CERT || p->cert == NULL) {
        return false;
    }
    const struct rmq_principal_cert *c = p->cert;
    if (ref_eq(&c->ref, ref)) {
        return true;
    }
    for (size_t i = 0; i < c->chain_len; i++) {
        if (id_is_ref(&c->chain[i], ref)) {
            return true;
        }
    }
    return false;
}

void rmq_principal_peer_ids(const struct rmq_principal *p, struct rmq_peer_info *out)
{
    memset(out, 0, sizeof *out);
    if (p == NULL || p->kind != RMQ_PRINCIPAL_CERT || p->cert == NULL) {
        return;
    }
    const struct rmq_principal_cert *c = p->cert;
    out->has_cert = 1;
    memcpy(out->issuer_hash, c->ref.issuer_hash, sizeof out->issuer_hash);
    memcpy(out->serial, c->ref.serial, c->ref.serial_len);
    out->serial_len = c->ref.serial_len;
    snprintf(out->serial_hex, sizeof out->serial_hex, "%s", c->serial_hex);
    out->has_id = c->has_id;
    out->id = c->id;
    memcpy(out->chain, c->chain, c->chain_len * sizeof *c->chain);
    out->chain_len = c->chain_len;
}

/* Printable copy: bytes outside 0x20..0x7e and '"', '\\' become '?'. */
static void safe(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    dst[i] = '\0';
}

void rmq_principal_describe(const struct rmq_principal *p, const char *prefix, char *out, size_t n)
{
    char a[256], b[512];
    const char *pre = prefix != NULL ? prefix : "";
    if (n == 0) {
        return;
    }
    if (p == NULL) {
        snprintf(out, n, "%sprincipal=none", pre);
        return;
    }
    switch (p->kind) {
    case RMQ_PRINCIPAL_CERT:
        safe(a, sizeof a, p->cert != NULL ? p->cert->cn : NULL);
        safe(b, sizeof b, p->cert != NULL ? p->cert->subject : NULL);
        snprintf(out, n, "%sprincipal=cert %scn=\"%s\" %sserial=%s %ssubject=\"%s\"", pre, pre, a,
                 pre, p->cert != NULL ? p->cert->serial_hex : "", pre, b);
        break;
    case RMQ_PRINCIPAL_USER:
        safe(a, sizeof a, p->username);
        snprintf(out, n, "%sprincipal=user %susername=\"%s\"", pre, pre, a);
        break;
    case RMQ_PRINCIPAL_ANONYMOUS:
    default:
        snprintf(out, n, "%sprincipal=anonymous", pre);
        break;
    }
}
