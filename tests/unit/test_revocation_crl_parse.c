/*
 * test_revocation_crl_parse.c — sniffing, parsing and the acceptance checks
 * of CRLs (crl_parse.c), the progress rules, and snapshot lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "revocation/crl_int.h"
#include "test_revocation_crl_pki.h"

static struct tca ca1, ca2, ca_nocrlsign, ca1_twin;
static STACK_OF(X509) * trust;

static int group_setup(void **state)
{
    ca1 = tca_make("CA one", true);
    ca2 = tca_make("CA two", true);
    ca_nocrlsign = tca_make("CA no crl sign", false);
    ca1_twin = tca_make("CA one", true); /* same name, other key */
    trust = sk_X509_new_null();
    sk_X509_push(trust, ca1.cert);
    sk_X509_push(trust, ca2.cert);
    sk_X509_push(trust, ca_nocrlsign.cert);
    return 0;
}

static int group_teardown(void **state)
{
    sk_X509_free(trust);
    tca_free(&ca1);
    tca_free(&ca2);
    tca_free(&ca_nocrlsign);
    tca_free(&ca1_twin);
    return 0;
}

static const unsigned long SERIALS[] = {3, 0x1234, 0xdeadbeefUL};

/* Parses one body and returns the number of CRLs (or -1 with *why). */
static int parse(const void *p, size_t n, const char **why)
{
    STACK_OF(X509_CRL) *sk = NULL;
    *why = NULL;
    if (rmq_crl_parse_body(p, n, &sk, why) != RMQ_OK) {
        assert_null(sk);
        return -1;
    }
    int c = sk_X509_CRL_num(sk);
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
    return c;
}

static void test_parse__pem_der_and_two_pem(void **state)
{
    X509_CRL *a = tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, tcrl_defaults());
    X509_CRL *b = tcrl_make(&ca2, &ca2, SERIALS, 1, NULL, tcrl_defaults());
    const char *why;
    size_t dl, pl, p2l;
    unsigned char *der = tcrl_der(a, &dl);
    char *pem = tcrl_pem(&a, 1, &pl);
    X509_CRL *both[2] = {a, b};
    char *pem2 = tcrl_pem(both, 2, &p2l);
    assert_int_equal(parse(der, dl, &why), 1);
    assert_int_equal(parse(pem, pl, &why), 1);
    assert_int_equal(parse(pem2, p2l, &why), 2);
    /* PEM with text around it (openssl crl -text output) */
    char *txt = NULL;
    assert_true(asprintf(&txt, "Certificate Revocation List (CRL):\n  blah\n%s\ntrailer\n", pem) >
                0);
    assert_int_equal(parse(txt, strlen(txt), &why), 1);
    /* two DER CRLs back to back */
    size_t dbl;
    unsigned char *derb = tcrl_der(b, &dbl);
    unsigned char *cat = malloc(dl + dbl);
    memcpy(cat, der, dl);
    memcpy(cat + dl, derb, dbl);
    assert_int_equal(parse(cat, dl + dbl, &why), 2);
    free(txt);
    free(cat);
    free(derb);
    free(der);
    free(pem);
    free(pem2);
    X509_CRL_free(a);
    X509_CRL_free(b);
}

static void test_parse__garbage_truncated_and_trailing_are_rejected(void **state)
{
    const char *why;
    assert_int_equal(parse("hello world", 11, &why), -1);
    assert_string_equal(why, "garbage");
    assert_int_equal(parse("", 0, &why), -1);
    assert_int_equal(parse("\x30\x03\x02\x01\x01", 5, &why), -1);
    assert_string_equal(why, "garbage");
    X509_CRL *a = tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, tcrl_defaults());
    size_t dl, pl;
    unsigned char *der = tcrl_der(a, &dl);
    char *pem = tcrl_pem(&a, 1, &pl);
    /* every proper prefix of the DER is rejected, never accepted */
    for (size_t n = 1; n < dl; n++) {
        assert_int_equal(parse(der, n, &why), -1);
        assert_non_null(why);
    }
    assert_int_equal(parse(der, dl / 2, &why), -1);
    assert_string_equal(why, "truncated");
    /* a PEM cut in the middle */
    assert_int_equal(parse(pem, pl / 2, &why), -1);
    assert_string_equal(why, "truncated");
    /* a DER followed by junk */
    unsigned char *junk = malloc(dl + 3);
    memcpy(junk, der, dl);
    memcpy(junk + dl, "abc", 3);
    assert_int_equal(parse(junk, dl + 3, &why), -1);
    assert_string_equal(why, "trailing_data");
    /* a DER followed by a newline is fine */
    junk[dl] = '\n';
    assert_int_equal(parse(junk, dl + 1, &why), 1);
    /* byte flips never crash */
    for (size_t i = 0; i < dl; i += 7) {
        unsigned char *m = malloc(dl);
        memcpy(m, der, dl);
        m[i] ^= 0x5a;
        (void)parse(m, dl, &why);
        free(m);
    }
    free(junk);
    free(der);
    free(pem);
    X509_CRL_free(a);
}

