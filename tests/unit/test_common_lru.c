/*
 * Unit tests for src/common/lru.c: the order of the intrusive LRU list after
 * push, remove and touch, walked from both ends, and its use as a bounded
 * cache's eviction order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/lru.h"

struct item {
    int key;
    struct rmq_lru_node lru; /* not the first member: RMQ_LRU_ENTRY must offset */
};

/* The list holds exactly keys[0..n), most recent first, linked both ways. */
static void assert_order(const struct rmq_lru *l, const int *keys, size_t n)
{
    assert_int_equal(l->len, n);
    size_t i = 0;
    const struct rmq_lru_node *prev = NULL;
    for (const struct rmq_lru_node *p = l->head; p != NULL; p = p->next, i++) {
        assert_true(i < n);
        assert_ptr_equal(p->prev, prev);
        assert_int_equal(RMQ_LRU_ENTRY(p, const struct item, lru)->key, keys[i]);
        prev = p;
    }
    assert_int_equal(i, n);
    assert_ptr_equal(l->tail, prev);
}

static void test_lru__push_puts_newest_first(void **state)
{
    (void)state;
    struct rmq_lru l = {0};
    struct item it[3] = {{.key = 1}, {.key = 2}, {.key = 3}};
    assert_order(&l, NULL, 0);
    assert_null(l.head);
    for (size_t i = 0; i < 3; i++) {
        rmq_lru_push(&l, &it[i].lru);
    }
    assert_order(&l, (const int[]){3, 2, 1}, 3);
    assert_ptr_equal(RMQ_LRU_ENTRY(l.tail, struct item, lru), &it[0]);
}

static void test_lru__remove_head_middle_tail_and_last(void **state)
{
    (void)state;
    struct rmq_lru l = {0};
    struct item it[4] = {{.key = 1}, {.key = 2}, {.key = 3}, {.key = 4}};
    for (size_t i = 0; i < 4; i++) {
        rmq_lru_push(&l, &it[i].lru);
    }
    rmq_lru_remove(&l, &it[2].lru); /* middle */
    assert_order(&l, (const int[]){4, 2, 1}, 3);
    assert_null(it[2].lru.prev);
    assert_null(it[2].lru.next);
    rmq_lru_remove(&l, &it[3].lru); /* head */
    assert_order(&l, (const int[]){2, 1}, 2);
    rmq_lru_remove(&l, &it[0].lru); /* tail */
    assert_order(&l, (const int[]){2}, 1);
    rmq_lru_remove(&l, &it[1].lru); /* the last one */
    assert_order(&l, NULL, 0);
    assert_null(l.head);
    assert_null(l.tail);
    rmq_lru_push(&l, &it[2].lru); /* a removed node can be linked again */
    assert_order(&l, (const int[]){3}, 1);
}

static void test_lru__touch_moves_to_head(void **state)
{
    (void)state;
    struct rmq_lru l = {0};
    struct item it[3] = {{.key = 1}, {.key = 2}, {.key = 3}};
    for (size_t i = 0; i < 3; i++) {
        rmq_lru_push(&l, &it[i].lru);
    }
    rmq_lru_touch(&l, &it[0].lru); /* the tail */
    assert_order(&l, (const int[]){1, 3, 2}, 3);
    rmq_lru_touch(&l, &it[2].lru); /* the middle */
    assert_order(&l, (const int[]){3, 1, 2}, 3);
    rmq_lru_touch(&l, &it[2].lru); /* already the head */
    assert_order(&l, (const int[]){3, 1, 2}, 3);
    struct rmq_lru one = {0};
    struct item solo = {.key = 9};
    rmq_lru_push(&one, &solo.lru);
    rmq_lru_touch(&one, &solo.lru);
    assert_order(&one, (const int[]){9}, 1);
}

/* As the caches use it: bound 3, evict the tail before inserting a fourth;
 * what was used last survives. */
static void test_lru__bounded_cache_evicts_least_recently_used(void **state)
{
    (void)state;
    struct rmq_lru l = {0};
    struct item it[6];
    const int use[] = {1, 2, 3, 1, 4, 2, 5}; /* 1..5 new, then re-uses */
    int evicted[6] = {0};
    size_t nev = 0;
    for (size_t i = 0; i < sizeof use / sizeof use[0]; i++) {
        struct item *found = NULL;
        for (struct rmq_lru_node *p = l.head; p != NULL; p = p->next) {
            if (RMQ_LRU_ENTRY(p, struct item, lru)->key == use[i]) {
                found = RMQ_LRU_ENTRY(p, struct item, lru);
            }
        }
        if (found != NULL) {
            rmq_lru_touch(&l, &found->lru);
            continue;
        }
        if (l.len >= 3) {
            struct item *old = RMQ_LRU_ENTRY(l.tail, struct item, lru);
            rmq_lru_remove(&l, &old->lru);
            evicted[nev++] = old->key;
        }
        it[use[i]].key = use[i];
        rmq_lru_push(&l, &it[use[i]].lru);
    }
    /* 1 2 3 | touch 1 -> 1 3 2 | 4 evicts 2 -> 4 1 3 | 2 evicts 3 -> 2 4 1 |
     * 5 evicts 1 -> 5 2 4 */
    assert_int_equal(nev, 3);
    assert_int_equal(evicted[0], 2);
    assert_int_equal(evicted[1], 3);
    assert_int_equal(evicted[2], 1);
    assert_order(&l, (const int[]){5, 2, 4}, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru__push_puts_newest_first),
        cmocka_unit_test(test_lru__remove_head_middle_tail_and_last),
        cmocka_unit_test(test_lru__touch_moves_to_head),
        cmocka_unit_test(test_lru__bounded_cache_evicts_least_recently_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
