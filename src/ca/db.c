/* db.c — revmq-ca state in SQLite (DIR/ca.db, WAL, busy timeout); see ca.h.
 *
 * Every write path runs inside BEGIN IMMEDIATE (rmq_ca_db_begin) so two
 * processes on one directory serialize their writes; reads outside a
 * transaction always see the latest commit (that is how `serve` sees a
 * revocation made by the CLI at once). */
#include "ca/ca.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "common/log.h"

struct rmq_ca_db {
    sqlite3 *h; /* owned */
    char dir[PATH_MAX];
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS tenant(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " uuid TEXT UNIQUE NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ca(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, key_type TEXT NOT NULL, curve TEXT NOT NULL, rsa_bits INTEGER NOT NULL,"
    " digest TEXT NOT NULL, ttl INTEGER NOT NULL, crl_urls TEXT NOT NULL, ocsp_urls TEXT NOT NULL,"
    " current_version INTEGER NOT NULL DEFAULT 0, UNIQUE(tenant_id, name));"
    "CREATE TABLE IF NOT EXISTS ca_version(ca_id INTEGER NOT NULL, version INTEGER NOT NULL,"
    " cert_pem TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    " PRIMARY KEY(ca_id, version));"
    "CREATE TABLE IF NOT EXISTS cert(ca_id INTEGER NOT NULL, serial TEXT NOT NULL,"
    " version INTEGER NOT NULL, type TEXT NOT NULL, host TEXT NOT NULL,"
    " not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER NOT NULL DEFAULT 0,"
    " reason INTEGER NOT NULL DEFAULT 0, cert_pem TEXT NOT NULL, PRIMARY KEY(ca_id, serial));"
    "CREATE TABLE IF NOT EXISTS crl(ca_id INTEGER NOT NULL, version INTEGER NOT NULL,"
    " number INTEGER NOT NULL, this_update INTEGER NOT NULL, next_update INTEGER NOT NULL,"
    " der BLOB NOT NULL, PRIMARY KEY(ca_id, version));"
    "CREATE TABLE IF NOT EXISTS ocsp_signer(ca_id INTEGER NOT NULL, version INTEGER NOT NULL,"
    " cert_pem TEXT NOT NULL, key_file TEXT NOT NULL, PRIMARY KEY(ca_id, version));";

const char *rmq_ca_db_dir(const struct rmq_ca_db *db)
{
    return db->dir;
}

static rmq_err exec(struct rmq_ca_db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rmq_error("ca-db", "statement failed err=\"%s\"", msg ? msg : "?");
        sqlite3_free(msg);
        return RMQ_ERR_DB;
    }
    return RMQ_OK;
}

/* mkdir -p: parents 0755, the state directory itself 0700. */
static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

rmq_err rmq_ca_db_open(const char *dir, struct rmq_ca_db **out)
{
    char path[PATH_MAX + 16];
    if (mkdir_p(dir) != 0) {
        rmq_error("ca-db", "cannot create directory dir=%s err=\"%s\"", dir, strerror(errno));
        return RMQ_ERR_IO;
    }
    struct rmq_ca_db *db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return RMQ_ERR_NOMEM;
    }
    snprintf(db->dir, sizeof(db->dir), "%s", dir);
    snprintf(path, sizeof(path), "%s/ca.db", dir);
    mode_t old = umask(077); /* database, -wal and -shm files: 0600 */
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    umask(old);
    if (rc != SQLITE_OK) {
        rmq_error("ca-db", "cannot open path=%s err=\"%s\"", path,
                  db->h ? sqlite3_errmsg(db->h) : "?");
        rmq_ca_db_free(db);
        return RMQ_ERR_DB;
    }
    sqlite3_busy_timeout(db->h, 15000);
    rmq_err e = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         " PRAGMA foreign_keys=ON;");
    if (e == RMQ_OK) {
        e = rmq_ca_db_begin(db);
    }
    if (e == RMQ_OK) {
        e = exec(db, schema_sql);
        if (e == RMQ_OK) {
            e = rmq_ca_db_commit(db);
        } else {
            rmq_ca_db_rollback(db);
        }
    }
    if (e != RMQ_OK) {
        rmq_ca_db_free(db);
        return e;
    }
    *out = db;
    return RMQ_OK;
}

void rmq_ca_db_free(struct rmq_ca_db *db)
{
    if (db == NULL) {
        return;
    }
    sqlite3_close(db->h);
    free(db);
}

rmq_err rmq_ca_db_begin(struct rmq_ca_db *db)
{
    return exec(db, "BEGIN IMMEDIATE");
}

rmq_err rmq_ca_db_commit(struct rmq_ca_db *db)
{
    return exec(db, "COMMIT");
}

