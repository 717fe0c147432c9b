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

/* Bytes of a principal with n chain entries (see chain in principal.h). */
static size_t principal_size(size_t n)
{
    return offsetof(struct rmq_principal, chain) + n * sizeof(struct rmq_cert_id);
}

static bool fill_cert(struct rmq_principal *p, const struct rmq_peer_info *peer)
{
    p->kind = RMQ_PRINCIPAL_CERT;
    p->cert_cn = peer->cn != NULL && peer->cn[0] ? strdup(peer->cn) : NULL;
    p->cert_subject = dup_or_null(peer->dn);
    p->cert_issuer = peer->issuer_dn != NULL && peer->issuer_dn[0] ? strdup(peer->issuer_dn) : NULL;
    p->cert_sans = dup_or_null(peer->sans);
    memcpy(p->cert.issuer_hash, peer->issuer_hash, sizeof p->cert.issuer_hash);
    size_t sl = peer->serial_len <= sizeof p->cert.serial ? peer->serial_len : 0;
    memcpy(p->cert.serial, peer->serial, sl);
    p->cert.serial_len = sl;
    snprintf(p->serial_hex, sizeof p->serial_hex, "%s", peer->serial_hex);
    p->has_id = peer->has_id;
    p->id = peer->id;
    p->chain_len = peer->chain_len <= RMQ_PEER_CHAIN_MAX ? peer->chain_len : 0;
    memcpy(p->chain, peer->chain, p->chain_len * sizeof *p->chain);
    return (peer->cn == NULL || peer->cn[0] == '\0' || p->cert_cn) &&
           dup_ok(peer->dn, p->cert_subject) &&
           (peer->issuer_dn == NULL || peer->issuer_dn[0] == '\0' || p->cert_issuer) &&
           dup_ok(peer->sans, p->cert_sans);
}

struct rmq_principal *rmq_principal_new(enum rmq_principal_kind kind, const char *username,
                                        const char *clientid, size_t clientid_len,
                                        const char *peer_addr, const struct rmq_peer_info *peer)
{
    size_t n = peer != NULL && peer->has_cert && peer->chain_len <= RMQ_PEER_CHAIN_MAX
                   ? peer->chain_len
                   : 0;
    struct rmq_principal *p = calloc(1, principal_size(n));
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

struct rmq_principal *rmq_principal_dup(const struct rmq_principal *p)
{
    if (p == NULL) {
        return NULL;
    }
    size_t n = p->chain_len <= RMQ_PEER_CHAIN_MAX ? p->chain_len : 0;
    struct rmq_principal *c = malloc(principal_size(n));
    if (c == NULL) {
        return NULL;
    }
    memcpy(c, p, principal_size(n));
    c->chain_len = n;
    c->shares = 0;
    c->username = dup_or_null(p->username);
    c->clientid = dup_or_null(p->clientid);
    c->peer_addr = dup_or_null(p->peer_addr);
    c->cert_cn = dup_or_null(p->cert_cn);
    c->cert_subject = dup_or_null(p->cert_subject);
    c->cert_issuer = dup_or_null(p->cert_issuer);
    c->cert_sans = dup_or_null(p->cert_sans);
    if (!dup_ok(p->cert_sans, c->cert_sans) || !dup_ok(p->username, c->username) ||
        !dup_ok(p->clientid, c->clientid) || !dup_ok(p->peer_addr, c->peer_addr) ||
        !dup_ok(p->cert_cn, c->cert_cn) || !dup_ok(p->cert_subject, c->cert_subject) ||
        !dup_ok(p->cert_issuer, c->cert_issuer)) {
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
    free(p->cert_cn);
    free(p->cert_subject);
    free(p->cert_issuer);
    free(p->cert_sans);
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
        return a->has_id && b->has_id &&
               memcmp(a->id.issuer_hash, b->id.issuer_hash, sizeof a->id.issuer_hash) == 0 &&
               memcmp(a->id.issuer_key, b->id.issuer_key, sizeof a->id.issuer_key) == 0 &&
               str_eq(a->cert_subject, b->cert_subject);
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
    if (p == NULL || p->kind != RMQ_PRINCIPAL_CERT) {
        return false;
    }
    if (ref_eq(&p->cert, ref)) {
        return true;
    }
    for (size_t i = 0; i < p->chain_len; i++) {
        if (id_is_ref(&p->chain[i], ref)) {
            return true;
        }
    }
    return false;
}

void rmq_principal_peer_ids(const struct rmq_principal *p, struct rmq_peer_info *out)
{
    memset(out, 0, sizeof *out);
    if (p == NULL || p->kind != RMQ_PRINCIPAL_CERT) {
        return;
    }
    out->has_cert = 1;
    memcpy(out->issuer_hash, p->cert.issuer_hash, sizeof out->issuer_hash);
    memcpy(out->serial, p->cert.serial, p->cert.serial_len);
    out->serial_len = p->cert.serial_len;
    snprintf(out->serial_hex, sizeof out->serial_hex, "%s", p->serial_hex);
    out->has_id = p->has_id;
    out->id = p->id;
    memcpy(out->chain, p->chain, p->chain_len * sizeof *p->chain);
    out->chain_len = p->chain_len;
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
        safe(a, sizeof a, p->cert_cn);
        safe(b, sizeof b, p->cert_subject);
        snprintf(out, n, "%sprincipal=cert %scn=\"%s\" %sserial=%s %ssubject=\"%s\"", pre, pre, a,
                 pre, p->serial_hex, pre, b);
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
