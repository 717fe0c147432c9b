/*
 * test_revocation_ocsp_verify.c — rmq_ocsp_verify_response and the pure OCSP
 * helpers against responses made in-test with OpenSSL (OCSP_basic_sign).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ocsp.h>

#include "revocation/refusal.h"
#include "revocation/ocsp_stapler.h"
#include "test_revocation_ocsp_pki.h"

struct world {
    EVP_PKEY *ca_key, *srv_key, *other_key, *rsp_key;
    X509 *ca, *srv, *srv2, *other_ca, *rsp_ok, *rsp_noeku, *rsp_foreign, *rsp_expired;
};

static struct world W;

static int setup(void **state)
{
    (void)state;
    W.ca_key = pki_key();
    W.srv_key = pki_key();
    W.other_key = pki_key();
    W.rsp_key = pki_key();
    W.ca = pki_cert("Test CA", W.ca_key, NULL, NULL, 1, -3600, 86400, PKI_CA, NULL);
    W.srv = pki_cert("srv", W.srv_key, W.ca, W.ca_key, 100, -3600, 86400, PKI_SERVER,
                     "http://127.0.0.1:9/ocsp");
    W.srv2 = pki_cert("srv2", W.srv_key, W.ca, W.ca_key, 101, -3600, 86400, PKI_SERVER, NULL);
    /* an unrelated CA with the SAME name as ours: only the key tells them apart */
    W.other_ca = pki_cert("Test CA", W.other_key, NULL, NULL, 1, -3600, 86400, PKI_CA, NULL);
    W.rsp_ok =
        pki_cert("responder", W.rsp_key, W.ca, W.ca_key, 200, -3600, 86400, PKI_OCSP_SIGN, NULL);
    W.rsp_noeku =
        pki_cert("responder-noeku", W.rsp_key, W.ca, W.ca_key, 201, -3600, 86400, 0, NULL);
    W.rsp_foreign = pki_cert("responder-foreign", W.rsp_key, W.other_ca, W.other_key, 202, -3600,
                             86400, PKI_OCSP_SIGN, NULL);
    W.rsp_expired = pki_cert("responder-expired", W.rsp_key, W.ca, W.ca_key, 203, -7200, -3600,
                             PKI_OCSP_SIGN, NULL);
    return W.rsp_expired ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    X509 *xs[] = {W.ca,     W.srv,       W.srv2,        W.other_ca,
                  W.rsp_ok, W.rsp_noeku, W.rsp_foreign, W.rsp_expired};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        X509_free(xs[i]);
    }
    EVP_PKEY_free(W.ca_key);
    EVP_PKEY_free(W.srv_key);
    EVP_PKEY_free(W.other_key);
    EVP_PKEY_free(W.rsp_key);
    return 0;
}

/* A good response for srv, signed by the CA, valid -60s..+3600s. */
static struct pki_resp base(void)
{
    struct pki_resp r = {.cert = W.srv,
                         .issuer = W.ca,
                         .status = V_OCSP_CERTSTATUS_GOOD,
                         .signer = W.ca,
                         .signer_key = W.ca_key,
                         .this_off = -60,
                         .next_off = 3600};
    return r;
}

static rmq_err verify(const struct pki_resp *r, struct rmq_ocsp_verdict *v)
{
    size_t len = 0;
    unsigned char *der = pki_response(r, &len);
    rmq_err e = rmq_ocsp_verify_response(der, len, W.srv, W.ca, NULL, v);
    free(der);
    return e;
}

static void expect_reject(const struct pki_resp *r, rmq_err err, const char *check)
{
    struct rmq_ocsp_verdict v;
    assert_int_equal(verify(r, &v), err);
    assert_non_null(v.failed_check);
    assert_string_equal(v.failed_check, check);
    enum rmq_refusal which; /* every OCSP refusal is a word of the one table */
    assert_true(rmq_refusal_find(v.failed_check, &which));
    assert_ptr_equal(v.failed_check, rmq_refusal_name(which));
    assert_true(rmq_refusal_kinds(which) & RMQ_REFUSAL_OCSP);
}

