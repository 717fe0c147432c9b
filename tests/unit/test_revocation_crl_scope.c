/*
 * test_revocation_crl_scope.c — which CRL covers which certificate (RFC 5280
 * 5.2.5, 6.3.3): the coverage function rmq_crl_entry_scope, the certificate
 * side rmq_crl_cert_id and the snapshot verdicts built on them, with CRLs and
 * certificates made by OpenSSL (issue 11).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "revocation/crl_int.h"
#include "test_revocation_crl_pki.h"

static struct tca ca, twin; /* same subject DN, different keys */
static STACK_OF(X509) * trust;

static int group_setup(void **state)
{
    (void)state;
    ca = tca_make("Scope CA", true);
    twin = tca_make("Scope CA", true);
    trust = sk_X509_new_null();
    sk_X509_push(trust, ca.cert);
    sk_X509_push(trust, twin.cert);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sk_X509_free(trust);
    tca_free(&ca);
    tca_free(&twin);
    return 0;
}

/* A certificate of `serial` (negative when neg) issued by `by`; a CA one
 * when is_ca; CDP from conf syntax (e.g. "URI:http://x/p1.crl") or none. */
static X509 *leaf(const struct tca *by, long serial, bool is_ca, const char *cdp)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"leaf", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(by->cert));
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509_set_pubkey(x, k);
    EVP_PKEY_free(k);
    add_ext(x, by->cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (cdp != NULL) {
        add_ext(x, by->cert, NID_crl_distribution_points, cdp);
    }
    X509_sign(x, by->key, EVP_sha256());
    return x;
}

static struct rmq_cert_id idof(const struct tca *by, long serial, bool is_ca, const char *cdp)
{
    X509 *x = leaf(by, serial, is_ca, cdp);
    struct rmq_cert_id id;
    assert_int_equal(rmq_crl_cert_id(x, by->cert, &id), RMQ_OK);
    X509_free(x);
    return id;
}

/* An accepted entry of a CRL by `by` listing serials, with IDP conf or none. */
static struct rmq_crl_entry *crl_of_reasons(const struct tca *by, const unsigned long *serials,
                                            size_t n, const char *idp, bool delta, unsigned reasons)
{
    struct tcrl_opts o = tcrl_defaults();
    o.idp = idp;
    o.delta = delta;
    o.some_reasons = reasons;
    X509_CRL *crl = tcrl_make(by, by, serials, n, NULL, o);
    X509 *signer = NULL;
    assert_null(rmq_crl_check(crl, trust, time(NULL), 0, &signer));
    assert_ptr_equal(signer, by->cert); /* the key that signed it, not its namesake */
    struct rmq_crl_entry *e = NULL;
    assert_int_equal(rmq_crl_entry_build(crl, signer, 0, false, &e), RMQ_OK);
    X509_CRL_free(crl);
    return e;
}

static struct rmq_crl_entry *crl_of(const struct tca *by, const unsigned long *serials, size_t n,
                                    const char *idp, bool delta)
{
    return crl_of_reasons(by, serials, n, idp, delta, 0);
}

static enum rmq_crl_scope scope(const struct rmq_crl_entry *e, const struct rmq_cert_id *id)
{
    uint16_t r = 0;
    enum rmq_crl_scope s = rmq_crl_entry_scope(e, id, &r);
    if (s != RMQ_CRL_SCOPE_COVERS) {
        assert_int_equal(r, 0);
    }
    return s;
}

static enum rmq_crl_verdict verdict(struct rmq_crl_entry **v, size_t n,
                                    const struct rmq_cert_id *id)
{
    struct rmq_crl_snapshot *s = NULL;
    assert_int_equal(rmq_crl_snapshot_new(v, n, 1, &s), RMQ_OK);
    enum rmq_crl_verdict out = rmq_crl_snapshot_lookup(s, id, NULL);
    if (out == RMQ_CRL_NO_CRL) {
        char why[512];
        rmq_crl_snapshot_explain(s, id, why, sizeof why);
        assert_true(why[0] != '\0');
    }
    rmq_crl_snapshot_release(s);
    return out;
}

