/*
 * Unit tests for the list iterators and builders of the MQTT codec
 * (codec.h LISTS): every element is read back; every truncated or
 * byte-flipped range ends in RMQ_ERR_EOF or RMQ_ERR_MALFORMED without reading
 * outside it (each range lives in a heap block of exactly its size, so ASan
 * sees any overread); builders refuse what does not fit or cannot be encoded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/codec.h"
#include "test_mqtt_codec_samples.h"

enum kind { K_USER, K_SUBID, K_ENTRY, K_FILTER, K_REASON };

/* One step of the iterator of kind k; the byte ranges it returned go to
 * r[0..*nr). */
static rmq_err step(enum kind k, struct rmq_iter *it, struct rmq_bytes r[2], size_t *nr)
{
    struct rmq_user_prop up;
    struct rmq_sub_entry e;
    uint32_t id = 0;
    uint8_t rc = 0;
    rmq_err err;
    *nr = 0;
    switch (k) {
    case K_USER:
        err = rmq_user_prop_next(it, &up);
        r[0] = up.name;
        r[1] = up.value;
        *nr = err == RMQ_OK ? 2 : 0;
        return err;
    case K_SUBID:
        return rmq_sub_id_next(it, &id);
    case K_ENTRY:
        err = rmq_sub_entry_next(it, &e);
        r[0] = e.filter;
        *nr = err == RMQ_OK ? 1 : 0;
        assert_true(err != RMQ_OK || (e.qos <= 2 && e.retain_handling <= 2));
        return err;
    case K_FILTER:
        err = rmq_filter_next(it, &r[0]);
        *nr = err == RMQ_OK ? 1 : 0;
        return err;
    default:
        return rmq_reason_next(it, &rc);
    }
}

/* Iterates a heap copy of wire[0..len) to the end; checks every returned
 * range lies inside it and that a failure is sticky. Returns the final
 * result; *count = elements read. */
static rmq_err run(enum kind k, const uint8_t *wire, size_t len, size_t *count)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) {
        memcpy(copy, wire, len);
    }
    struct rmq_iter it = rmq_iter_of((struct rmq_bytes){copy, len});
    rmq_err e;
    *count = 0;
    for (;;) {
        struct rmq_bytes r[2];
        size_t nr = 0;
        e = step(k, &it, r, &nr);
        if (e != RMQ_OK) {
            break;
        }
        for (size_t i = 0; i < nr; i++) {
            assert_true(r[i].len == 0 || (r[i].p >= copy && r[i].p + r[i].len <= copy + len));
        }
        (*count)++;
        assert_true(*count <= len); /* every element takes at least one byte */
    }
    assert_true(e == RMQ_ERR_EOF || e == RMQ_ERR_MALFORMED);
    if (e == RMQ_ERR_MALFORMED) {
        struct rmq_bytes r[2];
        size_t nr = 0;
        assert_int_equal(step(k, &it, r, &nr), RMQ_ERR_MALFORMED); /* stays failed */
    }
    free(copy);
    return e;
}

static rmq_err run_kind_count(enum kind k, struct rmq_bytes r, size_t *count)
{
    return run(k, r.p, r.p ? r.len : 0, count);
}

struct list {
    enum kind k;
    const char *wire;
    size_t len;
    size_t n;       /* elements */
    size_t ends[8]; /* offset where each element ends */
};

#define L(k, w, n, ...)                                                                            \
    {                                                                                              \
        k, w, sizeof(w) - 1, n,                                                                    \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
static const struct list lists[] = {
    L(K_USER, SAMPLE_USER_PROPS, 3, 7, 15, 21),
    L(K_SUBID, SAMPLE_SUB_IDS, 2, 2, 7),
    L(K_ENTRY,
      "\x00\x05"
      "a/+/c\x08\x00\x01#\x15\x00\x0c$share/g/x/#\x22",
      3, 8, 12, 27),
    L(K_FILTER,
      "\x00\x05"
      "a/+/c\x00\x01#\x00\x00",
      3, 7, 10, 12),
    L(K_REASON, "\x00\x11\x8f", 3, 1, 2, 3),
};

static void test_iter__reads_every_element(void **state)
{
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        size_t count = 0;
        assert_int_equal(run(lists[i].k, (const uint8_t *)lists[i].wire, lists[i].len, &count),
                         RMQ_ERR_EOF);
        assert_int_equal(count, lists[i].n);
    }
    struct rmq_bytes up = LIT(SAMPLE_USER_PROPS);
    assert_memory_equal(nth_user_prop(up, 1).value.p, "v2", 2);
    assert_int_equal(nth_sub_id(LIT(SAMPLE_SUB_IDS), 1), 268435455);
    struct rmq_sub_entry e =
        nth_entry((struct rmq_bytes){(const uint8_t *)lists[2].wire, lists[2].len}, 1);
    assert_true(e.no_local);
    assert_int_equal(e.qos, 1);
    assert_int_equal(e.retain_handling, 1);
    assert_int_equal(nth_filter(LIT("\x00\x00"), 0).len, 0);
}

/* A prefix cut at an element boundary is a shorter list; cut anywhere else
 * it is malformed. */
static void test_iter__every_truncated_prefix_ends_or_fails(void **state)
{
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const struct list *l = &lists[i];
        for (size_t cut = 0; cut < l->len; cut++) {
            size_t whole = 0;
            bool boundary = cut == 0;
            for (size_t j = 0; j < l->n; j++) {
                if (l->ends[j] <= cut) {
                    whole = j + 1;
                }
                boundary = boundary || l->ends[j] == cut;
            }
            size_t count = 0;
            rmq_err e = run(l->k, (const uint8_t *)l->wire, cut, &count);
            assert_int_equal(e, boundary ? RMQ_ERR_EOF : RMQ_ERR_MALFORMED);
            assert_int_equal(count, whole);
        }
    }
}

