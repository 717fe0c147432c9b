/*
 * store.c — the SQLite store (store.h). Prepared statements from one table,
 * one open transaction committed as a group, corruption set aside.
 */
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"

/* Schema version 1. Messages are stored inline per delivery (one row per
 * message per session): simple, and a delivery's row is deleted with its
 * acknowledgement. Blobs (owner, props) are written by mqtt/persist.c. */
static const char SCHEMA[] =
    "PRAGMA user_version=1;"
    "CREATE TABLE IF NOT EXISTS sessions(id BLOB PRIMARY KEY, expiry INTEGER, "
    "  disconnected INTEGER, owner BLOB);"
    "CREATE TABLE IF NOT EXISTS subs(id BLOB, filter BLOB, qos INTEGER, flags INTEGER, "
    "  sub_id INTEGER, PRIMARY KEY(id, filter));"
    "CREATE TABLE IF NOT EXISTS deliveries(seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB, "
    "  pid INTEGER, qos INTEGER, state INTEGER, retain INTEGER, sub_ids BLOB, topic BLOB, "
    "  payload BLOB, mqos INTEGER, mretain INTEGER, props BLOB, expire_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS deliveries_id ON deliveries(id);"
    /* Only messages with an expiry are in it (none in most workloads). */
    "CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries(expire_at) WHERE expire_at > 0;"
    "CREATE TABLE IF NOT EXISTS rel(id BLOB, pid INTEGER, PRIMARY KEY(id, pid));"
    "CREATE TABLE IF NOT EXISTS retained(topic BLOB PRIMARY KEY, payload BLOB, qos INTEGER, "
    "  props BLOB, expire_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS wills(id BLOB PRIMARY KEY, topic BLOB, payload BLOB, "
    "  qos INTEGER, retain INTEGER, props BLOB, expire_at INTEGER, will_at INTEGER);";

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SESS_PUT,
    S_SESS_DEL,
    S_SESS_DEL_SUBS,
    S_SESS_DEL_DELIV,
    S_SESS_DEL_REL,
    S_SESS_DEL_WILL,
    S_SUB_PUT,
    S_SUB_DEL,
    S_DELIV_ADD,
    S_DELIV_UPD,
    S_DELIV_DEL,
    S_REL_PUT,
    S_REL_DEL,
    S_RET_PUT,
    S_RET_DEL,
    S_WILL_PUT,
    S_WILL_DEL,
    S_LOAD_SESS,
    S_LOAD_SUBS,
    S_LOAD_DELIV,
    S_LOAD_REL,
    S_LOAD_RET,
    S_LOAD_WILL,
    S_SESS_DELIV,
    S_SESS_COUNT,
    S_COUNT_ROWS,
    S_MAX_SEQ,
    S_DROP_EXPIRED,
    S__COUNT
};

