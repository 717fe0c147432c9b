/* bench_store_engines: the store's delivery workload on SQLite (WAL) and on LMDB.
 *
 * What it is: a stand-alone micro-benchmark for the engine choice of issue 14. It
 * reproduces what src/store/store.c does with the `deliveries` table (same schema,
 * same statements, same pragmas: WAL + synchronous=FULL, every commit durable on
 * return) and the same thing with LMDB under its default, durable environment flags
 * (no MDB_NOSYNC / MDB_NOMETASYNC / MDB_WRITEMAP). It is NOT linked with revmq and
 * the broker does not depend on it; it is built only when pkg-config finds lmdb.
 *
 * Modes (one engine per run, one result line of key=value on stdout):
 *   loop:    per turn, insert B rows (64-byte payload, ~60 bytes of topic/metadata,
 *            key = session id + seq), commit; delete the previous turn's rows (their
 *            acknowledgement), commit. Runs for --seconds or --turns.
 *   restart: store N rows (10,000 per commit), close, evict the files from the page
 *            cache (posix_fadvise DONTNEED, unless --warm), then time open + reading
 *            every row back; then the same once more with the integrity check the
 *            broker runs at open first (SQLite PRAGMA quick_check; LMDB has none).
 *
 * Usage: bench_store_engines --engine sqlite|lmdb --dir DIR
 *            [--batch B] [--seconds S | --turns T] [--restart N] [--warm]
 * DIR is emptied of this program's files first and must be on the disk to measure
 * (not tmpfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_LEN 64
#define SESSIONS 8
#define SESSION_ID_LEN 16
#define FILL_BATCH 10000
#define LMDB_MAP_SIZE ((size_t)8 << 30)

static const char TOPIC[] = "devices/sensor-004217/telemetry/temp"; /* 36 bytes */

/* The same table and statements as src/store/store.c (schema version 1). */
static const char SQL_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS deliveries(seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB, "
    "  pid INTEGER, qos INTEGER, state INTEGER, retain INTEGER, sub_ids BLOB, topic BLOB, "
    "  payload BLOB, mqos INTEGER, mretain INTEGER, props BLOB, expire_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS deliveries_id ON deliveries(id);";
static const char SQL_ADD[] =
    "INSERT INTO deliveries(id,pid,qos,state,retain,sub_ids,topic,payload,mqos,mretain,props,"
    "expire_at,seq) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)";
static const char SQL_DEL[] = "DELETE FROM deliveries WHERE seq=?1";
static const char SQL_LOAD[] = "SELECT seq,id,pid,qos,state,retain,sub_ids,topic,payload,mqos,"
                               "mretain,props,expire_at FROM deliveries ORDER BY seq";

struct opts {
    const char *engine;
    const char *dir;
    unsigned batch;
    double seconds;
    uint64_t turns;
    uint64_t restart_rows;
    bool warm;
};

/* One engine behind four calls; each returns 0 or -1 after printing why. */
struct engine {
    int (*open)(void *ctx, const char *dir);
    int (*put)(void *ctx, uint64_t seq);
    int (*del)(void *ctx, uint64_t seq);
    int (*commit)(void *ctx); /* ends the open write transaction (begun by put/del) */
    int (*scan)(void *ctx, uint64_t *rows, uint64_t *bytes);
    void (*close)(void *ctx);
    int (*check)(void *ctx); /* the integrity check the broker runs at open (NULL: none) */
    const char *files[3];    /* files the engine keeps in dir (for size and eviction) */
};

static uint8_t g_payload[PAYLOAD_LEN];

static void session_id(uint64_t seq, uint8_t id[SESSION_ID_LEN])
{
    char buf[SESSION_ID_LEN + 1];
    snprintf(buf, sizeof(buf), "bench-session-%02u", (unsigned)(seq % SESSIONS));
    memcpy(id, buf, SESSION_ID_LEN);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- SQLite, as src/store/store.c uses it ---- */

struct sq {
    sqlite3 *db;
    sqlite3_stmt *add, *del, *begin, *commit;
    bool in_txn;
};

static int sq_fail(struct sq *s, const char *what)
{
    fprintf(stderr, "sqlite: %s: %s\n", what, sqlite3_errmsg(s->db));
    return -1;
}

static int sq_open(void *ctx, const char *dir)
{
    struct sq *s = ctx;
    char path[4096];
    snprintf(path, sizeof(path), "%s/store.db", dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        return sq_fail(s, "open");
    }
    sqlite3_busy_timeout(s->db, 1000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, SQL_SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        return sq_fail(s, "schema");
    }
    if (sqlite3_prepare_v3(s->db, SQL_ADD, -1, SQLITE_PREPARE_PERSISTENT, &s->add, NULL) ||
        sqlite3_prepare_v3(s->db, SQL_DEL, -1, SQLITE_PREPARE_PERSISTENT, &s->del, NULL) ||
        sqlite3_prepare_v3(s->db, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &s->begin, NULL) ||
        sqlite3_prepare_v3(s->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &s->commit, NULL)) {
        return sq_fail(s, "prepare");
    }
    return 0;
}

static int sq_step(struct sq *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, what);
}

static int sq_begin(struct sq *s)
{
    if (s->in_txn) {
        return 0;
    }
    s->in_txn = true;
    return sq_step(s, s->begin, "begin");
}

static int sq_put(void *ctx, uint64_t seq)
{
    struct sq *s = ctx;
    uint8_t id[SESSION_ID_LEN];
    if (sq_begin(s) != 0) {
        return -1;
    }
    session_id(seq, id);
    sqlite3_stmt *q = s->add;
    sqlite3_bind_blob(q, 1, id, SESSION_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, 0);
    sqlite3_bind_int(q, 3, 1);
    sqlite3_bind_int(q, 4, 0);
    sqlite3_bind_int(q, 5, 0);
    sqlite3_bind_null(q, 6);
    sqlite3_bind_blob(q, 7, TOPIC, (int)strlen(TOPIC), SQLITE_STATIC);
    sqlite3_bind_blob(q, 8, g_payload, PAYLOAD_LEN, SQLITE_STATIC);
    sqlite3_bind_int(q, 9, 1);
    sqlite3_bind_int(q, 10, 0);
    sqlite3_bind_null(q, 11);
    sqlite3_bind_int64(q, 12, 0);
    sqlite3_bind_int64(q, 13, (sqlite3_int64)seq);
    return sq_step(s, q, "insert");
}

static int sq_del(void *ctx, uint64_t seq)
{
    struct sq *s = ctx;
    if (sq_begin(s) != 0) {
        return -1;
    }
    sqlite3_bind_int64(s->del, 1, (sqlite3_int64)seq);
    return sq_step(s, s->del, "delete");
}

static int sq_commit(void *ctx)
{
    struct sq *s = ctx;
    if (!s->in_txn) {
        return 0;
    }
    s->in_txn = false;
    return sq_step(s, s->commit, "commit");
}

static int sq_scan(void *ctx, uint64_t *rows, uint64_t *bytes)
{
    struct sq *s = ctx;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, SQL_LOAD, -1, &q, NULL) != SQLITE_OK) {
        return sq_fail(s, "prepare load");
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        (*rows)++;
        for (int c = 0; c < 13; c++) {
            *bytes += (uint64_t)sqlite3_column_bytes(q, c);
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "load");
}

