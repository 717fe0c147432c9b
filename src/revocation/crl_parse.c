/*
 * crl_parse.c — sniff, parse and check CRLs; build index entries.
 * See crl_int.h and the acceptance rules in crl.h.
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader.h"
#include "revocation/crl_int.h"
#include "revocation/refusal.h"

static const char PEM_CRL_BEGIN[] = "-----BEGIN X509 CRL-----";

void rmq_crl_entry_ref(struct rmq_crl_entry *c)
{
    atomic_fetch_add(&c->ref, 1);
}

void rmq_crl_entry_unref(struct rmq_crl_entry *c)
{
    if (c && atomic_fetch_sub(&c->ref, 1) == 1) {
        rmq_crl_index_free(c->index);
        rmq_crl_index_free(c->released);
        OPENSSL_free(c->der);
        free(c);
    }
}

void rmq_crl_fmt_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, n, "?");
    }
}

rmq_err rmq_crl_name_hash(const X509_NAME *name, uint8_t out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509_NAME(name, &der);
    if (n <= 0) {
        return RMQ_ERR_NOMEM;
    }
    unsigned int olen = 0;
    int ok = EVP_Digest(der, (size_t)n, out, &olen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    return ok == 1 && olen == 32 ? RMQ_OK : RMQ_ERR_INTERNAL;
}

/* ---------- sniff + parse ---------- */

static bool all_space(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return false;
        }
    }
    return true;
}

/* lenient: a block whose base64 decodes but whose content is no CRL is kept
 * as a NULL slot (refused alone by the caller) instead of refusing the body. */
static rmq_err parse_pem(const uint8_t *data, size_t len, STACK_OF(X509_CRL) * out,
                         const char **reason, bool lenient)
{
    size_t good = 0;
    if (len > INT32_MAX) {
        *reason = RMQ_REFUSED(TOO_LARGE);
        return RMQ_ERR_TOO_LARGE;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err rc = RMQ_OK;
    for (;;) {
        ERR_set_mark();
        X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        if (!crl) {
            unsigned long err = ERR_peek_last_error();
            ERR_pop_to_mark();
            if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
                break; /* no more CRL blocks */
            }
            /* PEM framing broken (cut, bad base64): the body is refused; the
             * content of one block undecodable: that block is garbage. */
            bool content = ERR_GET_LIB(err) != ERR_LIB_PEM || ERR_GET_REASON(err) == ERR_R_ASN1_LIB;
            if (content && lenient && sk_X509_CRL_num(out) < RMQ_CRL_MAX_PER_BODY) {
                if (!sk_X509_CRL_push(out, NULL)) {
                    rc = RMQ_ERR_NOMEM;
                    break;
                }
                continue;
            }
            *reason = content ? RMQ_REFUSED(GARBAGE) : RMQ_REFUSED(TRUNCATED);
            rc = RMQ_ERR_MALFORMED;
            break;
        }
        ERR_pop_to_mark();
        good++;
        if (sk_X509_CRL_num(out) >= RMQ_CRL_MAX_PER_BODY) {
            X509_CRL_free(crl);
            *reason = RMQ_REFUSED(TOO_MANY_CRLS);
            rc = RMQ_ERR_TOO_LARGE;
            break;
        }
        if (!sk_X509_CRL_push(out, crl)) {
            X509_CRL_free(crl);
            rc = RMQ_ERR_NOMEM;
            break;
        }
    }
    BIO_free(bio);
    if (rc == RMQ_OK && good == 0) {
        *reason = RMQ_REFUSED(GARBAGE);
        rc = RMQ_ERR_MALFORMED;
    }
    return rc;
}

