/*
 * test_revocation_crl_engine.c — the CRL engine end to end against a real
 * HTTP server on loopback (test_revocation_crl_http.h) with CAs and CRLs
 * made by the OpenSSL API: prefetch at start, PEM/DER/two-CRL bodies, every
 * rejection reason with the previous CRL kept in force, fail closed, refresh
 * after start, conditional GET, persistence across a restart with the server
 * down, CDP discovery (coalescing, capacity eviction), local crlfile reloads.
 * Log lines are checked in a log file (rmq_log_set_file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "common/log.h"
#include "revocation/crl.h"
#include "test_revocation_crl_http.h"
#include "test_revocation_crl_pki.h"

static char tmpdir[64];
static char logpath[128];
static char ca_file[128];
static struct tca ca1, ca2, ca1_twin, stranger;
static unsigned char h1[32], h2[32];

struct fx {
    struct th_server *srv;
    struct rmq_fetcher *f;
    struct rmq_crl_engine *e;
    struct rmq_crl_cache_settings cfg;
    long log_off;
};

/* ---------- helpers ---------- */

static char *slurp_log(long from)
{
    FILE *f = fopen(logpath, "r");
    if (!f) {
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    if (from > n) {
        from = n;
    }
    fseek(f, from, SEEK_SET);
    char *b = malloc((size_t)(n - from) + 1);
    size_t got = fread(b, 1, (size_t)(n - from), f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static long log_size(void)
{
    struct stat st;
    return stat(logpath, &st) == 0 ? (long)st.st_size : 0;
}

/* True when every needle appears on one line of the log since the test began. */
static bool log_has(struct fx *x, const char *a, const char *b)
{
    char *s = slurp_log(x->log_off);
    bool found = false;
    for (char *line = strtok(s, "\n"); line && !found; line = strtok(NULL, "\n")) {
        found = strstr(line, a) && (!b || strstr(line, b));
    }
    free(s);
    return found;
}

static bool wait_log(struct fx *x, const char *a, const char *b, int timeout_ms)
{
    uint64_t end = th_now_ms() + (uint64_t)timeout_ms;
    while (!log_has(x, a, b)) {
        if (th_now_ms() > end) {
            return false;
        }
        usleep(10000);
    }
    return true;
}

static enum rmq_crl_verdict verdict(struct rmq_crl_engine *e, const unsigned char *h,
                                    unsigned long serial)
{
    unsigned char sb[8];
    size_t n = serial_bytes(serial, sb);
    struct rmq_crl_snapshot *s = rmq_crl_engine_acquire(e);
    enum rmq_crl_verdict v = tlookup(s, h, sb, n, NULL);
    rmq_crl_snapshot_release(s);
    return v;
}

static bool wait_verdict(struct rmq_crl_engine *e, const unsigned char *h, unsigned long serial,
                         enum rmq_crl_verdict want, int timeout_ms)
{
    uint64_t end = th_now_ms() + (uint64_t)timeout_ms;
    while (verdict(e, h, serial) != want) {
        if (th_now_ms() > end) {
            return false;
        }
        usleep(10000);
    }
    return true;
}

static int serve_delay_ms; /* delay of the routes serve_crl sets up */

/* Serves a CRL of `ca` (signed by `signer`) revoking serials, as PEM or DER. */
static void serve_crl(struct fx *x, const char *path, const struct tca *ca,
                      const struct tca *signer, const unsigned long *serials, size_t n,
                      struct tcrl_opts o, bool pem)
{
    X509_CRL *crl = tcrl_make(ca, signer, serials, n, NULL, o);
    size_t len;
    void *body = pem ? (void *)tcrl_pem(&crl, 1, &len) : (void *)tcrl_der(crl, &len);
    th_set(x->srv, path, 200, body, len, serve_delay_ms, NULL, false);
    free(body);
    X509_CRL_free(crl);
}

static char *url(struct fx *x, const char *path)
{
    return th_url(x->srv, path);
}

static void add_url(struct fx *x, const char *path)
{
    char *u = url(x, path);
    assert_int_equal(rmq_crl_engine_add_url(x->e, u), RMQ_OK);
    free(u);
}

static void new_engine(struct fx *x, const char *data_dir)
{
    x->e = rmq_crl_engine_new(x->f, &x->cfg, data_dir);
    assert_non_null(x->e);
    assert_int_equal(rmq_crl_engine_add_ca_file(x->e, ca_file), RMQ_OK);
}

/* ---------- fixtures ---------- */

static int group_setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rmq-crl-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
    snprintf(ca_file, sizeof ca_file, "%s/cas.pem", tmpdir);
    if (rmq_log_set_file(logpath) != RMQ_OK) {
        return -1;
    }
    ca1 = tca_make("Engine CA one", true);
    ca2 = tca_make("Engine CA two", true);
    ca1_twin = tca_make("Engine CA one", true);
    stranger = tca_make("Stranger", true);
    struct tca both[2] = {ca1, ca2};
    tca_write_pem(ca_file, both, 2);
    tca_name_hash(&ca1, h1);
    tca_name_hash(&ca2, h2);
    return 0;
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            rm_rf(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int group_teardown(void **state)
{
    tca_free(&ca1);
    tca_free(&ca2);
    tca_free(&ca1_twin);
    tca_free(&stranger);
    if (!getenv("RMQ_KEEP_TMP")) {
        rm_rf(tmpdir);
    }
    return 0;
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    x->srv = th_start();
    if (!x->srv || rmq_fetcher_new(&x->f) != RMQ_OK) {
        return -1;
    }
    x->cfg.refresh_interval = 60000;
    x->cfg.http_timeout = 1000;
    x->cfg.capacity = 2;
    x->cfg.max_size = 64 * 1024;
    x->cfg.check = RMQ_CRL_CHECK_LEAF;
    x->cfg.disconnect_revoked = true;
    x->cfg.discover_from_cert = true;
    x->log_off = log_size();
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    rmq_crl_engine_free(x->e);
    rmq_fetcher_free(x->f);
    th_stop(x->srv);
    free(x);
    return 0;
}

static const unsigned long S3[] = {3};
static const unsigned long S3_999[] = {3, 999};

/* ---------- tests ---------- */

static void test_engine__urls_pem_der_prefetched_at_start(void **state)
{
    struct fx *x = *state;
    serve_crl(x, "/pem", &ca1, &ca1, S3, 1, tcrl_defaults(), true);
    unsigned long s5[] = {5};
    serve_crl(x, "/der", &ca2, &ca2, s5, 1, tcrl_defaults(), false);
    new_engine(x, NULL);
    add_url(x, "/pem");
    add_url(x, "/der");
    struct rmq_crl_snapshot *before = rmq_crl_engine_acquire(x->e);
    assert_int_equal(rmq_crl_snapshot_version(before), 0);
    rmq_crl_snapshot_release(before);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    /* prefetched: usable as soon as start returns */
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h1, 4), RMQ_CRL_GOOD);
    assert_int_equal(verdict(x->e, h2, 5), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h2, 3), RMQ_CRL_GOOD);
    unsigned char other[32] = {1};
    assert_int_equal(verdict(x->e, other, 3), RMQ_CRL_NO_CRL);
    char *u = url(x, "/pem");
    assert_true(log_has(x, "crl_cache: refresh OK url=", u));
    assert_true(log_has(x, u, "entries=1 this_update="));
    free(u);
    assert_int_equal(th_hits(x->srv, "/pem"), 1);
}

static void test_engine__pem_body_with_two_crls(void **state)
{
    struct fx *x = *state;
    unsigned long s7[] = {7};
    X509_CRL *c[2] = {tcrl_make(&ca1, &ca1, S3, 1, NULL, tcrl_defaults()),
                      tcrl_make(&ca2, &ca2, s7, 1, NULL, tcrl_defaults())};
    size_t len;
    char *pem = tcrl_pem(c, 2, &len);
    th_set(x->srv, "/two", 200, pem, len, 0, NULL, false);
    free(pem);
    X509_CRL_free(c[0]);
    X509_CRL_free(c[1]);
    new_engine(x, NULL);
    add_url(x, "/two");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h2, 7), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h2, 3), RMQ_CRL_GOOD);
}