static void test_scope__same_name_other_key_is_not_covered(void **state)
{
    (void)state;
    unsigned long none[] = {999};
    unsigned long seven[] = {7};
    struct rmq_crl_entry *a = crl_of(&ca, none, 1, NULL, false);
    struct rmq_crl_entry *b = crl_of(&twin, seven, 1, NULL, false);
    struct rmq_cert_id of_a = idof(&ca, 7, false, NULL);
    struct rmq_cert_id of_b = idof(&twin, 7, false, NULL);
    assert_memory_equal(of_a.issuer_hash, of_b.issuer_hash, 32);
    assert_memory_not_equal(of_a.issuer_key, of_b.issuer_key, 32);
    assert_int_equal(scope(a, &of_a), RMQ_CRL_SCOPE_COVERS);
    assert_int_equal(scope(a, &of_b), RMQ_CRL_SCOPE_ISSUER_KEY);
    /* only A's CRL: B's certificate is unknown, not good */
    assert_int_equal(verdict(&a, 1, &of_b), RMQ_CRL_NO_CRL);
    /* B's CRL revokes B's 7, not A's 7 */
    struct rmq_crl_entry *both[2] = {a, b};
    assert_int_equal(verdict(both, 2, &of_b), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(both, 2, &of_a), RMQ_CRL_GOOD);
    /* CRL numbers of the two keys are never compared: different scopes */
    assert_false(rmq_crl_same_scope(a, b));
    rmq_crl_entry_unref(a);
    rmq_crl_entry_unref(b);
}

static void test_scope__idp_distribution_point_partitions(void **state)
{
    (void)state;
    unsigned long p2rev[] = {22};
    struct rmq_crl_entry *p1 =
        crl_of(&ca, NULL, 0, "critical,fullname:URI:http://crl.test/p1.crl", false);
    struct rmq_crl_entry *p2 =
        crl_of(&ca, p2rev, 1, "critical,fullname:URI:http://crl.test/p2.crl", false);
    struct rmq_cert_id in1 = idof(&ca, 11, false, "URI:http://crl.test/p1.crl");
    struct rmq_cert_id in2 = idof(&ca, 21, false, "URI:http://crl.test/p2.crl");
    struct rmq_cert_id nocdp = idof(&ca, 31, false, NULL);
    assert_int_equal(in1.ndp, 1);
    assert_int_equal(scope(p1, &in1), RMQ_CRL_SCOPE_COVERS);
    assert_int_equal(scope(p1, &in2), RMQ_CRL_SCOPE_DIST_POINT);
    assert_int_equal(scope(p1, &nocdp), RMQ_CRL_SCOPE_DIST_POINT);
    assert_int_equal(verdict(&p1, 1, &in1), RMQ_CRL_GOOD);
    /* partition 1 alone does not clear a certificate of partition 2 */
    assert_int_equal(verdict(&p1, 1, &in2), RMQ_CRL_NO_CRL);
    struct rmq_crl_entry *both[2] = {p1, p2};
    assert_int_equal(verdict(both, 2, &in2), RMQ_CRL_GOOD);
    struct rmq_cert_id rev2 = idof(&ca, 22, false, "URI:http://crl.test/p2.crl");
    assert_int_equal(verdict(both, 2, &rev2), RMQ_CRL_REVOKED);
    /* two partitions are two scopes (CRL numbers kept apart) */
    assert_false(rmq_crl_same_scope(p1, p2));
    rmq_crl_entry_unref(p1);
    rmq_crl_entry_unref(p2);
}

/* A DistributionPointName: relative (CN=<rdn> under the issuer) or the full
 * directoryName <issuer DN> + CN=<rdn>. */
