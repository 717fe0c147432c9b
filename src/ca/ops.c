/* ops.c — revmq-ca operations shared by the CLI, auto-cert and tests:
 * create a CA version, issue, revoke. Each runs in one database
 * transaction; on error nothing changed in the database. See ca.h. */
#include "ca/ca.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "common/log.h"

/* Certificates start this long before "now" to tolerate clock skew. */
#define RMQ_CA_BACKDATE 300

rmq_err rmq_ca_load(struct rmq_ca_db *db, const char *ca_name, struct rmq_ca_tenant *t,
                    struct rmq_ca_info *ca)
{
    rmq_err e = rmq_ca_db_tenant_get(db, t);
    if (e == RMQ_ERR_NOT_FOUND) {
        fprintf(stderr, "revmq-ca: no tenant yet; run `revmq-ca init --tenant NAME` first\n");
        return e;
    }
    RMQ_TRY(e);
    e = rmq_ca_db_ca_get(db, t->id, ca_name, ca);
    if (e == RMQ_ERR_NOT_FOUND) {
        fprintf(stderr, "revmq-ca: no CA named '%s'\n", ca_name);
    }
    return e;
}

void rmq_ca_strv_free(char **v, size_t n)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

rmq_err rmq_ca_expand_urls(const char *templates, const struct rmq_ca_tvars *v, char ***out,
                           size_t *n)
{
    char **res = NULL;
    size_t cnt = 0;
    const char *p = templates;
    char tpl[2048];
    char buf[2048];
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            if (len >= sizeof(tpl)) {
                rmq_ca_strv_free(res, cnt);
                return RMQ_ERR_TOO_LARGE;
            }
            memcpy(tpl, p, len);
            tpl[len] = '\0';
            rmq_err e = rmq_ca_template_expand(tpl, v, buf, sizeof(buf));
            char **nr = e == RMQ_OK ? realloc(res, (cnt + 1) * sizeof(*res)) : NULL;
            char *s = nr ? strdup(buf) : NULL;
            if (s == NULL) {
                if (nr != NULL) {
                    res = nr;
                }
                rmq_ca_strv_free(res, cnt);
                return e != RMQ_OK ? e : RMQ_ERR_NOMEM;
            }
            res = nr;
            res[cnt++] = s;
        }
        p = nl ? nl + 1 : NULL;
    }
    *out = res;
    *n = cnt;
    return RMQ_OK;
}

rmq_err rmq_ca_make_version(struct rmq_ca_db *db, const struct rmq_ca_tenant *t,
                            const struct rmq_ca_info *ca, int version, int64_t crl_validity)
{
    char path[PATH_MAX];
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    struct rmq_ca_version v = {0};
    struct rmq_ca_crlrec crl = {0};
    struct rmq_ca_keyspec ks = {ca->key_type, ca->curve, ca->rsa_bits};
    int64_t now = rmq_ca_now();
    snprintf(path, sizeof(path), "%s/keys", rmq_ca_db_dir(db));
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return RMQ_ERR_IO;
    }
    rmq_ca_key_path(rmq_ca_db_dir(db), ca->id, version, path, sizeof(path));
    rmq_err e = rmq_ca_key_generate(&ks, &key);
    if (e == RMQ_OK) {
        e = rmq_ca_key_write(path, key);
    }
    if (e == RMQ_OK) {
        e = rmq_ca_make_ca_cert(t, ca, version, key, now - RMQ_CA_BACKDATE, now + ca->ttl, &x);
    }
    if (e == RMQ_OK) {
        e = rmq_ca_x509_to_pem(x, &v.cert_pem);
    }
    if (e == RMQ_OK) {
        v.ca_id = ca->id;
        v.version = version;
        v.not_before = now - RMQ_CA_BACKDATE;
        v.not_after = now + ca->ttl;
        e = rmq_ca_db_version_insert(db, &v);
    }
    if (e == RMQ_OK) {
        e = rmq_ca_db_ca_set_version(db, ca->id, version);
    }
    if (e == RMQ_OK) {
        struct rmq_ca_info cur = *ca;
        cur.current_version = version;
        e = rmq_ca_crl_current(db, &cur, version, crl_validity, true, true, &crl);
    }
    rmq_ca_crlrec_release(&crl);
    free(v.cert_pem);
    X509_free(x);
    EVP_PKEY_free(key);
    return e;
}

