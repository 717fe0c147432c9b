/*
 * crl_index.c — compact serial set for one CRL; see crl_int.h.
 *
 * Layout: serials are packed in one arena as [len|sign:u8][reason:u8][bytes…]
 * (bit 7 of the first byte: negative serial, RFC 5280 4.1.2.2 allows them;
 * -5 and 5 are different certificates);
 * an open-addressing table (linear probing, load <= 1/2) of u32 slots holds
 * arena offset + 1 (0 = empty). A 1,000,000-entry CRL of 16-byte serials
 * costs ~18 MB of arena + 8 MB of table; a lookup is one hash and, almost
 * always, one or two memcmp.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "revocation/crl_int.h"

#define REASON_NONE_BYTE 0xFFu
#define NEG_BIT 0x80u
#define MAX_ENTRIES (1u << 30)

struct rmq_crl_index {
    uint32_t *slots;
    size_t mask; /* table size - 1 (power of two) */
    uint8_t *arena;
    size_t arena_len, arena_alloc;
    size_t count;
};

/* The process's keyed hash (common/hash.h): a serial list nobody can make
 * collide on purpose; -5 and 5 differ (the complement is a bijection). */
static uint64_t hash_serial(const uint8_t *p, size_t n, bool neg)
{
    uint64_t h = rmq_hash(p, n);
    return neg ? ~h : h;
}

static void strip_zeros(const uint8_t **p, size_t *n)
{
    while (*n > 1 && (*p)[0] == 0) {
        (*p)++;
        (*n)--;
    }
}

static size_t table_size_for(size_t n)
{
    size_t sz = 16;
    while (sz < n * 2) {
        sz *= 2;
    }
    return sz;
}

rmq_err rmq_crl_index_new(size_t expected, struct rmq_crl_index **out)
{
    *out = NULL;
    if (expected > MAX_ENTRIES) {
        return RMQ_ERR_TOO_LARGE;
    }
    struct rmq_crl_index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        return RMQ_ERR_NOMEM;
    }
    size_t sz = table_size_for(expected);
    ix->slots = calloc(sz, sizeof *ix->slots);
    ix->mask = sz - 1;
    ix->arena_alloc = expected ? expected * 12 : 64; /* grows when serials are long */
    ix->arena = malloc(ix->arena_alloc);
    if (!ix->slots || !ix->arena) {
        rmq_crl_index_free(ix);
        return RMQ_ERR_NOMEM;
    }
    *out = ix;
    return RMQ_OK;
}

void rmq_crl_index_free(struct rmq_crl_index *ix)
{
    if (!ix) {
        return;
    }
    free(ix->slots);
    free(ix->arena);
    free(ix);
}

/* Slot index where serial is, or the empty slot where it would go. */
static size_t probe(const struct rmq_crl_index *ix, const uint8_t *s, size_t n, bool neg,
                    bool *found)
{
    size_t i = (size_t)hash_serial(s, n, neg) & ix->mask;
    uint8_t tag = (uint8_t)(n | (neg ? NEG_BIT : 0));
    for (;;) {
        uint32_t v = ix->slots[i];
        if (v == 0) {
            *found = false;
            return i;
        }
        const uint8_t *e = ix->arena + (v - 1);
        if (e[0] == tag && memcmp(e + 2, s, n) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & ix->mask;
    }
}

static rmq_err grow_table(struct rmq_crl_index *ix)
{
    size_t nsz = (ix->mask + 1) * 2;
    uint32_t *ns = calloc(nsz, sizeof *ns);
    if (!ns) {
        return RMQ_ERR_NOMEM;
    }
    uint32_t *old = ix->slots;
    size_t osz = ix->mask + 1;
    ix->slots = ns;
    ix->mask = nsz - 1;
    for (size_t i = 0; i < osz; i++) {
        if (old[i]) {
            const uint8_t *e = ix->arena + (old[i] - 1);
            bool found;
            size_t at = probe(ix, e + 2, e[0] & ~NEG_BIT, (e[0] & NEG_BIT) != 0, &found);
            ix->slots[at] = old[i];
        }
    }
    free(old);
    return RMQ_OK;
}

rmq_err rmq_crl_index_add(struct rmq_crl_index *ix, const uint8_t *serial, size_t len,
                          bool negative, int reason)
{
    strip_zeros(&serial, &len);
    if (len == 0 || len > RMQ_CRL_SERIAL_MAX) {
        return RMQ_ERR_INVALID;
    }
    if (ix->count >= MAX_ENTRIES) {
        return RMQ_ERR_TOO_LARGE;
    }
    if ((ix->count + 1) * 2 > ix->mask + 1) {
        RMQ_TRY(grow_table(ix));
    }
    bool found;
    size_t at = probe(ix, serial, len, negative, &found);
    if (found) {
        return RMQ_OK;
    }
    size_t need = len + 2;
    if (need > ix->arena_alloc - ix->arena_len) {
        size_t na = ix->arena_alloc * 2 + need;
        if (na > UINT32_MAX - 1) {
            return RMQ_ERR_TOO_LARGE;
        }
        uint8_t *p = realloc(ix->arena, na);
        if (!p) {
            return RMQ_ERR_NOMEM;
        }
        ix->arena = p;
        ix->arena_alloc = na;
    }
    uint8_t *e = ix->arena + ix->arena_len;
    e[0] = (uint8_t)(len | (negative ? NEG_BIT : 0));
    e[1] = (reason >= 0 && reason < 255) ? (uint8_t)reason : REASON_NONE_BYTE;
    memcpy(e + 2, serial, len);
    ix->slots[at] = (uint32_t)(ix->arena_len + 1);
    ix->arena_len += need;
    ix->count++;
    return RMQ_OK;
}

bool rmq_crl_index_find(const struct rmq_crl_index *ix, const uint8_t *serial, size_t len,
                        bool negative, int *reason)
{
    if (reason) {
        *reason = RMQ_CRL_REASON_NONE;
    }
    strip_zeros(&serial, &len);
    if (!ix || len == 0 || len > RMQ_CRL_SERIAL_MAX || ix->count == 0) {
        return false;
    }
    bool found;
    size_t at = probe(ix, serial, len, negative, &found);
    if (found && reason) {
        uint8_t r = ix->arena[ix->slots[at] - 1 + 1];
        *reason = r == REASON_NONE_BYTE ? RMQ_CRL_REASON_NONE : r;
    }
    return found;
}

void rmq_crl_index_seal(struct rmq_crl_index *ix)
{
    if (ix && ix->arena_len > 0 && ix->arena_len < ix->arena_alloc) {
        uint8_t *p = realloc(ix->arena, ix->arena_len);
        if (p) {
            ix->arena = p;
            ix->arena_alloc = ix->arena_len;
        }
    }
}

size_t rmq_crl_index_count(const struct rmq_crl_index *ix)
{
    return ix ? ix->count : 0;
}

size_t rmq_crl_index_memory(const struct rmq_crl_index *ix)
{
    return ix ? sizeof *ix + (ix->mask + 1) * sizeof(uint32_t) + ix->arena_alloc : 0;
}