static void test_verify__good_signed_by_issuer(void **state)
{
    (void)state;
    struct pki_resp r = base();
    struct rmq_ocsp_verdict v;
    time_t before = time(NULL);
    assert_int_equal(verify(&r, &v), RMQ_OK);
    assert_null(v.failed_check);
    assert_int_equal(v.status, RMQ_OCSP_GOOD);
    assert_true(v.this_update >= before - 61 && v.this_update <= time(NULL) - 59);
    assert_true(v.next_update >= before + 3599 && v.next_update <= time(NULL) + 3601);
    assert_int_equal(v.revocation_reason, -1);
    /* byKey ResponderID, and without the CA cert in the response */
    r.by_key = true;
    r.no_certs = true;
    assert_int_equal(verify(&r, &v), RMQ_OK);
    assert_int_equal(v.status, RMQ_OCSP_GOOD);
}

static void test_verify__revoked_reports_time_and_reason(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.status = V_OCSP_CERTSTATUS_REVOKED;
    struct rmq_ocsp_verdict v;
    assert_int_equal(verify(&r, &v), RMQ_OK);
    assert_int_equal(v.status, RMQ_OCSP_REVOKED);
    assert_int_equal(v.revocation_reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    assert_true(v.revocation_time > 0 && v.revocation_time < time(NULL));
}

static void test_verify__unknown_is_verified_with_unknown_status(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.status = V_OCSP_CERTSTATUS_UNKNOWN;
    struct rmq_ocsp_verdict v;
    assert_int_equal(verify(&r, &v), RMQ_OK);
    assert_int_equal(v.status, RMQ_OCSP_UNKNOWN);
}

static void test_verify__rejects_response_for_another_cert(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.cert = W.srv2;
    expect_reject(&r, RMQ_ERR_CRYPTO, "cert_id");
    /* same serial space, another issuer (same name, other key) */
    r = base();
    r.issuer = W.other_ca;
    expect_reject(&r, RMQ_ERR_CRYPTO, "cert_id");
}

static void test_verify__rejects_unrelated_signer(void **state)
{
    (void)state;
    /* a CA with our CA's name but another key: the ResponderID names "our"
     * issuer, the signature does not verify with its key */
    struct pki_resp r = base();
    r.signer = W.other_ca;
    r.signer_key = W.other_key;
    expect_reject(&r, RMQ_ERR_CRYPTO, "signature");
    r.by_key = true; /* byKey: no cert in our set or the response matches */
    r.no_certs = true;
    expect_reject(&r, RMQ_ERR_CRYPTO, "signer_not_found");
    r.no_certs = false; /* byKey, self-signed foreign cert included: not issued by ours */
    expect_reject(&r, RMQ_ERR_CRYPTO, "signer_not_issued_by_issuer");
}

static void test_verify__delegated_responder_with_eku_accepted(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.signer = W.rsp_ok;
    r.signer_key = W.rsp_key;
    struct rmq_ocsp_verdict v;
    assert_int_equal(verify(&r, &v), RMQ_OK);
    assert_int_equal(v.status, RMQ_OCSP_GOOD);
    r.by_key = true;
    assert_int_equal(verify(&r, &v), RMQ_OK);
}

static void test_verify__delegated_responder_checks(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.signer_key = W.rsp_key;
    r.signer = W.rsp_noeku;
    expect_reject(&r, RMQ_ERR_CRYPTO, "signer_not_ocsp_signing");
    r.signer = W.rsp_foreign; /* EKU, but issued by another CA */
    expect_reject(&r, RMQ_ERR_CRYPTO, "signer_not_issued_by_issuer");
    r.signer = W.rsp_expired;
    expect_reject(&r, RMQ_ERR_CRYPTO, "signer_validity");
    r.signer = W.rsp_ok; /* delegated responder, its cert left out: not found */
    r.no_certs = true;
    expect_reject(&r, RMQ_ERR_CRYPTO, "signer_not_found");
}

static void test_verify__time_window(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.this_off = -7200;
    r.next_off = -60;
    expect_reject(&r, RMQ_ERR_STALE, "next_update_past");
    r = base();
    r.no_next = true;
    expect_reject(&r, RMQ_ERR_STALE, "next_update_missing");
    r = base();
    r.this_off = RMQ_OCSP_MAX_SKEW_SEC + 120;
    r.next_off = 7200;
    expect_reject(&r, RMQ_ERR_STALE, "this_update_in_future");
    r = base();
    r.this_off = 120; /* inside the allowed skew */
    struct rmq_ocsp_verdict v;
    assert_int_equal(verify(&r, &v), RMQ_OK);
    r = base();
    r.this_off = -60; /* nextUpdate before thisUpdate */
    r.next_off = -120;
    expect_reject(&r, RMQ_ERR_STALE, "validity_window");
}

static void test_verify__uses_given_now(void **state)
{
    (void)state;
    struct pki_resp r = base();
    size_t len = 0;
    unsigned char *der = pki_response(&r, &len);
    struct rmq_ocsp_verdict v;
    struct rmq_ocsp_verify_opts o = {.now = time(NULL) + 7200};
    assert_int_equal(rmq_ocsp_verify_response(der, len, W.srv, W.ca, &o, &v), RMQ_ERR_STALE);
    assert_string_equal(v.failed_check, "next_update_past");
    o.now = time(NULL) - 3 * RMQ_OCSP_MAX_SKEW_SEC;
    assert_int_equal(rmq_ocsp_verify_response(der, len, W.srv, W.ca, &o, &v), RMQ_ERR_STALE);
    assert_string_equal(v.failed_check, "this_update_in_future");
    free(der);
}

static void test_verify__non_successful_status(void **state)
{
    (void)state;
    int codes[] = {OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, OCSP_RESPONSE_STATUS_INTERNALERROR,
                   OCSP_RESPONSE_STATUS_TRYLATER, OCSP_RESPONSE_STATUS_SIGREQUIRED,
                   OCSP_RESPONSE_STATUS_UNAUTHORIZED};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct pki_resp r = base();
        r.resp_status = codes[i];
        expect_reject(&r, RMQ_ERR_PROTOCOL, "response_status");
    }
}