/* Length of the DER TLV at the reader's position (SEQUENCE expected). */
static rmq_err der_tlv_len(struct rmq_reader *r, size_t *total, const char **reason)
{
    size_t start = r->off;
    uint8_t tag, l0;
    if (rmq_reader_u8(r, &tag) != RMQ_OK || rmq_reader_u8(r, &l0) != RMQ_OK) {
        *reason = RMQ_REFUSED(TRUNCATED);
        return RMQ_ERR_MALFORMED;
    }
    if (tag != 0x30 || l0 == 0x80 || l0 > 0x84) {
        *reason = RMQ_REFUSED(GARBAGE);
        return RMQ_ERR_MALFORMED;
    }
    size_t content = l0;
    if (l0 & 0x80) {
        content = 0;
        for (unsigned i = 0; i < (unsigned)(l0 & 0x7f); i++) {
            uint8_t b;
            if (rmq_reader_u8(r, &b) != RMQ_OK) {
                *reason = RMQ_REFUSED(TRUNCATED);
                return RMQ_ERR_MALFORMED;
            }
            content = (content << 8) | b;
        }
    }
    size_t hdr = r->off - start;
    r->off = start;
    if (content > rmq_reader_left(r) - hdr) {
        *reason = RMQ_REFUSED(TRUNCATED);
        return RMQ_ERR_MALFORMED;
    }
    *total = hdr + content;
    return RMQ_OK;
}

static rmq_err parse_der(const uint8_t *data, size_t len, STACK_OF(X509_CRL) * out,
                         const char **reason)
{
    struct rmq_reader r = rmq_reader_make(data, len);
    while (rmq_reader_left(&r) > 0) {
        if (sk_X509_CRL_num(out) > 0 && all_space(r.data + r.off, rmq_reader_left(&r))) {
            break;
        }
        if (sk_X509_CRL_num(out) > 0 && r.data[r.off] != 0x30) {
            *reason = RMQ_REFUSED(TRAILING_DATA);
            return RMQ_ERR_MALFORMED;
        }
        size_t total;
        RMQ_TRY(der_tlv_len(&r, &total, reason));
        if (total > LONG_MAX) {
            *reason = RMQ_REFUSED(TOO_LARGE);
            return RMQ_ERR_TOO_LARGE;
        }
        const unsigned char *p = r.data + r.off;
        X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)total);
        ERR_clear_error();
        if (!crl || p != r.data + r.off + total) {
            X509_CRL_free(crl);
            *reason = RMQ_REFUSED(GARBAGE);
            return RMQ_ERR_MALFORMED;
        }
        if (sk_X509_CRL_num(out) >= RMQ_CRL_MAX_PER_BODY) {
            X509_CRL_free(crl);
            *reason = RMQ_REFUSED(TOO_MANY_CRLS);
            return RMQ_ERR_TOO_LARGE;
        }
        if (!sk_X509_CRL_push(out, crl)) {
            X509_CRL_free(crl);
            return RMQ_ERR_NOMEM;
        }
        r.off += total;
    }
    return RMQ_OK;
}

static rmq_err parse_body(const uint8_t *data, size_t len, STACK_OF(X509_CRL) * *out,
                          const char **reason, bool lenient)
{
    *out = NULL;
    *reason = RMQ_REFUSED(GARBAGE);
    if (!data || len == 0) {
        return RMQ_ERR_MALFORMED;
    }
    STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
    if (!sk) {
        *reason = RMQ_REFUSED(NOMEM);
        return RMQ_ERR_NOMEM;
    }
    rmq_err rc;
    /* Sniff by content: a PEM CRL block anywhere, else DER starting with a
     * SEQUENCE, else garbage. */
    if (memmem(data, len, PEM_CRL_BEGIN, sizeof PEM_CRL_BEGIN - 1)) {
        rc = parse_pem(data, len, sk, reason, lenient);
    } else if (data[0] == 0x30) {
        rc = parse_der(data, len, sk, reason);
    } else {
        rc = RMQ_ERR_MALFORMED;
    }
    ERR_clear_error();
    if (rc != RMQ_OK) {
        sk_X509_CRL_pop_free(sk, X509_CRL_free);
        return rc;
    }
    *out = sk;
    return RMQ_OK;
}

