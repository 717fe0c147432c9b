/* retained.c — retained-message tree; see retained.h. */
#include "mqtt/retained.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/hmap.h"
#include "mqtt/level_tree.h"
#include "mqtt/msg.h"

struct rnode {
    struct rmq_level_node t; /* first: the level tree (level_tree.h) */
    struct rmq_msg *msg;     /* owned reference or NULL */
};

static struct rnode *rnode_of(struct rmq_level_node *t)
{
    return (struct rnode *)t;
}

static struct rmq_level_node *make_rnode(void)
{
    struct rnode *n = calloc(1, sizeof *n);
    if (n) {
        rmq_level_init(&n->t);
    }
    return n ? &n->t : NULL;
}

struct rmq_retained {
    struct rnode root;
    size_t count;
};

static void rnode_release(struct rnode *n)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->t.children, &it); e;
         e = rmq_hmap_next(&n->t.children, e, &it)) {
        struct rnode *c = rnode_of(e->value);
        rnode_release(c);
        free(c);
    }
    rmq_level_release(&n->t);
    rmq_msg_unref(n->msg);
}

struct rmq_retained *rmq_retained_new(void)
{
    struct rmq_retained *r = calloc(1, sizeof *r);
    if (r) {
        rmq_level_init(&r->root.t);
    }
    return r;
}

void rmq_retained_free(struct rmq_retained *r)
{
    if (!r) {
        return;
    }
    rnode_release(&r->root);
    free(r);
}

size_t rmq_retained_count(const struct rmq_retained *r)
{
    return r->count;
}

static struct rnode *find(struct rmq_retained *r, const char *t, size_t len, bool create)
{
    return rnode_of(rmq_level_find(&r->root.t, t, len, create ? make_rnode : NULL));
}

bool rmq_retained_has(struct rmq_retained *r, const char *topic, size_t len)
{
    struct rnode *n = find(r, topic, len, false);
    return n && n->msg;
}

static void prune(struct rnode *n)
{
    while (n->t.parent && n->t.children.count == 0 && !n->msg) {
        struct rnode *p = rnode_of(n->t.parent);
        rmq_level_unlink(&n->t);
        rnode_release(n);
        free(n);
        n = p;
    }
}

rmq_err rmq_retained_set(struct rmq_retained *r, struct rmq_msg *msg)
{
    bool del = msg->payload_len == 0;
    struct rnode *n = find(r, msg->topic, msg->topic_len, !del);
    if (!n) {
        return del ? RMQ_OK : RMQ_ERR_NOMEM;
    }
    if (n->msg) {
        rmq_msg_unref(n->msg);
        n->msg = NULL;
        r->count--;
    }
    if (del) {
        prune(n);
        return RMQ_OK;
    }
    n->msg = rmq_msg_ref(msg);
    r->count++;
    return RMQ_OK;
}

struct walk {
    const char *f;
    size_t len;
    void (*cb)(struct rmq_msg *m, void *arg);
    void *arg;
};

static void all_below(struct rnode *n, struct walk *w)
{
    if (n->msg) {
        w->cb(n->msg, w->arg);
    }
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->t.children, &it); e;
         e = rmq_hmap_next(&n->t.children, e, &it)) {
        all_below(rnode_of(e->value), w);
    }
}

/* Children of n that a wildcard at the first level may enter (MQTT-4.7.2-1). */
static bool wild_ok(const struct rnode *n, const struct rnode *c)
{
    return n->t.parent != NULL || c->t.level_len == 0 || c->t.level[0] != '$';
}

static void walk(struct rnode *n, struct walk *w, size_t i)
{
    size_t e = i;
    while (e < w->len && w->f[e] != '/') {
        e++;
    }
    bool last = e == w->len;
    if (e - i == 1 && w->f[i] == '#') {
        if (n->t.parent && n->msg) {
            w->cb(n->msg, w->arg); /* "a/#" matches "a" */
        }
        size_t it;
        for (struct rmq_hmap_entry *x = rmq_hmap_first(&n->t.children, &it); x;
             x = rmq_hmap_next(&n->t.children, x, &it)) {
            if (wild_ok(n, rnode_of(x->value))) {
                all_below(rnode_of(x->value), w);
            }
        }
        return;
    }
    if (e - i == 1 && w->f[i] == '+') {
        size_t it;
        for (struct rmq_hmap_entry *x = rmq_hmap_first(&n->t.children, &it); x;
             x = rmq_hmap_next(&n->t.children, x, &it)) {
            struct rnode *c = rnode_of(x->value);
            if (!wild_ok(n, c)) {
                continue;
            }
            if (last) {
                if (c->msg) {
                    w->cb(c->msg, w->arg);
                }
            } else {
                walk(c, w, e + 1);
            }
        }
        return;
    }
    struct rnode *c = rnode_of(rmq_level_child(&n->t, w->f + i, e - i));
    if (!c) {
        return;
    }
    if (last) {
        if (c->msg) {
            w->cb(c->msg, w->arg);
        }
    } else {
        walk(c, w, e + 1);
    }
}

void rmq_retained_match(struct rmq_retained *r, const char *filter, size_t len,
                        void (*cb)(struct rmq_msg *m, void *arg), void *arg)
{
    struct walk w = {filter, len, cb, arg};
    walk(&r->root, &w, 0);
}
