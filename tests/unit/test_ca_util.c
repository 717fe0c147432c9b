/* test_ca_util.c — the pure parts of revmq-ca: durations, URL templates,
 * CRL reason names, serials, names, HTTP routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ca/ca.h"

static void test_duration__accepts_units_and_combinations(void **state)
{
    int64_t s = 0;
    assert_int_equal(rmq_ca_duration_parse("1y350d", &s), RMQ_OK);
    assert_int_equal(s, (365 + 350) * 86400LL);
    assert_int_equal(rmq_ca_duration_parse("30d", &s), RMQ_OK);
    assert_int_equal(s, 30 * 86400LL);
    assert_int_equal(rmq_ca_duration_parse("12h", &s), RMQ_OK);
    assert_int_equal(s, 12 * 3600LL);
    assert_int_equal(rmq_ca_duration_parse("1w2d3h4m5s", &s), RMQ_OK);
    assert_int_equal(s, 9 * 86400LL + 3 * 3600 + 4 * 60 + 5);
    assert_int_equal(rmq_ca_duration_parse("3600", &s), RMQ_OK);
    assert_int_equal(s, 3600);
    assert_int_equal(rmq_ca_duration_parse("1s", &s), RMQ_OK);
    assert_int_equal(s, 1);
}

static void test_duration__rejects_garbage_zero_and_overflow(void **state)
{
    int64_t s = 42;
    const char *bad[] = {"",     "d",  "1x",   "-1d", "1d5", "1 d",
                         "0",    "0d", "1.5h", "1dd", " 1d", "99999999999999999999d",
                         "1y-1d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(rmq_ca_duration_parse(bad[i], &s), RMQ_OK);
    }
    assert_int_equal(s, 42); /* untouched on error */
    assert_int_not_equal(rmq_ca_duration_parse(NULL, &s), RMQ_OK);
}

static void test_time__signed_relative_and_absolute(void **state)
{
    int64_t t = 0;
    assert_int_equal(rmq_ca_time_parse("-1d", 1000000, &t), RMQ_OK);
    assert_int_equal(t, 1000000 - 86400);
    assert_int_equal(rmq_ca_time_parse("+2h", 1000000, &t), RMQ_OK);
    assert_int_equal(t, 1000000 + 7200);
    assert_int_equal(rmq_ca_time_parse("30d", 0, &t), RMQ_OK);
    assert_int_equal(t, 30 * 86400);
    assert_int_equal(rmq_ca_time_parse("0", 5, &t), RMQ_OK);
    assert_int_equal(t, 5);
    assert_int_equal(rmq_ca_time_parse("@1700000000", 5, &t), RMQ_OK);
    assert_int_equal(t, 1700000000);
    assert_int_not_equal(rmq_ca_time_parse("@", 5, &t), RMQ_OK);
    assert_int_not_equal(rmq_ca_time_parse("@-1", 5, &t), RMQ_OK);
    assert_int_not_equal(rmq_ca_time_parse("@12x", 5, &t), RMQ_OK);
    assert_int_not_equal(rmq_ca_time_parse("--1d", 5, &t), RMQ_OK);
}

static const struct rmq_ca_tvars tv = {"acme", "5a3e0000-0000-4000-8000-0000000000ab", "mqtt-ca",
                                       3};

static void test_template__expands_all_variables(void **state)
{
    char out[256];
    assert_int_equal(rmq_ca_template_expand("http://api.internal:4664/crl-pem/${SYS_TENANT_NAME}/"
                                            "${SYS_CA_NAME}/${SYS_CA_VERSION}",
                                            &tv, out, sizeof(out)),
                     RMQ_OK);
    assert_string_equal(out, "http://api.internal:4664/crl-pem/acme/mqtt-ca/3");
    assert_int_equal(rmq_ca_template_expand("http://h/ocsp/${SYS_TENANT_UUID}/${SYS_CA_NAME}", &tv,
                                            out, sizeof(out)),
                     RMQ_OK);
    assert_string_equal(out, "http://h/ocsp/5a3e0000-0000-4000-8000-0000000000ab/mqtt-ca");
    assert_int_equal(rmq_ca_template_expand("no vars $ here {x}", &tv, out, sizeof(out)), RMQ_OK);
    assert_string_equal(out, "no vars $ here {x}");
    assert_int_equal(rmq_ca_template_expand("", &tv, out, sizeof(out)), RMQ_OK);
    assert_string_equal(out, "");
}

static void test_template__rejects_unknown_unterminated_and_overflow(void **state)
{
    char out[16];
    assert_int_equal(rmq_ca_template_expand("${SYS_NOPE}", &tv, out, sizeof(out)), RMQ_ERR_INVALID);
    assert_int_equal(rmq_ca_template_expand("${SYS_CA_NAME", &tv, out, sizeof(out)),
                     RMQ_ERR_INVALID);
    assert_int_equal(rmq_ca_template_expand("${sys_ca_name}", &tv, out, sizeof(out)),
                     RMQ_ERR_INVALID);
    assert_int_equal(rmq_ca_template_expand("0123456789abcdef", &tv, out, sizeof(out)),
                     RMQ_ERR_TOO_LARGE);
    assert_int_equal(rmq_ca_template_expand("${SYS_TENANT_UUID}", &tv, out, sizeof(out)),
                     RMQ_ERR_TOO_LARGE);
    assert_int_equal(rmq_ca_template_expand("x", &tv, out, 0), RMQ_ERR_TOO_LARGE);
}