rmq_err rmq_crl_parse_body(const uint8_t *data, size_t len, STACK_OF(X509_CRL) * *out,
                           const char **reason)
{
    return parse_body(data, len, out, reason, false);
}

rmq_err rmq_crl_parse_bundle(const uint8_t *data, size_t len, STACK_OF(X509_CRL) * *out,
                             const char **reason)
{
    return parse_body(data, len, out, reason, true);
}

/* ---------- checks ---------- */

static bool asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        return false;
    }
    *out = timegm(&tm);
    return true;
}

/* The CRL's authority key identifier keyid, or NULL (caller frees). */
static ASN1_OCTET_STRING *crl_akid(X509_CRL *crl)
{
    AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
    ASN1_OCTET_STRING *kid = NULL;
    if (akid != NULL) {
        kid = akid->keyid;
        akid->keyid = NULL;
        AUTHORITY_KEYID_free(akid);
    }
    ERR_clear_error();
    return kid;
}

/* RFC 5280 5.2.1 / 6.3.3 (f): the CRL is verified with a trusted CA of its
 * issuer name whose key signed it; when the CRL names an authority key id and
 * the CA has a subject key id, they must be equal. Two CAs with one name are
 * told apart by their keys: the one whose key verifies is the signer. */
static const char *check_signature(X509_CRL *crl, STACK_OF(X509) * cas, X509 **signer)
{
    const X509_NAME *issuer = X509_CRL_get_issuer(crl);
    ASN1_OCTET_STRING *kid = crl_akid(crl);
    bool name_seen = false, ku_refused = false;
    const char *why = NULL;
    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (X509_NAME_cmp(X509_get_subject_name(ca), issuer) != 0) {
            continue;
        }
        name_seen = true;
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
        if (kid != NULL && ski != NULL && ASN1_OCTET_STRING_cmp(kid, ski) != 0) {
            continue; /* another key of the same name */
        }
        /* RFC 5280 4.2.1.3: with keyUsage present, cRLSign is required. */
        if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) &&
            !(X509_get_key_usage(ca) & KU_CRL_SIGN)) {
            ku_refused = true;
            continue;
        }
        EVP_PKEY *pk = X509_get0_pubkey(ca);
        int ok = pk ? X509_CRL_verify(crl, pk) : 0;
        ERR_clear_error();
        if (ok == 1) {
            *signer = ca;
            ASN1_OCTET_STRING_free(kid);
            return NULL;
        }
    }
    ASN1_OCTET_STRING_free(kid);
    if (!name_seen) {
        why = RMQ_REFUSED(ISSUER_UNKNOWN);
    } else {
        why = ku_refused ? RMQ_REFUSED(SIGNER_NOT_CRL_SIGN) : RMQ_REFUSED(SIGNATURE);
    }
    return why;
}

static bool known_crl_ext(int nid)
{
    return nid == NID_crl_number || nid == NID_delta_crl || nid == NID_issuing_distribution_point ||
           nid == NID_authority_key_identifier;
}

static bool known_entry_ext(int nid)
{
    return nid == NID_crl_reason || nid == NID_invalidity_date || nid == NID_hold_instruction_code;
}

static const char *check_extensions(X509_CRL *crl)
{
    for (int i = 0; i < X509_CRL_get_ext_count(crl); i++) {
        X509_EXTENSION *ex = X509_CRL_get_ext(crl, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));
        if (X509_EXTENSION_get_critical(ex) && !known_crl_ext(nid)) {
            return RMQ_REFUSED(CRITICAL_EXTENSION);
        }
    }
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
        X509_REVOKED *rv = sk_X509_REVOKED_value(revs, i);
        for (int j = 0; j < X509_REVOKED_get_ext_count(rv); j++) {
            X509_EXTENSION *ex = X509_REVOKED_get_ext(rv, j);
            int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));
            if (X509_EXTENSION_get_critical(ex) && !known_entry_ext(nid)) {
                return RMQ_REFUSED(CRITICAL_EXTENSION);
            }
        }
    }
    int crit = -1;
    ISSUING_DIST_POINT *idp =
        X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
    const char *why = NULL;
    if (idp) {
        /* RFC 5280 5.2.5: an indirect CRL lists certificates of other issuers
         * (certificateIssuer entry extension); not supported, so refused:
         * it can neither revoke nor clear anything here. */
        if (idp->indirectCRL) {
            why = RMQ_REFUSED(INDIRECT_CRL);
        }
        ISSUING_DIST_POINT_free(idp);
    } else if (crit != -1) {
        why = RMQ_REFUSED(IDP_MALFORMED); /* present but undecodable */
    }
    ERR_clear_error();
    return why;
}

