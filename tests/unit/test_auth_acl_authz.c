/* Unit tests for src/auth/acl_authz.c: sources, no_match, the per-client decision cache
 * (enable, max_size, ttl), reload (new rules seen by live clients, bad file keeps the old). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/acl.h"

struct fx {
    char dir[64];
    char path[128];
    char mpath[128];
    struct rmq_authz_settings cfg;
    struct rmq_authz_source_settings src[2]; /* cfg.sources */
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rmq_authz_XXXXXX");
    if (!fx || !mkdtemp(fx->dir)) {
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/acl.conf", fx->dir);
    snprintf(fx->mpath, sizeof fx->mpath, "%s/acl_file", fx->dir);
    fx->cfg.no_match = RMQ_AUTHZ_NO_MATCH_DENY;
    fx->cfg.deny_action = RMQ_AUTHZ_DENY_IGNORE;
    fx->cfg.cache_enable = true;
    fx->cfg.cache_max_size = 32;
    fx->cfg.cache_ttl = 60000;
    fx->src[0].name = "1";
    fx->src[0].type = RMQ_AUTHZ_SRC_FILE;
    fx->src[0].enable = true;
    fx->src[0].path = fx->path;
    fx->src[1].name = "2";
    fx->cfg.sources = fx->src;
    fx->cfg.source_count = 1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    unlink(fx->path);
    unlink(fx->mpath);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static bool pub(struct rmq_authz *a, struct rmq_authz_client *c, const char *t, int64_t now)
{
    return rmq_authz_check(a, c, RMQ_ACL_PUBLISH, t, strlen(t), 0, false, now, NULL);
}

static struct rmq_authz_client *client(const char *user)
{
    struct rmq_acl_identity id;
    memset(&id, 0, sizeof id);
    id.username = user;
    id.clientid = "cid";
    struct rmq_authz_client *c = rmq_authz_client_new(&id);
    assert_non_null(c);
    return c;
}

static void test_no_match__allow_or_deny(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{allow, {username, \"a\"}, publish, [\"x\"]}.\n");
    struct rmq_authz *a;
    char *err = NULL;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    struct rmq_authz_client *c = client("b");
    assert_false(pub(a, c, "x", 1)); /* not a's rule: no_match = deny */
    rmq_authz_client_free(c);
    rmq_authz_free(a);
    fx->cfg.no_match = RMQ_AUTHZ_NO_MATCH_ALLOW;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    c = client("b");
    const char *line = NULL;
    assert_true(rmq_authz_check(a, c, RMQ_ACL_PUBLISH, "x", 1, 0, false, 1, &line));
    assert_string_equal(line, "no_match");
    rmq_authz_client_free(c);
    rmq_authz_free(a);
}

static void test_no_sources__no_match_alone_decides(void **state)
{
    struct fx *fx = *state;
    fx->cfg.sources[0].type = RMQ_AUTHZ_SRC_NONE;
    for (int allow = 0; allow < 2; allow++) {
        fx->cfg.no_match = allow ? RMQ_AUTHZ_NO_MATCH_ALLOW : RMQ_AUTHZ_NO_MATCH_DENY;
        struct rmq_authz *a;
        char *err = NULL;
        assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
        assert_int_equal(rmq_authz_rule_count(a), 0);
        struct rmq_authz_client *c = client("u");
        const char *line = NULL;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(rmq_authz_check(a, c, RMQ_ACL_SUBSCRIBE, "#", 1, 0, false, i, &line),
                             allow);
            assert_string_equal(line, "no_match");
        }
        rmq_authz_client_free(c);
        rmq_authz_free(a);
    }
}

static void test_sources__in_order_disabled_skipped_mosquitto_denies_rest(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{deny, all, publish, [\"first\"]}.\n");
    write_file(fx->mpath, "pattern write first\npattern write second\n");
    fx->cfg.no_match = RMQ_AUTHZ_NO_MATCH_ALLOW;
    fx->cfg.source_count = 2;
    fx->cfg.sources[1].type = RMQ_AUTHZ_SRC_MOSQUITTO;
    fx->cfg.sources[1].enable = true;
    fx->cfg.sources[1].path = fx->mpath;
    struct rmq_authz *a;
    char *err = NULL;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    struct rmq_authz_client *c = client("u");
    assert_false(pub(a, c, "first", 1)); /* source 1 decides */
    assert_true(pub(a, c, "second", 1)); /* source 2 grants */
    assert_false(pub(a, c, "third", 1)); /* Mosquitto file: not granted, denied */
    rmq_authz_client_free(c);
    rmq_authz_free(a);
    fx->cfg.sources[1].enable = false;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    c = client("u");
    assert_true(pub(a, c, "third", 1)); /* disabled source skipped: no_match = allow */
    rmq_authz_client_free(c);
    rmq_authz_free(a);
}

static void test_new__bad_file_or_missing_path_is_an_error(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{allow, all}.\n{allow, nobody, x}.\n");
    struct rmq_authz *a = NULL;
    char *err = NULL;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_ERR_CONFIG);
    assert_null(a);
    assert_non_null(strstr(err, "authorization.sources.1: "));
    assert_non_null(strstr(err, "acl.conf:2: "));
    free(err);
    fx->cfg.sources[0].path = NULL;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "authorization.sources.1.path"));
    free(err);
}