static DIST_POINT_NAME *dpname(const char *rdn, bool relative)
{
    DIST_POINT_NAME *dpn = DIST_POINT_NAME_new();
    X509_NAME_ENTRY *ne =
        X509_NAME_ENTRY_create_by_txt(NULL, "CN", MBSTRING_ASC, (const unsigned char *)rdn, -1);
    if (relative) {
        dpn->type = 1;
        dpn->name.relativename = sk_X509_NAME_ENTRY_new_null();
        sk_X509_NAME_ENTRY_push(dpn->name.relativename, ne);
        return dpn;
    }
    X509_NAME *full = X509_NAME_dup(X509_get_subject_name(ca.cert));
    X509_NAME_add_entry(full, ne, -1, 1);
    X509_NAME_ENTRY_free(ne);
    GENERAL_NAME *gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_DIRNAME, full);
    dpn->type = 0;
    dpn->name.fullname = sk_GENERAL_NAME_new_null();
    sk_GENERAL_NAME_push(dpn->name.fullname, gn);
    return dpn;
}

static void test_scope__relative_distribution_point_names(void **state)
{
    (void)state;
    /* certificate: CDP nameRelativeToCRLIssuer CN=part-7 */
    X509 *x = leaf(&ca, 77, false, NULL);
    DIST_POINT *dp = DIST_POINT_new();
    dp->distpoint = dpname("part-7", true);
    STACK_OF(DIST_POINT) *dps = sk_DIST_POINT_new_null();
    sk_DIST_POINT_push(dps, dp);
    X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0, 0);
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    X509_sign(x, ca.key, EVP_sha256());
    struct rmq_cert_id id;
    assert_int_equal(rmq_crl_cert_id(x, ca.cert, &id), RMQ_OK);
    X509_free(x);
    assert_int_equal(id.ndp, 1);
    const struct {
        const char *rdn;
        bool relative;
        enum rmq_crl_scope want;
    } cases[] = {
        {"part-7", true, RMQ_CRL_SCOPE_COVERS},  /* same relative name */
        {"part-7", false, RMQ_CRL_SCOPE_COVERS}, /* its full form: equal (6.3.3 (b)(2)(i)) */
        {"part-8", true, RMQ_CRL_SCOPE_DIST_POINT},
        {"part-8", false, RMQ_CRL_SCOPE_DIST_POINT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509_CRL *crl = tcrl_make(&ca, &ca, NULL, 0, NULL, tcrl_defaults());
        ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();
        idp->distpoint = dpname(cases[i].rdn, cases[i].relative);
        X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point, idp, 1, 0);
        ISSUING_DIST_POINT_free(idp);
        X509_CRL_sign(crl, ca.key, EVP_sha256());
        struct rmq_crl_entry *e = NULL;
        assert_int_equal(rmq_crl_entry_build(crl, ca.cert, 0, false, &e), RMQ_OK);
        X509_CRL_free(crl);
        assert_int_equal(scope(e, &id), cases[i].want);
        rmq_crl_entry_unref(e);
    }
}

static void test_scope__only_user_ca_attr(void **state)
{
    (void)state;
    struct rmq_crl_entry *user = crl_of(&ca, NULL, 0, "critical,onlyuser:TRUE", false);
    struct rmq_crl_entry *cas = crl_of(&ca, NULL, 0, "critical,onlyCA:TRUE", false);
    struct rmq_crl_entry *attr = crl_of(&ca, NULL, 0, "critical,onlyAA:TRUE", false);
    struct rmq_cert_id ee = idof(&ca, 5, false, NULL);
    struct rmq_cert_id sub = idof(&ca, 6, true, NULL);
    assert_true(sub.is_ca);
    assert_false(ee.is_ca);
    assert_int_equal(scope(user, &ee), RMQ_CRL_SCOPE_COVERS);
    assert_int_equal(scope(user, &sub), RMQ_CRL_SCOPE_ONLY_USER);
    assert_int_equal(scope(cas, &sub), RMQ_CRL_SCOPE_COVERS);
    assert_int_equal(scope(cas, &ee), RMQ_CRL_SCOPE_ONLY_CA);
    assert_int_equal(scope(attr, &ee), RMQ_CRL_SCOPE_ONLY_ATTR);
    assert_int_equal(scope(attr, &sub), RMQ_CRL_SCOPE_ONLY_ATTR);
    /* a user-only CRL never clears an intermediate CA */
    assert_int_equal(verdict(&user, 1, &sub), RMQ_CRL_NO_CRL);
    assert_int_equal(verdict(&cas, 1, &sub), RMQ_CRL_GOOD);
    assert_int_equal(verdict(&attr, 1, &ee), RMQ_CRL_NO_CRL);
    rmq_crl_entry_unref(user);
    rmq_crl_entry_unref(cas);
    rmq_crl_entry_unref(attr);
}

