/* test_ca_ops.c — revmq-ca's library in one process: database, issuing,
 * revoking, CRLs and OCSP responses, decoded back with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

struct fx {
    char dir[64];
    struct rmq_ca_db *db;
    struct rmq_ca_tenant t;
    struct rmq_ca_info ca;
};

static const int64_t WEEK = 7 * 86400;

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ca_ops.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    unsetenv("REVMQ_CA_NOW");
    assert_int_equal(rmq_ca_db_open(f->dir, &f->db), RMQ_OK);
    assert_int_equal(rmq_ca_db_tenant_insert(f->db, "acme", "5a3e0000-0000-4000-8000-00000000ab12"),
                     RMQ_OK);
    assert_int_equal(rmq_ca_db_tenant_get(f->db, &f->t), RMQ_OK);
    struct rmq_ca_info ca = {.tenant_id = f->t.id,
                             .name = "mqtt-ca",
                             .key_type = "ecdsa",
                             .curve = "secp256r1",
                             .digest = "sha256",
                             .ttl = 365 * 86400,
                             .crl_urls = "http://h/crl-pem/${SYS_TENANT_NAME}/${SYS_CA_NAME}/"
                                         "${SYS_CA_VERSION}\n",
                             .ocsp_urls = "http://h/ocsp/${SYS_TENANT_UUID}/${SYS_CA_NAME}\n"};
    assert_int_equal(rmq_ca_db_begin(f->db), RMQ_OK);
    assert_int_equal(rmq_ca_db_ca_insert(f->db, &ca), RMQ_OK);
    assert_int_equal(rmq_ca_make_version(f->db, &f->t, &ca, 1, WEEK), RMQ_OK);
    assert_int_equal(rmq_ca_db_commit(f->db), RMQ_OK);
    assert_int_equal(rmq_ca_db_ca_get(f->db, f->t.id, "mqtt-ca", &f->ca), RMQ_OK);
    assert_int_equal(f->ca.current_version, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    rmq_ca_info_release(&f->ca);
    rmq_ca_db_free(f->db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("REVMQ_CA_NOW");
    free(f);
    return 0;
}

static void issue(struct fx *f, const char *host, const char *type, struct rmq_ca_issued *is)
{
    const char *hosts[] = {host};
    int64_t now = rmq_ca_now();
    struct rmq_ca_issue_opts o = {.cert_type = type,
                                  .hosts = hosts,
                                  .n_hosts = 1,
                                  .not_before = now - 60,
                                  .not_after = now + 86400};
    assert_int_equal(rmq_ca_issue(f->db, &f->t, &f->ca, &o, is), RMQ_OK);
}

static X509_CRL *current_crl(struct fx *f, int64_t *number)
{
    struct rmq_ca_crlrec rec;
    assert_int_equal(rmq_ca_crl_current(f->db, &f->ca, 1, WEEK, false, false, &rec), RMQ_OK);
    const unsigned char *p = rec.der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)rec.der_len);
    assert_non_null(crl);
    *number = rec.number;
    rmq_ca_crlrec_release(&rec);
    return crl;
}

static void test_issue__certificate_has_urls_and_verifies(void **state)
{
    struct fx *f = *state;
    struct rmq_ca_issued is;
    issue(f, "mqtt.example", "server", &is);
    X509 *leaf = NULL;
    X509 *ca = NULL;
    assert_int_equal(rmq_ca_pem_to_x509(is.cert_pem, &leaf), RMQ_OK);
    assert_int_equal(rmq_ca_pem_to_x509(is.ca_cert_pem, &ca), RMQ_OK);
    assert_int_equal(X509_verify(leaf, X509_get0_pubkey(ca)), 1);
    assert_int_equal(X509_check_issued(ca, leaf), X509_V_OK);
    assert_int_equal(strlen(is.serial), 32);
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(leaf, NID_crl_distribution_points, NULL, NULL);
    assert_non_null(dps);
    GENERAL_NAME *gn =
        sk_GENERAL_NAME_value(sk_DIST_POINT_value(dps, 0)->distpoint->name.fullname, 0);
    assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
                        "http://h/crl-pem/acme/mqtt-ca/1");
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    STACK_OF(OPENSSL_STRING) *ocsp = X509_get1_ocsp(leaf);
    assert_string_equal(sk_OPENSSL_STRING_value(ocsp, 0),
                        "http://h/ocsp/5a3e0000-0000-4000-8000-00000000ab12/mqtt-ca");
    X509_email_free(ocsp);
    assert_int_equal(X509_check_host(leaf, "mqtt.example", 0, 0, NULL), 1);
    X509_free(leaf);
    X509_free(ca);
    rmq_ca_issued_release(&is);
}

static void test_revoke__updates_crl_number_and_entry(void **state)
{
    struct fx *f = *state;
    struct rmq_ca_issued is;
    int64_t n1 = 0;
    int64_t n2 = 0;
    issue(f, "dev", "client", &is);
    X509_CRL *c1 = current_crl(f, &n1);
    assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c1)) <= 0); /* NULL when empty */
    assert_int_equal(rmq_ca_revoke(f->db, &f->ca, is.serial, 1, WEEK), RMQ_OK);
    X509_CRL *c2 = current_crl(f, &n2);
    assert_true(n2 > n1);
    STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(c2);
    assert_int_equal(sk_X509_REVOKED_num(rev), 1);
    ASN1_ENUMERATED *reason =
        X509_REVOKED_get_ext_d2i(sk_X509_REVOKED_value(rev, 0), NID_crl_reason, NULL, NULL);
    assert_non_null(reason);
    assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
    ASN1_ENUMERATED_free(reason);
    /* twice, unknown serial, removeFromCRL on a non-hold: errors, nothing changes */
    assert_int_equal(rmq_ca_revoke(f->db, &f->ca, is.serial, 1, WEEK), RMQ_ERR_EXISTS);
    assert_int_equal(rmq_ca_revoke(f->db, &f->ca, "1234", 1, WEEK), RMQ_ERR_NOT_FOUND);
    assert_int_equal(rmq_ca_revoke(f->db, &f->ca, is.serial, 8, WEEK), RMQ_ERR_INVALID);
    int64_t n3 = 0;
    X509_CRL *c3 = current_crl(f, &n3);
    assert_int_equal(n3, n2);
    X509_CRL_free(c1);
    X509_CRL_free(c2);
    X509_CRL_free(c3);
    rmq_ca_issued_release(&is);
}