const char *rmq_crl_check(X509_CRL *crl, STACK_OF(X509) * cas, time_t now, uint64_t stale_grace_ms,
                          X509 **signer)
{
    X509 *who = NULL;
    if (signer != NULL) {
        *signer = NULL;
    }
    const char *why = check_signature(crl, cas, &who);
    if (why) {
        return why;
    }
    if ((why = check_extensions(crl))) {
        return why;
    }
    time_t tu, nu;
    if (!asn1_time(X509_CRL_get0_lastUpdate(crl), &tu)) {
        return RMQ_REFUSED(GARBAGE);
    }
    if (tu > now + RMQ_CRL_MAX_SKEW_SEC) {
        return RMQ_REFUSED(THIS_UPDATE_IN_FUTURE);
    }
    const ASN1_TIME *nut = X509_CRL_get0_nextUpdate(crl);
    if (!nut) {
        return RMQ_REFUSED(NEXT_UPDATE_MISSING);
    }
    if (!asn1_time(nut, &nu)) {
        return RMQ_REFUSED(GARBAGE);
    }
    if (nu + (time_t)(stale_grace_ms / 1000) < now) {
        return RMQ_REFUSED(NEXT_UPDATE_PAST);
    }
    if (signer != NULL) {
        *signer = who;
    }
    return NULL;
}

/* ---------- entry ---------- */

static int entry_reason(X509_REVOKED *rv)
{
    if (X509_REVOKED_get_ext_count(rv) == 0) {
        return RMQ_CRL_REASON_NONE;
    }
    ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
    if (!e) {
        ERR_clear_error();
        return RMQ_CRL_REASON_NONE;
    }
    long v = ASN1_ENUMERATED_get(e);
    ASN1_ENUMERATED_free(e);
    return (v >= 0 && v <= 10) ? (int)v : RMQ_CRL_REASON_NONE;
}

static rmq_err index_add(struct rmq_crl_index **ix, size_t cap, X509_REVOKED *rv, int reason)
{
    if (*ix == NULL) {
        RMQ_TRY(rmq_crl_index_new(cap, ix));
    }
    const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(rv);
    return rmq_crl_index_add(*ix, ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn),
                             ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER, reason);
}

/* The revoked serials into c->index; for a delta CRL, the removeFromCRL ones
 * into c->released (RFC 5280 5.3.1: released from hold since the base). */
static rmq_err build_index(X509_CRL *crl, struct rmq_crl_entry *c)
{
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    int n = sk_X509_REVOKED_num(revs);
    size_t cap = n > 0 ? (size_t)n : 0;
    RMQ_TRY(rmq_crl_index_new(cap, &c->index));
    rmq_err e = RMQ_OK;
    for (int i = 0; e == RMQ_OK && i < n; i++) {
        X509_REVOKED *rv = sk_X509_REVOKED_value(revs, i);
        int reason = entry_reason(rv);
        if (reason == 8) { /* removeFromCRL: not revoked, RFC 5280 5.3.1 */
            e = c->is_delta ? index_add(&c->released, cap, rv, reason) : RMQ_OK;
            continue;
        }
        e = index_add(&c->index, cap, rv, reason);
    }
    if (e != RMQ_OK) {
        rmq_crl_index_free(c->index);
        rmq_crl_index_free(c->released);
        c->index = c->released = NULL;
        return e;
    }
    rmq_crl_index_seal(c->index);
    rmq_crl_index_seal(c->released);
    return RMQ_OK;
}