static const char *const SQL[S__COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SESS_PUT] = "INSERT OR REPLACE INTO sessions VALUES(?1,?2,?3,?4)",
    [S_SESS_DEL] = "DELETE FROM sessions WHERE id=?1",
    [S_SESS_DEL_SUBS] = "DELETE FROM subs WHERE id=?1",
    [S_SESS_DEL_DELIV] = "DELETE FROM deliveries WHERE id=?1",
    [S_SESS_DEL_REL] = "DELETE FROM rel WHERE id=?1",
    [S_SESS_DEL_WILL] = "DELETE FROM wills WHERE id=?1",
    [S_SUB_PUT] = "INSERT OR REPLACE INTO subs VALUES(?1,?2,?3,?4,?5)",
    [S_SUB_DEL] = "DELETE FROM subs WHERE id=?1 AND filter=?2",
    [S_DELIV_ADD] = "INSERT INTO deliveries(id,pid,qos,state,retain,sub_ids,topic,payload,mqos,"
                    "mretain,props,expire_at,seq) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
                    "?13)",
    [S_DELIV_UPD] = "UPDATE deliveries SET pid=?2, state=?3 WHERE seq=?1",
    [S_DELIV_DEL] = "DELETE FROM deliveries WHERE seq=?1",
    [S_REL_PUT] = "INSERT OR REPLACE INTO rel VALUES(?1,?2)",
    [S_REL_DEL] = "DELETE FROM rel WHERE id=?1 AND pid=?2",
    [S_RET_PUT] = "INSERT OR REPLACE INTO retained VALUES(?1,?2,?3,?4,?5)",
    [S_RET_DEL] = "DELETE FROM retained WHERE topic=?1",
    [S_WILL_PUT] = "INSERT OR REPLACE INTO wills VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [S_WILL_DEL] = "DELETE FROM wills WHERE id=?1",
    [S_LOAD_SESS] = "SELECT id,expiry,disconnected,owner FROM sessions",
    [S_LOAD_SUBS] = "SELECT id,filter,qos,flags,sub_id FROM subs",
    [S_LOAD_DELIV] = "SELECT seq,id,pid,qos,state,retain,sub_ids,topic,payload,mqos,mretain,"
                     "props,expire_at FROM deliveries ORDER BY seq",
    [S_LOAD_REL] = "SELECT id,pid FROM rel",
    [S_LOAD_RET] = "SELECT topic,payload,qos,props,expire_at FROM retained",
    [S_LOAD_WILL] = "SELECT id,topic,payload,qos,retain,props,expire_at,will_at FROM wills",
    /* Same columns as S_LOAD_DELIV; the index on id (rowid = seq inside it)
     * serves both without a sort. */
    [S_SESS_DELIV] = "SELECT seq,id,pid,qos,state,retain,sub_ids,topic,payload,mqos,mretain,"
                     "props,expire_at FROM deliveries WHERE id=?1 AND seq>?2 ORDER BY seq",
    [S_SESS_COUNT] = "SELECT count(*) FROM deliveries WHERE id=?1 AND seq>?2",
    [S_MAX_SEQ] = "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE "
                  "name='deliveries'),0), coalesce((SELECT max(seq) FROM deliveries),0))",
    [S_DROP_EXPIRED] = "DELETE FROM deliveries WHERE expire_at > 0 AND expire_at <= ?1",
    [S_COUNT_ROWS] = "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM deliveries)",
};

struct rmq_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[S__COUNT];
    bool in_tx;
    bool degraded;
    bool tx_failed;   /* a write of the open transaction failed */
    uint64_t pending; /* writes in the open transaction */
    /* Last delivery seq handed out. Kept here, not by SQLite alone: a rolled
     * back transaction would give its seqs again, and the core may still hold
     * one (a delivery in memory) whose delete must never hit a newer row. */
    uint64_t last_seq;
    uint64_t commits;
    uint64_t writes;
};

int64_t rmq_store_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void degrade(struct rmq_store *st, const char *what, int rc)
{
    if (!st->degraded) {
        rmq_error("store",
                  "write failed, acknowledged messages are NO LONGER DURABLE until the store "
                  "recovers (still serving from memory) what=%s path=%s error=%s",
                  what, st->path, sqlite3_errstr(rc));
    }
    st->degraded = true;
}

static void close_db(struct rmq_store *st)
{
    for (int i = 0; i < S__COUNT; i++) {
        sqlite3_finalize(st->st[i]);
        st->st[i] = NULL;
    }
    sqlite3_close(st->db);
    st->db = NULL;
}

/* Opens st->path, sets WAL + FULL sync, makes the schema, checks integrity
 * and prepares the statements. */
static rmq_err open_db(struct rmq_store *st)
{
    if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        return RMQ_ERR_DB;
    }
    sqlite3_busy_timeout(st->db, 1000);
    sqlite3_stmt *q = NULL;
    bool ok = sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                           NULL) == SQLITE_OK &&
              sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &q, NULL) == SQLITE_OK &&
              sqlite3_step(q) == SQLITE_ROW &&
              strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    if (!ok || sqlite3_exec(st->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        return RMQ_ERR_DB;
    }
    for (int i = 0; i < S__COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i], NULL) !=
            SQLITE_OK) {
            return RMQ_ERR_DB;
        }
    }
    if (sqlite3_step(st->st[S_MAX_SEQ]) != SQLITE_ROW) {
        return RMQ_ERR_DB;
    }
    st->last_seq = (uint64_t)sqlite3_column_int64(st->st[S_MAX_SEQ], 0);
    sqlite3_reset(st->st[S_MAX_SEQ]);
    return RMQ_OK;
}