static void test_parse__bundle_keeps_the_position_of_a_garbage_block(void **state)
{
    (void)state;
    X509_CRL *a = tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, tcrl_defaults());
    X509_CRL *b = tcrl_make(&ca2, &ca2, SERIALS, 1, NULL, tcrl_defaults());
    size_t al, bl;
    char *pa = tcrl_pem(&a, 1, &al), *pb = tcrl_pem(&b, 1, &bl);
    static const char junk[] = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
    size_t n = al + sizeof junk - 1 + bl;
    char *body = malloc(n);
    memcpy(body, pa, al);
    memcpy(body + al, junk, sizeof junk - 1);
    memcpy(body + al + sizeof junk - 1, pb, bl);
    const char *why = NULL;
    /* strict: the body is refused, and the reason says the content is no CRL */
    assert_int_equal(parse(body, n, &why), -1);
    assert_string_equal(why, "garbage");
    /* bundle: three slots, the middle one empty */
    STACK_OF(X509_CRL) *sk = NULL;
    assert_int_equal(rmq_crl_parse_bundle((const uint8_t *)body, n, &sk, &why), RMQ_OK);
    assert_int_equal(sk_X509_CRL_num(sk), 3);
    assert_non_null(sk_X509_CRL_value(sk, 0));
    assert_null(sk_X509_CRL_value(sk, 1));
    assert_non_null(sk_X509_CRL_value(sk, 2));
    sk_X509_CRL_pop_free(sk, X509_CRL_free);
    /* only garbage: refused whole; a cut PEM: refused whole (framing) */
    assert_int_not_equal(rmq_crl_parse_bundle((const uint8_t *)junk, sizeof junk - 1, &sk, &why),
                         RMQ_OK);
    assert_string_equal(why, "garbage");
    assert_int_not_equal(rmq_crl_parse_bundle((const uint8_t *)body, al / 2, &sk, &why), RMQ_OK);
    assert_string_equal(why, "truncated");
    free(body);
    free(pa);
    free(pb);
    X509_CRL_free(a);
    X509_CRL_free(b);
}

static const char *check(X509_CRL *crl, uint64_t grace_ms)
{
    const char *why = rmq_crl_check(crl, trust, time(NULL), grace_ms, NULL);
    X509_CRL_free(crl);
    return why;
}

