/*
 * test_revocation_crl_index.c — the compact serial index: 1,000,000 serials
 * built directly, and a real signed 1,000,000-entry CRL parsed, checked and
 * indexed; lookups at both ends, in the middle, and misses; memory bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "revocation/crl_int.h"
#include "test_revocation_crl_pki.h"

#define MILLION 1000000u

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A 16-byte serial derived from i (like random serials real CAs use). */
static void serial16(uint32_t i, uint8_t out[16])
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    for (int k = 0; k < 8; k++) {
        out[k] = (uint8_t)(x >> (56 - 8 * k));
        out[8 + k] = (uint8_t)((uint64_t)i >> (56 - 8 * k));
    }
    out[0] |= 0x40; /* no leading zero, positive */
}

static void test_index__million_serials_lookup_and_memory(void **state)
{
    struct rmq_crl_index *ix = NULL;
    uint64_t t0 = now_ms();
    assert_int_equal(rmq_crl_index_new(MILLION, &ix), RMQ_OK);
    uint8_t s[16];
    for (uint32_t i = 0; i < MILLION; i++) {
        serial16(i, s);
        assert_int_equal(rmq_crl_index_add(ix, s, 16, false, (int)(i % 11)), RMQ_OK);
    }
    uint64_t built = now_ms() - t0;
    assert_int_equal(rmq_crl_index_count(ix), MILLION);
    print_message("index: 1M x 16-byte serials built in %llu ms, %zu bytes\n",
                  (unsigned long long)built, rmq_crl_index_memory(ix));
    assert_true(rmq_crl_index_memory(ix) < 64u * 1024 * 1024);
    uint32_t probes[] = {0, 1, MILLION / 2, MILLION / 2 + 1, MILLION - 2, MILLION - 1};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        int reason = -5;
        serial16(probes[k], s);
        assert_true(rmq_crl_index_find(ix, s, 16, false, &reason));
        assert_int_equal(reason, (int)(probes[k] % 11));
    }
    serial16(MILLION, s); /* never added */
    assert_false(rmq_crl_index_find(ix, s, 16, false, NULL));
    s[15] ^= 1;
    assert_false(rmq_crl_index_find(ix, s, 15, false, NULL)); /* shorter */
    /* all million again, timed: must be fast (well under a microsecond each) */
    t0 = now_ms();
    for (uint32_t i = 0; i < MILLION; i++) {
        serial16(i, s);
        if (!rmq_crl_index_find(ix, s, 16, false, NULL)) {
            fail_msg("serial %u missing", i);
        }
    }
    print_message("index: 1M lookups in %llu ms\n", (unsigned long long)(now_ms() - t0));
    rmq_crl_index_free(ix);
}

