/* Unit tests for src/mqtt/topic: validation, matching, shared subscriptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/topic.h"

static bool match(const char *f, const char *t)
{
    return rmq_topic_match(f, strlen(f), t, strlen(t));
}

static rmq_err name_ok(const char *t)
{
    return rmq_topic_check_name(t, strlen(t), 0);
}

static rmq_err filter_ok(const char *f)
{
    return rmq_topic_check_filter(f, strlen(f), 0);
}

static void test_check_name__rejects_wildcards_and_empty(void **state)
{
    (void)state;
    assert_int_equal(name_ok("a/b"), RMQ_OK);
    assert_int_equal(name_ok("/"), RMQ_OK);
    assert_int_equal(name_ok("$SYS/x"), RMQ_OK);
    assert_int_equal(name_ok(""), RMQ_ERR_INVALID);
    assert_int_equal(name_ok("a/+"), RMQ_ERR_INVALID);
    assert_int_equal(name_ok("a/#"), RMQ_ERR_INVALID);
    assert_int_equal(name_ok("a+b"), RMQ_ERR_INVALID);
    assert_int_equal(rmq_topic_check_name("a\0b", 3, 0), RMQ_ERR_INVALID);
}

static void test_check_filter__wildcard_placement(void **state)
{
    (void)state;
    const char *good[] = {"#", "+", "a/#", "a/+/b", "+/+", "/+", "+/", "a//b", "$SYS/#"};
    const char *bad[] = {"", "a#", "a/#/b", "#/", "a+", "+a", "a/b+", "##", "a/++"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_int_equal(filter_ok(good[i]), RMQ_OK);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(filter_ok(bad[i]), RMQ_ERR_INVALID);
    }
}

static void test_check__max_topic_levels(void **state)
{
    (void)state;
    assert_int_equal(rmq_topic_check_name("a/b/c", 5, 3), RMQ_OK);
    assert_int_equal(rmq_topic_check_name("a/b/c/d", 7, 3), RMQ_ERR_INVALID);
    assert_int_equal(rmq_topic_check_filter("a/+/#", 5, 3), RMQ_OK);
    assert_int_equal(rmq_topic_check_filter("a/+/b/#", 7, 3), RMQ_ERR_INVALID);
}

static void test_match__spec_examples(void **state)
{
    (void)state;
    /* MQTT 5 4.7.1.2 */
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    assert_true(match("sport/#", "sport"));
    assert_true(match("#", "a/b/c"));
    /* 4.7.1.3 */
    assert_true(match("sport/tennis/+", "sport/tennis/player1"));
    assert_false(match("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert_false(match("sport/+", "sport"));
    assert_true(match("sport/+", "sport/"));
    assert_true(match("+/+", "/finance"));
    assert_true(match("/+", "/finance"));
    assert_false(match("+", "/finance"));
    assert_true(match("+/tennis/#", "sport/tennis"));
    assert_false(match("a/b", "a/b/c"));
    assert_false(match("a/b/c", "a/b"));
    assert_true(match("a//b", "a//b"));
    assert_false(match("a/b", "a/bc"));
}

static void test_match__dollar_topics_not_matched_by_first_level_wildcards(void **state)
{
    (void)state;
    /* MQTT-4.7.2-1 */
    assert_false(match("#", "$SYS/broker"));
    assert_false(match("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/#", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
    assert_true(match("a/#", "a/$x"));
}

static void test_split_shared__groups_and_errors(void **state)
{
    (void)state;
    struct rmq_topic_shared sh;
    const char *f = "$share/g1/a/+";
    assert_int_equal(rmq_topic_split_shared(f, strlen(f), &sh), RMQ_OK);
    assert_true(sh.is_shared);
    assert_int_equal(sh.group_len, 2);
    assert_memory_equal(sh.group, "g1", 2);
    assert_int_equal(sh.filter_len, 3);
    assert_memory_equal(sh.filter, "a/+", 3);
    f = "a/b";
    assert_int_equal(rmq_topic_split_shared(f, strlen(f), &sh), RMQ_OK);
    assert_false(sh.is_shared);
    const char *bad[] = {"$share/",   "$share//a",   "$share/g",
                         "$share/g/", "$share/g+/a", "$share/#/a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(rmq_topic_split_shared(bad[i], strlen(bad[i]), &sh), RMQ_ERR_INVALID);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_name__rejects_wildcards_and_empty),
        cmocka_unit_test(test_check_filter__wildcard_placement),
        cmocka_unit_test(test_check__max_topic_levels),
        cmocka_unit_test(test_match__spec_examples),
        cmocka_unit_test(test_match__dollar_topics_not_matched_by_first_level_wildcards),
        cmocka_unit_test(test_split_shared__groups_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