static void test_check__accepts_good_and_names_each_failure(void **state)
{
    struct tcrl_opts o = tcrl_defaults();
    assert_null(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, o), 0));
    /* signed by another key under the same name */
    assert_string_equal(check(tcrl_make(&ca1, &ca1_twin, SERIALS, 3, NULL, o), 0), "signature");
    /* signed by a CA that is not trusted at all */
    struct tca stranger = tca_make("Stranger", true);
    assert_string_equal(check(tcrl_make(&stranger, &stranger, SERIALS, 3, NULL, o), 0),
                        "issuer_unknown");
    tca_free(&stranger);
    /* trusted CA whose keyUsage lacks cRLSign */
    assert_string_equal(check(tcrl_make(&ca_nocrlsign, &ca_nocrlsign, SERIALS, 3, NULL, o), 0),
                        "signer_not_crl_sign");
    /* expired */
    struct tcrl_opts exp = o;
    exp.this_update_off = -7200;
    exp.next_update_off = -3600;
    assert_string_equal(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, exp), 0), "next_update_past");
    /* expired but within stale_grace */
    assert_null(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, exp), 7200 * 1000));
    /* not yet valid */
    struct tcrl_opts fut = o;
    fut.this_update_off = 86400;
    fut.next_update_off = 2 * 86400;
    assert_string_equal(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, fut), 0),
                        "this_update_in_future");
    /* no nextUpdate */
    struct tcrl_opts nonu = o;
    nonu.no_next_update = true;
    assert_string_equal(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, nonu), 0),
                        "next_update_missing");
    /* unknown critical extension */
    struct tcrl_opts crit = o;
    crit.critical_unknown = true;
    assert_string_equal(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, crit), 0),
                        "critical_extension");
    /* IDP: indirect CRLs refused; onlyContainsUserCerts accepted */
    struct tcrl_opts idp = o;
    idp.idp = "critical,indirectCRL:TRUE";
    assert_string_equal(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, idp), 0), "indirect_crl");
    /* reason-partitioned CRLs are accepted: they cover only their reasons */
    idp.idp = "critical,onlysomereasons:keyCompromise";
    assert_null(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, idp), 0));
    idp.idp = "critical,onlyuser:TRUE";
    assert_null(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, idp), 0));
    /* delta CRL indicator is a known critical extension */
    struct tcrl_opts delta = o;
    delta.delta = true;
    assert_null(check(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, delta), 0));
}

static struct rmq_crl_entry *entry(X509_CRL *crl)
{
    struct rmq_crl_entry *c = NULL;
    assert_int_equal(rmq_crl_entry_build(crl, treg_signer(crl), 0, false, &c), RMQ_OK);
    X509_CRL_free(crl);
    return c;
}

static void test_progress__number_must_not_go_back(void **state)
{
    struct tcrl_opts o = tcrl_defaults();
    o.number = 5;
    struct rmq_crl_entry *n5 = entry(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, o));
    o.number = 4;
    struct rmq_crl_entry *n4 = entry(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, o));
    o.number = 5;
    struct rmq_crl_entry *n5b = entry(tcrl_make(&ca1, &ca1, SERIALS, 2, NULL, o));
    o.number = 300;
    struct rmq_crl_entry *n300 = entry(tcrl_make(&ca1, &ca1, SERIALS, 2, NULL, o));
    bool same = true;
    assert_null(rmq_crl_check_progress(n5, n300, &same));
    assert_false(same);
    assert_string_equal(rmq_crl_check_progress(n5, n4, NULL), "crl_number_went_back");
    assert_string_equal(rmq_crl_check_progress(n300, n5, NULL), "crl_number_went_back");
    assert_string_equal(rmq_crl_check_progress(n5, n5b, NULL), "crl_number_reused");
    assert_null(rmq_crl_check_progress(n5, n5, &same));
    assert_true(same);
    /* without numbers: thisUpdate must not go back */
    struct tcrl_opts a = tcrl_defaults(), b = tcrl_defaults();
    a.number = b.number = -1;
    a.this_update_off = -100;
    b.this_update_off = -5000;
    struct rmq_crl_entry *newer = entry(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, a));
    struct rmq_crl_entry *older = entry(tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, b));
    assert_string_equal(rmq_crl_check_progress(newer, older, NULL), "this_update_went_back");
    assert_null(rmq_crl_check_progress(older, newer, NULL));
    rmq_crl_entry_unref(n5);
    rmq_crl_entry_unref(n4);
    rmq_crl_entry_unref(n5b);
    rmq_crl_entry_unref(n300);
    rmq_crl_entry_unref(newer);
    rmq_crl_entry_unref(older);
}