/* Renames path (and its -wal, -shm) to path.corrupt-<time>. */
static void set_aside(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    long now = (long)time(NULL);
    for (size_t i = 0; i < 3; i++) {
        char from[4096], to[4096];
        if (snprintf(from, sizeof from, "%s%s", path, sfx[i]) >= (int)sizeof from ||
            snprintf(to, sizeof to, "%s.corrupt-%ld%s", path, now, sfx[i]) >= (int)sizeof to) {
            continue;
        }
        struct stat sb;
        if (stat(from, &sb) == 0 && rename(from, to) == 0) {
            rmq_error("store",
                      "CORRUPT store set aside, starting with an EMPTY store: "
                      "sessions, queued messages and retained messages in it are not "
                      "loaded file=%s kept_as=%s",
                      from, to);
        }
    }
}

rmq_err rmq_store_open(const char *dir, struct rmq_store **out)
{
    struct rmq_store *st = calloc(1, sizeof *st);
    if (!st) {
        return RMQ_ERR_NOMEM;
    }
    size_t n = strlen(dir) + sizeof "/store.db";
    st->path = malloc(n);
    if (!st->path) {
        free(st);
        return RMQ_ERR_NOMEM;
    }
    snprintf(st->path, n, "%s/store.db", dir);
    if (open_db(st) != RMQ_OK) {
        rmq_error("store", "cannot use store path=%s error=%s", st->path,
                  st->db ? sqlite3_errmsg(st->db) : "open failed");
        close_db(st);
        set_aside(st->path);
        if (open_db(st) != RMQ_OK) {
            rmq_error("store", "cannot create store path=%s error=%s", st->path,
                      st->db ? sqlite3_errmsg(st->db) : "open failed");
            close_db(st);
            free(st->path);
            free(st);
            return RMQ_ERR_DB;
        }
    }
    *out = st;
    return RMQ_OK;
}

void rmq_store_free(struct rmq_store *st)
{
    if (!st) {
        return;
    }
    if (rmq_store_commit(st) != RMQ_OK) {
        rmq_error("store", "last commit failed at shutdown path=%s", st->path);
    }
    close_db(st);
    free(st->path);
    free(st);
}

/* Runs a write statement (bound by the caller) inside the open transaction. */
static void run(struct rmq_store *st, enum stmt k, const char *what)
{
    sqlite3_stmt *q = st->st[k];
    if (!st->in_tx) {
        int rc = sqlite3_step(st->st[S_BEGIN]);
        sqlite3_reset(st->st[S_BEGIN]);
        if (rc != SQLITE_DONE) {
            degrade(st, "begin", rc);
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            return;
        }
        st->in_tx = true;
    }
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        degrade(st, what, rc);
        st->tx_failed = true;
        return;
    }
    st->pending++;
}

static void bind_id(sqlite3_stmt *q, int i, const void *p, size_t len)
{
    sqlite3_bind_blob64(q, i, p ? p : "", len, SQLITE_STATIC);
}

static void bind_opt(sqlite3_stmt *q, int i, const void *p, size_t len)
{
    if (p) {
        sqlite3_bind_blob64(q, i, p, len, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(q, i);
    }
}

void rmq_store_session_put(struct rmq_store *st, const struct rmq_store_session *s)
{
    sqlite3_stmt *q = st->st[S_SESS_PUT];
    bind_id(q, 1, s->client_id, s->id_len);
    sqlite3_bind_int64(q, 2, s->expiry_s);
    sqlite3_bind_int64(q, 3, s->disconnected);
    bind_opt(q, 4, s->owner, s->owner_len);
    run(st, S_SESS_PUT, "session");
}

void rmq_store_session_del(struct rmq_store *st, const char *id, size_t len)
{
    static const enum stmt del[] = {S_SESS_DEL, S_SESS_DEL_SUBS, S_SESS_DEL_DELIV, S_SESS_DEL_REL,
                                    S_SESS_DEL_WILL};
    for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
        bind_id(st->st[del[i]], 1, id, len);
        run(st, del[i], "session delete");
    }
}

void rmq_store_sub_put(struct rmq_store *st, const char *id, size_t len, const char *filter,
                       size_t flen, uint8_t qos, uint8_t flags, uint32_t sub_id)
{
    sqlite3_stmt *q = st->st[S_SUB_PUT];
    bind_id(q, 1, id, len);
    bind_id(q, 2, filter, flen);
    sqlite3_bind_int(q, 3, qos);
    sqlite3_bind_int(q, 4, flags);
    sqlite3_bind_int64(q, 5, sub_id);
    run(st, S_SUB_PUT, "subscription");
}