struct variant {
    const char *path;
    const char *reason;
};

static void serve_bad(struct fx *x, const char *path)
{
    struct tcrl_opts o = tcrl_defaults();
    o.number = 6;
    if (strcmp(path, "/v-signature") == 0) {
        serve_crl(x, path, &ca1, &ca1_twin, S3_999, 2, o, true);
    } else if (strcmp(path, "/v-unknown") == 0) {
        serve_crl(x, path, &stranger, &stranger, S3_999, 2, o, true);
    } else if (strcmp(path, "/v-expired") == 0) {
        o.this_update_off = -7200;
        o.next_update_off = -3600;
        serve_crl(x, path, &ca1, &ca1, S3_999, 2, o, false);
    } else if (strcmp(path, "/v-future") == 0) {
        o.this_update_off = 86400;
        o.next_update_off = 2 * 86400;
        serve_crl(x, path, &ca1, &ca1, S3_999, 2, o, false);
    } else if (strcmp(path, "/v-back") == 0) {
        o.number = 4;
        serve_crl(x, path, &ca1, &ca1, S3_999, 2, o, true);
    } else if (strcmp(path, "/v-critical") == 0) {
        o.critical_unknown = true;
        serve_crl(x, path, &ca1, &ca1, S3_999, 2, o, true);
    } else if (strcmp(path, "/v-garbage") == 0) {
        th_set(x->srv, path, 200, "<html>not a CRL</html>", 22, 0, NULL, false);
    } else if (strcmp(path, "/v-truncated") == 0) {
        X509_CRL *crl = tcrl_make(&ca1, &ca1, S3_999, 2, NULL, o);
        size_t len;
        unsigned char *der = tcrl_der(crl, &len);
        th_set(x->srv, path, 200, der, len / 2, 0, NULL, false);
        free(der);
        X509_CRL_free(crl);
    } else if (strcmp(path, "/v-404") == 0) {
        th_set(x->srv, path, 404, "no", 2, 0, NULL, false);
    } else if (strcmp(path, "/v-500") == 0) {
        th_set(x->srv, path, 500, "err", 3, 0, NULL, false);
    } else if (strcmp(path, "/v-timeout") == 0) {
        X509_CRL *crl = tcrl_make(&ca1, &ca1, S3_999, 2, NULL, o);
        size_t len;
        unsigned char *der = tcrl_der(crl, &len);
        th_set(x->srv, path, 200, der, len, 3000, NULL, false);
        free(der);
        X509_CRL_free(crl);
    } else if (strcmp(path, "/v-toolarge") == 0) {
        size_t n = 100 * 1024;
        char *big = malloc(n);
        memset(big, '0', n);
        th_set(x->srv, path, 200, big, n, 0, NULL, false);
        free(big);
    } else {
        fail_msg("unknown variant %s", path);
    }
}