/* What src/store/store.c runs at every open: PRAGMA quick_check (reads the whole file). */
static int sq_check(void *ctx)
{
    struct sq *s = ctx;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK) {
        return sq_fail(s, "prepare quick_check");
    }
    bool ok =
        sqlite3_step(q) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    return ok ? 0 : sq_fail(s, "quick_check");
}

static void sq_close(void *ctx)
{
    struct sq *s = ctx;
    sqlite3_finalize(s->add);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    memset(s, 0, sizeof(*s));
}

/* ---- LMDB, default (durable) flags ---- */

struct lm {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
};

/* The value: what a deliveries row holds besides its key, packed. */
struct lm_row {
    uint16_t pid;
    uint8_t qos, state, retain, mqos, mretain, topic_len;
    int64_t expire_at;
    char topic[sizeof(TOPIC) - 1];
    uint8_t payload[PAYLOAD_LEN];
};

static int lm_fail(const char *what, int rc)
{
    fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
    return -1;
}

static int lm_open(void *ctx, const char *dir)
{
    struct lm *l = ctx;
    int rc = mdb_env_create(&l->env);
    if (rc == 0) {
        rc = mdb_env_set_mapsize(l->env, LMDB_MAP_SIZE);
    }
    if (rc == 0) {
        rc = mdb_env_open(l->env, dir, 0, 0644); /* 0: durable, fsync on every commit */
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    return rc == 0 ? 0 : lm_fail("open", rc);
}

/* Key = session id + big-endian seq: one session's rows are one range, in order. */
static void lm_key(uint64_t seq, uint8_t key[SESSION_ID_LEN + 8])
{
    session_id(seq, key);
    for (int i = 0; i < 8; i++) {
        key[SESSION_ID_LEN + i] = (uint8_t)(seq >> (56 - 8 * i));
    }
}

static int lm_begin(struct lm *l)
{
    int rc = l->txn ? 0 : mdb_txn_begin(l->env, NULL, 0, &l->txn);
    return rc == 0 ? 0 : lm_fail("begin", rc);
}

static int lm_put(void *ctx, uint64_t seq)
{
    struct lm *l = ctx;
    if (lm_begin(l) != 0) {
        return -1;
    }
    uint8_t key[SESSION_ID_LEN + 8];
    lm_key(seq, key);
    struct lm_row row = {.qos = 1, .mqos = 1, .topic_len = (uint8_t)(sizeof(TOPIC) - 1)};
    memcpy(row.topic, TOPIC, sizeof(row.topic));
    memcpy(row.payload, g_payload, PAYLOAD_LEN);
    MDB_val k = {sizeof(key), key}, v = {sizeof(row), &row};
    int rc = mdb_put(l->txn, l->dbi, &k, &v, 0);
    return rc == 0 ? 0 : lm_fail("put", rc);
}

static int lm_del(void *ctx, uint64_t seq)
{
    struct lm *l = ctx;
    if (lm_begin(l) != 0) {
        return -1;
    }
    uint8_t key[SESSION_ID_LEN + 8];
    lm_key(seq, key);
    MDB_val k = {sizeof(key), key};
    int rc = mdb_del(l->txn, l->dbi, &k, NULL);
    return rc == 0 ? 0 : lm_fail("del", rc);
}

static int lm_commit(void *ctx)
{
    struct lm *l = ctx;
    if (!l->txn) {
        return 0;
    }
    int rc = mdb_txn_commit(l->txn);
    l->txn = NULL;
    return rc == 0 ? 0 : lm_fail("commit", rc);
}

static int lm_scan(void *ctx, uint64_t *rows, uint64_t *bytes)
{
    struct lm *l = ctx;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return lm_fail("read txn", rc);
    }
    rc = mdb_cursor_open(txn, l->dbi, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return lm_fail("cursor", rc);
    }
    MDB_val k, v;
    struct lm_row row;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        /* decode as the broker would: copy the row out of the map */
        memcpy(&row, v.mv_data, v.mv_size < sizeof(row) ? v.mv_size : sizeof(row));
        (*rows)++;
        *bytes += k.mv_size + v.mv_size + row.topic_len;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? 0 : lm_fail("scan", rc);
}

