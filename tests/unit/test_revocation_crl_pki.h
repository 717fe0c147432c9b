/*
 * test_revocation_crl_pki.h — CAs and CRLs made with the OpenSSL API for the
 * CRL unit tests (header-only). Keys are EC P-256; CRLs are v2.
 */
#ifndef TEST_REVOCATION_CRL_PKI_H
#define TEST_REVOCATION_CRL_PKI_H

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cert_id.h"

struct tca {
    EVP_PKEY *key;
    X509 *cert;
};

/* Every live test CA, oldest first: lets a test name a certificate by its
 * issuer's name hash and find the issuer KEY (the first CA of that name:
 * tests that need a same-named twin build its identity with tca_id). */
static X509 *treg[64];

static inline void treg_add(X509 *x)
{
    for (size_t i = 0; i < sizeof treg / sizeof treg[0]; i++) {
        if (treg[i] == NULL) {
            treg[i] = x;
            return;
        }
    }
}

static inline void treg_del(X509 *x)
{
    for (size_t i = 0; i < sizeof treg / sizeof treg[0]; i++) {
        if (treg[i] == x) {
            treg[i] = NULL;
        }
    }
}

static inline void tsha(const unsigned char *p, size_t n, unsigned char out[32])
{
    unsigned int ol = 0;
    EVP_Digest(p, n, out, &ol, EVP_sha256(), NULL);
}

static inline void tkey_hash(X509 *x, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    tsha(der, (size_t)n, out);
    OPENSSL_free(der);
}

static inline void tname_hash(const X509_NAME *nm, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509_NAME(nm, &der);
    tsha(der, (size_t)n, out);
    OPENSSL_free(der);
}

/* The identity of an end-entity certificate (no CDP) of `serial` (big-endian
 * bytes) whose issuer name hashes to h, verified by the first live CA of that
 * name (zero key when none). */
static inline struct rmq_cert_id tid(const unsigned char h[32], const unsigned char *sb, size_t n)
{
    struct rmq_cert_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.issuer_hash, h, 32);
    for (size_t i = 0; i < sizeof treg / sizeof treg[0]; i++) {
        unsigned char nh[32];
        if (treg[i] != NULL) {
            tname_hash(X509_get_subject_name(treg[i]), nh);
            if (memcmp(nh, h, 32) == 0) {
                tkey_hash(treg[i], id.issuer_key);
                break;
            }
        }
    }
    while (n > 1 && sb[0] == 0) {
        sb++;
        n--;
    }
    memcpy(id.serial, sb, n);
    id.serial_len = (uint8_t)n;
    return id;
}

/* rmq_crl_snapshot_lookup of tid(h, sb, n) (for files that include crl.h). */
#define tlookup(s, h, sb, n, r)                                                                    \
    rmq_crl_snapshot_lookup((s), (const struct rmq_cert_id[]){tid((h), (sb), (n))}, (r))

/* The CA whose name and key signed crl (NULL if none is live). */
static inline X509 *treg_signer(X509_CRL *crl)
{
    for (size_t i = 0; i < sizeof treg / sizeof treg[0]; i++) {
        if (treg[i] != NULL &&
            X509_NAME_cmp(X509_get_subject_name(treg[i]), X509_CRL_get_issuer(crl)) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(treg[i])) == 1) {
            return treg[i];
        }
    }
    ERR_clear_error();
    return NULL;
}

static inline void tca_free(struct tca *c)
{
    treg_del(c->cert);
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
    c->key = NULL;
    c->cert = NULL;
}

static inline void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
}

/* A self-signed CA "CN=<cn>". crl_sign=false leaves cRLSign out of keyUsage. */
static inline struct tca tca_make(const char *cn, bool crl_sign)
{
    struct tca c;
    c.key = EVP_EC_gen("P-256");
    c.cert = X509_new();
    X509_set_version(c.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(c.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.cert), 86400L * 365);
    X509_NAME *n = X509_get_subject_name(c.cert);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"revmq test", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c.cert, n);
    X509_set_pubkey(c.cert, c.key);
    add_ext(c.cert, c.cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.cert, c.cert, NID_key_usage,
            crl_sign ? "critical,keyCertSign,cRLSign" : "critical,keyCertSign");
    add_ext(c.cert, c.cert, NID_subject_key_identifier, "hash");
    X509_sign(c.cert, c.key, EVP_sha256());
    treg_add(c.cert);
    return c;
}

/* Writes the CA certificate(s) as PEM to path. */
static inline void tca_write_pem(const char *path, const struct tca *cas, size_t n)
{
    FILE *f = fopen(path, "w");
    for (size_t i = 0; i < n; i++) {
        PEM_write_X509(f, cas[i].cert);
    }
    fclose(f);
}