static void test_snapshot__lookup_per_issuer_with_reasons(void **state)
{
    int reasons[] = {1, -1, 6};
    struct rmq_crl_entry *e1 = entry(tcrl_make(&ca1, &ca1, SERIALS, 3, reasons, tcrl_defaults()));
    unsigned long s2[] = {77};
    struct tcrl_opts onlyca = tcrl_defaults();
    onlyca.idp = "critical,onlyCA:TRUE";
    struct rmq_crl_entry *e2 = entry(tcrl_make(&ca2, &ca2, s2, 1, NULL, onlyca));
    struct rmq_crl_entry *v[2] = {e1, e2};
    struct rmq_crl_snapshot *s = NULL;
    assert_int_equal(rmq_crl_snapshot_new(v, 2, 7, &s), RMQ_OK);
    rmq_crl_entry_unref(e1);
    rmq_crl_entry_unref(e2);
    unsigned char h1[32], h2[32], h3[32] = {0};
    tca_name_hash(&ca1, h1);
    tca_name_hash(&ca2, h2);
    unsigned char sb[8];
    int reason = 99;
    size_t n = serial_bytes(0x1234, sb);
    assert_int_equal(tlookup(s, h1, sb, n, &reason), RMQ_CRL_REVOKED);
    assert_int_equal(reason, -1);
    n = serial_bytes(3, sb);
    assert_int_equal(tlookup(s, h1, sb, n, &reason), RMQ_CRL_REVOKED);
    assert_int_equal(reason, 1);
    n = serial_bytes(0xdeadbeefUL, sb);
    assert_int_equal(tlookup(s, h1, sb, n, &reason), RMQ_CRL_REVOKED);
    assert_int_equal(reason, 6);
    /* a leading zero byte (DER INTEGER sign octet) is the same serial */
    unsigned char padded[5] = {0x00, 0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(tlookup(s, h1, padded, 5, NULL), RMQ_CRL_REVOKED);
    n = serial_bytes(4, sb);
    assert_int_equal(tlookup(s, h1, sb, n, &reason), RMQ_CRL_GOOD);
    assert_int_equal(reason, -1);
    /* CA-only CRL: it revokes the CA certificates it lists, and says nothing
     * about end-entity certificates, not even one whose serial it lists
     * (RFC 5280 6.3.3 (b)(2)(iii)). */
    n = serial_bytes(77, sb);
    struct rmq_cert_id ca_id = tid(h2, sb, n);
    ca_id.is_ca = true;
    assert_int_equal(rmq_crl_snapshot_lookup(s, &ca_id, NULL), RMQ_CRL_REVOKED);
    assert_int_equal(tlookup(s, h2, sb, n, NULL), RMQ_CRL_NO_CRL);
    n = serial_bytes(78, sb);
    ca_id = tid(h2, sb, n);
    ca_id.is_ca = true;
    assert_int_equal(rmq_crl_snapshot_lookup(s, &ca_id, NULL), RMQ_CRL_GOOD);
    assert_int_equal(tlookup(s, h2, sb, n, NULL), RMQ_CRL_NO_CRL);
    assert_int_equal(tlookup(s, h3, sb, n, NULL), RMQ_CRL_NO_CRL);
    assert_int_equal(rmq_crl_snapshot_version(s), 7);
    assert_int_equal(rmq_crl_snapshot_crl_count(s), 2);
    rmq_crl_snapshot_release(s);
}

static void test_snapshot__expired_crl_stops_covering(void **state)
{
    struct tcrl_opts o = tcrl_defaults();
    o.this_update_off = -7200;
    o.next_update_off = -10; /* stale already */
    X509_CRL *crl = tcrl_make(&ca1, &ca1, SERIALS, 3, NULL, o);
    struct rmq_crl_entry *c = NULL;
    assert_int_equal(rmq_crl_entry_build(crl, treg_signer(crl), 0, false, &c), RMQ_OK);
    X509_CRL_free(crl);
    struct rmq_crl_snapshot *s = NULL;
    assert_int_equal(rmq_crl_snapshot_new(&c, 1, 1, &s), RMQ_OK);
    rmq_crl_entry_unref(c);
    unsigned char h1[32], sb[8];
    tca_name_hash(&ca1, h1);
    size_t n = serial_bytes(4, sb);
    assert_int_equal(tlookup(s, h1, sb, n, NULL), RMQ_CRL_NO_CRL);
    n = serial_bytes(3, sb);
    assert_int_equal(tlookup(s, h1, sb, n, NULL), RMQ_CRL_REVOKED);
    rmq_crl_snapshot_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse__pem_der_and_two_pem),
        cmocka_unit_test(test_parse__garbage_truncated_and_trailing_are_rejected),
        cmocka_unit_test(test_parse__bundle_keeps_the_position_of_a_garbage_block),
        cmocka_unit_test(test_check__accepts_good_and_names_each_failure),
        cmocka_unit_test(test_progress__number_must_not_go_back),
        cmocka_unit_test(test_snapshot__lookup_per_issuer_with_reasons),
        cmocka_unit_test(test_snapshot__expired_crl_stops_covering),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
