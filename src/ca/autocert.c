/* autocert.c — `revmq-ca auto-cert`: keeps OUT/cert.pem, OUT/cert.key and
 * OUT/ca-cert.pem current.
 *
 * A new certificate is issued when a file is missing or unreadable, the key
 * does not match the certificate, the certificate was not issued by the CA's
 * current version (after `ca rotate`), or its remaining lifetime is below the
 * threshold. Files are replaced one by one with write + fsync + rename, in
 * the order ca-cert.pem, cert.key, cert.pem, so a reader never sees a torn
 * file and a watcher of cert.pem sees the key already in place. A revoked
 * certificate is NOT replaced (that is the operator's call). */
#include "ca/ca.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 65536;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap, f) : 0;
    bool too_big = buf && n == cap && fgetc(f) != EOF;
    fclose(f);
    if (buf == NULL || too_big) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Why the files need replacing, or NULL when they are fine. */
static const char *needs_renewal(const struct rmq_ca_autocert_opts *o, const char *ca_pem,
                                 int64_t now)
{
    char path[PATH_MAX];
    const char *why = NULL;
    X509 *cert = NULL;
    X509 *cacert = NULL;
    EVP_PKEY *key = NULL;
    char *have_ca = NULL;
    snprintf(path, sizeof(path), "%s/ca-cert.pem", o->out_dir);
    have_ca = read_small_file(path);
    snprintf(path, sizeof(path), "%s/cert.key", o->out_dir);
    if (rmq_ca_key_read(path, &key) != RMQ_OK) {
        why = "key missing or unreadable";
        goto out;
    }
    snprintf(path, sizeof(path), "%s/cert.pem", o->out_dir);
    char *pem = read_small_file(path);
    rmq_err e = pem ? rmq_ca_pem_to_x509(pem, &cert) : RMQ_ERR_IO;
    free(pem);
    if (e != RMQ_OK) {
        why = "certificate missing or unreadable";
    } else if (have_ca == NULL || strcmp(have_ca, ca_pem) != 0) {
        why = "CA certificate missing or changed";
    } else if (X509_check_private_key(cert, key) != 1) {
        why = "key does not match certificate";
    } else if (rmq_ca_pem_to_x509(ca_pem, &cacert) != RMQ_OK ||
               X509_check_issued(cacert, cert) != X509_V_OK) {
        why = "certificate not issued by the current CA version";
    } else {
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
            why = "unreadable notAfter";
        } else if ((int64_t)timegm(&tm) - now < o->threshold) {
            why = "remaining lifetime below threshold";
        }
    }
out:
    ERR_clear_error();
    free(have_ca);
    X509_free(cert);
    X509_free(cacert);
    EVP_PKEY_free(key);
    return why;
}

static rmq_err write_all(const struct rmq_ca_autocert_opts *o, const struct rmq_ca_issued *is)
{
    char path[PATH_MAX];
    if (mkdir(o->out_dir, 0755) != 0 && errno != EEXIST) {
        rmq_error("ca-autocert", "cannot create directory dir=%s err=\"%s\"", o->out_dir,
                  strerror(errno));
        return RMQ_ERR_IO;
    }
    snprintf(path, sizeof(path), "%s/ca-cert.pem", o->out_dir);
    RMQ_TRY(rmq_ca_write_file_atomic(path, is->ca_cert_pem, strlen(is->ca_cert_pem), 0644));
    snprintf(path, sizeof(path), "%s/cert.key", o->out_dir);
    RMQ_TRY(rmq_ca_write_file_atomic(path, is->key_pem, strlen(is->key_pem), 0600));
    snprintf(path, sizeof(path), "%s/cert.pem", o->out_dir);
    return rmq_ca_write_file_atomic(path, is->cert_pem, strlen(is->cert_pem), 0644);
}

/* One check: *renewed tells whether files were (re)written. */
RMQ_MUST_USE static rmq_err
rmq_ca_autocert_check(struct rmq_ca_db *db, const struct rmq_ca_autocert_opts *o, bool *renewed)
{
    struct rmq_ca_tenant t;
    struct rmq_ca_info ca;
    struct rmq_ca_version v;
    *renewed = false;
    RMQ_TRY(rmq_ca_load(db, o->ca_name, &t, &ca));
    rmq_err e = rmq_ca_db_version_get(db, ca.id, ca.current_version, &v);
    if (e != RMQ_OK) {
        rmq_ca_info_release(&ca);
        return e;
    }
    int64_t now = rmq_ca_now();
    const char *why = needs_renewal(o, v.cert_pem, now);
    rmq_ca_version_release(&v);
    if (why == NULL) {
        rmq_debug("ca-autocert", "certificate current dir=%s", o->out_dir);
        rmq_ca_info_release(&ca);
        return RMQ_OK;
    }
    struct rmq_ca_issue_opts io = {
        .cert_type = o->cert_type,
        .hosts = o->hosts,
        .n_hosts = o->n_hosts,
        .not_before = now - 300,
        .not_after = now + o->ttl,
    };
    struct rmq_ca_issued is;
    e = rmq_ca_issue(db, &t, &ca, &io, &is);
    if (e == RMQ_OK) {
        e = write_all(o, &is);
        if (e == RMQ_OK) {
            *renewed = true;
            rmq_info("ca-autocert", "certificate replaced dir=%s serial=%s reason=\"%s\"",
                     o->out_dir, is.serial, why);
        }
        rmq_ca_issued_release(&is);
    }
    rmq_ca_info_release(&ca);
    return e;
}

rmq_err rmq_ca_autocert_run(const struct rmq_ca_autocert_opts *o)
{
    struct rmq_ca_db *db = NULL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (!o->once) {
        /* Signals are taken synchronously with sigtimedwait: no race. */
        sigprocmask(SIG_BLOCK, &set, NULL);
    }
    RMQ_TRY(rmq_ca_db_open(o->dir, &db));
    rmq_err e = RMQ_OK;
    for (;;) {
        bool renewed = false;
        e = rmq_ca_autocert_check(db, o, &renewed);
        if (o->once) {
            break;
        }
        if (e != RMQ_OK) {
            rmq_warn("ca-autocert", "check failed err=%s; retrying", rmq_err_name(e));
        }
        struct timespec ts = {(time_t)o->interval, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            rmq_info("ca-autocert", "stopping signal=%d", sig);
            e = RMQ_OK;
            break;
        }
    }
    rmq_ca_db_free(db);
    return e;
}
