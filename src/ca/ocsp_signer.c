/* ocsp_signer.c — delegated OCSP responder certificates (`serve
 * --ocsp-signer delegated`); see ca.h.
 *
 * One per CA version, kept in table ocsp_signer with the name of its key
 * file. A renewal writes a NEW key file (its name carries the serial) before
 * the row is replaced in the same transaction, so a reader never pairs a
 * certificate with the wrong key; the previous key file is removed after
 * the commit. */
#include "ca/ca.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "common/log.h"

/* RMQ_OK with cert+key when the stored signer is usable at `now`. */
static rmq_err signer_stored(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                             int64_t now, X509 **cert, EVP_PKEY **key, char **old_key_file)
{
    char *pem = NULL;
    char *key_file = NULL;
    char path[PATH_MAX];
    RMQ_TRY(rmq_ca_db_ocsp_signer_get(db, ca->id, version, &pem, &key_file));
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    rmq_err e = rmq_ca_pem_to_x509(pem, &x);
    free(pem);
    if (e == RMQ_OK) {
        struct tm nb;
        struct tm na;
        if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) != 1 ||
            ASN1_TIME_to_tm(X509_get0_notAfter(x), &na) != 1) {
            e = RMQ_ERR_MALFORMED;
        } else {
            int64_t start = (int64_t)timegm(&nb);
            int64_t end = (int64_t)timegm(&na);
            /* renew once less than half of the life is left */
            e = start <= now && now < end - (end - start) / 2 ? RMQ_OK : RMQ_ERR_STALE;
        }
    }
    if (e == RMQ_OK) {
        snprintf(path, sizeof(path), "%s/keys/%s", rmq_ca_db_dir(db), key_file);
        e = rmq_ca_key_read(path, &k);
    }
    if (e == RMQ_OK) {
        *cert = x;
        *key = k;
        free(key_file);
        return RMQ_OK;
    }
    ERR_clear_error();
    X509_free(x);
    if (old_key_file != NULL) {
        *old_key_file = key_file;
    } else {
        free(key_file);
    }
    return e;
}

static rmq_err signer_make(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                           int64_t now, X509 **cert, EVP_PKEY **key)
{
    struct rmq_ca_version v;
    char path[PATH_MAX];
    char key_file[128];
    char serial[40];
    X509 *cacert = NULL;
    EVP_PKEY *cakey = NULL;
    char *pem = NULL;
    struct rmq_ca_keyspec ks = {ca->key_type, ca->curve, ca->rsa_bits};
    RMQ_TRY(rmq_ca_db_version_get(db, ca->id, version, &v));
    int64_t not_after = now + RMQ_CA_OCSP_SIGNER_TTL;
    if (not_after > v.not_after) {
        not_after = v.not_after;
    }
    rmq_err e = rmq_ca_pem_to_x509(v.cert_pem, &cacert);
    rmq_ca_version_release(&v);
    rmq_ca_key_path(rmq_ca_db_dir(db), ca->id, version, path, sizeof(path));
    if (e == RMQ_OK && (e = rmq_ca_key_read(path, &cakey)) == RMQ_OK &&
        (e = rmq_ca_serial_random(serial)) == RMQ_OK &&
        (e = rmq_ca_key_generate(&ks, key)) == RMQ_OK) {
        snprintf(key_file, sizeof(key_file), "%lld-v%d-ocsp-%s.key", (long long)ca->id, version,
                 serial);
        snprintf(path, sizeof(path), "%s/keys/%s", rmq_ca_db_dir(db), key_file);
        e = rmq_ca_key_write(path, *key);
        if (e == RMQ_OK) {
            e = rmq_ca_make_ocsp_cert(cacert, cakey, *key, serial, now - 300, not_after, ca->digest,
                                      cert);
        }
        if (e == RMQ_OK && (e = rmq_ca_x509_to_pem(*cert, &pem)) == RMQ_OK) {
            e = rmq_ca_db_ocsp_signer_put(db, ca->id, version, pem, key_file);
        }
        if (e != RMQ_OK) {
            unlink(path);
        }
    }
    if (e != RMQ_OK) {
        X509_free(*cert);
        EVP_PKEY_free(*key);
        *cert = NULL;
        *key = NULL;
    } else {
        rmq_info("ca", "OCSP signer issued ca=%s version=%d serial=%s", ca->name, version, serial);
    }
    free(pem);
    X509_free(cacert);
    EVP_PKEY_free(cakey);
    return e;
}

rmq_err rmq_ca_ocsp_signer_get(struct rmq_ca_db *db, const struct rmq_ca_info *ca, int version,
                               X509 **cert, EVP_PKEY **key)
{
    int64_t now = rmq_ca_now();
    char *old = NULL;
    *cert = NULL;
    *key = NULL;
    if (signer_stored(db, ca, version, now, cert, key, NULL) == RMQ_OK) {
        return RMQ_OK;
    }
    RMQ_TRY(rmq_ca_db_begin(db));
    /* Another process may have made one meanwhile. */
    rmq_err e = signer_stored(db, ca, version, now, cert, key, &old);
    if (e == RMQ_OK) {
        rmq_ca_db_rollback(db);
        free(old);
        return RMQ_OK;
    }
    e = signer_make(db, ca, version, now, cert, key);
    if (e == RMQ_OK) {
        e = rmq_ca_db_commit(db);
    } else {
        rmq_ca_db_rollback(db);
    }
    if (e == RMQ_OK && old != NULL) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/keys/%s", rmq_ca_db_dir(db), old);
        unlink(path);
    }
    free(old);
    if (e != RMQ_OK) {
        X509_free(*cert);
        EVP_PKEY_free(*key);
        *cert = NULL;
        *key = NULL;
    }
    return e;
}
