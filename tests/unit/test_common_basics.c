/* Unit tests for src/common: error table, bounded reader, capped buffer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/reader.h"

static void test_err__every_code_has_name_category_message(void **state)
{
    (void)state;
    for (int e = 0; e < RMQ_ERR__COUNT; e++) {
        assert_non_null(rmq_err_name((rmq_err)e));
        assert_true(strncmp(rmq_err_name((rmq_err)e), "RMQ_", 4) == 0);
        assert_true(strlen(rmq_err_category((rmq_err)e)) > 0);
        assert_true(strlen(rmq_err_message((rmq_err)e)) > 0);
    }
    assert_string_equal(rmq_err_name(RMQ_ERR_NEED_MORE), "RMQ_ERR_NEED_MORE");
    assert_string_equal(rmq_err_name((rmq_err)9999), "RMQ_ERR_UNKNOWN");
}

static void test_reader__reads_within_bounds_and_refuses_past_end(void **state)
{
    (void)state;
    const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    struct rmq_reader r = rmq_reader_make(data, sizeof data);
    uint8_t b;
    uint16_t w;
    uint32_t d;
    assert_int_equal(rmq_reader_u8(&r, &b), RMQ_OK);
    assert_int_equal(b, 1);
    assert_int_equal(rmq_reader_u16(&r, &w), RMQ_OK);
    assert_int_equal(w, 0x0203);
    assert_int_equal(rmq_reader_u32(&r, &d), RMQ_OK);
    assert_int_equal(d, 0x04050607u);
    assert_int_equal(rmq_reader_left(&r), 0);
    /* A failed read changes nothing. */
    assert_int_equal(rmq_reader_u8(&r, &b), RMQ_ERR_NEED_MORE);
    assert_int_equal(r.off, sizeof data);
}

static void test_reader__huge_length_does_not_wrap(void **state)
{
    (void)state;
    const uint8_t data[4] = {0};
    struct rmq_reader r = rmq_reader_make(data, sizeof data);
    const uint8_t *p = NULL;
    assert_int_equal(rmq_reader_skip(&r, 2), RMQ_OK);
    assert_int_equal(rmq_reader_bytes(&r, SIZE_MAX, &p), RMQ_ERR_NEED_MORE);
    assert_int_equal(rmq_reader_bytes(&r, SIZE_MAX - 1, &p), RMQ_ERR_NEED_MORE);
    assert_null(p);
    assert_int_equal(r.off, 2);
}

static void test_reader__lines(void **state)
{
    (void)state;
    const char text[] = "a = 1\nb = 2";
    struct rmq_reader r = rmq_reader_make(text, sizeof text - 1);
    const uint8_t *line;
    size_t n;
    assert_int_equal(rmq_reader_line(&r, &line, &n), RMQ_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(line, "a = 1", 5);
    assert_int_equal(rmq_reader_line(&r, &line, &n), RMQ_OK);
    assert_int_equal(n, 5);
    assert_int_equal(rmq_reader_line(&r, &line, &n), RMQ_ERR_EOF);
}

static void test_buf__grows_up_to_cap_and_refuses_beyond(void **state)
{
    (void)state;
    struct rmq_buf b;
    rmq_buf_init(&b, 1000);
    uint8_t chunk[300];
    memset(chunk, 0xAB, sizeof chunk);
    assert_int_equal(rmq_buf_append(&b, chunk, 300), RMQ_OK);
    assert_int_equal(rmq_buf_append(&b, chunk, 300), RMQ_OK);
    assert_int_equal(rmq_buf_append(&b, chunk, 300), RMQ_OK);
    assert_int_equal(b.len, 900);
    /* On error nothing changed. */
    assert_int_equal(rmq_buf_append(&b, chunk, 300), RMQ_ERR_TOO_LARGE);
    assert_int_equal(b.len, 900);
    rmq_buf_consume(&b, 850);
    assert_int_equal(b.len, 50);
    assert_int_equal(b.data[0], 0xAB);
    assert_int_equal(rmq_buf_append(&b, chunk, 300), RMQ_OK);
    rmq_buf_release(&b);
    assert_null(b.data);
}

static void test_log__level_names_parse(void **state)
{
    (void)state;
    enum rmq_log_level l;
    assert_int_equal(rmq_log_level_parse("warning", &l), RMQ_OK);
    assert_int_equal(l, RMQ_LOG_WARNING);
    assert_int_equal(rmq_log_level_parse("debug", &l), RMQ_OK);
    assert_int_equal(l, RMQ_LOG_DEBUG);
    assert_int_equal(rmq_log_level_parse("loud", &l), RMQ_ERR_INVALID);
    assert_string_equal(rmq_log_level_name(RMQ_LOG_ERROR), "error");
}

#define RL_THREADS 4
#define RL_CALLS 2000
#define RL_PER_SEC 5

/* Every thread passes the same call site (one static rate limit). */
static void *rl_flood(void *arg)
{
    (void)arg;
    for (int i = 0; i < RL_CALLS; i++) {
        RMQ_LOG_RL(RL_PER_SEC, RMQ_LOG_WARNING, "test", "flood line");
    }
    return NULL;
}

static long mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

/* A call site's limit is shared by threads (TLS handshakes fail on several
 * workers at once): no data race (the ThreadSanitizer build runs this test),
 * and the limit holds across them. */
static void test_log__rate_limit_is_shared_by_threads(void **state)
{
    (void)state;
    char path[] = "/tmp/rmq-log-rl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(rmq_log_set_file(path), RMQ_OK);
    long t0 = mono_s();
    pthread_t th[RL_THREADS];
    for (int i = 0; i < RL_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, rl_flood, NULL), 0);
    }
    for (int i = 0; i < RL_THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    long seconds = mono_s() - t0 + 1;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    long lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines += strstr(line, "flood line") != NULL;
    }
    fclose(f);
    unlink(path);
    assert_true(lines >= RL_PER_SEC);
    /* per window: per_sec, plus one a racing reset may let through per thread */
    assert_true(lines <= seconds * (RL_PER_SEC + RL_THREADS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err__every_code_has_name_category_message),
        cmocka_unit_test(test_reader__reads_within_bounds_and_refuses_past_end),
        cmocka_unit_test(test_reader__huge_length_does_not_wrap),
        cmocka_unit_test(test_reader__lines),
        cmocka_unit_test(test_buf__grows_up_to_cap_and_refuses_beyond),
        cmocka_unit_test(test_log__level_names_parse),
        cmocka_unit_test(test_log__rate_limit_is_shared_by_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
