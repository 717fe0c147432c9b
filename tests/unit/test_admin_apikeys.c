/*
 * test_admin_apikeys.c — API keys (src/admin/apikeys.c): the bootstrap file
 * format with its errors by line, and the basic-auth check (right key and
 * secret only; every malformed header refused; roles).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/admin.h"

static struct rmq_apikeys *parse_ok(const char *text)
{
    struct rmq_apikeys *k = NULL;
    char *err = NULL;
    assert_int_equal(rmq_apikeys_parse("keys", text, strlen(text), &k, &err), RMQ_OK);
    assert_null(err);
    return k;
}

static void parse_fails(const char *text, const char *want)
{
    struct rmq_apikeys *k = NULL;
    char *err = NULL;
    assert_int_equal(rmq_apikeys_parse("keys", text, strlen(text), &k, &err), RMQ_ERR_CONFIG);
    assert_null(k);
    assert_non_null(err);
    if (strcmp(err, want) != 0) {
        fail_msg("got \"%s\", want \"%s\"", err, want);
    }
    free(err);
}

static void test_parse__lines_comments_crlf_roles(void **state)
{
    (void)state;
    struct rmq_apikeys *k =
        parse_ok("# keys\r\n\r\nops:pw one\r\n  # x\nro:pw2:viewer\nad:p:administrator");
    assert_int_equal(rmq_apikeys_count(k), 3);
    assert_int_equal(rmq_apikeys_check(k, "Basic b3BzOnB3IG9uZQ=="),
                     RMQ_ROLE_ADMIN);                                          /* ops:pw one */
    assert_int_equal(rmq_apikeys_check(k, "Basic cm86cHcy"), RMQ_ROLE_VIEWER); /* ro:pw2 */
    assert_int_equal(rmq_apikeys_check(k, "basic YWQ6cA=="), RMQ_ROLE_ADMIN);  /* ad:p */
    rmq_apikeys_free(k);
    k = parse_ok("");
    assert_int_equal(rmq_apikeys_count(k), 0);
    assert_int_equal(rmq_apikeys_check(k, "Basic cm86cHcy"), RMQ_ROLE_NONE);
    rmq_apikeys_free(k);
}

static void test_parse__errors_name_the_line(void **state)
{
    (void)state;
    parse_fails("nocolon\n", "keys:1: expected key:secret[:role]");
    parse_fails("a:b\n\n:b\n", "keys:3: key must be 1..64 characters");
    parse_fails("a b:c\n", "keys:1: key may only contain A-Z a-z 0-9 _ . -");
    parse_fails("a:\n", "keys:1: secret must be 1..256 characters");
    parse_fails("a:b\tc\n", "keys:1: secret contains a control character");
    parse_fails("a:b:root\n", "keys:1: role must be administrator or viewer");
    parse_fails("a:b:\n", "keys:1: role must be administrator or viewer");
    parse_fails("a:b\nc:d\na:e\n", "keys:3: duplicate key");
    char longkey[80];
    memset(longkey, 'k', 65);
    strcpy(longkey + 65, ":s\n");
    parse_fails(longkey, "keys:1: key must be 1..64 characters");
}

static void test_check__refuses_wrong_and_malformed(void **state)
{
    (void)state;
    struct rmq_apikeys *k = parse_ok("ops:pw one\n");
    const char *bad[] = {
        NULL,
        "",
        "Basic",
        "Basic ",
        "Bearer b3BzOnB3IG9uZQ==",
        "Basic b3BzOnB3IG9uZQ",   /* no padding */
        "Basic b3BzOnB3IG9uZQ=!", /* bad char */
        "Basic b3BzOnB3IG9uZA==", /* ops:pw onc? (last char differs) */
        "Basic b3BzOnB3IG9u",     /* ops:pw on */
        "Basic b3BzOnB3IG9uZTI=", /* ops:pw one2 */
        "Basic b3BzcHcgb25l",     /* opspw one: no colon */
        "Basic b3A6cHcgb25l",     /* op:pw one */
        "Basic =3BzOnB3IG9uZQ==", /* padding first */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (rmq_apikeys_check(k, bad[i]) != RMQ_ROLE_NONE) {
            fail_msg("accepted %s", bad[i] ? bad[i] : "(null)");
        }
    }
    char huge[3000];
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'A', sizeof huge - 7);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(rmq_apikeys_check(k, huge), RMQ_ROLE_NONE);
    assert_int_equal(rmq_apikeys_check(k, "Basic b3BzOnB3IG9uZQ=="), RMQ_ROLE_ADMIN);
    assert_int_equal(rmq_apikeys_check(NULL, "Basic b3BzOnB3IG9uZQ=="), RMQ_ROLE_NONE);
    rmq_apikeys_free(k);
    rmq_apikeys_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse__lines_comments_crlf_roles),
        cmocka_unit_test(test_parse__errors_name_the_line),
        cmocka_unit_test(test_check__refuses_wrong_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
