/* Unit tests for src/mqtt/router and src/mqtt/retained. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/msg.h"
#include "mqtt/retained.h"
#include "mqtt/router.h"

struct hits {
    int n;
    void *subs[16];
    uint8_t qos[16];
    bool shared[16];
};

static void collect(void *subscriber, const struct rmq_sub_opts *o, bool shared, void *arg)
{
    struct hits *h = arg;
    assert_true(h->n < 16);
    h->subs[h->n] = subscriber;
    h->qos[h->n] = o->qos;
    h->shared[h->n] = shared;
    h->n++;
}

static struct hits route(struct rmq_router *r, const char *topic)
{
    struct hits h = {0};
    rmq_router_match(r, topic, strlen(topic), collect, &h);
    return h;
}

static void add(struct rmq_router *r, const char *f, void *s, uint8_t qos)
{
    struct rmq_sub_opts o = {.qos = qos};
    assert_int_equal(rmq_router_add(r, f, strlen(f), s, &o, NULL), RMQ_OK);
}

static void test_router__exact_and_wildcards(void **state)
{
    (void)state;
    int a, b, c;
    struct rmq_router *r = rmq_router_new(NULL);
    add(r, "a/b", &a, 0);
    add(r, "a/+", &b, 1);
    add(r, "a/#", &c, 2);
    struct hits h = route(r, "a/b");
    assert_int_equal(h.n, 3);
    h = route(r, "a");
    assert_int_equal(h.n, 1);
    assert_ptr_equal(h.subs[0], &c);
    h = route(r, "a/b/c");
    assert_int_equal(h.n, 1);
    h = route(r, "b");
    assert_int_equal(h.n, 0);
    assert_int_equal(rmq_router_count(r), 3);
    rmq_router_free(r);
}

static void test_router__replace_and_remove(void **state)
{
    (void)state;
    int a;
    struct rmq_router *r = rmq_router_new(NULL);
    struct rmq_sub_opts o = {.qos = 0};
    bool existed = true;
    assert_int_equal(rmq_router_add(r, "x/y", 3, &a, &o, &existed), RMQ_OK);
    assert_false(existed);
    o.qos = 2;
    assert_int_equal(rmq_router_add(r, "x/y", 3, &a, &o, &existed), RMQ_OK);
    assert_true(existed);
    assert_int_equal(rmq_router_count(r), 1);
    struct hits h = route(r, "x/y");
    assert_int_equal(h.n, 1);
    assert_int_equal(h.qos[0], 2);
    assert_true(rmq_router_remove(r, "x/y", 3, &a));
    assert_false(rmq_router_remove(r, "x/y", 3, &a));
    assert_false(rmq_router_remove(r, "x", 1, &a));
    h = route(r, "x/y");
    assert_int_equal(h.n, 0);
    assert_int_equal(rmq_router_count(r), 0);
    rmq_router_free(r);
}

static void test_router__dollar_topics(void **state)
{
    (void)state;
    int a, b;
    struct rmq_router *r = rmq_router_new(NULL);
    add(r, "#", &a, 0);
    add(r, "$SYS/#", &b, 0);
    struct hits h = route(r, "$SYS/x");
    assert_int_equal(h.n, 1);
    assert_ptr_equal(h.subs[0], &b);
    h = route(r, "$SYS"); /* "$SYS/#" matches its parent level too */
    assert_int_equal(h.n, 1);
    assert_ptr_equal(h.subs[0], &b);
    h = route(r, "x/$SYS");
    assert_int_equal(h.n, 1); /* "$" only matters at the first level */
    assert_ptr_equal(h.subs[0], &a);
    rmq_router_free(r);
}

static int offline_marker;
static bool online(void *s)
{
    return s != &offline_marker;
}