void rmq_ca_db_rollback(struct rmq_ca_db *db)
{
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

static rmq_err prep(struct rmq_ca_db *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK) {
        rmq_error("ca-db", "prepare failed err=\"%s\"", sqlite3_errmsg(db->h));
        return RMQ_ERR_DB;
    }
    return RMQ_OK;
}

/* Steps a statement that returns no rows; finalizes it. */
static rmq_err step_done(struct rmq_ca_db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) {
        return RMQ_ERR_EXISTS;
    }
    if (rc != SQLITE_DONE) {
        rmq_error("ca-db", "write failed err=\"%s\"", sqlite3_errmsg(db->h));
        return RMQ_ERR_DB;
    }
    return RMQ_OK;
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, outsz, "%s", t ? (const char *)t : "");
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

rmq_err rmq_ca_db_tenant_insert(struct rmq_ca_db *db, const char *name, const char *uuid)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db, "INSERT INTO tenant(name, uuid) VALUES(?, ?)", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, uuid, -1, SQLITE_TRANSIENT);
    return step_done(db, st);
}

rmq_err rmq_ca_db_tenant_get(struct rmq_ca_db *db, struct rmq_ca_tenant *t)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db, "SELECT id, name, uuid FROM tenant ORDER BY id LIMIT 1", &st));
    int rc = sqlite3_step(st);
    rmq_err e = RMQ_OK;
    if (rc == SQLITE_ROW) {
        t->id = sqlite3_column_int64(st, 0);
        col_text(st, 1, t->name, sizeof(t->name));
        col_text(st, 2, t->uuid, sizeof(t->uuid));
    } else {
        e = rc == SQLITE_DONE ? RMQ_ERR_NOT_FOUND : RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

rmq_err rmq_ca_db_ca_insert(struct rmq_ca_db *db, struct rmq_ca_info *ca)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "INSERT INTO ca(tenant_id, name, key_type, curve, rsa_bits, digest, ttl,"
                 " crl_urls, ocsp_urls, current_version) VALUES(?,?,?,?,?,?,?,?,?,?)",
                 &st));
    sqlite3_bind_int64(st, 1, ca->tenant_id);
    sqlite3_bind_text(st, 2, ca->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, ca->key_type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, ca->curve, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, ca->rsa_bits);
    sqlite3_bind_text(st, 6, ca->digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, ca->ttl);
    sqlite3_bind_text(st, 8, ca->crl_urls ? ca->crl_urls : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, ca->ocsp_urls ? ca->ocsp_urls : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 10, ca->current_version);
    RMQ_TRY(step_done(db, st));
    ca->id = sqlite3_last_insert_rowid(db->h);
    return RMQ_OK;
}

rmq_err rmq_ca_db_ca_get(struct rmq_ca_db *db, int64_t tenant_id, const char *name,
                         struct rmq_ca_info *ca)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "SELECT id, tenant_id, name, key_type, curve, rsa_bits, digest, ttl, crl_urls,"
                 " ocsp_urls, current_version FROM ca WHERE tenant_id = ? AND name = ?",
                 &st));
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    rmq_err e = RMQ_OK;
    memset(ca, 0, sizeof(*ca));
    if (rc == SQLITE_ROW) {
        ca->id = sqlite3_column_int64(st, 0);
        ca->tenant_id = sqlite3_column_int64(st, 1);
        col_text(st, 2, ca->name, sizeof(ca->name));
        col_text(st, 3, ca->key_type, sizeof(ca->key_type));
        col_text(st, 4, ca->curve, sizeof(ca->curve));
        ca->rsa_bits = sqlite3_column_int(st, 5);
        col_text(st, 6, ca->digest, sizeof(ca->digest));
        ca->ttl = sqlite3_column_int64(st, 7);
        ca->crl_urls = col_dup(st, 8);
        ca->ocsp_urls = col_dup(st, 9);
        ca->current_version = sqlite3_column_int(st, 10);
        if (ca->crl_urls == NULL || ca->ocsp_urls == NULL) {
            rmq_ca_info_release(ca);
            e = RMQ_ERR_NOMEM;
        }
    } else {
        e = rc == SQLITE_DONE ? RMQ_ERR_NOT_FOUND : RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

void rmq_ca_info_release(struct rmq_ca_info *ca)
{
    free(ca->crl_urls);
    free(ca->ocsp_urls);
    ca->crl_urls = NULL;
    ca->ocsp_urls = NULL;
}

rmq_err rmq_ca_db_ca_set_version(struct rmq_ca_db *db, int64_t ca_id, int version)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db, "UPDATE ca SET current_version = ? WHERE id = ?", &st));
    sqlite3_bind_int(st, 1, version);
    sqlite3_bind_int64(st, 2, ca_id);
    return step_done(db, st);
}