static void test_scope__only_some_reasons_must_add_up(void **state)
{
    (void)state;
    /* keyCompromise + cACompromise, then the six others */
    struct rmq_crl_entry *kc = crl_of_reasons(&ca, NULL, 0, NULL, false, 0x006);
    struct rmq_crl_entry *rest = crl_of_reasons(&ca, NULL, 0, NULL, false, 0x1F8);
    struct rmq_cert_id ee = idof(&ca, 5, false, NULL);
    uint16_t r = 0;
    assert_int_equal(rmq_crl_entry_scope(kc, &ee, &r), RMQ_CRL_SCOPE_COVERS);
    assert_int_equal(r, (1u << 1) | (1u << 2));
    assert_int_equal(verdict(&kc, 1, &ee), RMQ_CRL_NO_CRL); /* partial */
    struct rmq_crl_entry *both[2] = {kc, rest};
    assert_int_equal(verdict(both, 2, &ee), RMQ_CRL_GOOD);
    rmq_crl_entry_unref(kc);
    rmq_crl_entry_unref(rest);
}

static void test_scope__delta_revokes_but_never_clears(void **state)
{
    (void)state;
    unsigned long nine[] = {9};
    struct rmq_crl_entry *base = crl_of(&ca, NULL, 0, NULL, false);
    struct rmq_crl_entry *delta = crl_of(&ca, nine, 1, NULL, true);
    struct rmq_cert_id ok = idof(&ca, 8, false, NULL);
    struct rmq_cert_id rev = idof(&ca, 9, false, NULL);
    assert_int_equal(scope(delta, &ok), RMQ_CRL_SCOPE_DELTA);
    assert_int_equal(verdict(&delta, 1, &ok), RMQ_CRL_NO_CRL);
    struct rmq_crl_entry *both[2] = {base, delta};
    assert_int_equal(verdict(both, 2, &rev), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(both, 2, &ok), RMQ_CRL_GOOD);
    assert_false(rmq_crl_same_scope(base, delta));
    rmq_crl_entry_unref(base);
    rmq_crl_entry_unref(delta);
}

/* An entry of a CRL by `ca`: number, delta base (0: complete CRL), serials
 * with reasons. */
static struct rmq_crl_entry *numbered(long number, long delta_base, const unsigned long *serials,
                                      const int *reasons, size_t n)
{
    struct tcrl_opts o = tcrl_defaults();
    o.number = number;
    o.delta = delta_base > 0;
    o.delta_base = delta_base;
    X509_CRL *crl = tcrl_make(&ca, &ca, serials, n, reasons, o);
    struct rmq_crl_entry *e = NULL;
    assert_int_equal(rmq_crl_entry_build(crl, ca.cert, 0, false, &e), RMQ_OK);
    X509_CRL_free(crl);
    return e;
}

