/* Unit tests for `revmq-bench gen-crl`: the CRL it writes parses, is signed
 * by the CA, holds exactly N sorted entries including the requested serials,
 * carries a CRL number and the CA's key identifier; bad input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench/bench.h"

struct fx {
    char dir[64];
    char cert[128], key[128], out[128];
    EVP_PKEY *pkey;
};

static int make_ca(struct fx *f)
{
    f->pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX v3;
    int ok = f->pkey && x && n && X509_set_version(x, X509_VERSION_3) &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"test CA", -1,
                                        -1, 0) &&
             X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) &&
             X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 86400) && X509_set_pubkey(x, f->pkey);
    if (ok) {
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
        ok = ext && X509_add_ext(x, ext, -1) && X509_sign(x, f->pkey, EVP_sha256()) > 0;
        X509_EXTENSION_free(ext);
    }
    FILE *cf = ok ? fopen(f->cert, "w") : NULL;
    FILE *kf = ok ? fopen(f->key, "w") : NULL;
    ok = ok && cf && kf && PEM_write_X509(cf, x) &&
         PEM_write_PrivateKey(kf, f->pkey, NULL, NULL, 0, NULL, NULL);
    if (cf) {
        fclose(cf);
    }
    if (kf) {
        fclose(kf);
    }
    X509_NAME_free(n);
    X509_free(x);
    return ok ? 0 : -1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_bench_gencrl.XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    snprintf(f->cert, sizeof f->cert, "%s/ca.crt", f->dir);
    snprintf(f->key, sizeof f->key, "%s/ca.key", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out.crl", f->dir);
    *state = f;
    return make_ca(f);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->cert);
    unlink(f->key);
    unlink(f->out);
    rmdir(f->dir);
    EVP_PKEY_free(f->pkey);
    free(f);
    return 0;
}

static int gen(struct fx *f, const char *entries, const char *fmt, const char *serial1,
               const char *serial2)
{
    char *argv[16];
    int n = 0;
    argv[n++] = "revmq-bench";
    argv[n++] = "gen-crl";
    argv[n++] = "--ca-cert";
    argv[n++] = f->cert;
    argv[n++] = "--ca-key";
    argv[n++] = f->key;
    argv[n++] = "--entries";
    argv[n++] = (char *)entries;
    argv[n++] = "--out";
    argv[n++] = f->out;
    argv[n++] = (char *)fmt;
    if (serial1) {
        argv[n++] = "--include-serial";
        argv[n++] = (char *)serial1;
    }
    if (serial2) {
        argv[n++] = "--include-serial";
        argv[n++] = (char *)serial2;
    }
    argv[n] = NULL;
    return rmq_bench_gen_crl(n, argv);
}

static X509_CRL *read_crl(const struct fx *f, int der)
{
    FILE *fp = fopen(f->out, "rb");
    assert_non_null(fp);
    X509_CRL *crl = der ? d2i_X509_CRL_fp(fp, NULL) : PEM_read_X509_CRL(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(crl);
    return crl;
}

static int has_serial(X509_CRL *crl, long v)
{
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    ASN1_INTEGER_set(ai, v);
    X509_REVOKED *r = NULL;
    int found = X509_CRL_get0_by_serial(crl, &r, ai) == 1;
    ASN1_INTEGER_free(ai);
    return found;
}

static void test_gen_crl__der_has_n_sorted_signed_entries_with_included_serials(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gen(f, "5000", "--der", "2002", "0a0b0c"), 0);
    X509_CRL *crl = read_crl(f, 1);
    STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
    assert_int_equal(sk_X509_REVOKED_num(rev), 5000);
    for (int i = 1; i < sk_X509_REVOKED_num(rev); i++) {
        const ASN1_INTEGER *a = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i - 1));
        const ASN1_INTEGER *b = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i));
        assert_true(ASN1_INTEGER_cmp(a, b) < 0); /* sorted, no duplicates */
        assert_true(ASN1_STRING_length(b) == 16 || ASN1_STRING_length(b) <= 3);
    }
    assert_true(has_serial(crl, 0x2002));
    assert_true(has_serial(crl, 0x0a0b0c));
    assert_false(has_serial(crl, 0x2003));
    assert_int_equal(X509_CRL_verify(crl, f->pkey), 1);
    assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    assert_non_null(X509_CRL_get0_nextUpdate(crl));
    int crit = 0;
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
    assert_non_null(num);
    ASN1_INTEGER_free(num);
    AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
    assert_non_null(akid);
    assert_non_null(akid->keyid);
    AUTHORITY_KEYID_free(akid);
    X509_CRL_free(crl);
}

static void test_gen_crl__pem_and_fewer_entries_than_included(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gen(f, "1", "--pem", "2002", "2004"), 0);
    X509_CRL *crl = read_crl(f, 0);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
    assert_int_equal(X509_CRL_verify(crl, f->pkey), 1);
    X509_CRL_free(crl);
    assert_int_equal(gen(f, "0", "--pem", NULL, NULL), 0); /* an empty CRL is valid */
    crl = read_crl(f, 0);
    assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0); /* NULL list: -1 */
    assert_int_equal(X509_CRL_verify(crl, f->pkey), 1);
    X509_CRL_free(crl);
}

static void test_gen_crl__refuses_bad_input(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gen(f, "10", "--der", "XYZ", NULL), 1);  /* not hex */
    assert_int_equal(gen(f, "10", "--der", "12zz", NULL), 1); /* partly hex */
    assert_int_equal(gen(f, "ten", "--der", NULL, NULL), 2);  /* usage */
    assert_int_equal(gen(f, "10", "--bogus", NULL, NULL), 2); /* unknown option */
    char *argv[] = {"revmq-bench", "gen-crl", "--ca-cert", f->cert, "--out", f->out, NULL};
    assert_int_equal(rmq_bench_gen_crl(6, argv), 2); /* no --ca-key */
    char *argv2[] = {"revmq-bench", "gen-crl", "--ca-cert", "/nonexistent", "--ca-key", f->key,
                     "--out",       f->out,    NULL};
    assert_int_equal(rmq_bench_gen_crl(8, argv2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_gen_crl__der_has_n_sorted_signed_entries_with_included_serials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gen_crl__pem_and_fewer_entries_than_included, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gen_crl__refuses_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