static void test_verify__two_single_responses_rejected(void **state)
{
    (void)state;
    struct pki_resp r = base();
    r.singles = 2;
    expect_reject(&r, RMQ_ERR_MALFORMED, "single_response_count");
}

static void test_verify__garbage_truncated_and_trailing(void **state)
{
    (void)state;
    struct rmq_ocsp_verdict v;
    const unsigned char junk[] = "<html>500 Internal Server Error</html>";
    assert_int_equal(rmq_ocsp_verify_response(junk, sizeof junk - 1, W.srv, W.ca, NULL, &v),
                     RMQ_ERR_MALFORMED);
    assert_string_equal(v.failed_check, "parse");
    assert_int_equal(rmq_ocsp_verify_response(junk, 0, W.srv, W.ca, NULL, &v), RMQ_ERR_MALFORMED);

    struct pki_resp r = base();
    r.no_certs = true; /* every byte is then covered by the structure or the signature */
    size_t len = 0;
    unsigned char *der = pki_response(&r, &len);
    /* every truncated prefix is rejected at parse and never crashes */
    for (size_t n = 1; n < len; n++) {
        assert_int_not_equal(rmq_ocsp_verify_response(der, n, W.srv, W.ca, NULL, &v), RMQ_OK);
        assert_string_equal(v.failed_check, "parse");
    }
    /* trailing bytes after a valid response */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    assert_int_equal(rmq_ocsp_verify_response(longer, len + 1, W.srv, W.ca, NULL, &v),
                     RMQ_ERR_MALFORMED);
    /* byte flips: never a crash, never accepted */
    size_t ok_count = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(longer, der, len);
        longer[i] ^= 0x5a;
        if (rmq_ocsp_verify_response(longer, len, W.srv, W.ca, NULL, &v) == RMQ_OK) {
            ok_count++;
        }
    }
    assert_int_equal(ok_count, 0);
    free(longer);
    assert_int_equal(rmq_ocsp_verify_response(der, len, W.srv, W.ca, NULL, &v), RMQ_OK);
    free(der);
}

