/*
 * test_admin_metrics.c — the counters the admin API exports
 * (src/common/metrics.c) and the log line formats (src/common/log.c's
 * rmq_log_format_line): text in logfmt (values with spaces quoted), json with the message's
 * key=value fields, quoted values, bare words joined to the value before them, escaping, and a
 * valid object even when truncated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/metrics.h"

static void test_metrics__count_and_recent(void **state)
{
    (void)state;
    uint64_t a = rmq_metrics_get(RMQ_M_AUTH_FAILURE);
    uint64_t r = rmq_metrics_recent(RMQ_M_AUTH_FAILURE, 60);
    for (int i = 0; i < 3; i++) {
        rmq_metrics_inc(RMQ_M_AUTH_FAILURE);
    }
    assert_int_equal(rmq_metrics_get(RMQ_M_AUTH_FAILURE), a + 3);
    assert_int_equal(rmq_metrics_recent(RMQ_M_AUTH_FAILURE, 60), r + 3);
    assert_int_equal(rmq_metrics_recent(RMQ_M_ACL_DENIED, 60), 0); /* not kept per minute */
    rmq_metrics_inc(RMQ_M_ACL_DENIED);
    assert_int_equal(rmq_metrics_get(RMQ_M_ACL_DENIED), 1);
    rmq_metrics_inc(RMQ_M__COUNT); /* out of range: ignored */
    assert_int_equal(rmq_metrics_get(RMQ_M__COUNT), 0);
    assert_string_equal(rmq_metrics_name(RMQ_M_ACL_DENIED), "acl_denials");
}

static void test_metrics__alerts_by_code_and_direction(void **state)
{
    (void)state;
    rmq_metrics_tls_alert(1, 44);
    rmq_metrics_tls_alert(1, 44);
    rmq_metrics_tls_alert(0, 42);
    assert_int_equal(rmq_metrics_tls_alert_count(1, 44), 2);
    assert_int_equal(rmq_metrics_tls_alert_count(0, 44), 0);
    assert_int_equal(rmq_metrics_tls_alert_count(1, 42), 0);
    assert_int_equal(rmq_metrics_tls_alert_count(0, 42), 1);
}

static void fmt(enum rmq_log_format f, const char *msg, char *out, size_t n)
{
    rmq_log_format_line(f, "2026-01-01T00:00:00.000Z", "info", "mqtt", msg, out, n);
}

static void test_log__text_is_logfmt(void **state)
{
    (void)state;
    char out[512];
    /* a value with spaces is quoted, so a logfmt parser reads it whole */
    fmt(RMQ_LOG_TEXT, "connected client_id=a reason=client disconnect", out, sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.000Z info mqtt: connected client_id=a "
                             "reason=\"client disconnect\"");
    /* plain values and already quoted ones stay as they are; '=', '"' and '\' are quoted */
    fmt(RMQ_LOG_TEXT,
        "refresh OK url=http://x/a.crl issuer=\"CN=Test \\\"I\\\"\" q=a=b empty= p=C:\\x", out,
        sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.000Z info mqtt: refresh OK "
                             "url=http://x/a.crl issuer=\"CN=Test \\\"I\\\"\" q=\"a=b\" "
                             "empty=\"\" p=\"C:\\\\x\"");
    /* text after a closing quote is kept, the whole value quoted */
    fmt(RMQ_LOG_TEXT, "x d=\"CN=a b\"#01:k", out, sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.000Z info mqtt: x d=\"\\\"CN=a b\\\"#01:k\"");
    fmt(RMQ_LOG_JSON, "x d=\"CN=a b\"#01:k", out, sizeof out);
    assert_non_null(strstr(out, "\"d\":\"\\\"CN=a b\\\"#01:k\"}"));
    /* a value written quoted stays quoted even when plain */
    fmt(RMQ_LOG_TEXT, "x username=\"demo\" n=1", out, sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.000Z info mqtt: x username=\"demo\" n=1");
    /* no pairs: the message as is; a message that starts with a pair */
    fmt(RMQ_LOG_TEXT, "stopped  now", out, sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.000Z info mqtt: stopped  now");
    fmt(RMQ_LOG_TEXT, "k=v w", out, sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.000Z info mqtt: k=\"v w\"");
}

static void test_log__json_fields(void **state)
{
    (void)state;
    char out[1024];
    fmt(RMQ_LOG_JSON,
        "refresh OK url=http://x/a.crl entries=2 issuer=\"CN=Test \\\"I\\\"\" reason=client "
        "disconnect addr=1.2.3.4:5",
        out, sizeof out);
    assert_string_equal(out, "{\"time\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\","
                             "\"component\":\"mqtt\",\"msg\":\"refresh OK\",\"url\":\"http://x/"
                             "a.crl\",\"entries\":\"2\",\"issuer\":\"CN=Test \\\"I\\\"\","
                             "\"reason\":\"client disconnect\",\"addr\":\"1.2.3.4:5\"}");
    fmt(RMQ_LOG_JSON, "stopped", out, sizeof out);
    assert_string_equal(out, "{\"time\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\","
                             "\"component\":\"mqtt\",\"msg\":\"stopped\"}");
    fmt(RMQ_LOG_JSON, "ctl\x01 k=a\tb", out, sizeof out);
    assert_non_null(strstr(out, "\"msg\":\"ctl\\u0001\",\"k\":\"a\\u0009b\"}"));
}

static void test_log__json_truncated_is_still_an_object(void **state)
{
    (void)state;
    char out[160];
    char msg[600];
    memset(msg, 'x', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    memcpy(msg, "big v=", 6);
    fmt(RMQ_LOG_JSON, msg, out, sizeof out);
    assert_non_null(strstr(out, "\"msg\":\"(line too long)\"}"));
    assert_int_equal(out[0], '{');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics__count_and_recent),
        cmocka_unit_test(test_metrics__alerts_by_code_and_direction),
        cmocka_unit_test(test_log__text_is_logfmt),
        cmocka_unit_test(test_log__json_fields),
        cmocka_unit_test(test_log__json_truncated_is_still_an_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
