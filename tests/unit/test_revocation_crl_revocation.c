/*
 * test_revocation_crl_revocation.c — rmq_revocation_new/start/free from a
 * hand-built struct rmq_settings: sources of CRL-checking listeners are
 * registered, configuration errors name the key, a local crlfile is enforced
 * after start, and everything is freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <unistd.h>

#include "revocation/revocation.h"
#include "test_revocation_crl_pki.h"

static char tmpdir[64];
static char ca_path[128], crl_path[128], data_dir[128];
static struct tca ca;

static int group_setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rmq-rev-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", tmpdir);
    snprintf(crl_path, sizeof crl_path, "%s/ca.crl", tmpdir);
    snprintf(data_dir, sizeof data_dir, "%s/data", tmpdir);
    ca = tca_make("Revocation CA", true);
    tca_write_pem(ca_path, &ca, 1);
    unsigned long serials[] = {42};
    X509_CRL *crl = tcrl_make(&ca, &ca, serials, 1, NULL, tcrl_defaults());
    size_t len;
    char *pem = tcrl_pem(&crl, 1, &len);
    FILE *f = fopen(crl_path, "w");
    fwrite(pem, 1, len, f);
    fclose(f);
    free(pem);
    X509_CRL_free(crl);
    return 0;
}

static int group_teardown(void **state)
{
    tca_free(&ca);
    unlink(ca_path);
    unlink(crl_path);
    rmdir(data_dir);
    rmdir(tmpdir);
    return 0;
}

struct fixture {
    struct rmq_settings s;
    struct rmq_listener_settings l[2];
    char *files[1];
};

static void make_settings(struct fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->s.node_data_dir = data_dir;
    fx->s.crl_cache.refresh_interval = 60000;
    fx->s.crl_cache.http_timeout = 1000;
    fx->s.crl_cache.capacity = 10;
    fx->s.crl_cache.max_size = 1 << 20;
    fx->s.crl_cache.discover_from_cert = true;
    fx->l[0].name = "tcp";
    fx->l[0].enable = true;
    fx->l[1].name = "default";
    fx->l[1].enable = true;
    fx->l[1].is_ssl = true;
    fx->l[1].ssl.verify = RMQ_VERIFY_PEER;
    fx->l[1].ssl.cacertfile = ca_path;
    fx->l[1].ssl.enable_crl_check = true;
    fx->files[0] = crl_path;
    fx->l[1].ssl.crlfile.items = fx->files;
    fx->l[1].ssl.crlfile.count = 1;
    fx->s.listeners = fx->l;
    fx->s.listener_count = 2;
}

static void test_revocation__crlfile_listener_is_enforced(void **state)
{
    struct fixture fx;
    make_settings(&fx);
    struct rmq_revocation *r = NULL;
    char *err = NULL;
    assert_int_equal(rmq_revocation_new(&fx.s, &r, &err), RMQ_OK);
    assert_null(err);
    assert_true(r->crl_enabled);
    assert_int_equal(rmq_revocation_start(r), RMQ_OK);
    unsigned char h[32], sb[8];
    tca_name_hash(&ca, h);
    struct rmq_crl_snapshot *snap = rmq_crl_engine_acquire(r->crl);
    size_t n = serial_bytes(42, sb);
    assert_int_equal(tlookup(snap, h, sb, n, NULL), RMQ_CRL_REVOKED);
    n = serial_bytes(43, sb);
    assert_int_equal(tlookup(snap, h, sb, n, NULL), RMQ_CRL_GOOD);
    rmq_crl_snapshot_release(snap);
    rmq_revocation_refresh_now(r);
    rmq_revocation_free(r);
}

static void test_revocation__config_errors_name_the_key(void **state)
{
    struct fixture fx;
    make_settings(&fx);
    fx.l[1].ssl.verify = RMQ_VERIFY_NONE;
    struct rmq_revocation *r = NULL;
    char *err = NULL;
    assert_int_equal(rmq_revocation_new(&fx.s, &r, &err), RMQ_ERR_CONFIG);
    assert_null(r);
    assert_non_null(err);
    assert_non_null(strstr(err, "listeners.ssl.default.ssl_options.enable_crl_check"));
    assert_non_null(strstr(err, "verify_peer"));
    free(err);

    make_settings(&fx);
    fx.l[1].ssl.cacertfile = crl_path; /* no certificate in it */
    assert_int_equal(rmq_revocation_new(&fx.s, &r, &err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "cacertfile"));
    free(err);

    make_settings(&fx);
    char *bad[1] = {"ldap://example/crl"};
    fx.l[1].ssl.crl_cache_urls.items = bad;
    fx.l[1].ssl.crl_cache_urls.count = 1;
    assert_int_equal(rmq_revocation_new(&fx.s, &r, &err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "crl_cache_urls"));
    free(err);
}

static void test_revocation__no_crl_listener_means_disabled(void **state)
{
    struct fixture fx;
    make_settings(&fx);
    fx.l[1].ssl.enable_crl_check = false;
    fx.l[1].ssl.verify = RMQ_VERIFY_NONE; /* irrelevant without CRL checks */
    struct rmq_revocation *r = NULL;
    char *err = NULL;
    assert_int_equal(rmq_revocation_new(&fx.s, &r, &err), RMQ_OK);
    assert_false(r->crl_enabled);
    assert_non_null(r->fetcher);
    assert_int_equal(rmq_revocation_start(r), RMQ_OK);
    rmq_revocation_free(r);
    rmq_revocation_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revocation__crlfile_listener_is_enforced),
        cmocka_unit_test(test_revocation__config_errors_name_the_key),
        cmocka_unit_test(test_revocation__no_crl_listener_means_disabled),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