static void test_template_check__wants_http_url_without_commas(void **state)
{
    assert_int_equal(rmq_ca_template_check("http://h:1/crl/${SYS_CA_NAME}"), RMQ_OK);
    assert_int_equal(rmq_ca_template_check("https://h/x"), RMQ_OK);
    assert_int_not_equal(rmq_ca_template_check("ftp://h/x"), RMQ_OK);
    assert_int_not_equal(rmq_ca_template_check("http://h/a,b"), RMQ_OK);
    assert_int_not_equal(rmq_ca_template_check("http://h/a b"), RMQ_OK);
    assert_int_not_equal(rmq_ca_template_check("http://h/${X}"), RMQ_OK);
}

static void test_reason__all_rfc5280_names_roundtrip(void **state)
{
    const char *names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
    for (int i = 0; i < 11; i++) {
        int code = -1;
        if (names[i] == NULL) {
            assert_string_equal(rmq_ca_reason_name(i), "?");
            continue;
        }
        assert_int_equal(rmq_ca_reason_parse(names[i], &code), RMQ_OK);
        assert_int_equal(code, i);
        assert_string_equal(rmq_ca_reason_name(i), names[i]);
    }
    int code = 0;
    assert_int_equal(rmq_ca_reason_parse("KEYCOMPROMISE", &code), RMQ_OK);
    assert_int_equal(code, 1);
    assert_int_not_equal(rmq_ca_reason_parse("key-compromise", &code), RMQ_OK);
    assert_int_not_equal(rmq_ca_reason_parse("", &code), RMQ_OK);
    assert_string_equal(rmq_ca_reason_name(-1), "?");
    assert_string_equal(rmq_ca_reason_name(11), "?");
}

static void test_serial__normalizes_forms(void **state)
{
    char out[84];
    assert_int_equal(rmq_ca_serial_normalize("0x00ab:cd:EF", out, sizeof(out)), RMQ_OK);
    assert_string_equal(out, "ABCDEF");
    assert_int_equal(rmq_ca_serial_normalize("000", out, sizeof(out)), RMQ_OK);
    assert_string_equal(out, "0");
    assert_int_equal(rmq_ca_serial_normalize("5B9A781D720FA2D1B312E3F78075D07A", out, sizeof(out)),
                     RMQ_OK);
    assert_string_equal(out, "5B9A781D720FA2D1B312E3F78075D07A");
    assert_int_not_equal(rmq_ca_serial_normalize("", out, sizeof(out)), RMQ_OK);
    assert_int_not_equal(rmq_ca_serial_normalize("0x", out, sizeof(out)), RMQ_OK);
    assert_int_not_equal(rmq_ca_serial_normalize("12g4", out, sizeof(out)), RMQ_OK);
    assert_int_not_equal(rmq_ca_serial_normalize("-12", out, sizeof(out)), RMQ_OK);
    char small[4];
    assert_int_not_equal(rmq_ca_serial_normalize("ABCDEF", small, sizeof(small)), RMQ_OK);
}

