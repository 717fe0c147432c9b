/*
 * test_tls_sess.c — the server-side session cache (tls_sess.c) through the
 * callbacks OpenSSL would call: bounded by memory (a byte budget) with LRU eviction, lookup
 * refreshing recency, removal, replacement of an id, and (under ASan) that
 * every SSL_SESSION reference is released.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <openssl/ssl.h>

#include "tls/tls_int.h"

struct fixture {
    struct rmq_tls_listener l;
    struct tls_gen g;
    SSL_CTX *ctx;
    SSL *ssl;
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    f.l.name = "test";
    f.l.id = "ssl:test";
    f.g.l = &f.l;
    f.ctx = SSL_CTX_new(TLS_server_method());
    f.g.ctx = f.ctx;
    /* Room for exactly three sessions without a client certificate. */
    SSL_SESSION *one = SSL_SESSION_new();
    size_t cost = one != NULL ? tls_sess_cost(one) : 0;
    SSL_SESSION_free(one);
    f.g.cache = tls_sess_cache_new(&f.l, 3 * cost);
    if (f.ctx == NULL || f.g.cache == NULL || tls_sess_cache_attach(f.g.cache, f.ctx) != RMQ_OK) {
        return -1;
    }
    SSL_CTX_set_ex_data(f.ctx, tls_ctx_ex_index(), &f.g);
    f.ssl = SSL_new(f.ctx);
    *state = &f;
    return f.ssl != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    SSL_free(f->ssl);
    tls_sess_cache_free(f->g.cache);
    SSL_CTX_free(f->ctx);
    return 0;
}

static SSL_SESSION *mk(unsigned char tag)
{
    SSL_SESSION *s = SSL_SESSION_new();
    unsigned char id[32];
    memset(id, tag, sizeof id);
    assert_int_equal(SSL_SESSION_set1_id(s, id, sizeof id), 1);
    return s;
}

/* Calls the new-session callback as OpenSSL does (it keeps our reference on 1). */
static void add(struct fixture *f, unsigned char tag)
{
    SSL_SESSION *s = mk(tag);
    int (*new_cb)(SSL *, SSL_SESSION *) = SSL_CTX_sess_get_new_cb(f->ctx);
    if (new_cb(f->ssl, s) != 1) {
        SSL_SESSION_free(s);
    }
}

/* Looks up as OpenSSL does; true when found (the returned reference is dropped). */
static bool has(struct fixture *f, unsigned char tag)
{
    unsigned char id[32];
    memset(id, tag, sizeof id);
    int copy = 1;
    SSL_SESSION *(*get_cb)(SSL *, const unsigned char *, int, int *) =
        SSL_CTX_sess_get_get_cb(f->ctx);
    SSL_SESSION *s = get_cb(f->ssl, id, sizeof id, &copy);
    assert_int_equal(copy, 0); /* ownership of one reference goes to the caller */
    if (s == NULL) {
        return false;
    }
    SSL_SESSION_free(s);
    return true;
}

static void test_lru_eviction(void **state)
{
    struct fixture *f = *state;
    add(f, 1);
    add(f, 2);
    add(f, 3);
    assert_int_equal(tls_sess_cache_count(f->g.cache), 3);
    assert_true(has(f, 1)); /* 1 becomes the most recent */
    add(f, 4);              /* evicts 2, the least recent */
    assert_int_equal(tls_sess_cache_count(f->g.cache), 3);
    assert_false(has(f, 2));
    assert_true(has(f, 1));
    assert_true(has(f, 3));
    assert_true(has(f, 4));
    assert_false(has(f, 9));
}

static void test_budget_in_bytes(void **state)
{
    struct fixture *f = *state;
    SSL_SESSION *one = SSL_SESSION_new();
    size_t cost = tls_sess_cost(one);
    SSL_SESSION_free(one);
    assert_true(cost > 1000); /* the SSL_SESSION's own ~1 KB is charged */
    for (unsigned char t = 10; t < 30; t++) {
        add(f, t);
        assert_true(tls_sess_cache_bytes(f->g.cache) <= 3 * cost);
    }
    assert_int_equal(tls_sess_cache_count(f->g.cache), 3);
    assert_int_equal(tls_sess_cache_bytes(f->g.cache), 3 * cost);
    assert_true(has(f, 29));
    assert_false(has(f, 26));
}

static void test_remove_and_replace(void **state)
{
    struct fixture *f = *state;
    add(f, 5);
    add(f, 5); /* same id again: replaced, not duplicated */
    size_t n = tls_sess_cache_count(f->g.cache);
    assert_true(has(f, 5));
    SSL_SESSION *s = mk(5);
    size_t cost = tls_sess_cost(s);
    void (*remove_cb)(SSL_CTX *, SSL_SESSION *) = SSL_CTX_sess_get_remove_cb(f->ctx);
    remove_cb(f->ctx, s);
    SSL_SESSION_free(s);
    assert_false(has(f, 5));
    assert_int_equal(tls_sess_cache_count(f->g.cache), n - 1);
    assert_int_equal(tls_sess_cache_bytes(f->g.cache), (n - 1) * cost);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lru_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_in_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_and_replace, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