static void test_engine__each_bad_refresh_is_rejected_and_previous_kept(void **state)
{
    struct fx *x = *state;
    static const struct variant vs[] = {
        {"/v-signature", "reason=signature"},       {"/v-unknown", "reason=issuer_unknown"},
        {"/v-expired", "reason=next_update_past"},  {"/v-future", "reason=this_update_in_future"},
        {"/v-back", "reason=crl_number_went_back"}, {"/v-critical", "reason=critical_extension"},
        {"/v-garbage", "reason=garbage"},           {"/v-truncated", "reason=truncated"},
        {"/v-404", "reason=http_status"},           {"/v-500", "reason=http_status"},
        {"/v-timeout", "reason=timeout"},           {"/v-toolarge", "reason=too_large"},
    };
    size_t nv = sizeof vs / sizeof vs[0];
    struct tcrl_opts good = tcrl_defaults();
    good.number = 5;
    new_engine(x, NULL);
    for (size_t i = 0; i < nv; i++) {
        serve_crl(x, vs[i].path, &ca1, &ca1, S3, 1, good, true);
        add_url(x, vs[i].path);
    }
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h1, 999), RMQ_CRL_GOOD);
    x->log_off = log_size();
    for (size_t i = 0; i < nv; i++) {
        serve_bad(x, vs[i].path);
    }
    usleep(1000 * 1000); /* the per-URL rate limit would delay the refetch anyway */
    rmq_crl_engine_refresh_now(x->e);
    for (size_t i = 0; i < nv; i++) {
        char *u = url(x, vs[i].path);
        char needle[256];
        snprintf(needle, sizeof needle, "refresh failed url=%s ", u);
        if (!wait_log(x, needle, vs[i].reason, 5000)) {
            char *l = slurp_log(x->log_off);
            fail_msg("no line '%s ... %s' in log:\n%s", needle, vs[i].reason, l);
        }
        assert_true(log_has(x, needle, "in_force=1"));
        free(u);
    }
    /* Nothing bad was accepted: 999 (in every bad CRL) is not revoked, and
     * the previous CRLs are still in force. */
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h1, 999), RMQ_CRL_GOOD);
    assert_int_equal(verdict(x->e, h1, 4), RMQ_CRL_GOOD);
}