static void test_crl__remade_after_half_validity(void **state)
{
    struct fx *f = *state;
    int64_t n1 = 0;
    int64_t n2 = 0;
    int64_t n3 = 0;
    X509_CRL *c1 = current_crl(f, &n1);
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)(rmq_ca_now() + 3 * 86400));
    setenv("REVMQ_CA_NOW", buf, 1);
    X509_CRL *c2 = current_crl(f, &n2);
    assert_int_equal(n2, n1); /* 3 of 7 days: still fresh */
    snprintf(buf, sizeof(buf), "%lld", (long long)(rmq_ca_now() + 1 * 86400));
    setenv("REVMQ_CA_NOW", buf, 1);
    X509_CRL *c3 = current_crl(f, &n3);
    assert_int_equal(n3, n1 + 1);
    assert_true(ASN1_TIME_compare(X509_CRL_get0_nextUpdate(c3), X509_CRL_get0_nextUpdate(c1)) > 0);
    X509_CRL_free(c1);
    X509_CRL_free(c2);
    X509_CRL_free(c3);
}

/* DER OCSP request for a serial of issuer; caller frees. */
static unsigned char *ocsp_req(X509 *issuer, const char *serial_hex, int *len)
{
    OCSP_REQUEST *rq = OCSP_REQUEST_new();
    BIGNUM *bn = NULL;
    assert_true(BN_hex2bn(&bn, serial_hex) > 0);
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    OCSP_CERTID *id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
                                       X509_get0_pubkey_bitstr(issuer), ai);
    assert_non_null(OCSP_request_add0_id(rq, id));
    assert_int_equal(OCSP_request_add1_nonce(rq, NULL, -1), 1);
    unsigned char *der = NULL;
    *len = i2d_OCSP_REQUEST(rq, &der);
    assert_true(*len > 0);
    BN_free(bn);
    ASN1_INTEGER_free(ai);
    OCSP_REQUEST_free(rq);
    return der;
}

static int ocsp_status(struct fx *f, const unsigned char *req, size_t len, int *cert_status,
                       int *reason)
{
    unsigned char *resp = NULL;
    size_t rlen = 0;
    rmq_ca_ocsp_respond(f->db, &f->ca, req, len, 3600, false, &resp, &rlen);
    assert_non_null(resp);
    const unsigned char *p = resp;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)rlen);
    assert_non_null(r);
    int st = OCSP_response_status(r);
    if (st == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);
        assert_non_null(bs);
        OCSP_SINGLERESP *sr = OCSP_resp_get0(bs, 0);
        ASN1_GENERALIZEDTIME *rev = NULL;
        ASN1_GENERALIZEDTIME *tu = NULL;
        ASN1_GENERALIZEDTIME *nu = NULL;
        *cert_status = OCSP_single_get0_status(sr, reason, &rev, &tu, &nu);
        assert_non_null(tu);
        assert_non_null(nu);
        assert_true(OCSP_resp_get0_signer(bs, &(X509 *){NULL}, NULL) == 1);
        OCSP_BASICRESP_free(bs);
    }
    OCSP_RESPONSE_free(r);
    OPENSSL_free(resp);
    return st;
}

