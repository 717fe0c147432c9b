/*
 * ocsp_verify.c — pure OCSP helpers: request building, GET URLs, responder
 * and issuer discovery, and response verification (see ocsp_stapler.h for
 * the list of checks and their names). OpenSSL does the ASN.1 and the
 * signature arithmetic; the trust decision (who may sign) is ours.
 */
#include "revocation/ocsp_stapler.h"
#include "revocation/refusal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

const char *rmq_ocsp_status_name(enum rmq_ocsp_status s)
{
    switch (s) {
    case RMQ_OCSP_GOOD:
        return "good";
    case RMQ_OCSP_REVOKED:
        return "revoked";
    case RMQ_OCSP_UNKNOWN:
        return "unknown";
    default:
        return "?";
    }
}

/* ASN1_GENERALIZEDTIME -> time_t (UTC). false when unparsable. */
static bool asn1_to_time(const ASN1_GENERALIZEDTIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return false;
    }
    *out = timegm(&tm);
    return true;
}

rmq_err rmq_ocsp_build_request(X509 *cert, X509 *issuer, bool with_nonce, unsigned char **der,
                               size_t *len)
{
    if (cert == NULL || issuer == NULL || der == NULL || len == NULL) {
        return RMQ_ERR_INVALID;
    }
    rmq_err err = RMQ_ERR_NOMEM;
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
    unsigned char *buf = NULL;
    if (req == NULL || id == NULL) {
        goto out;
    }
    if (OCSP_request_add0_id(req, id) == NULL) {
        goto out;
    }
    id = NULL; /* owned by req now */
    if (with_nonce && OCSP_request_add1_nonce(req, NULL, 16) != 1) {
        goto out;
    }
    int n = i2d_OCSP_REQUEST(req, NULL);
    if (n <= 0) {
        err = RMQ_ERR_INTERNAL;
        goto out;
    }
    buf = malloc((size_t)n);
    if (buf == NULL) {
        goto out;
    }
    unsigned char *p = buf;
    if (i2d_OCSP_REQUEST(req, &p) != n) {
        err = RMQ_ERR_INTERNAL;
        goto out;
    }
    *der = buf;
    *len = (size_t)n;
    buf = NULL;
    err = RMQ_OK;
out:
    free(buf);
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    return err;
}

rmq_err rmq_ocsp_get_url(const char *responder_url, const unsigned char *der, size_t len,
                         char **out)
{
    if (responder_url == NULL || der == NULL || len == 0 || len > RMQ_OCSP_MAX_RESPONSE ||
        out == NULL) {
        return RMQ_ERR_INVALID;
    }
    size_t b64cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *b64 = malloc(b64cap);
    if (b64 == NULL) {
        return RMQ_ERR_NOMEM;
    }
    int b64len = EVP_EncodeBlock(b64, der, (int)len); /* no line breaks */
    size_t base = strlen(responder_url);
    while (base > 0 && responder_url[base - 1] == '/') {
        base--; /* exactly one '/' joins the two */
    }
    /* worst case every base64 char becomes %XX */
    char *url = malloc(base + 1 + 3 * (size_t)b64len + 1);
    if (url == NULL) {
        free(b64);
        return RMQ_ERR_NOMEM;
    }
    memcpy(url, responder_url, base);
    size_t o = base;
    url[o++] = '/';
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < b64len; i++) {
        unsigned char c = b64[i];
        if (c == '+' || c == '/' || c == '=') { /* RFC 6960 A.1: url-encoded */
            url[o++] = '%';
            url[o++] = hex[c >> 4];
            url[o++] = hex[c & 15];
        } else {
            url[o++] = (char)c;
        }
    }
    url[o] = '\0';
    free(b64);
    *out = url;
    return RMQ_OK;
}

rmq_err rmq_ocsp_responder_from_cert(X509 *cert, char **url)
{
    if (cert == NULL || url == NULL) {
        return RMQ_ERR_INVALID;
    }
    STACK_OF(OPENSSL_STRING) *uris = X509_get1_ocsp(cert);
    rmq_err err = RMQ_ERR_NOT_FOUND;
    for (int i = 0; i < sk_OPENSSL_STRING_num(uris); i++) {
        const char *u = sk_OPENSSL_STRING_value(uris, i);
        if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) {
            *url = strdup(u);
            err = *url ? RMQ_OK : RMQ_ERR_NOMEM;
            break;
        }
    }
    X509_email_free(uris); /* frees a STACK_OF(OPENSSL_STRING) */
    return err;
}

/* true when `cand` is the issuer of `cert`: names/AKID match and it signed it. */
static bool is_issuer_of(X509 *cand, X509 *cert)
{
    if (X509_check_issued(cand, cert) != X509_V_OK) {
        return false;
    }
    EVP_PKEY *pk = X509_get0_pubkey(cand);
    bool ok = pk != NULL && X509_verify(cert, pk) == 1;
    ERR_clear_error();
    return ok;
}