rmq_err rmq_ca_db_version_insert(struct rmq_ca_db *db, const struct rmq_ca_version *v)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "INSERT INTO ca_version(ca_id, version, cert_pem, not_before, not_after)"
                 " VALUES(?,?,?,?,?)",
                 &st));
    sqlite3_bind_int64(st, 1, v->ca_id);
    sqlite3_bind_int(st, 2, v->version);
    sqlite3_bind_text(st, 3, v->cert_pem, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, v->not_before);
    sqlite3_bind_int64(st, 5, v->not_after);
    return step_done(db, st);
}

rmq_err rmq_ca_db_version_get(struct rmq_ca_db *db, int64_t ca_id, int version,
                              struct rmq_ca_version *v)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "SELECT cert_pem, not_before, not_after FROM ca_version"
                 " WHERE ca_id = ? AND version = ?",
                 &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_int(st, 2, version);
    int rc = sqlite3_step(st);
    rmq_err e = RMQ_OK;
    memset(v, 0, sizeof(*v));
    if (rc == SQLITE_ROW) {
        v->ca_id = ca_id;
        v->version = version;
        v->cert_pem = col_dup(st, 0);
        v->not_before = sqlite3_column_int64(st, 1);
        v->not_after = sqlite3_column_int64(st, 2);
        e = v->cert_pem ? RMQ_OK : RMQ_ERR_NOMEM;
    } else {
        e = rc == SQLITE_DONE ? RMQ_ERR_NOT_FOUND : RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

void rmq_ca_version_release(struct rmq_ca_version *v)
{
    free(v->cert_pem);
    v->cert_pem = NULL;
}

rmq_err rmq_ca_db_cert_insert(struct rmq_ca_db *db, const struct rmq_ca_certrec *c)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "INSERT INTO cert(ca_id, serial, version, type, host, not_before, not_after,"
                 " issued_at, cert_pem) VALUES(?,?,?,?,?,?,?,?,?)",
                 &st));
    sqlite3_bind_int64(st, 1, c->ca_id);
    sqlite3_bind_text(st, 2, c->serial, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, c->version);
    sqlite3_bind_text(st, 4, c->type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, c->host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, c->not_before);
    sqlite3_bind_int64(st, 7, c->not_after);
    sqlite3_bind_int64(st, 8, c->issued_at);
    sqlite3_bind_text(st, 9, c->cert_pem, -1, SQLITE_TRANSIENT);
    return step_done(db, st);
}

#define CERT_COLS                                                                                  \
    "serial, ca_id, version, type, host, not_before, not_after, issued_at, revoked,"               \
    " revoked_at, reason, cert_pem"

static rmq_err cert_from_row(sqlite3_stmt *st, struct rmq_ca_certrec *c)
{
    memset(c, 0, sizeof(*c));
    col_text(st, 0, c->serial, sizeof(c->serial));
    c->ca_id = sqlite3_column_int64(st, 1);
    c->version = sqlite3_column_int(st, 2);
    col_text(st, 3, c->type, sizeof(c->type));
    col_text(st, 4, c->host, sizeof(c->host));
    c->not_before = sqlite3_column_int64(st, 5);
    c->not_after = sqlite3_column_int64(st, 6);
    c->issued_at = sqlite3_column_int64(st, 7);
    c->revoked = sqlite3_column_int(st, 8) != 0;
    c->revoked_at = sqlite3_column_int64(st, 9);
    c->reason = sqlite3_column_int(st, 10);
    c->cert_pem = col_dup(st, 11);
    return c->cert_pem ? RMQ_OK : RMQ_ERR_NOMEM;
}

rmq_err rmq_ca_db_cert_get(struct rmq_ca_db *db, int64_t ca_id, const char *serial,
                           struct rmq_ca_certrec *c)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db, "SELECT " CERT_COLS " FROM cert WHERE ca_id = ? AND serial = ?", &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_text(st, 2, serial, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    rmq_err e = RMQ_OK;
    if (rc == SQLITE_ROW) {
        e = cert_from_row(st, c);
    } else {
        memset(c, 0, sizeof(*c));
        e = rc == SQLITE_DONE ? RMQ_ERR_NOT_FOUND : RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

void rmq_ca_certrec_release(struct rmq_ca_certrec *c)
{
    free(c->cert_pem);
    c->cert_pem = NULL;
}

rmq_err rmq_ca_db_cert_set_revoked(struct rmq_ca_db *db, int64_t ca_id, const char *serial,
                                   bool revoked, int64_t revoked_at, int reason)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "UPDATE cert SET revoked = ?, revoked_at = ?, reason = ?"
                 " WHERE ca_id = ? AND serial = ?",
                 &st));
    sqlite3_bind_int(st, 1, revoked ? 1 : 0);
    sqlite3_bind_int64(st, 2, revoked ? revoked_at : 0);
    sqlite3_bind_int(st, 3, revoked ? reason : 0);
    sqlite3_bind_int64(st, 4, ca_id);
    sqlite3_bind_text(st, 5, serial, -1, SQLITE_TRANSIENT);
    RMQ_TRY(step_done(db, st));
    return sqlite3_changes(db->h) == 1 ? RMQ_OK : RMQ_ERR_NOT_FOUND;
}

