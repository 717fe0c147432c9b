/* ocsp.c — the OCSP responder of revmq-ca (RFC 6960); see ca.h.
 *
 * Parses the request with OpenSSL, finds the CA version whose CertID
 * (issuer name hash + key hash, with the request's hash algorithm) matches,
 * looks each serial up in the database and signs a basic response with that
 * version's CA key, or with its delegated responder (ocsp_signer.c), whose
 * certificate is then included in the response (RFC 6960 4.2.2.2). Serials this version did not
 * issue are "unknown"; requests for another issuer get "unauthorized" (RFC 6960 2.3). */
#include "ca/ca.h"

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "common/log.h"

#define OCSP_MAX_SINGLE 16

static void respond_status(int status, unsigned char **out, size_t *out_len)
{
    OCSP_RESPONSE *r = OCSP_response_create(status, NULL);
    unsigned char *der = NULL;
    int n = r ? i2d_OCSP_RESPONSE(r, &der) : -1;
    OCSP_RESPONSE_free(r);
    *out = n > 0 ? der : NULL;
    *out_len = n > 0 ? (size_t)n : 0;
}

/* The version (1..current) whose CertID issuer part matches cid, or 0. */
static int match_version(struct rmq_ca_db *db, const struct rmq_ca_info *ca, OCSP_CERTID *cid)
{
    ASN1_OBJECT *md_oid = NULL;
    if (OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, cid) != 1) {
        return 0;
    }
    const EVP_MD *md = EVP_get_digestbyobj(md_oid);
    if (md == NULL) {
        return 0;
    }
    for (int v = ca->current_version; v >= 1; v--) {
        struct rmq_ca_version ver;
        X509 *x = NULL;
        if (rmq_ca_db_version_get(db, ca->id, v, &ver) != RMQ_OK) {
            continue;
        }
        int found = 0;
        if (rmq_ca_pem_to_x509(ver.cert_pem, &x) == RMQ_OK) {
            OCSP_CERTID *mine = OCSP_cert_to_id(md, NULL, x);
            found = mine != NULL && OCSP_id_issuer_cmp(mine, cid) == 0;
            OCSP_CERTID_free(mine);
            X509_free(x);
        }
        rmq_ca_version_release(&ver);
        if (found) {
            return v;
        }
    }
    return 0;
}

struct single {
    int status;
    int reason;
    ASN1_TIME *revtime; /* owned */
};

static rmq_err lookup(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                      OCSP_CERTID *cid, struct single *s)
{
    ASN1_INTEGER *serial = NULL;
    char hex[84];
    s->status = V_OCSP_CERTSTATUS_UNKNOWN;
    s->reason = OCSP_REVOKED_STATUS_NOSTATUS;
    s->revtime = NULL;
    if (match_version(db, ca, cid) != version ||
        OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid) != 1 ||
        rmq_ca_serial_from_asn1(serial, hex, sizeof(hex)) != RMQ_OK) {
        return RMQ_OK;
    }
    struct rmq_ca_certrec c;
    rmq_err e = rmq_ca_db_cert_get(db, ca->id, hex, &c);
    if (e == RMQ_ERR_NOT_FOUND) {
        return RMQ_OK;
    }
    RMQ_TRY(e);
    if (c.version == version) {
        if (c.revoked) {
            s->status = V_OCSP_CERTSTATUS_REVOKED;
            s->reason = c.reason == 0 ? OCSP_REVOKED_STATUS_NOSTATUS : c.reason;
            s->revtime = ASN1_TIME_set(NULL, (time_t)c.revoked_at);
            if (s->revtime == NULL) {
                e = RMQ_ERR_NOMEM;
            }
        } else {
            s->status = V_OCSP_CERTSTATUS_GOOD;
        }
    }
    rmq_debug("ca", "OCSP answer ca=%s version=%d serial=%s status=%d", ca->name, version, hex,
              s->status);
    rmq_ca_certrec_release(&c);
    return e;
}

struct signer {
    X509 *cert;
    EVP_PKEY *key;
};

static rmq_err signer_load(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                           bool delegated, struct signer *sg)
{
    struct rmq_ca_version ver;
    char keypath[PATH_MAX];
    if (delegated) {
        return rmq_ca_ocsp_signer_get(db, ca, version, &sg->cert, &sg->key);
    }
    RMQ_TRY(rmq_ca_db_version_get(db, ca->id, version, &ver));
    rmq_err e = rmq_ca_pem_to_x509(ver.cert_pem, &sg->cert);
    rmq_ca_version_release(&ver);
    RMQ_TRY(e);
    rmq_ca_key_path(rmq_ca_db_dir(db), ca->id, version, keypath, sizeof(keypath));
    return rmq_ca_key_read(keypath, &sg->key);
}

