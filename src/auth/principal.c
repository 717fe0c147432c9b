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

struct rmq_peer_info *rmq_principal_cert_new(size_t chain_room)
{
    if (chain_room > RMQ_PEER_CHAIN_MAX) {
        return NULL;
    }
    struct rmq_peer_info *c =
        calloc(1, offsetof(struct rmq_peer_info, chain) + chain_room * sizeof c->chain[0]);
    if (c != NULL) {
        c->has_cert = 1;
    }
    return c;
}

const char *rmq_principal_cn(const struct rmq_principal *p)
{
    return p != NULL && p->cert != NULL && p->cert->cn != NULL && p->cert->cn[0] ? p->cert->cn
                                                                                 : NULL;
}

const char *rmq_principal_subject(const struct rmq_principal *p)
{
    return p != NULL && p->cert != NULL ? p->cert->dn : NULL;
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
        p->kind = RMQ_PRINCIPAL_CERT;
        p->cert = rmq_peer_info_share(peer);
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
    struct rmq_principal *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->kind = p->kind;
    c->superuser = p->superuser;
    c->username = dup_or_null(p->username);
    c->clientid = dup_or_null(p->clientid);
    c->peer_addr = dup_or_null(p->peer_addr);
    c->cert = rmq_peer_info_share(p->cert); /* read-only: shared, not copied */
    if (!dup_ok(p->username, c->username) || !dup_ok(p->clientid, c->clientid) ||
        !dup_ok(p->peer_addr, c->peer_addr)) {
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
    rmq_peer_info_free(p->cert);
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
               str_eq(a->cert->dn, b->cert->dn);
    case RMQ_PRINCIPAL_USER:
        return str_eq(a->username, b->username);
    case RMQ_PRINCIPAL_ANONYMOUS:
        return true;
    default:
        return false;
    }
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
    const struct rmq_peer_info *c = p->cert;
    if (c->serial_len == ref->serial_len &&
        memcmp(c->issuer_hash, ref->issuer_hash, sizeof ref->issuer_hash) == 0 &&
        memcmp(c->serial, ref->serial, ref->serial_len) == 0) {
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
    const struct rmq_peer_info *c = p->cert;
    out->has_cert = 1;
    memcpy(out->issuer_hash, c->issuer_hash, sizeof out->issuer_hash);
    size_t sl = c->serial_len <= sizeof out->serial ? c->serial_len : 0;
    memcpy(out->serial, c->serial, sl);
    out->serial_len = sl;
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
        safe(a, sizeof a, rmq_principal_cn(p));
        safe(b, sizeof b, rmq_principal_subject(p));
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
