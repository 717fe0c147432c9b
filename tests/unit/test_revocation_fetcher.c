/*
 * test_revocation_fetcher.c — the fetcher against a real HTTP server on
 * loopback (test_revocation_crl_http.h): status handling, conditional GET,
 * timeouts, size caps, redirects, coalescing, the per-URL rate limit, POST,
 * timers, run_on, cancel and the backoff helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "revocation/fetcher.h"
#include "test_revocation_crl_http.h"

struct waitres {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    rmq_err err;
    long status;
    bool not_modified;
    char body[4096];
    size_t body_len;
    char etag[256];
    char error[512];
    bool on_thread;
    struct rmq_fetcher *f;
};

struct fx {
    struct th_server *srv;
    struct rmq_fetcher *f;
};

static void wr_init(struct waitres *w, struct rmq_fetcher *f)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->f = f;
}

static void on_done(const struct rmq_fetch_result *r, void *arg)
{
    struct waitres *w = arg;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    w->err = r->err;
    w->status = r->status;
    w->not_modified = r->not_modified;
    w->body_len = r->body_len < sizeof w->body ? r->body_len : sizeof w->body - 1;
    memcpy(w->body, r->body, w->body_len);
    w->body[w->body_len] = '\0';
    snprintf(w->etag, sizeof w->etag, "%s", r->etag ? r->etag : "");
    snprintf(w->error, sizeof w->error, "%s", r->error);
    w->on_thread = rmq_fetcher_on_thread(w->f);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until w->calls >= n or timeout_ms; returns calls. */
static int wr_wait(struct waitres *w, int n, int timeout_ms)
{
    uint64_t end = th_now_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&w->mu);
    while (w->calls < n && th_now_ms() < end) {
        pthread_mutex_unlock(&w->mu);
        usleep(2000);
        pthread_mutex_lock(&w->mu);
    }
    int c = w->calls;
    pthread_mutex_unlock(&w->mu);
    return c;
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    x->srv = th_start();
    if (!x->srv || rmq_fetcher_new(&x->f) != RMQ_OK) {
        return -1;
    }
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    rmq_fetcher_free(x->f);
    th_stop(x->srv);
    free(x);
    return 0;
}

static void get(struct fx *x, const char *path, struct rmq_fetch_req *req, struct waitres *w)
{
    char *url = th_url(x->srv, path);
    req->url = url;
    wr_init(w, x->f);
    assert_int_equal(rmq_fetcher_fetch(x->f, req, on_done, w), RMQ_OK);
    free(url);
}

static void test_fetch__200_returns_body_and_etag(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/a", 200, "hello", 5, 0, "\"v1\"", false);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET, .timeout_ms = 5000};
    struct waitres w;
    get(x, "/a", &req, &w);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_OK);
    assert_int_equal(w.status, 200);
    assert_false(w.not_modified);
    assert_string_equal(w.body, "hello");
    assert_string_equal(w.etag, "\"v1\"");
    assert_true(w.on_thread);
}

static void test_fetch__304_with_matching_etag_is_not_modified(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/a", 200, "hello", 5, 0, "\"v1\"", false);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET, .etag = "\"v1\""};
    struct waitres w;
    get(x, "/a", &req, &w);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_OK);
    assert_int_equal(w.status, 304);
    assert_true(w.not_modified);
    assert_int_equal(w.body_len, 0);
    /* A different etag gets the body. */
    struct rmq_fetch_req req2 = {.method = RMQ_FETCH_GET, .etag = "\"old\""};
    struct waitres w2;
    get(x, "/a", &req2, &w2);
    assert_int_equal(wr_wait(&w2, 1, 5000), 1);
    assert_int_equal(w2.status, 200);
    assert_false(w2.not_modified);
    assert_string_equal(w2.body, "hello");
}

static void test_fetch__404_and_500_fail_with_status(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/e500", 500, "oops", 4, 0, NULL, false);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET};
    struct waitres w, w2;
    get(x, "/missing", &req, &w);
    get(x, "/e500", &req, &w2);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(wr_wait(&w2, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_ERR_HTTP);
    assert_int_equal(w.status, 404);
    assert_non_null(strstr(w.error, "404"));
    assert_int_equal(w.body_len, 0);
    assert_int_equal(w2.err, RMQ_ERR_HTTP);
    assert_int_equal(w2.status, 500);
}

static void test_fetch__slow_server_times_out(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/slow", 200, "late", 4, 3000, NULL, false);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET, .timeout_ms = 300};
    struct waitres w;
    uint64_t t0 = th_now_ms();
    get(x, "/slow", &req, &w);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    uint64_t took = th_now_ms() - t0;
    assert_int_equal(w.err, RMQ_ERR_TIMEOUT);
    assert_true(took >= 250 && took < 2500);
}

static void test_fetch__connection_refused_fails(void **state)
{
    struct fx *x = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", th_closed_port());
    struct rmq_fetch_req req = {.url = url, .method = RMQ_FETCH_GET, .timeout_ms = 3000};
    struct waitres w;
    wr_init(&w, x->f);
    assert_int_equal(rmq_fetcher_fetch(x->f, &req, on_done, &w), RMQ_OK);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_ERR_HTTP);
    assert_int_equal(w.status, 0);
    assert_true(strlen(w.error) > 0);
}

