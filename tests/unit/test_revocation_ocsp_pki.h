/*
 * test_revocation_ocsp_pki.h — a tiny in-test PKI for the OCSP tests: EC keys,
 * certificates (CA, server with AIA, delegated OCSP responder) and OCSP
 * responses signed with the real OpenSSL API (OCSP_basic_sign). Nothing is
 * checked in; everything is made fresh per test run.
 */
#ifndef RMQ_TEST_OCSP_PKI_H
#define RMQ_TEST_OCSP_PKI_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PKI_UNUSED __attribute__((unused))

enum { PKI_CA = 1, PKI_OCSP_SIGN = 2, PKI_SERVER = 4 };

PKI_UNUSED static EVP_PKEY *pki_key(void)
{
    return EVP_EC_gen("P-256");
}

PKI_UNUSED static void pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext != NULL) {
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

/* A certificate for `key`, signed by issuer_key (self-signed when issuer is
 * NULL). Valid from now+nb_sec to now+na_sec. aia: OCSP URI or NULL. */
PKI_UNUSED static X509 *pki_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                                 long serial, long nb_sec, long na_sec, unsigned flags,
                                 const char *aia)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), nb_sec);
    X509_gmtime_adj(X509_getm_notAfter(x), na_sec);
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_set_pubkey(x, key);
    X509 *iss = issuer ? issuer : x;
    pki_add_ext(x, iss, NID_subject_key_identifier, "hash");
    pki_add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
    if (flags & PKI_CA) {
        pki_add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        pki_add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        pki_add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
    }
    if (flags & PKI_OCSP_SIGN) {
        pki_add_ext(x, iss, NID_ext_key_usage, "OCSPSigning");
    }
    if (flags & PKI_SERVER) {
        pki_add_ext(x, iss, NID_ext_key_usage, "serverAuth");
        pki_add_ext(x, iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    if (aia != NULL) {
        char buf[512];
        snprintf(buf, sizeof buf, "OCSP;URI:%s", aia);
        pki_add_ext(x, iss, NID_info_access, buf);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

struct pki_resp {
    X509 *cert;   /* whose status */
    X509 *issuer; /* for the CertID */
    int status;   /* V_OCSP_CERTSTATUS_* */
    X509 *signer;
    EVP_PKEY *signer_key;
    STACK_OF(X509) * extra; /* certs to include besides the signer (may be NULL) */
    bool no_certs;          /* do not include the signer cert */
    bool by_key;            /* ResponderID byKey */
    long this_off;          /* thisUpdate = now + this_off */
    long next_off;          /* nextUpdate = now + next_off */
    bool no_next;
    int resp_status; /* OCSP_RESPONSE_STATUS_*; 0 = successful */
    int singles;     /* 0 = 1 */
    time_t now;      /* 0 = time(NULL) */
};

/* DER of the response described by r; *len set. Caller frees with free(). */
PKI_UNUSED static unsigned char *pki_response(const struct pki_resp *r, size_t *len)
{
    time_t now = r->now ? r->now : time(NULL);
    OCSP_RESPONSE *resp = NULL;
    if (r->resp_status != 0) {
        resp = OCSP_response_create(r->resp_status, NULL);
    } else {
        OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
        ASN1_GENERALIZEDTIME *tu = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, r->this_off);
        ASN1_GENERALIZEDTIME *nu =
            r->no_next ? NULL : ASN1_GENERALIZEDTIME_adj(NULL, now, 0, r->next_off);
        ASN1_GENERALIZEDTIME *rt = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, -3600);
        int n = r->singles ? r->singles : 1;
        for (int i = 0; i < n; i++) {
            OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), r->cert, r->issuer);
            OCSP_basic_add1_status(
                bs, id, r->status,
                r->status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                r->status == V_OCSP_CERTSTATUS_REVOKED ? rt : NULL, tu, nu);
            OCSP_CERTID_free(id);
        }
        unsigned long fl = (r->no_certs ? OCSP_NOCERTS : 0) | (r->by_key ? OCSP_RESPID_KEY : 0);
        OCSP_basic_sign(bs, r->signer, r->signer_key, EVP_sha256(), r->extra, fl);
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
        OCSP_BASICRESP_free(bs);
        ASN1_TIME_free(tu);
        ASN1_TIME_free(nu);
        ASN1_TIME_free(rt);
    }
    int n = i2d_OCSP_RESPONSE(resp, NULL);
    unsigned char *der = malloc((size_t)n);
    unsigned char *p = der;
    i2d_OCSP_RESPONSE(resp, &p);
    OCSP_RESPONSE_free(resp);
    *len = (size_t)n;
    return der;
}

PKI_UNUSED static bool pki_write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return false;
    }
    bool ok = true;
    if (x != NULL) {
        ok = ok && PEM_write_X509(f, x) == 1;
    }
    if (key != NULL) {
        ok = ok && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    }
    return fclose(f) == 0 && ok;
}

#endif