static void test_engine__nothing_cached_and_server_down_fails_closed(void **state)
{
    struct fx *x = *state;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/crl", th_closed_port());
    new_engine(x, NULL);
    assert_int_equal(rmq_crl_engine_add_url(x->e, u), RMQ_OK);
    uint64_t t0 = th_now_ms();
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_true(th_now_ms() - t0 < 3500);
    assert_int_equal(verdict(x->e, h1, 4), RMQ_CRL_NO_CRL);
    assert_true(wait_log(x, "refresh failed url=http://127.0.0.1", "fail_closed=true", 3000));
    assert_true(log_has(x, u, "reason=http_error"));
}

static atomic_int published;
static void on_pub(struct rmq_crl_snapshot *s, void *arg)
{
    assert_non_null(s);
    atomic_fetch_add(&published, 1);
}

static void test_engine__revocation_after_start_seen_after_next_refresh(void **state)
{
    struct fx *x = *state;
    x->cfg.refresh_interval = 1000;
    struct tcrl_opts o = tcrl_defaults();
    o.number = 1;
    serve_crl(x, "/live", &ca1, &ca1, S3, 1, o, false);
    new_engine(x, NULL);
    add_url(x, "/live");
    atomic_store(&published, 0);
    rmq_crl_engine_on_publish(x->e, on_pub, NULL);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 9), RMQ_CRL_GOOD);
    int p0 = atomic_load(&published);
    assert_true(p0 >= 1);
    unsigned long s39[] = {3, 9};
    o.number = 2;
    serve_crl(x, "/live", &ca1, &ca1, s39, 2, o, false);
    assert_true(wait_verdict(x->e, h1, 9, RMQ_CRL_REVOKED, 5000));
    assert_true(atomic_load(&published) > p0);
    /* unchanged bodies do not republish */
    int p1 = atomic_load(&published);
    assert_true(wait_log(x, "refresh OK url=", "unchanged=true", 5000));
    assert_int_equal(atomic_load(&published), p1);
}

static void test_engine__crl_past_next_update_stops_covering(void **state)
{
    struct fx *x = *state;
    struct tcrl_opts o = tcrl_defaults();
    o.next_update_off = 2; /* goes stale in 2 s; the server never updates it */
    serve_crl(x, "/stale", &ca1, &ca1, S3, 1, o, false);
    new_engine(x, NULL);
    add_url(x, "/stale");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 4), RMQ_CRL_GOOD);
    /* past nextUpdate: no longer covers (fail closed); listed serials stay revoked */
    assert_true(wait_verdict(x->e, h1, 4, RMQ_CRL_NO_CRL, 5000));
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    /* the refresh right after nextUpdate gets the same, now stale, CRL */
    assert_true(wait_log(x, "reason=next_update_past", "stale=true fail_closed=true", 5000));
}

static void test_engine__conditional_get_uses_etag(void **state)
{
    struct fx *x = *state;
    X509_CRL *crl = tcrl_make(&ca1, &ca1, S3, 1, NULL, tcrl_defaults());
    size_t len;
    unsigned char *der = tcrl_der(crl, &len);
    th_set(x->srv, "/etag", 200, der, len, 0, "\"crl-1\"", false);
    free(der);
    X509_CRL_free(crl);
    new_engine(x, NULL);
    add_url(x, "/etag");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    usleep(1000 * 1000);
    rmq_crl_engine_refresh_now(x->e);
    assert_true(wait_log(x, "refresh OK url=", "not_modified=true", 5000));
    assert_int_equal(th_hits(x->srv, "/etag"), 2);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
}

static void test_engine__saved_crl_enforced_after_restart_with_server_down(void **state)
{
    struct fx *x = *state;
    char dd[128];
    snprintf(dd, sizeof dd, "%s/data-restart", tmpdir);
    serve_crl(x, "/persist", &ca1, &ca1, S3, 1, tcrl_defaults(), true);
    new_engine(x, dd);
    add_url(x, "/persist");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    rmq_crl_engine_free(x->e);
    x->e = NULL;
    /* a .crl and a .meta were written */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/crl", dd);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int crl_files = 0, meta_files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        crl_files += strstr(de->d_name, ".crl") != NULL;
        meta_files += strstr(de->d_name, ".meta") != NULL;
    }
    closedir(d);
    assert_int_equal(crl_files, 1);
    assert_int_equal(meta_files, 1);
    /* server down (500) and restart */
    th_set(x->srv, "/persist", 500, "down", 4, 0, NULL, false);
    x->log_off = log_size();
    new_engine(x, dd);
    add_url(x, "/persist");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h1, 4), RMQ_CRL_GOOD);
    assert_true(log_has(x, "loaded saved CRL url=", "entries=1"));
    assert_true(wait_log(x, "refresh failed url=", "reason=http_status", 3000));
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
}