static void test_fetch__body_over_max_size_is_refused(void **state)
{
    struct fx *x = *state;
    char big[5000];
    memset(big, 'x', sizeof big);
    th_set(x->srv, "/big", 200, big, sizeof big, 0, NULL, false);
    th_set(x->srv, "/bigchunked", 200, big, sizeof big, 0, NULL, true);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET, .max_size = 1000};
    struct waitres w, w2;
    get(x, "/big", &req, &w);         /* refused from Content-Length */
    get(x, "/bigchunked", &req, &w2); /* refused while streaming */
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(wr_wait(&w2, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_ERR_TOO_LARGE);
    assert_int_equal(w2.err, RMQ_ERR_TOO_LARGE);
    /* exactly at the cap is fine */
    struct rmq_fetch_req ok = {.method = RMQ_FETCH_GET, .max_size = sizeof big};
    struct waitres w3;
    get(x, "/bigchunked", &ok, &w3);
    assert_int_equal(wr_wait(&w3, 1, 5000), 1);
    assert_int_equal(w3.err, RMQ_OK);
    assert_int_equal(w3.body_len, sizeof w3.body - 1); /* truncated copy in the test */
}

static void test_fetch__redirects_are_bounded(void **state)
{
    struct fx *x = *state;
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET};
    struct waitres w, w2, w3;
    get(x, "/redir/3", &req, &w);  /* 3 hops: allowed by default */
    get(x, "/redir/4", &req, &w2); /* 4 hops: refused */
    struct rmq_fetch_req none = {.method = RMQ_FETCH_GET, .max_redirects = -1};
    get(x, "/redir/1", &none, &w3);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(wr_wait(&w2, 1, 5000), 1);
    assert_int_equal(wr_wait(&w3, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_OK);
    assert_string_equal(w.body, "done");
    assert_int_equal(w2.err, RMQ_ERR_HTTP);
    assert_int_equal(w3.err, RMQ_ERR_HTTP);
    assert_int_equal(w3.status, 302);
}

static void test_fetch__concurrent_requests_coalesce(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/c", 200, "shared", 6, 300, NULL, false);
    char *url = th_url(x->srv, "/c");
    struct waitres w;
    wr_init(&w, x->f);
    struct rmq_fetch_req req = {.url = url, .method = RMQ_FETCH_GET};
    for (int i = 0; i < 20; i++) {
        assert_int_equal(rmq_fetcher_fetch(x->f, &req, on_done, &w), RMQ_OK);
    }
    assert_int_equal(wr_wait(&w, 20, 5000), 20);
    assert_int_equal(th_hits(x->srv, "/c"), 1);
    assert_int_equal(rmq_fetcher_transfers_started(x->f), 1);
    assert_string_equal(w.body, "shared");
    free(url);
}

static void test_fetch__url_not_fetched_twice_within_a_second(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/r", 200, "r", 1, 0, NULL, false);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET};
    struct waitres w, w2;
    get(x, "/r", &req, &w);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    get(x, "/r", &req, &w2); /* right after the first finished */
    assert_int_equal(wr_wait(&w2, 1, 5000), 1);
    assert_int_equal(th_hits(x->srv, "/r"), 2);
    uint64_t gap = th_hit_time(x->srv, "/r", 1) - th_hit_time(x->srv, "/r", 0);
    assert_true(gap >= 950);
}

static void test_fetch__post_sends_body_and_content_type(void **state)
{
    struct fx *x = *state;
    struct rmq_fetch_req req = {.method = RMQ_FETCH_POST,
                                .body = (const uint8_t *)"\x30\x03\x02\x01\x00",
                                .body_len = 5,
                                .content_type = "application/ocsp-request"};
    struct waitres w;
    get(x, "/echo", &req, &w);
    assert_int_equal(wr_wait(&w, 1, 5000), 1);
    assert_int_equal(w.err, RMQ_OK);
    assert_int_equal(w.body_len, strlen("application/ocsp-request|") + 5);
    assert_memory_equal(w.body, "application/ocsp-request|\x30\x03\x02\x01\x00", w.body_len);
}