static void test_index__small_serials_duplicates_and_limits(void **state)
{
    struct rmq_crl_index *ix = NULL;
    assert_int_equal(rmq_crl_index_new(0, &ix), RMQ_OK); /* grows */
    for (uint32_t i = 1; i <= 5000; i++) {
        uint8_t b[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(rmq_crl_index_add(ix, b, 4, false, -1),
                         RMQ_OK); /* leading zeros stripped */
    }
    uint8_t one[1] = {1}, dup[3] = {0, 0, 1};
    assert_int_equal(rmq_crl_index_add(ix, dup, 3, false, 4), RMQ_OK);
    assert_int_equal(rmq_crl_index_count(ix), 5000);
    int reason = 0;
    assert_true(rmq_crl_index_find(ix, one, 1, false, &reason));
    assert_int_equal(reason, -1);  /* the first one wins */
    uint8_t big[2] = {0x13, 0x88}; /* 5000 */
    assert_true(rmq_crl_index_find(ix, big, 2, false, NULL));
    uint8_t over[2] = {0x13, 0x89};
    assert_false(rmq_crl_index_find(ix, over, 2, false, NULL));
    uint8_t huge[RMQ_CRL_SERIAL_MAX + 1];
    memset(huge, 0x11, sizeof huge);
    assert_int_equal(rmq_crl_index_add(ix, huge, sizeof huge, false, -1), RMQ_ERR_INVALID);
    assert_int_equal(rmq_crl_index_add(ix, huge, 0, false, -1), RMQ_ERR_INVALID);
    assert_false(rmq_crl_index_find(ix, huge, 0, false, NULL));
    rmq_crl_index_free(ix);
}

static void test_index__real_million_entry_crl(void **state)
{
    if (getenv("RMQ_SKIP_SLOW")) {
        skip();
    }
    struct tca ca = tca_make("Big CA", true);
    uint64_t t0 = now_ms();
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.cert));
    ASN1_TIME *tu = X509_gmtime_adj(NULL, -60);
    ASN1_TIME *nu = X509_gmtime_adj(NULL, 3600);
    X509_CRL_set1_lastUpdate(crl, tu);
    X509_CRL_set1_nextUpdate(crl, nu);
    for (uint32_t i = 0; i < MILLION; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        ASN1_INTEGER_set_uint64(sn, 1000000007ull + (uint64_t)i * 3);
        X509_REVOKED_set_serialNumber(r, sn);
        ASN1_INTEGER_free(sn);
        X509_REVOKED_set_revocationDate(r, tu);
        X509_CRL_add0_revoked(crl, r);
    }
    X509_CRL_sign(crl, ca.key, EVP_sha256());
    size_t dl;
    unsigned char *der = tcrl_der(crl, &dl);
    X509_CRL_free(crl);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    uint64_t t1 = now_ms();
    print_message("crl: 1M-entry CRL generated in %llu ms, %zu bytes DER\n",
                  (unsigned long long)(t1 - t0), dl);

    STACK_OF(X509_CRL) *sk = NULL;
    const char *why = NULL;
    assert_int_equal(rmq_crl_parse_body(der, dl, &sk, &why), RMQ_OK);
    assert_int_equal(sk_X509_CRL_num(sk), 1);
    STACK_OF(X509) *trust = sk_X509_new_null();
    sk_X509_push(trust, ca.cert);
    assert_null(rmq_crl_check(sk_X509_CRL_value(sk, 0), trust, time(NULL), 0, NULL));
    struct rmq_crl_entry *c = NULL;
    assert_int_equal(rmq_crl_entry_build(sk_X509_CRL_value(sk, 0), ca.cert, 0, false, &c), RMQ_OK);
    uint64_t t2 = now_ms();
    print_message("crl: parsed, verified and indexed in %llu ms; index %zu bytes\n",
                  (unsigned long long)(t2 - t1), rmq_crl_index_memory(c->index));
    assert_int_equal(rmq_crl_index_count(c->index), MILLION);

    struct rmq_crl_snapshot *s = NULL;
    assert_int_equal(rmq_crl_snapshot_new(&c, 1, 1, &s), RMQ_OK);
    unsigned char h[32], sb[8];
    tca_name_hash(&ca, h);
    uint64_t hits[] = {1000000007ull, 1000000007ull + 3ull * (MILLION / 2),
                       1000000007ull + 3ull * (MILLION - 1)};
    for (size_t k = 0; k < 3; k++) {
        size_t n = serial_bytes((unsigned long)hits[k], sb);
        assert_int_equal(tlookup(s, h, sb, n, NULL), RMQ_CRL_REVOKED);
    }
    size_t n = serial_bytes(1000000008ul, sb); /* between two entries */
    assert_int_equal(tlookup(s, h, sb, n, NULL), RMQ_CRL_GOOD);
    n = serial_bytes(1000000007ul + 3ul * MILLION, sb); /* just past the end */
    assert_int_equal(tlookup(s, h, sb, n, NULL), RMQ_CRL_GOOD);
    rmq_crl_snapshot_release(s);
    rmq_crl_entry_unref(c);
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
    sk_X509_free(trust);
    free(der);
    tca_free(&ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index__million_serials_lookup_and_memory),
        cmocka_unit_test(test_index__small_serials_duplicates_and_limits),
        cmocka_unit_test(test_index__real_million_entry_crl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
