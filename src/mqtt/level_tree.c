/* level_tree.c — the topic level tree of the router and the retained store; see level_tree.h. */
#include "mqtt/level_tree.h"

#include <stdlib.h>
#include <string.h>

void rmq_level_init(struct rmq_level_node *n)
{
    memset(n, 0, sizeof *n);
    rmq_hmap_init(&n->children);
}

void rmq_level_release(struct rmq_level_node *n)
{
    rmq_hmap_release(&n->children);
    free(n->level);
    n->level = NULL;
}

static bool is_level(const struct rmq_level_node *n, char c)
{
    return n->level_len == 1 && n->level[0] == c;
}

/* Makes the child of n at l[0..len) with make(); NULL on OOM. */
static struct rmq_level_node *add_child(struct rmq_level_node *n, const char *l, size_t len,
                                        struct rmq_level_node *(*make)(void))
{
    struct rmq_level_node *c = make();
    if (!c) {
        return NULL;
    }
    c->level = malloc(len + 1);
    if (!c->level || rmq_hmap_put(&n->children, l, len, c, NULL) != RMQ_OK) {
        rmq_level_release(c);
        free(c);
        return NULL;
    }
    memcpy(c->level, l, len);
    c->level[len] = '\0';
    c->level_len = len;
    c->parent = n;
    if (is_level(c, '+')) {
        n->plus = c;
    } else if (is_level(c, '#')) {
        n->hash = c;
    }
    return c;
}

struct rmq_level_node *rmq_level_find(struct rmq_level_node *root, const char *t, size_t len,
                                      struct rmq_level_node *(*make)(void))
{
    struct rmq_level_node *n = root;
    size_t i = 0;
    for (;;) {
        size_t e = i;
        while (e < len && t[e] != '/') {
            e++;
        }
        struct rmq_level_node *c = rmq_level_child(n, t + i, e - i);
        if (!c && (!make || !(c = add_child(n, t + i, e - i, make)))) {
            return NULL;
        }
        n = c;
        if (e == len) {
            return n;
        }
        i = e + 1;
    }
}

void rmq_level_unlink(struct rmq_level_node *n)
{
    struct rmq_level_node *p = n->parent;
    rmq_hmap_del(&p->children, n->level, n->level_len);
    if (p->plus == n) {
        p->plus = NULL;
    }
    if (p->hash == n) {
        p->hash = NULL;
    }
    n->parent = NULL;
}