static void test_engine__saved_crl_is_verified_again_at_load(void **state)
{
    struct fx *x = *state;
    char dd[128];
    snprintf(dd, sizeof dd, "%s/data-tamper", tmpdir);
    serve_crl(x, "/tamper", &ca1, &ca1, S3, 1, tcrl_defaults(), false);
    new_engine(x, dd);
    add_url(x, "/tamper");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    rmq_crl_engine_free(x->e);
    x->e = NULL;
    /* flip a byte in the saved CRL */
    char sub[160], p[512];
    snprintf(sub, sizeof sub, "%s/crl", dd);
    DIR *d = opendir(sub);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strstr(de->d_name, ".crl")) {
            snprintf(p, sizeof p, "%s/%s", sub, de->d_name);
        }
    }
    closedir(d);
    FILE *f = fopen(p, "r+b");
    fseek(f, -5, SEEK_END);
    int c = fgetc(f);
    fseek(f, -5, SEEK_END);
    fputc(c ^ 0xff, f);
    fclose(f);
    th_set(x->srv, "/tamper", 500, "down", 4, 0, NULL, false);
    x->log_off = log_size();
    new_engine(x, dd);
    add_url(x, "/tamper");
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_true(log_has(x, "saved CRL rejected url=", "reason="));
    assert_int_equal(verdict(x->e, h1, 4), RMQ_CRL_NO_CRL);
}

static atomic_int want_done;
static void on_want(void *arg)
{
    atomic_fetch_add(&want_done, 1);
}

static void wait_want(int n)
{
    uint64_t end = th_now_ms() + 5000;
    while (atomic_load(&want_done) < n && th_now_ms() < end) {
        usleep(5000);
    }
    assert_int_equal(atomic_load(&want_done), n);
}

static void test_engine__discovery_coalesces_caches_and_evicts_oldest(void **state)
{
    struct fx *x = *state;
    serve_delay_ms = 300; /* so that all 20 wants join the first fetch */
    serve_crl(x, "/d1", &ca1, &ca1, S3, 1, tcrl_defaults(), true);
    serve_delay_ms = 0;
    serve_crl(x, "/d2", &ca1, &ca1, S3, 1, tcrl_defaults(), true);
    unsigned long s8[] = {8};
    serve_crl(x, "/d3", &ca2, &ca2, s8, 1, tcrl_defaults(), true);
    new_engine(x, NULL);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    char *u1 = url(x, "/d1"), *u2 = url(x, "/d2"), *u3 = url(x, "/d3");
    atomic_store(&want_done, 0);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_NO_CRL);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(rmq_crl_engine_want_url(x->e, u1, on_want, &want_done), RMQ_ERR_AGAIN);
    }
    wait_want(20);
    assert_int_equal(th_hits(x->srv, "/d1"), 1);
    /* the snapshot was published before the callbacks ran */
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(rmq_crl_engine_want_url(x->e, u1, on_want, &want_done), RMQ_OK);
    assert_int_equal(rmq_crl_engine_want_url(x->e, "ftp://x/y", on_want, NULL), RMQ_ERR_INVALID);
    /* capacity 2: a third URL evicts the least recently used (d1) */
    assert_int_equal(rmq_crl_engine_want_url(x->e, u2, on_want, &want_done), RMQ_ERR_AGAIN);
    wait_want(21);
    assert_int_equal(rmq_crl_engine_want_url(x->e, u3, on_want, &want_done), RMQ_ERR_AGAIN);
    wait_want(22);
    assert_int_equal(verdict(x->e, h2, 8), RMQ_CRL_REVOKED);
    char needle[128];
    snprintf(needle, sizeof needle, "evicted url=%s ", u1);
    assert_true(wait_log(x, needle, NULL, 3000));
    assert_int_equal(rmq_crl_engine_want_url(x->e, u2, on_want, &want_done), RMQ_OK);
    assert_int_equal(rmq_crl_engine_want_url(x->e, u1, on_want, &want_done), RMQ_ERR_AGAIN);
    wait_want(23);
    assert_int_equal(th_hits(x->srv, "/d1"), 2);
    free(u1);
    free(u2);
    free(u3);
}