static void test_router__shared_group_one_member_per_message(void **state)
{
    (void)state;
    int a, b;
    struct rmq_router *r = rmq_router_new(online);
    add(r, "$share/g/t/+", &a, 1);
    add(r, "$share/g/t/+", &b, 1);
    add(r, "$share/g/t/+", &offline_marker, 1);
    add(r, "$share/h/t/+", &a, 0);
    int seen_a = 0, seen_b = 0;
    for (int i = 0; i < 10; i++) {
        struct hits h = route(r, "t/1");
        assert_int_equal(h.n, 2); /* one per group */
        for (int k = 0; k < h.n; k++) {
            assert_true(h.shared[k]);
            assert_ptr_not_equal(h.subs[k], &offline_marker);
        }
        /* group g's pick alternates between a and b */
        for (int k = 0; k < h.n; k++) {
            if (h.qos[k] == 1) {
                seen_a += h.subs[k] == &a;
                seen_b += h.subs[k] == &b;
            }
        }
    }
    assert_true(seen_a >= 3 && seen_b >= 3);
    assert_true(rmq_router_remove(r, "$share/g/t/+", 12, &a));
    assert_true(rmq_router_remove(r, "$share/g/t/+", 12, &b));
    assert_true(rmq_router_remove(r, "$share/g/t/+", 12, &offline_marker));
    assert_int_equal(route(r, "t/1").n, 1);
    rmq_router_free(r);
}

static void test_router__many_subscribers_and_topics(void **state)
{
    (void)state;
    static int subs[2000];
    struct rmq_router *r = rmq_router_new(NULL);
    char f[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(f, sizeof f, "dev/%d/cmd", i);
        add(r, f, &subs[i], 1);
    }
    struct hits h = route(r, "dev/1234/cmd");
    assert_int_equal(h.n, 1);
    assert_ptr_equal(h.subs[0], &subs[1234]);
    for (int i = 0; i < 2000; i++) {
        snprintf(f, sizeof f, "dev/%d/cmd", i);
        assert_true(rmq_router_remove(r, f, strlen(f), &subs[i]));
    }
    assert_int_equal(rmq_router_count(r), 0);
    rmq_router_free(r);
}

static struct rmq_msg *mk(const char *topic, const char *payload)
{
    struct rmq_msg t = {0};
    t.topic = (char *)topic;
    t.topic_len = strlen(topic);
    t.payload = (const uint8_t *)payload;
    t.payload_len = strlen(payload);
    return rmq_msg_new(&t, 0);
}

static void count_cb(struct rmq_msg *m, void *arg)
{
    (void)m;
    (*(int *)arg)++;
}

static int retained_hits(struct rmq_retained *r, const char *f)
{
    int n = 0;
    rmq_retained_match(r, f, strlen(f), count_cb, &n);
    return n;
}

static void test_retained__set_replace_delete_match(void **state)
{
    (void)state;
    struct rmq_retained *r = rmq_retained_new();
    const char *topics[] = {"a", "a/b", "a/c", "a/b/c", "$SYS/x", "/x"};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        struct rmq_msg *m = mk(topics[i], "v");
        assert_int_equal(rmq_retained_set(r, m), RMQ_OK);
        rmq_msg_unref(m);
    }
    assert_int_equal(rmq_retained_count(r), 6);
    struct rmq_msg *m = mk("a/b", "v2"); /* replace */
    assert_int_equal(rmq_retained_set(r, m), RMQ_OK);
    rmq_msg_unref(m);
    assert_int_equal(rmq_retained_count(r), 6);
    assert_int_equal(retained_hits(r, "#"), 5);
    assert_int_equal(retained_hits(r, "a/#"), 4);
    assert_int_equal(retained_hits(r, "a/+"), 2);
    assert_int_equal(retained_hits(r, "+"), 1);
    assert_int_equal(retained_hits(r, "+/x"), 1);
    assert_int_equal(retained_hits(r, "$SYS/#"), 1);
    assert_int_equal(retained_hits(r, "a/b/c"), 1);
    assert_int_equal(retained_hits(r, "nope"), 0);
    m = mk("a/b", ""); /* delete */
    assert_int_equal(rmq_retained_set(r, m), RMQ_OK);
    rmq_msg_unref(m);
    assert_int_equal(rmq_retained_count(r), 5);
    assert_int_equal(retained_hits(r, "a/+"), 1);
    rmq_retained_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__exact_and_wildcards),
        cmocka_unit_test(test_router__replace_and_remove),
        cmocka_unit_test(test_router__dollar_topics),
        cmocka_unit_test(test_router__shared_group_one_member_per_message),
        cmocka_unit_test(test_router__many_subscribers_and_topics),
        cmocka_unit_test(test_retained__set_replace_delete_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