static void test_ocsp__good_revoked_unknown_malformed(void **state)
{
    struct fx *f = *state;
    struct rmq_ca_issued is;
    X509 *ca = NULL;
    int len = 0;
    int status = -1;
    int reason = -1;
    issue(f, "dev", "client", &is);
    assert_int_equal(rmq_ca_pem_to_x509(is.ca_cert_pem, &ca), RMQ_OK);
    unsigned char *req = ocsp_req(ca, is.serial, &len);
    assert_int_equal(ocsp_status(f, req, (size_t)len, &status, &reason),
                     OCSP_RESPONSE_STATUS_SUCCESSFUL);
    assert_int_equal(status, V_OCSP_CERTSTATUS_GOOD);
    assert_int_equal(rmq_ca_revoke(f->db, &f->ca, is.serial, 6, WEEK), RMQ_OK);
    assert_int_equal(ocsp_status(f, req, (size_t)len, &status, &reason),
                     OCSP_RESPONSE_STATUS_SUCCESSFUL);
    assert_int_equal(status, V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, 6);
    /* certificateHold released */
    assert_int_equal(rmq_ca_revoke(f->db, &f->ca, is.serial, 8, WEEK), RMQ_OK);
    assert_int_equal(ocsp_status(f, req, (size_t)len, &status, &reason),
                     OCSP_RESPONSE_STATUS_SUCCESSFUL);
    assert_int_equal(status, V_OCSP_CERTSTATUS_GOOD);
    OPENSSL_free(req);
    req = ocsp_req(ca, "0123", &len);
    assert_int_equal(ocsp_status(f, req, (size_t)len, &status, &reason),
                     OCSP_RESPONSE_STATUS_SUCCESSFUL);
    assert_int_equal(status, V_OCSP_CERTSTATUS_UNKNOWN);
    /* every truncation is malformed, never a crash */
    for (int n = 0; n < len; n++) {
        assert_int_equal(ocsp_status(f, req, (size_t)n, &status, &reason),
                         OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    }
    OPENSSL_free(req);
    X509_free(ca);
    rmq_ca_issued_release(&is);
}

static void test_ocsp__other_issuer_unauthorized_and_delegated_signer(void **state)
{
    struct fx *f = *state;
    struct rmq_ca_issued is;
    X509 *ca = NULL;
    X509 *other = NULL;
    EVP_PKEY *k = NULL;
    int len = 0;
    int status = -1;
    int reason = -1;
    issue(f, "dev", "client", &is);
    assert_int_equal(rmq_ca_pem_to_x509(is.ca_cert_pem, &ca), RMQ_OK);
    struct rmq_ca_keyspec ks = {"ecdsa", "secp256r1", 0};
    assert_int_equal(rmq_ca_key_generate(&ks, &k), RMQ_OK);
    assert_int_equal(rmq_ca_make_ca_cert(&f->t, &f->ca, 9, k, 0, 2000000000, &other), RMQ_OK);
    unsigned char *req = ocsp_req(other, is.serial, &len);
    assert_int_equal(ocsp_status(f, req, (size_t)len, &status, &reason),
                     OCSP_RESPONSE_STATUS_UNAUTHORIZED);
    OPENSSL_free(req);
    X509 *sc = NULL;
    EVP_PKEY *sk = NULL;
    assert_int_equal(rmq_ca_ocsp_signer_get(f->db, &f->ca, 1, &sc, &sk), RMQ_OK);
    assert_int_equal(X509_check_issued(ca, sc), X509_V_OK);
    assert_true((X509_get_extended_key_usage(sc) & XKU_OCSP_SIGN) != 0);
    assert_int_equal(X509_check_private_key(sc, sk), 1);
    X509 *sc2 = NULL;
    EVP_PKEY *sk2 = NULL;
    assert_int_equal(rmq_ca_ocsp_signer_get(f->db, &f->ca, 1, &sc2, &sk2), RMQ_OK);
    assert_int_equal(X509_cmp(sc, sc2), 0); /* reused */
    X509_free(sc);
    X509_free(sc2);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(sk2);
    X509_free(other);
    X509_free(ca);
    EVP_PKEY_free(k);
    rmq_ca_issued_release(&is);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue__certificate_has_urls_and_verifies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revoke__updates_crl_number_and_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crl__remade_after_half_validity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ocsp__good_revoked_unknown_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ocsp__other_issuer_unauthorized_and_delegated_signer,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
