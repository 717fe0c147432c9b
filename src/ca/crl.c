/* crl.c — CRL generation and caching for revmq-ca; see ca.h.
 *
 * One CRL per CA version, stored in the database with its number. A new CRL
 * (number + 1) is made on every revocation and when half the validity of the
 * stored one has passed, so a CRL in the database is never served past its
 * nextUpdate. */
#include "ca/ca.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"

static bool crl_fresh(const struct rmq_ca_crlrec *c, int64_t now, int64_t validity)
{
    int64_t span = c->next_update - c->this_update;
    return c->this_update <= now && now < c->this_update + span / 2 && span == validity;
}

struct crl_build {
    X509_CRL *crl;
    rmq_err err;
};

static rmq_err add_revoked(const struct rmq_ca_certrec *c, void *arg)
{
    struct crl_build *b = arg;
    X509_REVOKED *r = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    ASN1_TIME *t = NULL;
    ASN1_ENUMERATED *reason = NULL;
    rmq_err e = RMQ_ERR_CRYPTO;
    if (r == NULL || BN_hex2bn(&bn, c->serial) == 0 ||
        (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
        (t = ASN1_TIME_set(NULL, (time_t)c->revoked_at)) == NULL) {
        goto out;
    }
    if (X509_REVOKED_set_serialNumber(r, ai) != 1 || X509_REVOKED_set_revocationDate(r, t) != 1) {
        goto out;
    }
    /* RFC 5280 5.3.1: omit the extension rather than say "unspecified". */
    if (c->reason != 0) {
        reason = ASN1_ENUMERATED_new();
        if (reason == NULL || ASN1_ENUMERATED_set(reason, c->reason) != 1 ||
            X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0) != 1) {
            goto out;
        }
    }
    if (X509_CRL_add0_revoked(b->crl, r) != 1) {
        goto out;
    }
    r = NULL;
    e = RMQ_OK;
out:
    X509_REVOKED_free(r);
    BN_free(bn);
    ASN1_INTEGER_free(ai);
    ASN1_TIME_free(t);
    ASN1_ENUMERATED_free(reason);
    return e;
}

static rmq_err crl_header(X509_CRL *crl, X509 *cacert, int64_t number, int64_t now,
                          int64_t validity)
{
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)now);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)(now + validity));
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    rmq_err e = RMQ_ERR_CRYPTO;
    if (tu == NULL || nu == NULL || num == NULL || ASN1_INTEGER_set_int64(num, number) != 1) {
        goto out;
    }
    if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(cacert)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, tu) != 1 || X509_CRL_set1_nextUpdate(crl, nu) != 1) {
        goto out;
    }
    /* RFC 5280 5.2.3 CRL number, 5.2.1 authority key identifier */
    if (X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
        goto out;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cacert, NULL, NULL, crl, 0);
    X509_EXTENSION *aki =
        X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (aki == NULL) {
        goto out;
    }
    int ok = X509_CRL_add_ext(crl, aki, -1);
    X509_EXTENSION_free(aki);
    e = ok == 1 ? RMQ_OK : RMQ_ERR_CRYPTO;
out:
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    ASN1_INTEGER_free(num);
    return e;
}

/* Builds and signs the CRL of one version; DER into out->der. */
static rmq_err crl_make(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                        int64_t number, int64_t now, int64_t validity, struct rmq_ca_crlrec *out)
{
    struct rmq_ca_version v = {0};
    char keypath[PATH_MAX];
    X509 *cacert = NULL;
    EVP_PKEY *key = NULL;
    struct crl_build b = {X509_CRL_new(), RMQ_OK};
    unsigned char *der = NULL;
    rmq_err e = rmq_ca_db_version_get(db, ca->id, version, &v);
    if (e != RMQ_OK) {
        goto out;
    }
    rmq_ca_key_path(rmq_ca_db_dir(db), ca->id, version, keypath, sizeof(keypath));
    if ((e = rmq_ca_pem_to_x509(v.cert_pem, &cacert)) != RMQ_OK ||
        (e = rmq_ca_key_read(keypath, &key)) != RMQ_OK) {
        goto out;
    }
    e = RMQ_ERR_CRYPTO;
    if (b.crl == NULL || crl_header(b.crl, cacert, number, now, validity) != RMQ_OK) {
        goto out;
    }
    if ((e = rmq_ca_db_cert_foreach(db, ca->id, version, true, add_revoked, &b)) != RMQ_OK) {
        goto out;
    }
    e = RMQ_ERR_CRYPTO;
    const EVP_MD *md = EVP_get_digestbyname(ca->digest);
    if (md == NULL || X509_CRL_sort(b.crl) != 1 || X509_CRL_sign(b.crl, key, md) <= 0) {
        goto out;
    }
    int n = i2d_X509_CRL(b.crl, &der);
    if (n <= 0) {
        goto out;
    }
    out->der = malloc((size_t)n);
    if (out->der == NULL) {
        e = RMQ_ERR_NOMEM;
        goto out;
    }
    memcpy(out->der, der, (size_t)n);
    out->der_len = (size_t)n;
    out->number = number;
    out->this_update = now;
    out->next_update = now + validity;
    e = RMQ_OK;
out:
    if (e != RMQ_OK) {
        ERR_clear_error();
    }
    OPENSSL_free(der);
    X509_CRL_free(b.crl);
    X509_free(cacert);
    EVP_PKEY_free(key);
    rmq_ca_version_release(&v);
    return e;
}

static rmq_err crl_current_locked(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                                  int64_t validity, bool force, struct rmq_ca_crlrec *out)
{
    int64_t now = rmq_ca_now();
    struct rmq_ca_crlrec old = {0};
    rmq_err e = rmq_ca_db_crl_get(db, ca->id, version, &old);
    if (e != RMQ_OK && e != RMQ_ERR_NOT_FOUND) {
        return e;
    }
    if (e == RMQ_OK && !force && crl_fresh(&old, now, validity)) {
        *out = old;
        return RMQ_OK;
    }
    int64_t number = (e == RMQ_OK ? old.number : 0) + 1;
    rmq_ca_crlrec_release(&old);
    RMQ_TRY(crl_make(db, ca, version, number, now, validity, out));
    e = rmq_ca_db_crl_put(db, ca->id, version, out);
    if (e != RMQ_OK) {
        rmq_ca_crlrec_release(out);
        return e;
    }
    rmq_info("ca", "CRL issued ca=%s version=%d number=%lld", ca->name, version, (long long)number);
    return RMQ_OK;
}

rmq_err rmq_ca_crl_current(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                           int64_t validity, bool force, bool in_txn, struct rmq_ca_crlrec *out)
{
    memset(out, 0, sizeof(*out));
    if (!force && !in_txn) {
        /* Fast path without a write lock. */
        rmq_err e = rmq_ca_db_crl_get(db, ca->id, version, out);
        if (e == RMQ_OK && crl_fresh(out, rmq_ca_now(), validity)) {
            return RMQ_OK;
        }
        rmq_ca_crlrec_release(out);
        if (e != RMQ_OK && e != RMQ_ERR_NOT_FOUND) {
            return e;
        }
    }
    if (in_txn) {
        return crl_current_locked(db, ca, version, validity, force, out);
    }
    RMQ_TRY(rmq_ca_db_begin(db));
    rmq_err e = crl_current_locked(db, ca, version, validity, force, out);
    if (e == RMQ_OK) {
        e = rmq_ca_db_commit(db);
        if (e != RMQ_OK) {
            rmq_ca_crlrec_release(out);
        }
    } else {
        rmq_ca_db_rollback(db);
    }
    return e;
}