void rmq_store_sub_del(struct rmq_store *st, const char *id, size_t len, const char *filter,
                       size_t flen)
{
    sqlite3_stmt *q = st->st[S_SUB_DEL];
    bind_id(q, 1, id, len);
    bind_id(q, 2, filter, flen);
    run(st, S_SUB_DEL, "subscription delete");
}

uint64_t rmq_store_seq_reserve(struct rmq_store *st)
{
    return ++st->last_seq;
}

uint64_t rmq_store_delivery_add(struct rmq_store *st, const char *id, size_t len,
                                const struct rmq_store_delivery *d)
{
    uint64_t seq = rmq_store_seq_reserve(st);
    return rmq_store_delivery_put(st, seq, id, len, d) ? seq : 0;
}

bool rmq_store_delivery_put(struct rmq_store *st, uint64_t seq, const char *id, size_t len,
                            const struct rmq_store_delivery *d)
{
    sqlite3_stmt *q = st->st[S_DELIV_ADD];
    bind_id(q, 1, id, len);
    sqlite3_bind_int(q, 2, d->pid);
    sqlite3_bind_int(q, 3, d->qos);
    sqlite3_bind_int(q, 4, d->state);
    sqlite3_bind_int(q, 5, d->retain);
    bind_opt(q, 6, d->n_sub_ids ? d->sub_ids : NULL, d->n_sub_ids * sizeof(uint32_t));
    bind_id(q, 7, d->msg.topic, d->msg.topic_len);
    bind_id(q, 8, d->msg.payload, d->msg.payload_len);
    sqlite3_bind_int(q, 9, d->msg.qos);
    sqlite3_bind_int(q, 10, d->msg.retain);
    bind_opt(q, 11, d->msg.props, d->msg.props_len);
    sqlite3_bind_int64(q, 12, d->msg.expire_at);
    sqlite3_bind_int64(q, 13, (sqlite3_int64)seq);
    uint64_t before = st->pending;
    run(st, S_DELIV_ADD, "delivery");
    return st->pending != before;
}

void rmq_store_delivery_update(struct rmq_store *st, uint64_t seq, uint16_t pid, uint8_t state)
{
    sqlite3_stmt *q = st->st[S_DELIV_UPD];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
    sqlite3_bind_int(q, 2, pid);
    sqlite3_bind_int(q, 3, state);
    run(st, S_DELIV_UPD, "delivery update");
}

void rmq_store_delivery_del(struct rmq_store *st, uint64_t seq)
{
    sqlite3_stmt *q = st->st[S_DELIV_DEL];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
    run(st, S_DELIV_DEL, "delivery delete");
}

void rmq_store_rel_put(struct rmq_store *st, const char *id, size_t len, uint16_t pid)
{
    sqlite3_stmt *q = st->st[S_REL_PUT];
    bind_id(q, 1, id, len);
    sqlite3_bind_int(q, 2, pid);
    run(st, S_REL_PUT, "pubrel id");
}

void rmq_store_rel_del(struct rmq_store *st, const char *id, size_t len, uint16_t pid)
{
    sqlite3_stmt *q = st->st[S_REL_DEL];
    bind_id(q, 1, id, len);
    sqlite3_bind_int(q, 2, pid);
    run(st, S_REL_DEL, "pubrel id delete");
}

void rmq_store_retained_put(struct rmq_store *st, const struct rmq_store_msg *m)
{
    sqlite3_stmt *q = st->st[S_RET_PUT];
    bind_id(q, 1, m->topic, m->topic_len);
    bind_id(q, 2, m->payload, m->payload_len);
    sqlite3_bind_int(q, 3, m->qos);
    bind_opt(q, 4, m->props, m->props_len);
    sqlite3_bind_int64(q, 5, m->expire_at);
    run(st, S_RET_PUT, "retained");
}

void rmq_store_retained_del(struct rmq_store *st, const uint8_t *topic, size_t len)
{
    bind_id(st->st[S_RET_DEL], 1, topic, len);
    run(st, S_RET_DEL, "retained delete");
}

