/*
 * test_common_time.c — the one clock and the one duration grammar
 * (src/common/clock.h, src/common/duration.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/duration.h"

static rmq_err parse(const char *s, enum rmq_duration_bare bare, uint64_t *ms)
{
    return rmq_duration_parse(s, strlen(s), bare, ms);
}

static void test_duration__units_and_sums(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {
        {"0", 0},
        {"500ms", 500},
        {"15s", 15000},
        {"15S", 15000},
        {"2m", 120000},
        {"1h30m", 5400000},
        {"1d", 86400000},
        {"1w2d3h4m5s", (9 * 86400ull + 3 * 3600 + 4 * 60 + 5) * 1000},
        {"1y", 365 * 86400000ull},
        {"1m1ms", 60001},
        {"0s", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t ms = 7;
        assert_int_equal(parse(ok[i].s, RMQ_DURATION_BARE_ZERO, &ms), RMQ_OK);
        assert_int_equal(ms, ok[i].ms);
    }
}

static void test_duration__bare_numbers_only_where_the_caller_says(void **state)
{
    (void)state;
    uint64_t ms = 7;
    assert_int_equal(parse("3600", RMQ_DURATION_BARE_ZERO, &ms), RMQ_ERR_INVALID);
    assert_int_equal(ms, 7);
    assert_int_equal(parse("3600", RMQ_DURATION_BARE_S, &ms), RMQ_OK);
    assert_int_equal(ms, 3600000);
    /* a unitless number after a part is never a bare number */
    assert_int_equal(parse("1h5", RMQ_DURATION_BARE_S, &ms), RMQ_ERR_INVALID);
}

static void test_duration__refuses_garbage_and_overflow(void **state)
{
    (void)state;
    const char *bad[] = {"",       "s",   "1x",  "-1s",  "+1s",
                         "1 s",    " 1s", "1s ", "1.5h", "1ss",
                         "1hh",    "h1",  "1h-", "ms",   "99999999999999999999s",
                         "300000y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms = 42;
        assert_int_equal(parse(bad[i], RMQ_DURATION_BARE_S, &ms), RMQ_ERR_INVALID);
        assert_int_equal(ms, 42); /* untouched on error */
    }
    uint64_t ms = 0;
    assert_int_equal(rmq_duration_parse(NULL, 0, RMQ_DURATION_BARE_S, &ms), RMQ_ERR_INVALID);
    /* the range is bounded, not by the text length: "15s" read as "1" is invalid */
    assert_int_equal(rmq_duration_parse("15s", 1, RMQ_DURATION_BARE_ZERO, &ms), RMQ_ERR_INVALID);
    assert_int_equal(rmq_duration_parse("15s", 2, RMQ_DURATION_BARE_S, &ms), RMQ_OK);
    assert_int_equal(ms, 15000);
}

static void test_clock__monotonic_never_goes_back_and_real_is_epoch(void **state)
{
    (void)state;
    uint64_t a = rmq_clock_mono_us();
    uint64_t b = rmq_clock_mono_us();
    assert_true(b >= a);
    assert_true(rmq_clock_mono_ms() >= a / 1000);
    int64_t real = rmq_clock_real_ms();
    int64_t t = (int64_t)time(NULL) * 1000;
    assert_true(real >= t - 2000 && real <= t + 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration__units_and_sums),
        cmocka_unit_test(test_duration__bare_numbers_only_where_the_caller_says),
        cmocka_unit_test(test_duration__refuses_garbage_and_overflow),
        cmocka_unit_test(test_clock__monotonic_never_goes_back_and_real_is_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
