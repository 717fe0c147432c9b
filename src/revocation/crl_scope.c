/*
 * crl_scope.c — which CRL covers which certificate (RFC 5280 5.2.5, 6.3.3).
 *
 * Both sides are reduced to plain data once, off the hot path: a CRL's scope
 * when it is accepted (rmq_crl_scope_read: the key that verified it, its
 * Issuing Distribution Point), a certificate's when it is verified
 * (rmq_crl_cert_id: issuer name and verifying key, serial with its sign,
 * basicConstraints cA, CRL distribution point names). The coverage function
 * (rmq_crl_entry_scope) then only compares bytes: no OpenSSL on the lookup.
 *
 * Distribution point names are compared as hashes of their GeneralName DER; a
 * name relative to the CRL issuer (nameRelativeToCRLIssuer) is expanded to
 * the full directoryName first (RFC 5280 4.2.1.13), so a relative name and
 * the equal full directoryName match, as 6.3.3 (b)(2)(i) requires.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "revocation/crl_int.h"

#define RMQ_CRL_SCOPE_NAME(id, name) name,
static const char *const SCOPE_NAMES[] = {RMQ_CRL_SCOPE_TABLE(RMQ_CRL_SCOPE_NAME)};
#undef RMQ_CRL_SCOPE_NAME

const char *rmq_crl_scope_name(enum rmq_crl_scope s)
{
    return (size_t)s < sizeof SCOPE_NAMES / sizeof SCOPE_NAMES[0] ? SCOPE_NAMES[s] : "?";
}

static bool sha256(const unsigned char *p, size_t n, uint8_t out[32])
{
    unsigned int hl = 0;
    return EVP_Digest(p, n, out, &hl, EVP_sha256(), NULL) == 1 && hl == 32;
}

/* SHA-256 of the SubjectPublicKeyInfo DER of a certificate. */
RMQ_MUST_USE static rmq_err rmq_crl_key_hash(X509 *cert, uint8_t out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (n <= 0) {
        ERR_clear_error();
        return RMQ_ERR_MALFORMED;
    }
    bool ok = sha256(der, (size_t)n, out);
    OPENSSL_free(der);
    return ok ? RMQ_OK : RMQ_ERR_CRYPTO;
}

/* RFC 5280 ReasonFlags -> bit n for reason n (1..8); absent -> all. */
static uint16_t reason_bits(const ASN1_BIT_STRING *bs)
{
    if (bs == NULL) {
        return RMQ_CERT_REASONS_ALL;
    }
    uint16_t m = 0;
    for (int n = 1; n <= 8; n++) {
        if (ASN1_BIT_STRING_get_bit(bs, n)) {
            m |= (uint16_t)(1u << n);
        }
    }
    return m;
}

static bool gn_hash(const GENERAL_NAME *gn, uint8_t out[RMQ_CERT_ID_DP_HASH])
{
    unsigned char *der = NULL;
    int n = i2d_GENERAL_NAME(gn, &der);
    uint8_t h[32];
    bool ok = n > 0 && sha256(der, (size_t)n, h);
    OPENSSL_free(der);
    if (ok) {
        memcpy(out, h, RMQ_CERT_ID_DP_HASH);
    }
    return ok;
}

/* Hashes of the names of a DistributionPointName into out[*n..max). Names
 * beyond max are dropped (a certificate then matches fewer CRLs: fail
 * closed). False when a name cannot be encoded. */
static bool dpn_hashes(DIST_POINT_NAME *dpn, const X509_NAME *crl_issuer,
                       uint8_t (*out)[RMQ_CERT_ID_DP_HASH], uint16_t *reasons_out, uint16_t reasons,
                       size_t max, uint8_t *n)
{
    if (dpn->type == 0) {
        GENERAL_NAMES *gns = dpn->name.fullname;
        for (int i = 0; i < sk_GENERAL_NAME_num(gns) && *n < max; i++) {
            if (!gn_hash(sk_GENERAL_NAME_value(gns, i), out[*n])) {
                return false;
            }
            if (reasons_out != NULL) {
                reasons_out[*n] = reasons;
            }
            (*n)++;
        }
        return true;
    }
    /* nameRelativeToCRLIssuer: the full name is the CRL issuer's + the RDN. */
    if (DIST_POINT_set_dpname(dpn, crl_issuer) != 1 || dpn->dpname == NULL) {
        return false;
    }
    GENERAL_NAME gn;
    memset(&gn, 0, sizeof gn);
    gn.type = GEN_DIRNAME;
    gn.d.directoryName = dpn->dpname;
    if (*n < max) {
        if (!gn_hash(&gn, out[*n])) {
            return false;
        }
        if (reasons_out != NULL) {
            reasons_out[*n] = reasons;
        }
        (*n)++;
    }
    return true;
}