void rmq_ca_issued_release(struct rmq_ca_issued *is)
{
    free(is->cert_pem);
    if (is->key_pem != NULL) {
        OPENSSL_cleanse(is->key_pem, strlen(is->key_pem));
        free(is->key_pem);
    }
    free(is->ca_cert_pem);
    memset(is, 0, sizeof(*is));
}

struct issue_ctx {
    X509 *cacert;
    EVP_PKEY *cakey;
    EVP_PKEY *key;
    X509 *leaf;
    char **crl;
    size_t n_crl;
    char **ocsp;
    size_t n_ocsp;
};

static void issue_ctx_free(struct issue_ctx *c)
{
    X509_free(c->cacert);
    EVP_PKEY_free(c->cakey);
    EVP_PKEY_free(c->key);
    X509_free(c->leaf);
    rmq_ca_strv_free(c->crl, c->n_crl);
    rmq_ca_strv_free(c->ocsp, c->n_ocsp);
}

/* Loads the issuing version and expands its URLs. */
static rmq_err issue_prepare(struct rmq_ca_db *db, const struct rmq_ca_tenant *t,
                             const struct rmq_ca_info *ca, struct issue_ctx *c,
                             struct rmq_ca_issued *out)
{
    struct rmq_ca_version v;
    char keypath[PATH_MAX];
    const struct rmq_ca_tvars tv = {t->name, t->uuid, ca->name, ca->current_version};
    RMQ_TRY(rmq_ca_db_version_get(db, ca->id, ca->current_version, &v));
    out->ca_cert_pem = v.cert_pem; /* transferred */
    out->version = ca->current_version;
    out->not_after = v.not_after; /* clamp limit, see rmq_ca_issue */
    RMQ_TRY(rmq_ca_pem_to_x509(out->ca_cert_pem, &c->cacert));
    rmq_ca_key_path(rmq_ca_db_dir(db), ca->id, ca->current_version, keypath, sizeof(keypath));
    RMQ_TRY(rmq_ca_key_read(keypath, &c->cakey));
    RMQ_TRY(rmq_ca_expand_urls(ca->crl_urls, &tv, &c->crl, &c->n_crl));
    return rmq_ca_expand_urls(ca->ocsp_urls, &tv, &c->ocsp, &c->n_ocsp);
}

static rmq_err issue_locked(struct rmq_ca_db *db, const struct rmq_ca_tenant *t,
                            const struct rmq_ca_info *ca, const struct rmq_ca_issue_opts *o,
                            struct issue_ctx *c, struct rmq_ca_issued *out)
{
    RMQ_TRY(issue_prepare(db, t, ca, c, out));
    int64_t ca_not_after = out->not_after;
    struct rmq_ca_keyspec ks = {ca->key_type, ca->curve, ca->rsa_bits};
    if (o->key.type != NULL) {
        ks = o->key;
    }
    RMQ_TRY(rmq_ca_key_generate(&ks, &c->key));
    struct rmq_ca_issue_req rq = {
        .cert_type = o->cert_type,
        .hosts = o->hosts,
        .n_hosts = o->n_hosts,
        .serial_hex = out->serial,
        .not_before = o->not_before,
        .not_after = o->not_after < ca_not_after ? o->not_after : ca_not_after,
        .crl_urls = (const char *const *)c->crl,
        .n_crl = c->n_crl,
        .ocsp_urls = (const char *const *)c->ocsp,
        .n_ocsp = c->n_ocsp,
        .digest = ca->digest,
    };
    if (rq.not_after <= rq.not_before) {
        fprintf(stderr, "revmq-ca: not-after must be later than not-before\n");
        return RMQ_ERR_INVALID;
    }
    struct rmq_ca_certrec rec = {0};
    rmq_err e = RMQ_ERR_EXISTS;
    for (int tries = 0; tries < 4 && e == RMQ_ERR_EXISTS; tries++) {
        RMQ_TRY(rmq_ca_serial_random(out->serial));
        X509_free(c->leaf);
        c->leaf = NULL;
        free(out->cert_pem);
        out->cert_pem = NULL;
        RMQ_TRY(rmq_ca_issue_x509(&rq, c->cacert, c->cakey, c->key, &c->leaf));
        RMQ_TRY(rmq_ca_x509_to_pem(c->leaf, &out->cert_pem));
        snprintf(rec.serial, sizeof(rec.serial), "%s", out->serial);
        rec.ca_id = ca->id;
        rec.version = ca->current_version;
        snprintf(rec.type, sizeof(rec.type), "%s", o->cert_type);
        snprintf(rec.host, sizeof(rec.host), "%s", o->hosts[0]);
        rec.not_before = rq.not_before;
        rec.not_after = rq.not_after;
        rec.issued_at = rmq_ca_now();
        rec.cert_pem = out->cert_pem;
        e = rmq_ca_db_cert_insert(db, &rec);
    }
    RMQ_TRY(e);
    out->not_before = rq.not_before;
    out->not_after = rq.not_after;
    return rmq_ca_key_to_pem(c->key, &out->key_pem);
}