static void test_engine__discovered_url_saved_and_reloaded_at_restart(void **state)
{
    struct fx *x = *state;
    char dd[128];
    snprintf(dd, sizeof dd, "%s/data-discovered", tmpdir);
    serve_crl(x, "/cdp", &ca1, &ca1, S3, 1, tcrl_defaults(), false);
    new_engine(x, dd);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    char *u = url(x, "/cdp");
    atomic_store(&want_done, 0);
    assert_int_equal(rmq_crl_engine_want_url(x->e, u, on_want, &want_done), RMQ_ERR_AGAIN);
    wait_want(1);
    rmq_crl_engine_free(x->e);
    x->e = NULL;
    th_set(x->srv, "/cdp", 503, "down", 4, 0, NULL, false);
    new_engine(x, dd);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    /* known at once, from the saved copy */
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(rmq_crl_engine_want_url(x->e, u, on_want, &want_done), RMQ_OK);
    free(u);
}

static void test_engine__want_cancel_and_disabled_discovery(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/slowcdp", 200, "x", 1, 500, NULL, false);
    x->cfg.discover_from_cert = false;
    new_engine(x, NULL);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    char *u = url(x, "/slowcdp");
    assert_int_equal(rmq_crl_engine_want_url(x->e, u, on_want, NULL), RMQ_ERR_NOT_FOUND);
    x->cfg.discover_from_cert = true;
    atomic_store(&want_done, 0);
    assert_int_equal(rmq_crl_engine_want_url(x->e, u, on_want, &want_done), RMQ_ERR_AGAIN);
    rmq_crl_engine_want_cancel(x->e, &want_done);
    assert_true(wait_log(x, "refresh failed url=", "reason=garbage", 3000));
    usleep(100 * 1000);
    assert_int_equal(atomic_load(&want_done), 0);
    free(u);
}

static void write_file(const char *path, const void *p, size_t n)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
    rename(tmp, path);
}

static void test_engine__crlfile_reloaded_when_it_changes(void **state)
{
    struct fx *x = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/local.crl", tmpdir);
    struct tcrl_opts o = tcrl_defaults();
    o.number = 1;
    X509_CRL *a = tcrl_make(&ca1, &ca1, S3, 1, NULL, o);
    size_t len;
    char *pem = tcrl_pem(&a, 1, &len);
    write_file(path, pem, len);
    free(pem);
    X509_CRL_free(a);
    new_engine(x, NULL);
    assert_int_equal(rmq_crl_engine_add_file(x->e, path), RMQ_OK);
    assert_int_equal(rmq_crl_engine_start(x->e), RMQ_OK);
    assert_int_equal(verdict(x->e, h1, 3), RMQ_CRL_REVOKED);
    assert_int_equal(verdict(x->e, h1, 11), RMQ_CRL_GOOD);
    unsigned long s311[] = {3, 11};
    o.number = 2;
    X509_CRL *b = tcrl_make(&ca1, &ca1, s311, 2, NULL, o);
    unsigned char *der = tcrl_der(b, &len);
    write_file(path, der, len);
    free(der);
    X509_CRL_free(b);
    assert_true(wait_verdict(x->e, h1, 11, RMQ_CRL_REVOKED, 4000));
    write_file(path, "garbage!", 8);
    char needle[256];
    snprintf(needle, sizeof needle, "refresh failed file=%s ", path);
    assert_true(wait_log(x, needle, "reason=garbage", 4000));
    assert_int_equal(verdict(x->e, h1, 11), RMQ_CRL_REVOKED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine__urls_pem_der_prefetched_at_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine__pem_body_with_two_crls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__each_bad_refresh_is_rejected_and_previous_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__nothing_cached_and_server_down_fails_closed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__revocation_after_start_seen_after_next_refresh,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__crl_past_next_update_stops_covering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine__conditional_get_uses_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_engine__saved_crl_enforced_after_restart_with_server_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__saved_crl_is_verified_again_at_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine__discovery_coalesces_caches_and_evicts_oldest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__discovered_url_saved_and_reloaded_at_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine__want_cancel_and_disabled_discovery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine__crlfile_reloaded_when_it_changes, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
