/*
 * Unit tests for src/net/ratelimit.c: the token buckets behind the listener
 * rate limits (max_conn_rate, messages_rate, bytes_rate), driven with an
 * explicit clock, and the EMQX rate grammar of the config type they read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/schema.h"
#include "net/net_int.h"

#define PER_S(n) ((uint64_t)(n)*1000) /* rates are stored per 1000 s */

static void test_bucket__unlimited_never_waits(void **state)
{
    (void)state;
    struct rmq_net_bucket b;
    rmq_net_bucket_init(&b, UINT64_MAX, 1, 0);
    rmq_net_bucket_spend(&b, 1000000);
    assert_int_equal(rmq_net_bucket_wait_ms(&b, 0), 0);
    assert_true(rmq_net_bucket_available(&b, 0) == UINT64_MAX);
    assert_false(rmq_net_bucket_limited(&b));
}

static void test_bucket__null_is_no_limit(void **state)
{
    (void)state; /* a connection whose listener limits no rate has no buckets */
    rmq_net_bucket_spend(NULL, 1000000);
    assert_int_equal(rmq_net_bucket_wait_ms(NULL, 0), 0);
    assert_true(rmq_net_bucket_available(NULL, 0) == UINT64_MAX);
    assert_false(rmq_net_bucket_limited(NULL));
}

static void test_bucket__one_second_burst_then_the_rate(void **state)
{
    (void)state;
    struct rmq_net_bucket b;
    rmq_net_bucket_init(&b, PER_S(20), 1, 1000);
    assert_int_equal(rmq_net_bucket_available(&b, 1000), 20); /* one second's worth */
    rmq_net_bucket_spend(&b, 20);
    assert_int_equal(rmq_net_bucket_available(&b, 1000), 0);
    assert_int_equal(rmq_net_bucket_wait_ms(&b, 1000), 50); /* 1 unit at 20/s */
    assert_int_equal(rmq_net_bucket_available(&b, 1100), 2);
    /* Never more than one second's worth, however long it was idle. */
    assert_int_equal(rmq_net_bucket_available(&b, 100000), 20);
}

static void test_bucket__debt_is_paid_before_the_next_unit(void **state)
{
    (void)state;
    struct rmq_net_bucket b;
    rmq_net_bucket_init(&b, PER_S(10), 1, 0);
    rmq_net_bucket_spend(&b, 30); /* 10 available, 20 owed */
    assert_int_equal(rmq_net_bucket_wait_ms(&b, 0), 2100);
    assert_int_equal(rmq_net_bucket_available(&b, 2000), 0);
    assert_int_equal(rmq_net_bucket_available(&b, 2100), 1);
}

static void test_bucket__min_burst_lets_one_read_through(void **state)
{
    (void)state;
    struct rmq_net_bucket b;
    rmq_net_bucket_init(&b, PER_S(100), 16384, 0); /* bytes_rate 100/s, 16 KB reads */
    assert_int_equal(rmq_net_bucket_available(&b, 0), 16384);
}

static void test_bucket__clock_going_back_adds_nothing(void **state)
{
    (void)state;
    struct rmq_net_bucket b;
    rmq_net_bucket_init(&b, PER_S(10), 1, 5000);
    rmq_net_bucket_spend(&b, 10);
    assert_int_equal(rmq_net_bucket_available(&b, 4000), 0);
}

static void test_rate__emqx_grammar(void **state)
{
    (void)state;
    uint64_t r = 0;
    assert_true(rmq_cfg__parse_rate("1000/s", 6, &r));
    assert_true(r == PER_S(1000));
    assert_true(rmq_cfg__parse_rate("10MB/s", 6, &r));
    assert_true(r == PER_S(10u << 20));
    assert_true(rmq_cfg__parse_rate("100/10s", 7, &r));
    assert_true(r == PER_S(10));
    assert_true(rmq_cfg__parse_rate("60/m", 4, &r));
    assert_true(r == PER_S(1));
    assert_false(rmq_cfg__parse_rate("1000", 4, &r));
    assert_false(rmq_cfg__parse_rate("/s", 2, &r));
    assert_false(rmq_cfg__parse_rate("10/", 3, &r));
    assert_false(rmq_cfg__parse_rate("10/0s", 5, &r));
    assert_false(rmq_cfg__parse_rate("1/d", 3, &r)); /* below 1 per 1000 s */
    assert_false(rmq_cfg__parse_rate("ten/s", 5, &r));
    char out[32];
    rmq_cfg_format_rate(PER_S(1000), out, sizeof out);
    assert_string_equal(out, "1000/s");
    rmq_cfg_format_rate(UINT64_MAX, out, sizeof out);
    assert_string_equal(out, "infinity");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket__unlimited_never_waits),
        cmocka_unit_test(test_bucket__null_is_no_limit),
        cmocka_unit_test(test_bucket__one_second_burst_then_the_rate),
        cmocka_unit_test(test_bucket__debt_is_paid_before_the_next_unit),
        cmocka_unit_test(test_bucket__min_burst_lets_one_read_through),
        cmocka_unit_test(test_bucket__clock_going_back_adds_nothing),
        cmocka_unit_test(test_rate__emqx_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