rmq_err rmq_ca_issue(struct rmq_ca_db *db, const struct rmq_ca_tenant *t,
                     const struct rmq_ca_info *ca, const struct rmq_ca_issue_opts *o,
                     struct rmq_ca_issued *out)
{
    struct issue_ctx c = {0};
    memset(out, 0, sizeof(*out));
    if (strcmp(o->cert_type, "server") != 0 && strcmp(o->cert_type, "client") != 0) {
        return RMQ_ERR_INVALID;
    }
    RMQ_TRY(rmq_ca_db_begin(db));
    rmq_err e = issue_locked(db, t, ca, o, &c, out);
    if (e == RMQ_OK) {
        e = rmq_ca_db_commit(db);
    } else {
        rmq_ca_db_rollback(db);
    }
    issue_ctx_free(&c);
    if (e != RMQ_OK) {
        rmq_ca_issued_release(out);
        return e;
    }
    rmq_info("ca", "certificate issued ca=%s version=%d serial=%s type=%s host=%s", ca->name,
             out->version, out->serial, o->cert_type, o->hosts[0]);
    return RMQ_OK;
}

static rmq_err revoke_locked(struct rmq_ca_db *db, const struct rmq_ca_info *ca, const char *serial,
                             int reason, int64_t crl_validity)
{
    struct rmq_ca_certrec c;
    rmq_err e = rmq_ca_db_cert_get(db, ca->id, serial, &c);
    if (e == RMQ_ERR_NOT_FOUND) {
        fprintf(stderr, "revmq-ca: CA '%s' did not issue a certificate with serial %s\n", ca->name,
                serial);
        return e;
    }
    RMQ_TRY(e);
    int version = c.version;
    bool was = c.revoked;
    int old_reason = c.reason;
    rmq_ca_certrec_release(&c);
    bool revoked = true;
    if (reason == 8) { /* RFC 5280 5.3.1 removeFromCRL: releases a hold */
        if (!was || old_reason != 6) {
            fprintf(stderr, "revmq-ca: removeFromCRL only releases a certificateHold; %s is %s\n",
                    serial, was ? rmq_ca_reason_name(old_reason) : "not revoked");
            return RMQ_ERR_INVALID;
        }
        revoked = false;
    } else if (was && old_reason != 6) {
        fprintf(stderr, "revmq-ca: certificate %s is already revoked (reason %s)\n", serial,
                rmq_ca_reason_name(old_reason));
        return RMQ_ERR_EXISTS;
    } else if (was && reason == 6) {
        fprintf(stderr, "revmq-ca: certificate %s is already on hold\n", serial);
        return RMQ_ERR_EXISTS;
    }
    RMQ_TRY(rmq_ca_db_cert_set_revoked(db, ca->id, serial, revoked, rmq_ca_now(), reason));
    struct rmq_ca_crlrec crl;
    RMQ_TRY(rmq_ca_crl_current(db, ca, version, crl_validity, true, true, &crl));
    rmq_ca_crlrec_release(&crl);
    return RMQ_OK;
}

rmq_err rmq_ca_revoke(struct rmq_ca_db *db, const struct rmq_ca_info *ca, const char *serial_in,
                      int reason, int64_t crl_validity)
{
    char serial[84];
    if (rmq_ca_serial_normalize(serial_in, serial, sizeof(serial)) != RMQ_OK) {
        fprintf(stderr, "revmq-ca: not a serial number: '%s' (hex expected)\n", serial_in);
        return RMQ_ERR_INVALID;
    }
    RMQ_TRY(rmq_ca_db_begin(db));
    rmq_err e = revoke_locked(db, ca, serial, reason, crl_validity);
    if (e == RMQ_OK) {
        e = rmq_ca_db_commit(db);
    } else {
        rmq_ca_db_rollback(db);
    }
    if (e == RMQ_OK) {
        rmq_info("ca", "certificate %s ca=%s serial=%s reason=%s",
                 reason == 8 ? "released" : "revoked", ca->name, serial,
                 rmq_ca_reason_name(reason));
    }
    return e;
}