static rmq_err find_issuer_in_file(X509 *cert, const char *path, X509 **out)
{
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return RMQ_ERR_IO;
    }
    rmq_err err = RMQ_ERR_NOT_FOUND;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (is_issuer_of(x, cert)) {
            *out = x;
            err = RMQ_OK;
            break;
        }
        X509_free(x);
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    BIO_free(bio);
    return err;
}

rmq_err rmq_ocsp_find_issuer(X509 *cert, STACK_OF(X509) * chain, const char *cacertfile, X509 **out)
{
    if (cert == NULL || out == NULL) {
        return RMQ_ERR_INVALID;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (is_issuer_of(c, cert)) {
            if (X509_up_ref(c) != 1) {
                return RMQ_ERR_NOMEM;
            }
            *out = c;
            return RMQ_OK;
        }
    }
    if (cacertfile == NULL) {
        return RMQ_ERR_NOT_FOUND;
    }
    return find_issuer_in_file(cert, cacertfile, out);
}

rmq_err rmq_ocsp_cert_fingerprint(X509 *cert, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        ERR_clear_error();
        return RMQ_ERR_INVALID;
    }
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return RMQ_OK;
}

/* ---- verification ---------------------------------------------------- */

struct vctx {
    OCSP_RESPONSE *resp;
    OCSP_BASICRESP *bs;
    OCSP_CERTID *ours;
    STACK_OF(X509) * sk;
    struct rmq_ocsp_verdict *out;
    time_t now;
};

static rmq_err fail(struct vctx *v, rmq_err e, const char *check)
{
    v->out->failed_check = check;
    return e;
}

/* CertID match; the responder may answer with the hash algorithm of its
 * choice, so we recompute ours with that algorithm (SHA-1/SHA-2 only). */
static rmq_err check_cert_id(struct vctx *v, X509 *cert, X509 *issuer, OCSP_SINGLERESP *single)
{
    const OCSP_CERTID *theirs = OCSP_SINGLERESP_get0_id(single);
    ASN1_OBJECT *md_obj = NULL;
    if (theirs == NULL ||
        OCSP_id_get0_info(NULL, &md_obj, NULL, NULL, (OCSP_CERTID *)theirs) != 1) {
        return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(CERT_ID));
    }
    int nid = OBJ_obj2nid(md_obj);
    if (nid != NID_sha1 && nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512) {
        return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(CERT_ID));
    }
    v->ours = OCSP_cert_to_id(EVP_get_digestbynid(nid), cert, issuer);
    if (v->ours == NULL) {
        return fail(v, RMQ_ERR_NOMEM, RMQ_REFUSED(CERT_ID));
    }
    if (OCSP_id_cmp(v->ours, theirs) != 0) {
        return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(CERT_ID));
    }
    return RMQ_OK;
}

/* RFC 6960 4.2.2.2: the issuer itself, or a responder certificate issued by
 * it with id-kp-OCSPSigning. Then the signature with the chosen key. */
static rmq_err check_signer(struct vctx *v, X509 *issuer)
{
    v->sk = sk_X509_new_null();
    if (v->sk == NULL || !sk_X509_push(v->sk, issuer)) {
        return fail(v, RMQ_ERR_NOMEM, RMQ_REFUSED(SIGNER_NOT_FOUND));
    }
    X509 *signer = NULL;
    /* looks in our list (the issuer) first, then in the response's certs */
    if (OCSP_resp_get0_signer(v->bs, &signer, v->sk) != 1 || signer == NULL) {
        return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(SIGNER_NOT_FOUND));
    }
    if (signer != issuer && X509_cmp(signer, issuer) != 0) {
        if (!is_issuer_of(issuer, signer)) {
            return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(SIGNER_NOT_ISSUED_BY_ISSUER));
        }
        if ((X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) == 0 ||
            (X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN) == 0) {
            return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(SIGNER_NOT_OCSP_SIGNING));
        }
        time_t now = v->now;
        if (X509_cmp_time(X509_get0_notBefore(signer), &now) >= 0 ||
            X509_cmp_time(X509_get0_notAfter(signer), &now) <= 0) {
            return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(SIGNER_VALIDITY));
        }
        /* verify with the delegated cert's key, and nothing else */
        sk_X509_zero(v->sk);
        if (!sk_X509_push(v->sk, signer)) {
            return fail(v, RMQ_ERR_NOMEM, RMQ_REFUSED(SIGNATURE));
        }
    }
    /* OCSP_NOINTERN: the signer must be the one cert in v->sk (matched by the
     * ResponderID); OCSP_NOVERIFY: no chain building — trust was decided above. */
    if (OCSP_basic_verify(v->bs, v->sk, NULL, OCSP_NOINTERN | OCSP_NOVERIFY) != 1) {
        return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(SIGNATURE));
    }
    return RMQ_OK;
}

