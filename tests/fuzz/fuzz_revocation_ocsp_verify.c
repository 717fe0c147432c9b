/*
 * fuzz_revocation_ocsp_verify.c — feeds arbitrary bytes to
 * rmq_ocsp_verify_response as the OCSP response for a fixed (cert, issuer)
 * pair made at start-up. Two modes, chosen by the first byte:
 *  - even: the rest of the input is the response as is; it must never verify
 *    (the CA key is fresh) and every rejection must name its check;
 *  - odd: the rest is a list of (offset, xor) byte pairs applied to a VALID
 *    response made at start-up, so the fuzzer reaches the checks past the
 *    parser (CertID, signer, signature, times). Our code is instrumented,
 *    OpenSSL is not, so this mode is what gives coverage feedback.
 * Nothing may crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "revocation/ocsp_stapler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static X509 *ca, *leaf;
static unsigned char *valid;
static size_t valid_len;

static void make_valid_response(EVP_PKEY *ca_key)
{
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), leaf, ca);
    time_t now = time(NULL);
    ASN1_GENERALIZEDTIME *tu = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, -60);
    ASN1_GENERALIZEDTIME *nu = ASN1_GENERALIZEDTIME_adj(NULL, now, 1, 0);
    OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, tu, nu);
    OCSP_basic_sign(bs, ca, ca_key, EVP_sha256(), NULL, 0);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    unsigned char *p = NULL;
    int n = i2d_OCSP_RESPONSE(resp, &p);
    valid = p;
    valid_len = n > 0 ? (size_t)n : 0;
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_set_pubkey(x, key);
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
    ca = make_cert("Fuzz CA", ca_key, NULL, NULL, 1);
    leaf = make_cert("leaf", leaf_key, ca, ca_key, 2);
    make_valid_response(ca_key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    struct rmq_ocsp_verdict v;
    if (valid_len == 0 ||
        rmq_ocsp_verify_response(valid, valid_len, leaf, ca, NULL, &v) != RMQ_OK) {
        abort(); /* the base of the mutation mode must verify */
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rmq_ocsp_verdict v;
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        rmq_err e = rmq_ocsp_verify_response(data + 1, size - 1, leaf, ca, NULL, &v);
        if (e == RMQ_OK || v.failed_check == NULL) {
            abort(); /* unguessable signature; every rejection names its check */
        }
        return 0;
    }
    unsigned char *buf = malloc(valid_len);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, valid, valid_len);
    size_t len = valid_len;
    for (size_t i = 1; i + 2 < size; i += 3) {
        size_t off = ((size_t)data[i] << 8 | data[i + 1]) % valid_len;
        buf[off] ^= data[i + 2];
    }
    if (size % 3 == 2) {
        len = (size_t)data[size - 1] * valid_len / 255; /* truncation */
    }
    rmq_err e = rmq_ocsp_verify_response(buf, len, leaf, ca, NULL, &v);
    if (e != RMQ_OK && v.failed_check == NULL) {
        abort();
    }
    free(buf);
    return 0;
}