static void test_verify__nonce(void **state)
{
    (void)state;
    unsigned char *req = NULL;
    size_t req_len = 0;
    assert_int_equal(rmq_ocsp_build_request(W.srv, W.ca, true, &req, &req_len), RMQ_OK);
    struct pki_resp r = base();
    size_t len = 0;
    unsigned char *der = pki_response(&r, &len); /* no nonce in the response */
    struct rmq_ocsp_verdict v;
    struct rmq_ocsp_verify_opts o = {.request_der = req, .request_len = req_len};
    assert_int_equal(rmq_ocsp_verify_response(der, len, W.srv, W.ca, &o, &v), RMQ_OK);
    free(der);

    /* a response with a different nonce is rejected */
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), W.srv, W.ca);
    ASN1_GENERALIZEDTIME *tu = ASN1_GENERALIZEDTIME_adj(NULL, time(NULL), 0, -60);
    ASN1_GENERALIZEDTIME *nu = ASN1_GENERALIZEDTIME_adj(NULL, time(NULL), 0, 600);
    OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, tu, nu);
    OCSP_basic_add1_nonce(bs, NULL, 16);
    OCSP_basic_sign(bs, W.ca, W.ca_key, EVP_sha256(), NULL, 0);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    unsigned char *p = NULL;
    int n = i2d_OCSP_RESPONSE(resp, &p);
    assert_true(n > 0);
    assert_int_equal(rmq_ocsp_verify_response(p, (size_t)n, W.srv, W.ca, &o, &v), RMQ_ERR_CRYPTO);
    assert_string_equal(v.failed_check, "nonce");
    /* without a request given, the nonce is not checked */
    assert_int_equal(rmq_ocsp_verify_response(p, (size_t)n, W.srv, W.ca, NULL, &v), RMQ_OK);
    OPENSSL_free(p);
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    free(req);
}

static void test_build_request__sha1_certid_for_cert(void **state)
{
    (void)state;
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(rmq_ocsp_build_request(W.srv, W.ca, false, &der, &len), RMQ_OK);
    const unsigned char *p = der;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    assert_non_null(req);
    assert_int_equal(OCSP_request_onereq_count(req), 1);
    OCSP_CERTID *got = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));
    OCSP_CERTID *want = OCSP_cert_to_id(EVP_sha1(), W.srv, W.ca);
    assert_int_equal(OCSP_id_cmp(got, want), 0);
    assert_true(OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1) < 0);
    OCSP_CERTID_free(want);
    OCSP_REQUEST_free(req);
    free(der);
}

static void test_get_url__one_slash_and_urlencoded(void **state)
{
    (void)state;
    const unsigned char der[] = {0xfb, 0xff, 0xfe, 0x30}; /* base64 "+//+MA==" */
    char *u = NULL;
    assert_int_equal(rmq_ocsp_get_url("http://h:1", der, sizeof der, &u), RMQ_OK);
    assert_string_equal(u, "http://h:1/%2B%2F%2F%2BMA%3D%3D");
    free(u);
    assert_int_equal(rmq_ocsp_get_url("http://h:1/", der, sizeof der, &u), RMQ_OK);
    assert_string_equal(u, "http://h:1/%2B%2F%2F%2BMA%3D%3D");
    free(u);
    assert_int_equal(rmq_ocsp_get_url("http://h:1/ocsp/t/ca", der, sizeof der, &u), RMQ_OK);
    assert_string_equal(u, "http://h:1/ocsp/t/ca/%2B%2F%2F%2BMA%3D%3D");
    free(u);
    assert_int_equal(rmq_ocsp_get_url("http://h:1/ocsp//", der, sizeof der, &u), RMQ_OK);
    assert_string_equal(u, "http://h:1/ocsp/%2B%2F%2F%2BMA%3D%3D");
    free(u);
}