/* Builds the signed basic response; RMQ_OK with *out set. */
static rmq_err build(struct rmq_ca_db *db, const struct rmq_ca_info *ca, OCSP_REQUEST *rq,
                     int version, int64_t validity, bool delegated, OCSP_RESPONSE **out)
{
    struct signer sg = {NULL, NULL};
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    int64_t now = rmq_ca_now();
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)now);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)(now + validity));
    rmq_err e = RMQ_ERR_NOMEM;
    if (bs == NULL || tu == NULL || nu == NULL) {
        goto out;
    }
    if ((e = signer_load(db, ca, version, delegated, &sg)) != RMQ_OK) {
        goto out;
    }
    int n = OCSP_request_onereq_count(rq);
    for (int i = 0; i < n; i++) {
        OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(rq, i));
        struct single s;
        if ((e = lookup(db, ca, version, cid, &s)) != RMQ_OK) {
            goto out;
        }
        OCSP_SINGLERESP *sr =
            OCSP_basic_add1_status(bs, cid, s.status, s.reason, s.revtime, tu, nu);
        ASN1_TIME_free(s.revtime);
        if (sr == NULL) {
            e = RMQ_ERR_CRYPTO;
            goto out;
        }
    }
    e = RMQ_ERR_CRYPTO;
    const EVP_MD *md = EVP_get_digestbyname(ca->digest);
    /* RFC 6960 4.4.1: echo the nonce when there is one (copy_nonce: 2 = none) */
    if (md == NULL || OCSP_copy_nonce(bs, rq) <= 0 ||
        OCSP_basic_sign(bs, sg.cert, sg.key, md, NULL, 0) != 1) {
        goto out;
    }
    *out = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    e = *out ? RMQ_OK : RMQ_ERR_NOMEM;
out:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    X509_free(sg.cert);
    EVP_PKEY_free(sg.key);
    return e;
}

void rmq_ca_ocsp_respond(struct rmq_ca_db *db, const struct rmq_ca_info *ca,
                         const unsigned char *req, size_t req_len, int64_t validity, bool delegated,
                         unsigned char **out, size_t *out_len)
{
    const unsigned char *p = req;
    OCSP_REQUEST *rq =
        req_len > 0 && req_len < INT_MAX ? d2i_OCSP_REQUEST(NULL, &p, (long)req_len) : NULL;
    if (rq == NULL || p != req + req_len) {
        ERR_clear_error();
        OCSP_REQUEST_free(rq);
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "ca", "malformed OCSP request ca=%s len=%zu", ca->name,
                   req_len);
        respond_status(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, out, out_len);
        return;
    }
    int n = OCSP_request_onereq_count(rq);
    if (n <= 0 || n > OCSP_MAX_SINGLE) {
        OCSP_REQUEST_free(rq);
        respond_status(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, out, out_len);
        return;
    }
    int version = match_version(db, ca, OCSP_onereq_get0_id(OCSP_request_onereq_get0(rq, 0)));
    if (version == 0) {
        OCSP_REQUEST_free(rq);
        RMQ_LOG_RL(5, RMQ_LOG_WARNING, "ca", "OCSP request for another issuer ca=%s", ca->name);
        respond_status(OCSP_RESPONSE_STATUS_UNAUTHORIZED, out, out_len);
        return;
    }
    OCSP_RESPONSE *resp = NULL;
    rmq_err e = build(db, ca, rq, version, validity, delegated, &resp);
    OCSP_REQUEST_free(rq);
    if (e != RMQ_OK) {
        rmq_error("ca", "OCSP response failed ca=%s err=%s", ca->name, rmq_err_name(e));
        respond_status(OCSP_RESPONSE_STATUS_INTERNALERROR, out, out_len);
        return;
    }
    unsigned char *der = NULL;
    int dn = i2d_OCSP_RESPONSE(resp, &der);
    OCSP_RESPONSE_free(resp);
    if (dn <= 0) {
        respond_status(OCSP_RESPONSE_STATUS_INTERNALERROR, out, out_len);
        return;
    }
    *out = der;
    *out_len = (size_t)dn;
}