static rmq_err check_times(struct vctx *v, ASN1_GENERALIZEDTIME *thisupd,
                           ASN1_GENERALIZEDTIME *nextupd)
{
    struct rmq_ocsp_verdict *o = v->out;
    if (!asn1_to_time(thisupd, &o->this_update)) {
        return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(THIS_UPDATE));
    }
    if (o->this_update > v->now + RMQ_OCSP_MAX_SKEW_SEC) {
        return fail(v, RMQ_ERR_STALE, RMQ_REFUSED(THIS_UPDATE_IN_FUTURE));
    }
    if (nextupd == NULL) { /* RFC 6960 2.4 */
        return fail(v, RMQ_ERR_STALE, RMQ_REFUSED(NEXT_UPDATE_MISSING));
    }
    if (!asn1_to_time(nextupd, &o->next_update)) {
        return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(NEXT_UPDATE));
    }
    if (o->next_update <= o->this_update) {
        o->next_update = 0;
        return fail(v, RMQ_ERR_STALE, RMQ_REFUSED(VALIDITY_WINDOW));
    }
    if (o->next_update <= v->now) {
        return fail(v, RMQ_ERR_STALE, RMQ_REFUSED(NEXT_UPDATE_PAST));
    }
    return RMQ_OK;
}

static rmq_err check_nonce(struct vctx *v, const struct rmq_ocsp_verify_opts *opts)
{
    if (opts == NULL || opts->request_der == NULL || opts->request_len == 0) {
        return RMQ_OK;
    }
    const unsigned char *p = opts->request_der;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)opts->request_len);
    if (req == NULL) {
        ERR_clear_error();
        return fail(v, RMQ_ERR_INVALID, RMQ_REFUSED(NONCE));
    }
    /* 1 equal, 2 none at all, 3 only in response, -1 only in request
     * (responder ignored it: accepted), 0 different */
    int r = OCSP_check_nonce(req, v->bs);
    OCSP_REQUEST_free(req);
    if (r == 0) {
        return fail(v, RMQ_ERR_CRYPTO, RMQ_REFUSED(NONCE));
    }
    return RMQ_OK;
}

static rmq_err verify_basic(struct vctx *v, X509 *cert, X509 *issuer,
                            const struct rmq_ocsp_verify_opts *opts)
{
    struct rmq_ocsp_verdict *o = v->out;
    if (OCSP_response_status(v->resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        return fail(v, RMQ_ERR_PROTOCOL, RMQ_REFUSED(RESPONSE_STATUS));
    }
    v->bs = OCSP_response_get1_basic(v->resp);
    if (v->bs == NULL) {
        return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(BASIC_RESPONSE));
    }
    if (OCSP_resp_count(v->bs) != 1) {
        return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(SINGLE_RESPONSE_COUNT));
    }
    OCSP_SINGLERESP *single = OCSP_resp_get0(v->bs, 0);
    RMQ_TRY(check_cert_id(v, cert, issuer, single));
    RMQ_TRY(check_signer(v, issuer));
    int reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    int st = OCSP_single_get0_status(single, &reason, &rev, &thisupd, &nextupd);
    switch (st) {
    case V_OCSP_CERTSTATUS_GOOD:
        o->status = RMQ_OCSP_GOOD;
        break;
    case V_OCSP_CERTSTATUS_REVOKED:
        o->status = RMQ_OCSP_REVOKED;
        o->revocation_reason = reason;
        if (!asn1_to_time(rev, &o->revocation_time)) {
            return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(REVOCATION_TIME));
        }
        break;
    case V_OCSP_CERTSTATUS_UNKNOWN:
        o->status = RMQ_OCSP_UNKNOWN;
        break;
    default:
        return fail(v, RMQ_ERR_MALFORMED, RMQ_REFUSED(CERT_STATUS));
    }
    RMQ_TRY(check_times(v, thisupd, nextupd));
    return check_nonce(v, opts);
}

rmq_err rmq_ocsp_verify_response(const unsigned char *der, size_t len, X509 *cert, X509 *issuer,
                                 const struct rmq_ocsp_verify_opts *opts,
                                 struct rmq_ocsp_verdict *out)
{
    if (out == NULL) {
        return RMQ_ERR_INVALID;
    }
    memset(out, 0, sizeof *out);
    out->status = RMQ_OCSP_UNKNOWN;
    out->revocation_reason = -1;
    if (der == NULL || cert == NULL || issuer == NULL) {
        out->failed_check = RMQ_REFUSED(ARGUMENTS);
        return RMQ_ERR_INVALID;
    }
    struct vctx v = {.out = out};
    v.now = (opts != NULL && opts->now != 0) ? opts->now : time(NULL);
    if (len == 0 || len > RMQ_OCSP_MAX_RESPONSE) {
        return fail(&v, RMQ_ERR_MALFORMED, RMQ_REFUSED(PARSE));
    }
    const unsigned char *p = der;
    v.resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    rmq_err err;
    if (v.resp == NULL || p != der + len) { /* no trailing bytes either */
        err = fail(&v, RMQ_ERR_MALFORMED, RMQ_REFUSED(PARSE));
    } else {
        err = verify_basic(&v, cert, issuer, opts);
    }
    if (err != RMQ_OK) {
        out->next_update = err == RMQ_ERR_STALE ? out->next_update : 0;
    }
    sk_X509_free(v.sk);
    OCSP_CERTID_free(v.ours);
    OCSP_BASICRESP_free(v.bs);
    OCSP_RESPONSE_free(v.resp);
    ERR_clear_error();
    return err;
}
