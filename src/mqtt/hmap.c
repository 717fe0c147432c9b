/* hmap.c — byte-string keyed hash map; see hmap.h. */
#include "mqtt/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

void rmq_hmap_init(struct rmq_hmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

void rmq_hmap_release(struct rmq_hmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct rmq_hmap_entry *e = m->buckets[i];
        while (e) {
            struct rmq_hmap_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    rmq_hmap_init(m);
}

static struct rmq_hmap_entry **find_slot(const struct rmq_hmap *m, const void *key, size_t klen,
                                         uint64_t h)
{
    if (m->nbuckets == 0) {
        return NULL;
    }
    struct rmq_hmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp) {
        struct rmq_hmap_entry *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            return pp;
        }
        pp = &e->next;
    }
    return pp;
}

void *rmq_hmap_get(const struct rmq_hmap *m, const void *key, size_t klen)
{
    struct rmq_hmap_entry **pp = find_slot(m, key, klen, rmq_hash(key, klen));
    return (pp && *pp) ? (*pp)->value : NULL;
}

static rmq_err grow(struct rmq_hmap *m)
{
    if (m->nbuckets >= UINT32_C(1) << 31) {
        return RMQ_ERR_NOMEM; /* 2^31 entries: no further doubling fits the count */
    }
    uint32_t nb = m->nbuckets ? m->nbuckets * 2 : 4;
    struct rmq_hmap_entry **b = calloc(nb, sizeof *b);
    if (!b) {
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct rmq_hmap_entry *e = m->buckets[i];
        while (e) {
            struct rmq_hmap_entry *n = e->next;
            size_t j = e->hash & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return RMQ_OK;
}

rmq_err rmq_hmap_put(struct rmq_hmap *m, const void *key, size_t klen, void *value, void **old)
{
    uint64_t h = rmq_hash(key, klen);
    if (old) {
        *old = NULL;
    }
    struct rmq_hmap_entry **pp = find_slot(m, key, klen, h);
    if (pp && *pp) {
        if (old) {
            *old = (*pp)->value;
        }
        (*pp)->value = value;
        return RMQ_OK;
    }
    if (m->count >= m->nbuckets) {
        RMQ_TRY(grow(m));
        pp = find_slot(m, key, klen, h);
    }
    struct rmq_hmap_entry *e = malloc(sizeof *e + klen + 1);
    if (!e) {
        return RMQ_ERR_NOMEM;
    }
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->klen = klen;
    if (klen) {
        memcpy(e->key, key, klen);
    }
    e->key[klen] = '\0';
    *pp = e;
    m->count++;
    return RMQ_OK;
}

void *rmq_hmap_del(struct rmq_hmap *m, const void *key, size_t klen)
{
    struct rmq_hmap_entry **pp = find_slot(m, key, klen, rmq_hash(key, klen));
    if (!pp || !*pp) {
        return NULL;
    }
    struct rmq_hmap_entry *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

struct rmq_hmap_entry *rmq_hmap_first(const struct rmq_hmap *m, size_t *it)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        if (m->buckets[i]) {
            *it = i;
            return m->buckets[i];
        }
    }
    return NULL;
}

struct rmq_hmap_entry *rmq_hmap_next(const struct rmq_hmap *m, struct rmq_hmap_entry *e, size_t *it)
{
    if (e->next) {
        return e->next;
    }
    for (size_t i = *it + 1; i < m->nbuckets; i++) {
        if (m->buckets[i]) {
            *it = i;
            return m->buckets[i];
        }
    }
    return NULL;
}