rmq_err rmq_ca_db_cert_foreach(struct rmq_ca_db *db, int64_t ca_id, int version, bool revoked_only,
                               rmq_err (*fn)(const struct rmq_ca_certrec *, void *), void *arg)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "SELECT " CERT_COLS " FROM cert WHERE ca_id = ?1 AND (?2 = 0 OR version = ?2)"
                 " AND (?3 = 0 OR revoked = 1) ORDER BY issued_at, rowid",
                 &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int(st, 3, revoked_only ? 1 : 0);
    rmq_err e = RMQ_OK;
    int rc;
    while (e == RMQ_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct rmq_ca_certrec c;
        e = cert_from_row(st, &c);
        if (e == RMQ_OK) {
            e = fn(&c, arg);
        }
        rmq_ca_certrec_release(&c);
    }
    if (e == RMQ_OK && rc != SQLITE_DONE) {
        e = RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

rmq_err rmq_ca_db_crl_get(struct rmq_ca_db *db, int64_t ca_id, int version,
                          struct rmq_ca_crlrec *crl)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "SELECT number, this_update, next_update, der FROM crl"
                 " WHERE ca_id = ? AND version = ?",
                 &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_int(st, 2, version);
    int rc = sqlite3_step(st);
    rmq_err e = RMQ_OK;
    memset(crl, 0, sizeof(*crl));
    if (rc == SQLITE_ROW) {
        crl->number = sqlite3_column_int64(st, 0);
        crl->this_update = sqlite3_column_int64(st, 1);
        crl->next_update = sqlite3_column_int64(st, 2);
        const void *blob = sqlite3_column_blob(st, 3);
        int n = sqlite3_column_bytes(st, 3);
        crl->der = malloc(n > 0 ? (size_t)n : 1);
        if (crl->der == NULL) {
            e = RMQ_ERR_NOMEM;
        } else {
            if (n > 0) {
                memcpy(crl->der, blob, (size_t)n);
            }
            crl->der_len = (size_t)n;
        }
    } else {
        e = rc == SQLITE_DONE ? RMQ_ERR_NOT_FOUND : RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

rmq_err rmq_ca_db_crl_put(struct rmq_ca_db *db, int64_t ca_id, int version,
                          const struct rmq_ca_crlrec *crl)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "INSERT OR REPLACE INTO crl(ca_id, version, number, this_update, next_update, der)"
                 " VALUES(?,?,?,?,?,?)",
                 &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, crl->number);
    sqlite3_bind_int64(st, 4, crl->this_update);
    sqlite3_bind_int64(st, 5, crl->next_update);
    sqlite3_bind_blob(st, 6, crl->der, (int)crl->der_len, SQLITE_TRANSIENT);
    return step_done(db, st);
}

void rmq_ca_crlrec_release(struct rmq_ca_crlrec *crl)
{
    free(crl->der);
    crl->der = NULL;
    crl->der_len = 0;
}

rmq_err rmq_ca_db_ocsp_signer_get(struct rmq_ca_db *db, int64_t ca_id, int version, char **cert_pem,
                                  char **key_file)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db, "SELECT cert_pem, key_file FROM ocsp_signer WHERE ca_id = ? AND version = ?",
                 &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_int(st, 2, version);
    int rc = sqlite3_step(st);
    rmq_err e = RMQ_OK;
    if (rc == SQLITE_ROW) {
        *cert_pem = col_dup(st, 0);
        *key_file = col_dup(st, 1);
        if (*cert_pem == NULL || *key_file == NULL) {
            free(*cert_pem);
            free(*key_file);
            e = RMQ_ERR_NOMEM;
        }
    } else {
        e = rc == SQLITE_DONE ? RMQ_ERR_NOT_FOUND : RMQ_ERR_DB;
    }
    sqlite3_finalize(st);
    return e;
}

rmq_err rmq_ca_db_ocsp_signer_put(struct rmq_ca_db *db, int64_t ca_id, int version,
                                  const char *cert_pem, const char *key_file)
{
    sqlite3_stmt *st = NULL;
    RMQ_TRY(prep(db,
                 "INSERT OR REPLACE INTO ocsp_signer(ca_id, version, cert_pem, key_file)"
                 " VALUES(?,?,?,?)",
                 &st));
    sqlite3_bind_int64(st, 1, ca_id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, cert_pem, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, key_file, -1, SQLITE_TRANSIENT);
    return step_done(db, st);
}