static void test_cache__decisions_and_rule_named_within_and_after_ttl(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{deny, all, {publish, [{qos, 1}]}, [\"t/#\"]}.\n"
                         "{allow, all, publish, [\"t/#\"]}.\n");
    fx->cfg.cache_ttl = 1000;
    struct rmq_authz *a;
    char *err = NULL;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    struct rmq_authz_client *c = client("u");
    const char *line = NULL;
    int64_t at[] = {100, 500, 1099, 1100, 5000};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        /* the same topic with another QoS is another cache entry */
        assert_false(rmq_authz_check(a, c, RMQ_ACL_PUBLISH, "t/1", 3, 1, false, at[i], &line));
        assert_non_null(strstr(line, "acl.conf:1"));
        assert_true(rmq_authz_check(a, c, RMQ_ACL_PUBLISH, "t/1", 3, 0, false, at[i], &line));
        assert_non_null(strstr(line, "acl.conf:2"));
    }
    rmq_authz_client_free(c);
    rmq_authz_free(a);
}

static void test_reload__live_clients_see_new_rules_bad_file_keeps_old(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{allow, all, publish, [\"t/#\"]}.\n");
    struct rmq_authz *a;
    char *err = NULL;
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    struct rmq_authz_client *c = client("u");
    assert_true(pub(a, c, "t/1", 10));
    write_file(fx->path, "{deny, all, publish, [\"t/1\"]}.\n{allow, all}.\n");
    assert_int_equal(rmq_authz_reload(a, &err), RMQ_OK);
    assert_int_equal(rmq_authz_rule_count(a), 2);
    assert_false(pub(a, c, "t/1", 11)); /* cached allow dropped by the reload */
    write_file(fx->path, "{deny, all, publish, [\"t/1\"]}.\n{broken\n");
    assert_int_equal(rmq_authz_reload(a, &err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "acl.conf:2:"));
    free(err);
    assert_int_equal(rmq_authz_rule_count(a), 2);
    assert_false(pub(a, c, "t/1", 12));
    assert_true(pub(a, c, "t/2", 12));
    rmq_authz_client_free(c);
    rmq_authz_free(a);
}

static void test_cache__disabled_or_tiny_still_correct(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{allow, all, publish, [\"a\"]}.\n{deny, all}.\n");
    for (int mode = 0; mode < 2; mode++) {
        fx->cfg.cache_enable = mode == 0;
        fx->cfg.cache_max_size = 1;
        struct rmq_authz *a;
        char *err = NULL;
        assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
        struct rmq_authz_client *c = client("u");
        for (int i = 0; i < 4; i++) {
            assert_true(pub(a, c, "a", 1 + i));
            assert_false(pub(a, c, "b", 1 + i));
        }
        rmq_authz_client_free(c);
        rmq_authz_free(a);
    }
}

static void test_install__global_handle(void **state)
{
    struct fx *fx = *state;
    write_file(fx->path, "{allow, all}.\n");
    struct rmq_authz *a;
    char *err = NULL;
    assert_null(rmq_authz_installed());
    assert_int_equal(rmq_authz_new(&fx->cfg, &a, &err), RMQ_OK);
    rmq_authz_install(a);
    assert_ptr_equal(rmq_authz_installed(), a);
    rmq_authz_free(a);
    assert_null(rmq_authz_installed());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_match__allow_or_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_sources__no_match_alone_decides, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sources__in_order_disabled_skipped_mosquitto_denies_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new__bad_file_or_missing_path_is_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache__decisions_and_rule_named_within_and_after_ttl,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload__live_clients_see_new_rules_bad_file_keeps_old,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache__disabled_or_tiny_still_correct, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_install__global_handle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