static void test_iter__every_byte_change_stays_in_range(void **state)
{
    static const uint8_t flips[] = {0x01, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const struct list *l = &lists[i];
        uint8_t buf[64];
        assert_true(l->len <= sizeof buf);
        for (size_t pos = 0; pos < l->len; pos++) {
            for (size_t f = 0; f < sizeof flips; f++) {
                memcpy(buf, l->wire, l->len);
                buf[pos] ^= flips[f];
                size_t count = 0;
                (void)run(l->k, buf, l->len, &count);
            }
        }
    }
}

/* Decoded property blocks hold other properties: the iterators skip them;
 * an identifier that is no property, or a bad VBI, is malformed. */
static void test_iter__property_run_skips_others_and_rejects_unknown(void **state)
{
    /* content type "t", sub id 5, topic alias 1, user "a"="b", expiry 9 */
    struct rmq_bytes run = LIT("\x03\x00\x01t\x0b\x05\x23\x00\x01\x26\x00\x01"
                               "a\x00\x01"
                               "b\x02\x00\x00\x00\x09");
    size_t count = 0;
    assert_int_equal(run_kind_count(K_USER, run, &count), RMQ_ERR_EOF);
    assert_int_equal(count, 1);
    assert_int_equal(run_kind_count(K_SUBID, run, &count), RMQ_ERR_EOF);
    assert_int_equal(count, 1);
    assert_int_equal(nth_sub_id(run, 0), 5);
    assert_memory_equal(nth_user_prop(run, 0).value.p, "b", 1);
    assert_int_equal(run_kind_count(K_USER, LIT("\x7f\x00"), &count), RMQ_ERR_MALFORMED);
    assert_int_equal(run_kind_count(K_SUBID, LIT("\x0b\x80\x80\x80\x80\x01"), &count),
                     RMQ_ERR_MALFORMED);
    assert_int_equal(run_kind_count(K_ENTRY, LIT("\x00\x01x\x40"), &count), RMQ_ERR_MALFORMED);
    assert_int_equal(run_kind_count(K_ENTRY, LIT("\x00\x01x\x30"), &count), RMQ_ERR_MALFORMED);
    /* an empty or NULL range is an empty list */
    assert_int_equal(run_kind_count(K_FILTER, (struct rmq_bytes){NULL, 5}, &count), RMQ_ERR_EOF);
    assert_int_equal(count, 0);
}

static void test_put__builds_what_the_iterators_read(void **state)
{
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal(rmq_put_user_prop(buf, sizeof buf, &len, S("k"), S("v")), RMQ_OK);
    assert_int_equal(rmq_put_sub_id(buf, sizeof buf, &len, 268435455), RMQ_OK);
    assert_int_equal(len, 7 + 5);
    assert_memory_equal(nth_user_prop((struct rmq_bytes){buf, len}, 0).name.p, "k", 1);
    assert_int_equal(nth_sub_id((struct rmq_bytes){buf, len}, 0), 268435455);
    /* does not fit: nothing written, len unchanged */
    size_t before = len;
    assert_int_equal(rmq_put_user_prop(buf, len + 6, &len, S("k"), S("v")), RMQ_ERR_TOO_LARGE);
    assert_int_equal(len, before);
    /* cannot be encoded */
    assert_int_equal(rmq_put_sub_id(buf, sizeof buf, &len, 0), RMQ_ERR_INVALID);
    assert_int_equal(rmq_put_sub_id(buf, sizeof buf, &len, 268435456), RMQ_ERR_INVALID);
    struct rmq_sub_entry e = {.filter = S("a/#"), .qos = 3};
    assert_int_equal(rmq_put_sub_entry(buf, sizeof buf, &len, &e), RMQ_ERR_INVALID);
    assert_int_equal(len, before);
    e = (struct rmq_sub_entry){
        .filter = S("a/#"), .qos = 2, .no_local = true, .retain_handling = 2};
    len = 0;
    assert_int_equal(rmq_put_sub_entry(buf, sizeof buf, &len, &e), RMQ_OK);
    assert_int_equal(rmq_put_filter(buf, sizeof buf, &len, S("b")), RMQ_OK);
    struct rmq_sub_entry r = nth_entry((struct rmq_bytes){buf, 6}, 0);
    assert_int_equal(r.qos, 2);
    assert_true(r.no_local);
    assert_int_equal(r.retain_handling, 2);
    assert_memory_equal(nth_filter((struct rmq_bytes){buf + 6, len - 6}, 0).p, "b", 1);
    /* copy_user keeps only the user properties */
    struct rmq_bytes run = LIT("\x03\x00\x01t\x26\x00\x01"
                               "a\x00\x01"
                               "b\x0b\x05");
    assert_int_equal(rmq_props_copy_user(run, NULL), 7);
    assert_int_equal(rmq_props_copy_user(run, buf), 7);
    assert_memory_equal(buf,
                        "\x26\x00\x01"
                        "a\x00\x01"
                        "b",
                        7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iter__reads_every_element),
        cmocka_unit_test(test_iter__every_truncated_prefix_ends_or_fails),
        cmocka_unit_test(test_iter__every_byte_change_stays_in_range),
        cmocka_unit_test(test_iter__property_run_skips_others_and_rejects_unknown),
        cmocka_unit_test(test_put__builds_what_the_iterators_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
