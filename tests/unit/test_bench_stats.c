/* Unit tests for revmq-bench's small pure parts: latency percentiles, the
 * duration and address-range parsers, error counting by kind, TLS alert
 * names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/report.h"

static void test_hist__empty_is_zero(void **state)
{
    (void)state;
    struct rmq_bench_hist h = {0};
    assert_int_equal(rmq_bench_hist_pct(&h, 50), 0);
    assert_int_equal(rmq_bench_hist_pct(&h, 99), 0);
    rmq_bench_hist_free(&h);
}

static void test_hist__percentiles_of_1_to_1000(void **state)
{
    (void)state;
    struct rmq_bench_hist h = {0};
    for (uint64_t v = 1000; v >= 1; v--) { /* reverse order: the percentile sorts */
        rmq_bench_hist_add(&h, v);
    }
    assert_int_equal(h.n, 1000);
    assert_int_equal(h.max, 1000);
    assert_int_equal(rmq_bench_hist_pct(&h, 0), 1);
    assert_int_equal(rmq_bench_hist_pct(&h, 50), 501); /* nearest rank of 499.5 */
    assert_int_equal(rmq_bench_hist_pct(&h, 90), 900);
    assert_int_equal(rmq_bench_hist_pct(&h, 99), 990);
    assert_int_equal(rmq_bench_hist_pct(&h, 100), 1000);
    rmq_bench_hist_free(&h);
    assert_null(h.v);
    assert_int_equal(h.n, 0);
}

static void test_hist__grows_past_first_allocation_and_saturates(void **state)
{
    (void)state;
    struct rmq_bench_hist h = {0};
    for (int i = 0; i < 10000; i++) {
        rmq_bench_hist_add(&h, 7);
    }
    rmq_bench_hist_add(&h, (uint64_t)UINT32_MAX + 5); /* stored saturated, max exact */
    assert_int_equal(h.n, 10001);
    assert_true(h.max == (uint64_t)UINT32_MAX + 5);
    assert_int_equal(rmq_bench_hist_pct(&h, 50), 7);
    assert_int_equal(rmq_bench_hist_pct(&h, 100), UINT32_MAX);
    rmq_bench_hist_free(&h);
}

static void test_parse_duration__units(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(rmq_bench_parse_duration("10", &ms), RMQ_OK);
    assert_int_equal(ms, 10000);
    assert_int_equal(rmq_bench_parse_duration("2500ms", &ms), RMQ_OK);
    assert_int_equal(ms, 2500);
    assert_int_equal(rmq_bench_parse_duration("1h30m", &ms), RMQ_OK);
    assert_int_equal(ms, 5400000);
    assert_int_equal(rmq_bench_parse_duration("250ms", &ms), RMQ_OK);
    assert_int_equal(ms, 250);
    assert_int_equal(rmq_bench_parse_duration("2m", &ms), RMQ_OK);
    assert_int_equal(ms, 120000);
    assert_int_equal(rmq_bench_parse_duration("1h", &ms), RMQ_OK);
    assert_int_equal(ms, 3600000);
    assert_int_equal(rmq_bench_parse_duration("7d", &ms), RMQ_OK);
    assert_int_equal(ms, 7ull * 86400000);
}

static void test_parse_duration__rejects_garbage_and_leaves_output(void **state)
{
    (void)state;
    const char *bad[] = {"", "s", "abc", "10x", "10 s", "-1", "5sec", "2.5s", "1.5", "1h5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms = 42;
        assert_int_equal(rmq_bench_parse_duration(bad[i], &ms), RMQ_ERR_INVALID);
        assert_int_equal(ms, 42);
    }
}

static void test_parse_ip_range__single_and_range(void **state)
{
    (void)state;
    uint32_t a = 0, b = 0;
    assert_int_equal(rmq_bench_parse_ip_range("127.0.0.1", &a, &b), RMQ_OK);
    assert_int_equal(a, 0x7f000001);
    assert_int_equal(b, 0x7f000001);
    assert_int_equal(rmq_bench_parse_ip_range("127.0.0.1-127.0.1.4", &a, &b), RMQ_OK);
    assert_int_equal(a, 0x7f000001);
    assert_int_equal(b, 0x7f000104);
}

static void test_parse_ip_range__rejects_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "-",
        "127.0.0.1-",
        "-127.0.0.1",
        "127.0.0.9-127.0.0.1", /* reversed */
        "127.0.0.256",
        "localhost",
        "::1",
        "127.0.0.1-127.0.0.2-127.0.0.3",
        "127.0.0.1-127.0.0.1111111111111111111111111111111111111111111111111111111111111"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t a = 0, b = 0;
        assert_int_equal(rmq_bench_parse_ip_range(bad[i], &a, &b), RMQ_ERR_INVALID);
    }
}

static void test_errors__counted_by_kind_in_first_seen_order(void **state)
{
    (void)state;
    struct bench_errors e = {0};
    bench_errors_add(&e, "tls:certificate revoked");
    bench_errors_add(&e, "refused");
    bench_errors_add(&e, "tls:certificate revoked");
    bench_errors_add(&e, "tls:certificate revoked");
    assert_int_equal(e.n, 2);
    assert_string_equal(e.kind[0], "tls:certificate revoked");
    assert_int_equal(e.count[0], 3);
    assert_string_equal(e.kind[1], "refused");
    assert_int_equal(e.count[1], 1);
    bench_errors_free(&e);
    assert_int_equal(e.n, 0);
    bench_errors_free(&e); /* twice is harmless */
}

static void test_alert_names__revoked_and_tls13_codes(void **state)
{
    (void)state;
    assert_string_equal(bench_alert_name(44), "certificate revoked");
    assert_string_equal(bench_alert_name(42), "bad certificate");
    assert_string_equal(bench_alert_name(48), "unknown CA");
    assert_string_equal(bench_alert_name(116), "certificate required");
    assert_null(bench_alert_name(255));
}

static void test_errno_kind__names_the_errno(void **state)
{
    (void)state;
    assert_string_equal(bench_errno_kind("local", 99), "local:EADDRNOTAVAIL");
    assert_string_equal(bench_errno_kind("socket", 104), "socket:ECONNRESET");
    assert_string_equal(bench_errno_kind("socket", 0), "socket:unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist__empty_is_zero),
        cmocka_unit_test(test_hist__percentiles_of_1_to_1000),
        cmocka_unit_test(test_hist__grows_past_first_allocation_and_saturates),
        cmocka_unit_test(test_parse_duration__units),
        cmocka_unit_test(test_parse_duration__rejects_garbage_and_leaves_output),
        cmocka_unit_test(test_parse_ip_range__single_and_range),
        cmocka_unit_test(test_parse_ip_range__rejects_bad_input),
        cmocka_unit_test(test_errors__counted_by_kind_in_first_seen_order),
        cmocka_unit_test(test_alert_names__revoked_and_tls13_codes),
        cmocka_unit_test(test_errno_kind__names_the_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