void rmq_store_will_put(struct rmq_store *st, const char *id, size_t len,
                        const struct rmq_store_msg *m, int64_t will_at)
{
    sqlite3_stmt *q = st->st[S_WILL_PUT];
    bind_id(q, 1, id, len);
    bind_id(q, 2, m->topic, m->topic_len);
    bind_id(q, 3, m->payload, m->payload_len);
    sqlite3_bind_int(q, 4, m->qos);
    sqlite3_bind_int(q, 5, m->retain);
    bind_opt(q, 6, m->props, m->props_len);
    sqlite3_bind_int64(q, 7, m->expire_at);
    sqlite3_bind_int64(q, 8, will_at);
    run(st, S_WILL_PUT, "will");
}

void rmq_store_will_del(struct rmq_store *st, const char *id, size_t len)
{
    bind_id(st->st[S_WILL_DEL], 1, id, len);
    run(st, S_WILL_DEL, "will delete");
}

bool rmq_store_dirty(const struct rmq_store *st)
{
    return st->in_tx;
}

void rmq_store_counts(const struct rmq_store *st, uint64_t *commits, uint64_t *writes)
{
    *commits = st->commits;
    *writes = st->writes;
}

rmq_err rmq_store_commit(struct rmq_store *st)
{
    if (!st->in_tx) {
        return RMQ_OK;
    }
    int rc = SQLITE_IOERR;
    uint64_t t0 = rmq_clock_mono_us();
    if (!st->tx_failed) {
        rc = sqlite3_step(st->st[S_COMMIT]);
        sqlite3_reset(st->st[S_COMMIT]);
    }
    rmq_metrics_inc(rc == SQLITE_DONE ? RMQ_M_STORE_COMMITS : RMQ_M_STORE_COMMIT_FAILED);
    rmq_metrics_add(RMQ_M_STORE_COMMIT_US, rmq_clock_mono_us() - t0);
    st->in_tx = false;
    st->tx_failed = false;
    if (rc != SQLITE_DONE) {
        degrade(st, "commit", rc);
        if (!sqlite3_get_autocommit(st->db)) {
            sqlite3_step(st->st[S_ROLLBACK]);
            sqlite3_reset(st->st[S_ROLLBACK]);
        }
        st->pending = 0;
        return RMQ_ERR_IO;
    }
    if (st->degraded) {
        rmq_notice("store", "writes succeed again, durability restored path=%s", st->path);
        st->degraded = false;
    }
    st->commits++;
    st->writes += st->pending;
    st->pending = 0;
    return RMQ_OK;
}

static const void *col_blob(sqlite3_stmt *q, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(q, i);
    *len = (size_t)sqlite3_column_bytes(q, i);
    return p ? p : (*len = 0, (const void *)NULL);
}

static void col_msg(sqlite3_stmt *q, int topic, int payload, int qos, int retain, int props,
                    int expire, struct rmq_store_msg *m)
{
    m->topic = col_blob(q, topic, &m->topic_len);
    m->payload = col_blob(q, payload, &m->payload_len);
    m->qos = (uint8_t)sqlite3_column_int(q, qos);
    m->retain = retain >= 0 && sqlite3_column_int(q, retain) != 0;
    m->props = col_blob(q, props, &m->props_len);
    m->expire_at = sqlite3_column_int64(q, expire);
}

/* A row of S_LOAD_DELIV / S_SESS_DELIV. */
static void col_delivery(sqlite3_stmt *q, struct rmq_store_delivery *d)
{
    size_t idb;
    d->seq = (uint64_t)sqlite3_column_int64(q, 0);
    d->pid = (uint16_t)sqlite3_column_int(q, 2);
    d->qos = (uint8_t)sqlite3_column_int(q, 3);
    d->state = (uint8_t)sqlite3_column_int(q, 4);
    d->retain = sqlite3_column_int(q, 5) != 0;
    d->sub_ids = col_blob(q, 6, &idb);
    d->n_sub_ids = (uint8_t)(idb / sizeof(uint32_t) > 255 ? 255 : idb / sizeof(uint32_t));
    col_msg(q, 7, 8, 9, 10, 11, 12, &d->msg);
}