static void lm_close(void *ctx)
{
    struct lm *l = ctx;
    if (l->txn) {
        mdb_txn_abort(l->txn);
    }
    mdb_env_close(l->env);
    memset(l, 0, sizeof(*l));
}

static const struct engine SQLITE_ENGINE = {
    .open = sq_open,
    .put = sq_put,
    .del = sq_del,
    .commit = sq_commit,
    .scan = sq_scan,
    .close = sq_close,
    .check = sq_check,
    .files = {"store.db", "store.db-wal", "store.db-shm"},
};
static const struct engine LMDB_ENGINE = {
    .open = lm_open,
    .put = lm_put,
    .del = lm_del,
    .commit = lm_commit,
    .scan = lm_scan,
    .close = lm_close,
    .check = NULL, /* crash safety by copy-on-write; no integrity scan in the library */
    .files = {"data.mdb", "lock.mdb", NULL},
};

/* ---- driver ---- */

static uint64_t files_size(const struct engine *e, const char *dir, bool evict)
{
    uint64_t total = 0;
    for (int i = 0; i < 3 && e->files[i]; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, e->files[i]);
        if (stat(path, &sb) == 0) {
            total += (uint64_t)sb.st_size;
        }
        int fd = evict ? open(path, O_RDONLY) : -1;
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    return total;
}

static void files_remove(const struct engine *e, const char *dir)
{
    for (int i = 0; i < 3 && e->files[i]; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->files[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
        }
    }
}

static int run_loop(const struct engine *e, void *ctx, const struct opts *o)
{
    uint64_t seq = 0, commits = 0, turns = 0;
    double t0 = now_s(), c0 = cpu_s(), t = t0;
    while (o->turns ? turns < o->turns : t - t0 < o->seconds) {
        uint64_t first = seq + 1;
        for (unsigned i = 0; i < o->batch; i++) {
            if (e->put(ctx, ++seq) != 0) {
                return -1;
            }
        }
        if (e->commit(ctx) != 0) {
            return -1;
        }
        commits++;
        if (turns > 0) { /* the previous batch is acknowledged: delete it */
            for (uint64_t s = first - o->batch; s < first; s++) {
                if (e->del(ctx, s) != 0) {
                    return -1;
                }
            }
            if (e->commit(ctx) != 0) {
                return -1;
            }
            commits++;
        }
        turns++;
        t = now_s();
    }
    double wall = t - t0, cpu = cpu_s() - c0;
    printf("engine=%s mode=loop batch=%u turns=%" PRIu64 " commits=%" PRIu64
           " seconds=%.3f commits_per_s=%.0f rows_per_s=%.0f cpu_us_per_row=%.2f "
           "file_bytes=%" PRIu64 "\n",
           o->engine, o->batch, turns, commits, wall, (double)commits / wall, (double)seq / wall,
           cpu * 1e6 / (double)seq, files_size(e, o->dir, false));
    return 0;
}