struct tcrl_opts {
    long this_update_off; /* seconds from now */
    long next_update_off; /* seconds from now */
    bool no_next_update;
    long number;           /* < 0: no CRL number */
    bool critical_unknown; /* add an unknown critical extension */
    const char *idp;       /* IDP extension value (conf syntax) or NULL */
    bool delta;            /* add a delta CRL indicator */
    long delta_base;       /* its BaseCRLNumber (0: 1) */
    unsigned some_reasons; /* != 0: IDP onlySomeReasons with these bits (bit n = reason n) */
};

static inline struct tcrl_opts tcrl_defaults(void)
{
    struct tcrl_opts o = {.this_update_off = -60, .next_update_off = 3600, .number = 1};
    return o;
}

/* Signs with signer's key, names issuer's subject (normally the same CA). */
static inline X509_CRL *tcrl_make(const struct tca *issuer, const struct tca *signer,
                                  const unsigned long *serials, size_t n, const int *reasons,
                                  struct tcrl_opts o)
{
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->cert));
    ASN1_TIME *tu = X509_gmtime_adj(NULL, o.this_update_off);
    X509_CRL_set1_lastUpdate(crl, tu);
    if (!o.no_next_update) {
        ASN1_TIME *nu = X509_gmtime_adj(NULL, o.next_update_off);
        X509_CRL_set1_nextUpdate(crl, nu);
        ASN1_TIME_free(nu);
    }
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        ASN1_INTEGER_set_uint64(sn, serials[i]);
        X509_REVOKED_set_serialNumber(r, sn);
        ASN1_INTEGER_free(sn);
        X509_REVOKED_set_revocationDate(r, tu);
        if (reasons && reasons[i] >= 0) {
            ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
            ASN1_ENUMERATED_set(e, reasons[i]);
            X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0);
            ASN1_ENUMERATED_free(e);
        }
        X509_CRL_add0_revoked(crl, r);
    }
    ASN1_TIME_free(tu);
    if (o.number >= 0) {
        ASN1_INTEGER *num = ASN1_INTEGER_new();
        ASN1_INTEGER_set(num, o.number);
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0);
        ASN1_INTEGER_free(num);
    }
    if (o.delta) {
        ASN1_INTEGER *num = ASN1_INTEGER_new();
        ASN1_INTEGER_set(num, o.delta_base > 0 ? o.delta_base : 1);
        X509_CRL_add1_ext_i2d(crl, NID_delta_crl, num, 1, 0);
        ASN1_INTEGER_free(num);
    }
    if (o.idp) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer->cert, NULL, NULL, crl, 0);
        X509_EXTENSION *ex =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_issuing_distribution_point, (char *)o.idp);
        X509_CRL_add_ext(crl, ex, -1);
        X509_EXTENSION_free(ex);
    }
    if (o.some_reasons) {
        ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();
        idp->onlysomereasons = ASN1_BIT_STRING_new();
        for (int b = 1; b <= 8; b++) {
            if (o.some_reasons & (1u << b)) {
                ASN1_BIT_STRING_set_bit(idp->onlysomereasons, b, 1);
            }
        }
        X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point, idp, 1, 0);
        ISSUING_DIST_POINT_free(idp);
    }
    if (o.critical_unknown) {
        ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
        X509_EXTENSION *ex = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
        X509_CRL_add_ext(crl, ex, -1);
        X509_EXTENSION_free(ex);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, signer->key, EVP_sha256());
    return crl;
}

/* DER (malloc'd) of a CRL. */
static inline unsigned char *tcrl_der(X509_CRL *crl, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509_CRL(crl, &p);
    unsigned char *out = malloc((size_t)n);
    memcpy(out, p, (size_t)n);
    OPENSSL_free(p);
    *len = (size_t)n;
    return out;
}

/* PEM (malloc'd, NUL-terminated) of one or more CRLs. */
static inline char *tcrl_pem(X509_CRL *const *crls, size_t n, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    for (size_t i = 0; i < n; i++) {
        PEM_write_bio_X509_CRL(b, crls[i]);
    }
    char *p;
    long l = BIO_get_mem_data(b, &p);
    char *out = malloc((size_t)l + 1);
    memcpy(out, p, (size_t)l);
    out[l] = '\0';
    BIO_free(b);
    *len = (size_t)l;
    return out;
}

/* SHA-256 of the subject name DER (what the TLS layer computes for issuers). */
static inline void tca_name_hash(const struct tca *c, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509_NAME(X509_get_subject_name(c->cert), &der);
    unsigned int ol = 0;
    EVP_Digest(der, (size_t)n, out, &ol, EVP_sha256(), NULL);
    OPENSSL_free(der);
}

/* Big-endian bytes of a serial number without leading zeros. */
static inline size_t serial_bytes(unsigned long v, unsigned char out[8])
{
    unsigned char tmp[8];
    for (int i = 7; i >= 0; i--) {
        tmp[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    size_t s = 0;
    while (s < 7 && tmp[s] == 0) {
        s++;
    }
    memcpy(out, tmp + s, 8 - s);
    return 8 - s;
}

#endif