static void test_fetch__rejects_bad_requests(void **state)
{
    struct fx *x = *state;
    struct waitres w;
    wr_init(&w, x->f);
    struct rmq_fetch_req ftp = {.url = "ftp://127.0.0.1/x"};
    struct rmq_fetch_req file = {.url = "file:///etc/passwd"};
    struct rmq_fetch_req inj = {.url = "http://127.0.0.1/x", .etag = "a\r\nX-Evil: 1"};
    assert_int_equal(rmq_fetcher_fetch(x->f, &ftp, on_done, &w), RMQ_ERR_INVALID);
    assert_int_equal(rmq_fetcher_fetch(x->f, &file, on_done, &w), RMQ_ERR_INVALID);
    assert_int_equal(rmq_fetcher_fetch(x->f, &inj, on_done, &w), RMQ_ERR_INVALID);
    assert_int_equal(w.calls, 0);
}

struct tick {
    atomic_int n;
    uint64_t at;
    bool on_thread;
    struct rmq_fetcher *f;
};

static void on_tick(void *arg)
{
    struct tick *t = arg;
    t->at = th_now_ms();
    t->on_thread = rmq_fetcher_on_thread(t->f);
    atomic_fetch_add(&t->n, 1);
}

static void test_timer_run_on_and_cancel(void **state)
{
    struct fx *x = *state;
    struct tick a = {.f = x->f}, b = {.f = x->f}, c = {.f = x->f};
    uint64_t t0 = th_now_ms();
    assert_int_equal(rmq_fetcher_timer(x->f, 200, on_tick, &a), RMQ_OK);
    assert_int_equal(rmq_fetcher_run_on(x->f, on_tick, &b), RMQ_OK);
    assert_int_equal(rmq_fetcher_timer(x->f, 300, on_tick, &c), RMQ_OK);
    rmq_fetcher_cancel(x->f, &c);
    uint64_t end = t0 + 3000;
    while (atomic_load(&a.n) == 0 && th_now_ms() < end) {
        usleep(2000);
    }
    usleep(300 * 1000);
    assert_int_equal(atomic_load(&a.n), 1);
    assert_int_equal(atomic_load(&b.n), 1);
    assert_int_equal(atomic_load(&c.n), 0);
    assert_true(a.at - t0 >= 190);
    assert_true(a.on_thread && b.on_thread);
    assert_false(rmq_fetcher_on_thread(x->f));
}

static void test_cancel_drops_fetch_callback(void **state)
{
    struct fx *x = *state;
    th_set(x->srv, "/slowc", 200, "x", 1, 400, NULL, false);
    struct rmq_fetch_req req = {.method = RMQ_FETCH_GET};
    struct waitres w;
    get(x, "/slowc", &req, &w);
    usleep(100 * 1000);
    rmq_fetcher_cancel(x->f, &w);
    usleep(600 * 1000);
    assert_int_equal(w.calls, 0);
}

static void test_backoff__doubles_with_jitter_and_caps(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        uint64_t b = rmq_backoff_next(0, 60000);
        assert_true(b >= 1000 && b <= 1200);
        b = rmq_backoff_next(4000, 60000);
        assert_true(b >= 6400 && b <= 9600);
        b = rmq_backoff_next(50000, 60000);
        assert_true(b >= 48000 && b <= 60000);
        b = rmq_backoff_next(5000, 500); /* cap below 1 s counts as 1 s */
        assert_int_equal(b, 1000);
    }
}

static void test_free_with_pending_work_is_clean(void **state)
{
    (void)state;
    struct th_server *srv = th_start();
    struct rmq_fetcher *f;
    assert_int_equal(rmq_fetcher_new(&f), RMQ_OK);
    th_set(srv, "/hang", 200, "x", 1, 2000, NULL, false);
    char *url = th_url(srv, "/hang");
    struct rmq_fetch_req req = {.url = url};
    struct waitres w;
    wr_init(&w, f);
    struct tick t = {.f = f};
    assert_int_equal(rmq_fetcher_fetch(f, &req, on_done, &w), RMQ_OK);
    assert_int_equal(rmq_fetcher_timer(f, 60000, on_tick, &t), RMQ_OK);
    usleep(100 * 1000);
    uint64_t t0 = th_now_ms();
    rmq_fetcher_free(f);
    assert_true(th_now_ms() - t0 < 1000);
    assert_int_equal(w.calls, 0);
    free(url);
    th_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fetch__200_returns_body_and_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__304_with_matching_etag_is_not_modified, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch__404_and_500_fail_with_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__slow_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__connection_refused_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__body_over_max_size_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__redirects_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__concurrent_requests_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch__url_not_fetched_twice_within_a_second, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch__post_sends_body_and_content_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch__rejects_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_run_on_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_drops_fetch_callback, setup, teardown),
        cmocka_unit_test(test_backoff__doubles_with_jitter_and_caps),
        cmocka_unit_test(test_free_with_pending_work_is_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