static void load_row(const struct rmq_store_loader *l, enum stmt k, sqlite3_stmt *q)
{
    size_t len, flen;
    const char *id = col_blob(q, k == S_LOAD_DELIV ? 1 : 0, &len);
    struct rmq_store_msg m;
    switch (k) {
    case S_LOAD_SESS: {
        struct rmq_store_session s = {.client_id = id, .id_len = len};
        s.expiry_s = (uint32_t)sqlite3_column_int64(q, 1);
        s.disconnected = sqlite3_column_int64(q, 2);
        s.owner = col_blob(q, 3, &s.owner_len);
        l->session(l->arg, &s);
        break;
    }
    case S_LOAD_SUBS: {
        const char *f = col_blob(q, 1, &flen);
        l->sub(l->arg, id, len, f, flen, (uint8_t)sqlite3_column_int(q, 2),
               (uint8_t)sqlite3_column_int(q, 3), (uint32_t)sqlite3_column_int64(q, 4));
        break;
    }
    case S_LOAD_DELIV: {
        struct rmq_store_delivery d;
        if (l->delivery_skip &&
            l->delivery_skip(l->arg, id, len, (uint64_t)sqlite3_column_int64(q, 0),
                             (uint16_t)sqlite3_column_int(q, 2))) {
            break;
        }
        col_delivery(q, &d);
        l->delivery(l->arg, id, len, &d);
        break;
    }
    case S_LOAD_REL:
        l->rel(l->arg, id, len, (uint16_t)sqlite3_column_int(q, 1));
        break;
    case S_LOAD_RET:
        col_msg(q, 0, 1, 2, -1, 3, 4, &m);
        m.retain = true;
        l->retained(l->arg, &m);
        break;
    case S_LOAD_WILL:
        col_msg(q, 1, 2, 3, 4, 5, 6, &m);
        l->will(l->arg, id, len, &m, sqlite3_column_int64(q, 7));
        break;
    default:
        break;
    }
}

uint64_t rmq_store_drop_expired(struct rmq_store *st)
{
    sqlite3_stmt *q = st->st[S_DROP_EXPIRED];
    sqlite3_bind_int64(q, 1, rmq_store_wall_ms());
    uint64_t before = st->pending;
    run(st, S_DROP_EXPIRED, "expired messages delete");
    return st->pending != before ? (uint64_t)sqlite3_changes(st->db) : 0;
}

rmq_err rmq_store_load(struct rmq_store *st, const struct rmq_store_loader *l)
{
    const struct {
        enum stmt k;
        bool cb;
    } order[] = {
        {S_LOAD_SESS, l->session != NULL},   {S_LOAD_SUBS, l->sub != NULL},
        {S_LOAD_DELIV, l->delivery != NULL}, {S_LOAD_REL, l->rel != NULL},
        {S_LOAD_RET, l->retained != NULL},   {S_LOAD_WILL, l->will != NULL},
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!order[i].cb) {
            continue;
        }
        sqlite3_stmt *q = st->st[order[i].k];
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            load_row(l, order[i].k, q);
        }
        sqlite3_reset(q);
        if (rc != SQLITE_DONE) {
            rmq_error("store", "load failed path=%s error=%s", st->path, sqlite3_errstr(rc));
            return RMQ_ERR_DB;
        }
    }
    return RMQ_OK;
}

rmq_err rmq_store_session_deliveries(struct rmq_store *st, const char *id, size_t len,
                                     uint64_t after,
                                     bool (*fn)(void *arg, const struct rmq_store_delivery *d),
                                     void *arg)
{
    sqlite3_stmt *q = st->st[S_SESS_DELIV];
    bind_id(q, 1, id, len);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)after);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct rmq_store_delivery d;
        col_delivery(q, &d);
        if (!fn(arg, &d)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        RMQ_LOG_RL(5, RMQ_LOG_ERROR, "store", "read of queued messages failed path=%s error=%s",
                   st->path, sqlite3_errstr(rc));
        return RMQ_ERR_DB;
    }
    return RMQ_OK;
}

uint64_t rmq_store_session_deliveries_count(struct rmq_store *st, const char *id, size_t len,
                                            uint64_t after)
{
    sqlite3_stmt *q = st->st[S_SESS_COUNT];
    bind_id(q, 1, id, len);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)after);
    uint64_t n = 0;
    if (sqlite3_step(q) == SQLITE_ROW) {
        n = (uint64_t)sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return n;
}

void rmq_store_row_counts(struct rmq_store *st, uint64_t *sessions, uint64_t *deliveries)
{
    sqlite3_stmt *q = st->st[S_COUNT_ROWS];
    *sessions = *deliveries = 0;
    if (sqlite3_step(q) == SQLITE_ROW) {
        *sessions = (uint64_t)sqlite3_column_int64(q, 0);
        *deliveries = (uint64_t)sqlite3_column_int64(q, 1);
    }
    sqlite3_reset(q);
}
