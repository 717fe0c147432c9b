/* peer_info.c — rmq_peer_info helpers; see peer_info.h. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/peer_info.h"

void rmq_peer_info_clear(struct rmq_peer_info *p)
{
    free(p->cn);
    free(p->issuer_dn);
    free(p->dn);
    free(p->pem);
    free(p->sans);
    memset(p, 0, sizeof *p);
}

struct rmq_peer_info *rmq_peer_info_keep(struct rmq_peer_info *p, int keep_pem)
{
    if (!p->has_cert) {
        rmq_peer_info_clear(p);
        return NULL;
    }
    size_t n = p->chain_len <= RMQ_PEER_CHAIN_MAX ? p->chain_len : RMQ_PEER_CHAIN_MAX;
    size_t size = offsetof(struct rmq_peer_info, chain) + n * sizeof p->chain[0];
    struct rmq_peer_info *k = malloc(size);
    if (k == NULL) {
        rmq_peer_info_clear(p);
        return NULL;
    }
    memcpy(k, p, size);
    k->chain_len = n;
    k->shares = 0;
    if (!keep_pem) {
        free(k->pem);
        k->pem = NULL;
    }
    memset(p, 0, sizeof *p); /* the strings are k's now */
    return k;
}

struct rmq_peer_info *rmq_peer_info_share(const struct rmq_peer_info *p)
{
    if (p == NULL) {
        return NULL;
    }
    /* The count is bookkeeping, not the value the const promises to keep. */
    struct rmq_peer_info *q = (struct rmq_peer_info *)p;
    q->shares++;
    return q;
}

void rmq_peer_info_free(struct rmq_peer_info *p)
{
    if (p == NULL) {
        return;
    }
    if (p->shares > 0) {
        p->shares--;
        return;
    }
    free(p->cn);
    free(p->issuer_dn);
    free(p->dn);
    free(p->pem);
    free(p->sans);
    free(p);
}
