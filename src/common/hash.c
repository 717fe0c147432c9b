/* hash.c — SipHash-2-4 (Aumasson, Bernstein 2012) with a per-process key; see hash.h. */
#include "common/hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* one load; byte-swapped on big-endian hosts */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

struct sip {
    uint64_t v0, v1, v2, v3;
};

static void round2(struct sip *s, unsigned rounds)
{
    for (unsigned r = 0; r < rounds; r++) {
        s->v0 += s->v1;
        s->v1 = rotl(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = rotl(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = rotl(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = rotl(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = rotl(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = rotl(s->v2, 32);
    }
}

static void absorb(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    round2(s, 2); /* c = 2 compression rounds */
    s->v0 ^= m;
}

uint64_t rmq_siphash24(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    struct sip s = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                    k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        absorb(&s, load_le64(p + i));
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56; /* length byte, then the tail */
    for (size_t i = 0; i < len % 8; i++) {
        last |= (uint64_t)p[whole + i] << (8 * i);
    }
    absorb(&s, last);
    s.v2 ^= 0xff;
    round2(&s, 4); /* d = 4 finalization rounds */
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static uint8_t process_key[16];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
    size_t got = 0;
    while (got < sizeof process_key) {
        ssize_t n = getrandom(process_key + got, sizeof process_key - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "revmq: hash: getrandom failed (errno %d): cannot seed hash tables\n",
                    errno);
            abort();
        }
        got += (size_t)n;
    }
}

uint64_t rmq_hash(const void *p, size_t len)
{
    pthread_once(&key_once, make_key);
    return rmq_siphash24(process_key, p, len);
}
