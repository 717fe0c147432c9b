/*
 * hmap.h — a byte-string keyed hash map (separate chaining, power-of-two
 * buckets, grows at load factor 1). Keys are hashed with rmq_hash
 * (common/hash.h, SipHash-2-4 with a random per-process key): client ids and
 * topic levels are chosen by peers, who must not be able to make them collide.
 *
 * Used by the router (children of a topic level), the session table (client
 * id -> session) and the retained store. Keys are copied (owned by the map);
 * values are borrowed pointers the caller owns. Not thread-safe: one owner
 * (the MQTT core thread).
 */
#ifndef RMQ_HMAP_H
#define RMQ_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rmq_hmap_entry {
    struct rmq_hmap_entry *next;
    uint64_t hash;
    void *value;
    size_t klen;
    char key[]; /* klen bytes + NUL */
};

struct rmq_hmap {
    struct rmq_hmap_entry **buckets; /* owned */
    uint32_t nbuckets;               /* 0 or a power of two (at most 2^31) */
    uint32_t count;                  /* one per connection and session: kept small (issue 18) */
};

void rmq_hmap_init(struct rmq_hmap *m);
/* Frees the entries (not the values). */
void rmq_hmap_release(struct rmq_hmap *m);
void *rmq_hmap_get(const struct rmq_hmap *m, const void *key, size_t klen);
/* Inserts or replaces; *old (may be NULL) gets the replaced value or NULL. */
RMQ_MUST_USE rmq_err rmq_hmap_put(struct rmq_hmap *m, const void *key, size_t klen, void *value,
                                  void **old);
/* Removes and returns the value, or NULL. */
void *rmq_hmap_del(struct rmq_hmap *m, const void *key, size_t klen);

/* Iteration: for (e = rmq_hmap_first(m, &i); e; e = rmq_hmap_next(m, e, &i)).
 * The current entry may not be deleted during iteration. */
struct rmq_hmap_entry *rmq_hmap_first(const struct rmq_hmap *m, size_t *it);
struct rmq_hmap_entry *rmq_hmap_next(const struct rmq_hmap *m, struct rmq_hmap_entry *e,
                                     size_t *it);

#endif
