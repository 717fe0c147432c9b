/*
 * Unit tests for src/mqtt/level_tree.c, the level tree under the router and
 * the retained store: one node per level (empty levels included), nodes made
 * only when asked, the '+' / '#' children kept without hashing and forgotten
 * when unlinked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/level_tree.h"

struct unode {
    struct rmq_level_node t; /* first, as level_tree.h asks */
    int tag;
};

static int made;

static struct rmq_level_node *make(void)
{
    struct unode *n = malloc(sizeof *n);
    if (!n) {
        return NULL;
    }
    rmq_level_init(&n->t);
    n->tag = ++made;
    return &n->t;
}

static void free_tree(struct rmq_level_node *n)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->children, &it); e;
         e = rmq_hmap_next(&n->children, e, &it)) {
        free_tree(e->value);
        free(e->value);
    }
    rmq_level_release(n);
}

#define FIND(root, s, mk) rmq_level_find(root, s, strlen(s), mk)

static void test_level_find__one_node_per_level(void **state)
{
    (void)state;
    struct rmq_level_node root;
    rmq_level_init(&root);
    made = 0;
    assert_null(FIND(&root, "a/b/c", NULL)); /* not made unless asked */
    assert_int_equal(made, 0);
    struct rmq_level_node *c = FIND(&root, "a/b/c", make);
    assert_non_null(c);
    assert_int_equal(made, 3);
    assert_string_equal(c->level, "c");
    assert_string_equal(c->parent->level, "b");
    assert_ptr_equal(c->parent->parent->parent, &root);
    assert_ptr_equal(FIND(&root, "a/b/c", NULL), c);
    assert_ptr_equal(FIND(&root, "a/b/c", make), c); /* found, not made again */
    assert_int_equal(made, 3);
    /* empty levels are levels: "a//b" is a, "", b; "" is one empty level */
    struct rmq_level_node *x = FIND(&root, "a//b", make);
    assert_int_equal(x->parent->level_len, 0);
    assert_ptr_equal(x->parent->parent, FIND(&root, "a", NULL));
    assert_non_null(FIND(&root, "", make));
    assert_int_equal(root.children.count, 2); /* "a" and "" */
    free_tree(&root);
}

static void test_level_find__wildcard_children_kept_and_unlinked(void **state)
{
    (void)state;
    struct rmq_level_node root;
    rmq_level_init(&root);
    struct rmq_level_node *plus = FIND(&root, "a/+", make);
    struct rmq_level_node *hash = FIND(&root, "a/#", make);
    struct rmq_level_node *a = FIND(&root, "a", NULL);
    assert_ptr_equal(a->plus, plus);
    assert_ptr_equal(a->hash, hash);
    assert_null(root.plus);
    assert_non_null(FIND(&root, "a/++", make)); /* "++" is no '+' level */
    assert_ptr_equal(a->plus, plus);
    rmq_level_unlink(plus);
    assert_null(a->plus);
    assert_null(rmq_level_child(a, "+", 1));
    assert_ptr_equal(a->hash, hash);
    rmq_level_release(plus);
    free(plus);
    rmq_level_unlink(hash);
    assert_null(a->hash);
    rmq_level_release(hash);
    free(hash);
    free_tree(&root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_find__one_node_per_level),
        cmocka_unit_test(test_level_find__wildcard_children_kept_and_unlinked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