static void fill_meta(X509_CRL *crl, struct rmq_crl_entry *c, uint64_t grace_ms)
{
    asn1_time(X509_CRL_get0_lastUpdate(crl), &c->this_update);
    asn1_time(X509_CRL_get0_nextUpdate(crl), &c->next_update);
    c->expires_at = c->next_update + (time_t)(grace_ms / 1000);
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    if (num) {
        const uint8_t *p = ASN1_STRING_get0_data(num);
        size_t n = (size_t)ASN1_STRING_length(num);
        while (n > 1 && p[0] == 0) {
            p++;
            n--;
        }
        if (n <= sizeof c->number) {
            memcpy(c->number, p, n);
            c->number_len = n;
            c->has_number = true;
        }
        ASN1_INTEGER_free(num);
    }
    ERR_clear_error();
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, X509_CRL_get_issuer(crl), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(b, c->issuer_dn, (int)sizeof c->issuer_dn - 1);
        c->issuer_dn[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

rmq_err rmq_crl_entry_build(X509_CRL *crl, X509 *signer, uint64_t stale_grace_ms, bool keep_der,
                            struct rmq_crl_entry **out)
{
    *out = NULL;
    if (signer == NULL) {
        return RMQ_ERR_INVALID;
    }
    struct rmq_crl_entry *c = calloc(1, sizeof *c);
    if (!c) {
        return RMQ_ERR_NOMEM;
    }
    atomic_init(&c->ref, 1);
    rmq_err e = rmq_crl_name_hash(X509_CRL_get_issuer(crl), c->issuer_hash);
    if (e == RMQ_OK) {
        e = rmq_crl_scope_read(crl, signer, c);
    }
    unsigned char *der = NULL;
    int dlen = e == RMQ_OK ? i2d_X509_CRL(crl, &der) : -1;
    unsigned int hl = 0;
    if (e == RMQ_OK &&
        (dlen <= 0 || EVP_Digest(der, (size_t)dlen, c->der_hash, &hl, EVP_sha256(), NULL) != 1)) {
        e = RMQ_ERR_NOMEM;
    }
    if (e == RMQ_OK) {
        e = build_index(crl, c);
    }
    if (e != RMQ_OK) {
        OPENSSL_free(der);
        free(c);
        ERR_clear_error();
        return e;
    }
    if (keep_der) {
        c->der = der;
        c->der_len = (size_t)dlen;
    } else {
        OPENSSL_free(der);
    }
    fill_meta(crl, c, stale_grace_ms);
    *out = c;
    return RMQ_OK;
}

static int cmp_number(const struct rmq_crl_entry *a, const struct rmq_crl_entry *b)
{
    if (a->number_len != b->number_len) {
        return a->number_len < b->number_len ? -1 : 1;
    }
    return memcmp(a->number, b->number, a->number_len);
}

const char *rmq_crl_check_progress(const struct rmq_crl_entry *prev,
                                   const struct rmq_crl_entry *next, bool *same)
{
    bool eq = memcmp(prev->der_hash, next->der_hash, sizeof prev->der_hash) == 0;
    if (same) {
        *same = eq;
    }
    if (eq) {
        return NULL;
    }
    if (prev->has_number && next->has_number) {
        int c = cmp_number(next, prev);
        if (c < 0) {
            return RMQ_REFUSED(CRL_NUMBER_WENT_BACK);
        }
        /* Same number, different content: a CA must not do this (RFC 5280
         * 5.2.3 "monotonically increasing"); we refuse it, keeping the CRL we
         * already verified. */
        return c == 0 ? RMQ_REFUSED(CRL_NUMBER_REUSED) : NULL;
    }
    if (next->this_update < prev->this_update) {
        return RMQ_REFUSED(THIS_UPDATE_WENT_BACK);
    }
    return NULL;
}