static void test_responder_from_cert(void **state)
{
    (void)state;
    char *u = NULL;
    assert_int_equal(rmq_ocsp_responder_from_cert(W.srv, &u), RMQ_OK);
    assert_string_equal(u, "http://127.0.0.1:9/ocsp");
    free(u);
    assert_int_equal(rmq_ocsp_responder_from_cert(W.srv2, &u), RMQ_ERR_NOT_FOUND);
}

static void test_find_issuer__chain_then_file(void **state)
{
    (void)state;
    X509 *got = NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, W.other_ca); /* same name, other key: must be skipped */
    assert_int_equal(rmq_ocsp_find_issuer(W.srv, chain, NULL, &got), RMQ_ERR_NOT_FOUND);
    sk_X509_push(chain, W.ca);
    assert_int_equal(rmq_ocsp_find_issuer(W.srv, chain, NULL, &got), RMQ_OK);
    assert_int_equal(X509_cmp(got, W.ca), 0);
    X509_free(got);
    sk_X509_free(chain);

    char path[] = "/tmp/rmq-ocsp-issuer-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, W.other_ca);
    PEM_write_X509(f, W.rsp_ok);
    PEM_write_X509(f, W.ca);
    fclose(f);
    assert_int_equal(rmq_ocsp_find_issuer(W.srv, NULL, path, &got), RMQ_OK);
    assert_int_equal(X509_cmp(got, W.ca), 0);
    X509_free(got);
    assert_int_equal(rmq_ocsp_find_issuer(W.ca, NULL, path, &got), RMQ_OK); /* self-signed */
    X509_free(got);
    assert_int_equal(rmq_ocsp_find_issuer(W.rsp_foreign, NULL, path, &got), RMQ_OK);
    assert_int_equal(X509_cmp(got, W.other_ca), 0);
    X509_free(got);
    f = fopen(path, "w");
    PEM_write_X509(f, W.ca);
    fclose(f);
    assert_int_equal(rmq_ocsp_find_issuer(W.rsp_foreign, NULL, path, &got), RMQ_ERR_NOT_FOUND);
    unlink(path);
    assert_int_equal(rmq_ocsp_find_issuer(W.srv, NULL, path, &got), RMQ_ERR_IO);
}

static void test_fingerprint(void **state)
{
    (void)state;
    char a[65], b[65];
    assert_int_equal(rmq_ocsp_cert_fingerprint(W.srv, a), RMQ_OK);
    assert_int_equal(rmq_ocsp_cert_fingerprint(W.srv2, b), RMQ_OK);
    assert_int_equal(strlen(a), 64);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify__good_signed_by_issuer),
        cmocka_unit_test(test_verify__revoked_reports_time_and_reason),
        cmocka_unit_test(test_verify__unknown_is_verified_with_unknown_status),
        cmocka_unit_test(test_verify__rejects_response_for_another_cert),
        cmocka_unit_test(test_verify__rejects_unrelated_signer),
        cmocka_unit_test(test_verify__delegated_responder_with_eku_accepted),
        cmocka_unit_test(test_verify__delegated_responder_checks),
        cmocka_unit_test(test_verify__time_window),
        cmocka_unit_test(test_verify__uses_given_now),
        cmocka_unit_test(test_verify__non_successful_status),
        cmocka_unit_test(test_verify__two_single_responses_rejected),
        cmocka_unit_test(test_verify__garbage_truncated_and_trailing),
        cmocka_unit_test(test_verify__nonce),
        cmocka_unit_test(test_build_request__sha1_certid_for_cert),
        cmocka_unit_test(test_get_url__one_slash_and_urlencoded),
        cmocka_unit_test(test_responder_from_cert),
        cmocka_unit_test(test_find_issuer__chain_then_file),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