static void test_scope__delta_releases_a_hold_of_its_base(void **state)
{
    (void)state;
    unsigned long held[] = {9, 10};
    int hold[] = {6, 1}; /* 9 on certificateHold, 10 keyCompromise */
    int remove[] = {8, 8};
    struct rmq_crl_entry *base = numbered(100, 0, held, hold, 2);
    struct rmq_crl_entry *delta = numbered(101, 100, held, remove, 2); /* both removeFromCRL */
    struct rmq_crl_entry *early = numbered(101, 101, held, remove, 2); /* base 101 > 100 */
    struct rmq_cert_id nine = idof(&ca, 9, false, NULL);
    struct rmq_cert_id ten = idof(&ca, 10, false, NULL);
    assert_true(rmq_crl_delta_applies(delta, base));
    assert_false(rmq_crl_delta_applies(early, base));
    assert_false(rmq_crl_delta_applies(base, delta));
    assert_int_equal(verdict(&base, 1, &nine), RMQ_CRL_REVOKED);
    struct rmq_crl_entry *merged[2] = {base, delta};
    /* the hold is released by the delta merged onto its base */
    assert_int_equal(verdict(merged, 2, &nine), RMQ_CRL_GOOD);
    /* removeFromCRL never undoes a keyCompromise (only holds are released) */
    assert_int_equal(verdict(merged, 2, &ten), RMQ_CRL_REVOKED);
    /* a delta for a newer base than the one in force does not apply */
    struct rmq_crl_entry *unmerged[2] = {base, early};
    assert_int_equal(verdict(unmerged, 2, &nine), RMQ_CRL_REVOKED);
    rmq_crl_entry_unref(base);
    rmq_crl_entry_unref(delta);
    rmq_crl_entry_unref(early);
}

static void test_scope__indirect_crl_refused(void **state)
{
    (void)state;
    struct tcrl_opts o = tcrl_defaults();
    o.idp = "critical,indirectCRL:TRUE";
    X509_CRL *crl = tcrl_make(&ca, &ca, NULL, 0, NULL, o);
    assert_string_equal(rmq_crl_check(crl, trust, time(NULL), 0, NULL), "indirect_crl");
    X509_CRL_free(crl);
}

static void test_scope__negative_serial_is_not_its_positive_twin(void **state)
{
    (void)state;
    struct tcrl_opts o = tcrl_defaults();
    X509_CRL *crl = tcrl_make(&ca, &ca, NULL, 0, NULL, o);
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, -5);
    X509_REVOKED_set_serialNumber(r, sn);
    ASN1_INTEGER_free(sn);
    ASN1_TIME *t = X509_gmtime_adj(NULL, -60);
    X509_REVOKED_set_revocationDate(r, t);
    ASN1_TIME_free(t);
    X509_CRL_add0_revoked(crl, r);
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, ca.key, EVP_sha256());
    struct rmq_crl_entry *e = NULL;
    assert_int_equal(rmq_crl_entry_build(crl, ca.cert, 0, false, &e), RMQ_OK);
    X509_CRL_free(crl);
    struct rmq_cert_id neg = idof(&ca, -5, false, NULL);
    struct rmq_cert_id pos = idof(&ca, 5, false, NULL);
    assert_true(neg.serial_negative);
    assert_false(pos.serial_negative);
    assert_int_equal(verdict(&e, 1, &neg), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(&e, 1, &pos), RMQ_CRL_GOOD);
    char txt[80];
    rmq_crl_serial_text(&neg, txt, sizeof txt);
    assert_string_equal(txt, "-05");
    rmq_crl_entry_unref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope__same_name_other_key_is_not_covered),
        cmocka_unit_test(test_scope__idp_distribution_point_partitions),
        cmocka_unit_test(test_scope__relative_distribution_point_names),
        cmocka_unit_test(test_scope__only_user_ca_attr),
        cmocka_unit_test(test_scope__only_some_reasons_must_add_up),
        cmocka_unit_test(test_scope__delta_revokes_but_never_clears),
        cmocka_unit_test(test_scope__delta_releases_a_hold_of_its_base),
        cmocka_unit_test(test_scope__indirect_crl_refused),
        cmocka_unit_test(test_scope__negative_serial_is_not_its_positive_twin),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