static void test_name_valid(void **state)
{
    assert_true(rmq_ca_name_valid("mqtt-ca"));
    assert_true(rmq_ca_name_valid("a.b_c-1"));
    assert_false(rmq_ca_name_valid(""));
    assert_false(rmq_ca_name_valid(".hidden"));
    assert_false(rmq_ca_name_valid("a/b"));
    assert_false(rmq_ca_name_valid("a b"));
    assert_false(
        rmq_ca_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

static rmq_err route(const char *s, struct rmq_ca_route *r)
{
    return rmq_ca_route_parse(s, strlen(s), r);
}

static void test_route__crl_and_crl_pem(void **state)
{
    struct rmq_ca_route r;
    assert_int_equal(route("/crl/acme/mqtt-ca/1", &r), RMQ_OK);
    assert_int_equal(r.kind, RMQ_CA_ROUTE_CRL_DER);
    assert_string_equal(r.tenant, "acme");
    assert_string_equal(r.ca, "mqtt-ca");
    assert_int_equal(r.version, 1);
    assert_int_equal(route("/crl-pem/5a3e-ab12/mqtt%2Dca/12?x=1", &r), RMQ_OK);
    assert_int_equal(r.kind, RMQ_CA_ROUTE_CRL_PEM);
    assert_string_equal(r.tenant, "5a3e-ab12");
    assert_string_equal(r.ca, "mqtt-ca");
    assert_int_equal(r.version, 12);
}

static void test_route__ocsp_post_and_get(void **state)
{
    struct rmq_ca_route r;
    assert_int_equal(route("/ocsp/uuid/mqtt-ca", &r), RMQ_OK);
    assert_int_equal(r.kind, RMQ_CA_ROUTE_OCSP);
    assert_string_equal(r.tenant, "uuid");
    assert_string_equal(r.ca, "mqtt-ca");
    assert_int_equal(route("/ocsp/uuid/mqtt-ca/", &r), RMQ_OK);
    assert_int_equal(r.kind, RMQ_CA_ROUTE_OCSP);
    assert_int_equal(route("/ocsp/uuid/mqtt-ca/MEIw%2BQ%3D%3D", &r), RMQ_OK);
    assert_int_equal(r.kind, RMQ_CA_ROUTE_OCSP_GET);
    assert_string_equal(r.b64, "MEIw+Q==");
    /* unencoded base64 may contain '/' */
    assert_int_equal(route("/ocsp/uuid/mqtt-ca/ab/cd+ef==", &r), RMQ_OK);
    assert_int_equal(r.kind, RMQ_CA_ROUTE_OCSP_GET);
    assert_string_equal(r.b64, "ab/cd+ef==");
}

static void test_route__rejects_unknown_and_malformed(void **state)
{
    struct rmq_ca_route r;
    const char *bad[] = {"",
                         "crl/a/b/1",
                         "/",
                         "/crl",
                         "/crl/a/b",
                         "/crl/a/b/",
                         "/crl/a/b/0",
                         "/crl/a/b/-1",
                         "/crl/a/b/1x",
                         "/crl/a/b/1/",
                         "/crl/a/b/1/extra",
                         "/crl//b/1",
                         "/crl/a%00/b/1",
                         "/crl/a%zz/b/1",
                         "/crl/a%4/b/1",
                         "/crl/a/b/1234567890",
                         "/ocsp/a",
                         "/ocsp//b",
                         "/ocsp/a/b/%00",
                         "/CRL/a/b/1",
                         "/crls/a/b/1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (route(bad[i], &r) == RMQ_OK) {
            fail_msg("routed: %s", bad[i]);
        }
    }
}

static void test_route__overlong_segments_are_too_large(void **state)
{
    struct rmq_ca_route r;
    char buf[RMQ_CA_OCSP_GET_MAX + 64];
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "/crl/", 5);
    buf[sizeof(buf) - 1] = '\0';
    assert_int_equal(route(buf, &r), RMQ_ERR_TOO_LARGE);
    memcpy(buf, "/ocsp/t/c/", 10);
    assert_int_equal(route(buf, &r), RMQ_ERR_TOO_LARGE);
}

static void test_route__every_prefix_of_a_valid_path_is_handled(void **state)
{
    const char *p = "/ocsp/5a3e/mqtt-ca/MEIw%2BQ%3D%3D";
    struct rmq_ca_route r;
    for (size_t n = 0; n <= strlen(p); n++) {
        char *copy = malloc(n + 1); /* exact-size copy: ASan catches over-reads */
        assert_non_null(copy);
        memcpy(copy, p, n);
        copy[n] = '\0';
        rmq_err e = rmq_ca_route_parse(copy, n, &r);
        /* only the complete path routes; every proper prefix is refused or a shorter route */
        if (n == strlen(p)) {
            assert_int_equal(e, RMQ_OK);
        } else if (e == RMQ_OK) {
            assert_true(r.kind == RMQ_CA_ROUTE_OCSP || r.kind == RMQ_CA_ROUTE_OCSP_GET);
        }
        free(copy);
    }
}

static void test_now__env_override(void **state)
{
    setenv("REVMQ_CA_NOW", "1234567", 1);
    assert_int_equal(rmq_ca_now(), 1234567);
    setenv("REVMQ_CA_NOW", "junk", 1);
    assert_true(rmq_ca_now() > 1600000000);
    unsetenv("REVMQ_CA_NOW");
    assert_true(rmq_ca_now() > 1600000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration__accepts_units_and_combinations),
        cmocka_unit_test(test_duration__rejects_garbage_zero_and_overflow),
        cmocka_unit_test(test_time__signed_relative_and_absolute),
        cmocka_unit_test(test_template__expands_all_variables),
        cmocka_unit_test(test_template__rejects_unknown_unterminated_and_overflow),
        cmocka_unit_test(test_template_check__wants_http_url_without_commas),
        cmocka_unit_test(test_reason__all_rfc5280_names_roundtrip),
        cmocka_unit_test(test_serial__normalizes_forms),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_route__crl_and_crl_pem),
        cmocka_unit_test(test_route__ocsp_post_and_get),
        cmocka_unit_test(test_route__rejects_unknown_and_malformed),
        cmocka_unit_test(test_route__overlong_segments_are_too_large),
        cmocka_unit_test(test_route__every_prefix_of_a_valid_path_is_handled),
        cmocka_unit_test(test_now__env_override),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