/* ---------- the CRL side ---------- */

/* scope_hash = SHA-256(delta flag || IDP DER), idp_hash = SHA-256(IDP DER). */
static rmq_err scope_hashes(X509_CRL *crl, struct rmq_crl_entry *c)
{
    uint8_t buf[1 + 4096];
    size_t n = 1;
    buf[0] = c->is_delta ? 1 : 0;
    int at = X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1);
    if (at >= 0) {
        ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_CRL_get_ext(crl, at));
        size_t l = (size_t)ASN1_STRING_length(v);
        if (l > sizeof buf - 1) {
            return RMQ_ERR_MALFORMED;
        }
        memcpy(buf + 1, ASN1_STRING_get0_data(v), l);
        n += l;
    }
    return sha256(buf, n, c->scope_hash) && sha256(buf + 1, n - 1, c->idp_hash) ? RMQ_OK
                                                                                : RMQ_ERR_CRYPTO;
}

/* The delta CRL indicator's BaseCRLNumber (RFC 5280 5.2.4) into c. */
static void read_delta(X509_CRL *crl, struct rmq_crl_entry *c)
{
    ASN1_INTEGER *base = X509_CRL_get_ext_d2i(crl, NID_delta_crl, NULL, NULL);
    c->is_delta = base != NULL || X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0;
    if (base != NULL && ASN1_STRING_type(base) != V_ASN1_NEG_INTEGER) {
        const uint8_t *p = ASN1_STRING_get0_data(base);
        size_t n = (size_t)ASN1_STRING_length(base);
        while (n > 1 && p[0] == 0) {
            p++;
            n--;
        }
        if (n > 0 && n <= sizeof c->base_number) {
            memcpy(c->base_number, p, n);
            c->base_number_len = n;
        }
    }
    ASN1_INTEGER_free(base);
}

static int cmp_num(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    if (al != bl) {
        return al < bl ? -1 : 1;
    }
    return memcmp(a, b, al);
}

bool rmq_crl_delta_applies(const struct rmq_crl_entry *d, const struct rmq_crl_entry *base)
{
    return d->is_delta && !base->is_delta && d->base_number_len > 0 && d->has_number &&
           base->has_number && memcmp(d->issuer_hash, base->issuer_hash, 32) == 0 &&
           memcmp(d->issuer_key, base->issuer_key, 32) == 0 &&
           memcmp(d->idp_hash, base->idp_hash, 32) == 0 &&
           cmp_num(d->base_number, d->base_number_len, base->number, base->number_len) <= 0 &&
           cmp_num(base->number, base->number_len, d->number, d->number_len) < 0;
}

rmq_err rmq_crl_scope_read(X509_CRL *crl, X509 *signer, struct rmq_crl_entry *c)
{
    RMQ_TRY(rmq_crl_key_hash(signer, c->issuer_key));
    read_delta(crl, c);
    c->reasons = RMQ_CERT_REASONS_ALL;
    c->ndp = 0;
    int crit = -1;
    ISSUING_DIST_POINT *idp =
        X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
    rmq_err e = RMQ_OK;
    if (idp == NULL && crit != -1) {
        e = RMQ_ERR_MALFORMED; /* present but undecodable */
    } else if (idp != NULL) {
        c->only_user = idp->onlyuser > 0;
        c->only_ca = idp->onlyCA > 0;
        c->only_attr = idp->onlyattr > 0;
        c->reasons = reason_bits(idp->onlysomereasons);
        if (idp->distpoint != NULL && !dpn_hashes(idp->distpoint, X509_CRL_get_issuer(crl), c->dp,
                                                  NULL, 0, RMQ_CRL_IDP_DP_MAX, &c->ndp)) {
            e = RMQ_ERR_MALFORMED;
        }
        if (e == RMQ_OK && idp->distpoint != NULL && c->ndp == 0) {
            e = RMQ_ERR_MALFORMED; /* a distributionPoint with no name */
        }
    }
    ISSUING_DIST_POINT_free(idp);
    ERR_clear_error();
    if (e == RMQ_OK) {
        e = scope_hashes(crl, c);
    }
    return e;
}

