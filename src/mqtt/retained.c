/* retained.c — retained-message tree; see retained.h. */
#include "mqtt/retained.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/hmap.h"
#include "mqtt/msg.h"

struct rnode {
    struct rnode *parent;
    char *level;
    size_t level_len;
    struct rmq_hmap children; /* level -> struct rnode * */
    struct rmq_msg *msg;      /* owned reference or NULL */
};

struct rmq_retained {
    struct rnode root;
    size_t count;
};

static void rnode_release(struct rnode *n)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->children, &it); e;
         e = rmq_hmap_next(&n->children, e, &it)) {
        struct rnode *c = e->value;
        rnode_release(c);
        free(c);
    }
    rmq_hmap_release(&n->children);
    rmq_msg_unref(n->msg);
    free(n->level);
}

struct rmq_retained *rmq_retained_new(void)
{
    struct rmq_retained *r = calloc(1, sizeof *r);
    if (r) {
        rmq_hmap_init(&r->root.children);
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
    struct rnode *n = &r->root;
    size_t i = 0;
    for (;;) {
        size_t e = i;
        while (e < len && t[e] != '/') {
            e++;
        }
        struct rnode *c = rmq_hmap_get(&n->children, t + i, e - i);
        if (!c) {
            if (!create) {
                return NULL;
            }
            c = calloc(1, sizeof *c);
            if (!c) {
                return NULL;
            }
            rmq_hmap_init(&c->children);
            c->parent = n;
            c->level = malloc(e - i + 1);
            if (!c->level || rmq_hmap_put(&n->children, t + i, e - i, c, NULL) != RMQ_OK) {
                free(c->level);
                free(c);
                return NULL;
            }
            memcpy(c->level, t + i, e - i);
            c->level[e - i] = '\0';
            c->level_len = e - i;
        }
        n = c;
        if (e == len) {
            return n;
        }
        i = e + 1;
    }
}

static void prune(struct rnode *n)
{
    while (n->parent && n->children.count == 0 && !n->msg) {
        struct rnode *p = n->parent;
        rmq_hmap_del(&p->children, n->level, n->level_len);
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
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->children, &it); e;
         e = rmq_hmap_next(&n->children, e, &it)) {
        all_below(e->value, w);
    }
}

/* Children of n that a wildcard at the first level may enter (MQTT-4.7.2-1). */
static bool wild_ok(const struct rnode *n, const struct rnode *c)
{
    return n->parent != NULL || c->level_len == 0 || c->level[0] != '$';
}

static void walk(struct rnode *n, struct walk *w, size_t i)
{
    size_t e = i;
    while (e < w->len && w->f[e] != '/') {
        e++;
    }
    bool last = e == w->len;
    if (e - i == 1 && w->f[i] == '#') {
        if (n->parent && n->msg) {
            w->cb(n->msg, w->arg); /* "a/#" matches "a" */
        }
        size_t it;
        for (struct rmq_hmap_entry *x = rmq_hmap_first(&n->children, &it); x;
             x = rmq_hmap_next(&n->children, x, &it)) {
            if (wild_ok(n, x->value)) {
                all_below(x->value, w);
            }
        }
        return;
    }
    if (e - i == 1 && w->f[i] == '+') {
        size_t it;
        for (struct rmq_hmap_entry *x = rmq_hmap_first(&n->children, &it); x;
             x = rmq_hmap_next(&n->children, x, &it)) {
            struct rnode *c = x->value;
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
    struct rnode *c = rmq_hmap_get(&n->children, w->f + i, e - i);
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