static int run_restart(const struct engine *e, void *ctx, const struct opts *o)
{
    double t0 = now_s();
    for (uint64_t seq = 1; seq <= o->restart_rows; seq++) {
        if (e->put(ctx, seq) != 0 || (seq % FILL_BATCH == 0 && e->commit(ctx) != 0)) {
            return -1;
        }
    }
    if (e->commit(ctx) != 0) {
        return -1;
    }
    double fill = now_s() - t0;
    e->close(ctx);
    uint64_t size = files_size(e, o->dir, !o->warm);
    uint64_t rows = 0, bytes = 0;
    double t1 = now_s(), c1 = cpu_s();
    if (e->open(ctx, o->dir) != 0 || e->scan(ctx, &rows, &bytes) != 0) {
        return -1;
    }
    double wall = now_s() - t1, cpu = cpu_s() - c1;
    /* again, as the broker opens: integrity check first (the engine's own, if any) */
    e->close(ctx);
    files_size(e, o->dir, !o->warm);
    uint64_t rows2 = 0;
    double t2 = now_s(), c2 = cpu_s();
    if (e->open(ctx, o->dir) != 0 || (e->check && e->check(ctx) != 0) ||
        e->scan(ctx, &rows2, &bytes) != 0) {
        return -1;
    }
    double wall2 = now_s() - t2, cpu2 = cpu_s() - c2;
    printf("engine=%s mode=restart rows=%" PRIu64 " cache=%s fill_s=%.2f file_bytes=%" PRIu64
           " open_read_s=%.3f open_read_cpu_s=%.3f open_check_read_s=%.3f "
           "open_check_read_cpu_s=%.3f\n",
           o->engine, rows, o->warm ? "warm" : "cold", fill, size, wall, cpu, wall2, cpu2);
    return rows == o->restart_rows && rows2 == rows ? 0 : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_store_engines --engine sqlite|lmdb --dir DIR [--batch B] "
                    "[--seconds S | --turns T] [--restart N] [--warm]\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--warm") == 0) {
            o->warm = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_store_engines: %s needs a value\n", a);
            return -1;
        }
        char *end = NULL;
        i++;
        if (strcmp(a, "--engine") == 0) {
            o->engine = v;
        } else if (strcmp(a, "--dir") == 0) {
            o->dir = v;
        } else if (strcmp(a, "--batch") == 0) {
            o->batch = (unsigned)strtoul(v, &end, 10);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = strtod(v, &end);
        } else if (strcmp(a, "--turns") == 0) {
            o->turns = strtoull(v, &end, 10);
        } else if (strcmp(a, "--restart") == 0) {
            o->restart_rows = strtoull(v, &end, 10);
        } else {
            fprintf(stderr, "bench_store_engines: unknown option %s\n", a);
            return -1;
        }
        if (end && *end) {
            fprintf(stderr, "bench_store_engines: bad value for %s: '%s'\n", a, v);
            return -1;
        }
    }
    return o->engine && o->dir && o->batch > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct opts o = {.batch = 1, .seconds = 3};
    if (parse(argc, argv, &o) != 0) {
        return usage();
    }
    const struct engine *e = strcmp(o.engine, "sqlite") == 0 ? &SQLITE_ENGINE
                             : strcmp(o.engine, "lmdb") == 0 ? &LMDB_ENGINE
                                                             : NULL;
    if (!e) {
        fprintf(stderr, "bench_store_engines: unknown engine '%s' (sqlite, lmdb)\n", o.engine);
        return usage();
    }
    for (size_t i = 0; i < PAYLOAD_LEN; i++) {
        g_payload[i] = (uint8_t)('a' + i % 26);
    }
    if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_store_engines: cannot create %s: %s\n", o.dir, strerror(errno));
        return 1;
    }
    files_remove(e, o.dir);
    struct sq sq = {0};
    struct lm lm = {0};
    void *ctx = e == &SQLITE_ENGINE ? (void *)&sq : (void *)&lm;
    if (e->open(ctx, o.dir) != 0) {
        return 1;
    }
    int rc = o.restart_rows ? run_restart(e, ctx, &o) : run_loop(e, ctx, &o);
    e->close(ctx);
    return rc == 0 ? 0 : 1;
}