bool rmq_crl_same_scope(const struct rmq_crl_entry *a, const struct rmq_crl_entry *b)
{
    return memcmp(a->issuer_hash, b->issuer_hash, 32) == 0 &&
           memcmp(a->issuer_key, b->issuer_key, 32) == 0 &&
           memcmp(a->scope_hash, b->scope_hash, 32) == 0;
}

/* ---------- the certificate side ---------- */

static rmq_err cert_dps(X509 *cert, struct rmq_cert_id *out)
{
    int crit = -1;
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, &crit, NULL);
    if (dps == NULL) {
        ERR_clear_error();
        return crit == -1 ? RMQ_OK : RMQ_ERR_MALFORMED;
    }
    rmq_err e = RMQ_OK;
    for (int i = 0; e == RMQ_OK && i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        /* A DP naming another CRL issuer points at an indirect CRL, which is
         * refused: its names can never match a CRL we use. */
        if (dp->distpoint == NULL || dp->CRLissuer != NULL) {
            continue;
        }
        if (!dpn_hashes(dp->distpoint, X509_get_issuer_name(cert), out->dp, out->dp_reasons,
                        reason_bits(dp->reasons), RMQ_CERT_ID_DP_MAX, &out->ndp)) {
            e = RMQ_ERR_MALFORMED;
        }
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    ERR_clear_error();
    return e;
}

rmq_err rmq_crl_cert_id(X509 *cert, X509 *issuer, struct rmq_cert_id *out)
{
    memset(out, 0, sizeof *out);
    RMQ_TRY(rmq_crl_name_hash(X509_get_issuer_name(cert), out->issuer_hash));
    RMQ_TRY(rmq_crl_key_hash(issuer != NULL ? issuer : cert, out->issuer_key));
    const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
    const unsigned char *p = ASN1_STRING_get0_data(sn);
    size_t len = (size_t)ASN1_STRING_length(sn);
    if (p == NULL || len == 0) {
        return RMQ_ERR_MALFORMED;
    }
    while (len > 1 && p[0] == 0) {
        p++;
        len--;
    }
    if (len > RMQ_CERT_ID_SERIAL_MAX) {
        return RMQ_ERR_TOO_LARGE;
    }
    memcpy(out->serial, p, len);
    out->serial_len = (uint8_t)len;
    out->serial_negative = ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER;
    out->is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
    return cert_dps(cert, out);
}

void rmq_crl_serial_text(const struct rmq_cert_id *id, char *buf, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    if (n == 0) {
        return;
    }
    if (id->serial_negative && k + 1 < n) {
        buf[k++] = '-';
    }
    for (size_t i = 0; i < id->serial_len && k + 2 < n; i++) {
        buf[k++] = hex[id->serial[i] >> 4];
        buf[k++] = hex[id->serial[i] & 15];
    }
    buf[k] = '\0';
}

/* ---------- coverage ---------- */

enum rmq_crl_scope rmq_crl_entry_scope(const struct rmq_crl_entry *c, const struct rmq_cert_id *id,
                                       uint16_t *reasons)
{
    *reasons = 0;
    if (memcmp(c->issuer_hash, id->issuer_hash, 32) != 0) {
        return RMQ_CRL_SCOPE_ISSUER_NAME;
    }
    /* RFC 5280 6.3.3 (f): the CRL is verified with the key that verified the
     * certificate (same name, other key: another CA). */
    if (memcmp(c->issuer_key, id->issuer_key, 32) != 0) {
        return RMQ_CRL_SCOPE_ISSUER_KEY;
    }
    return rmq_crl_entry_scope_same_issuer(c, id, reasons);
}
