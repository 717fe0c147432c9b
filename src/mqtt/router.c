/* router.c — subscription tree; see router.h. */
#include "mqtt/router.h"

#include <stdlib.h>
#include <string.h>

#include "mqtt/hmap.h"
#include "mqtt/level_tree.h"
#include "mqtt/topic.h"

struct sub {
    void *subscriber;
    struct rmq_sub_opts opts;
};

struct group {
    struct sub *members; /* owned array */
    size_t count;
    size_t alloc;
    size_t next; /* round-robin cursor */
};

struct node {
    struct rmq_level_node t; /* first: the level tree (level_tree.h) */
    struct rmq_hmap subs;    /* subscriber pointer bytes -> struct sub * */
    struct rmq_hmap groups;  /* group name -> struct group * */
};

static struct node *node_of(struct rmq_level_node *t)
{
    return (struct node *)t;
}

struct rmq_router {
    struct node root;
    size_t count;
    bool (*online)(void *subscriber);
};

static void node_init(struct node *n)
{
    rmq_level_init(&n->t);
    rmq_hmap_init(&n->subs);
    rmq_hmap_init(&n->groups);
}

static struct rmq_level_node *make_node(void)
{
    struct node *n = malloc(sizeof *n);
    if (n) {
        node_init(n);
    }
    return n ? &n->t : NULL;
}

static void node_release(struct node *n)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->t.children, &it); e;
         e = rmq_hmap_next(&n->t.children, e, &it)) {
        struct node *c = node_of(e->value);
        node_release(c);
        free(c);
    }
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->subs, &it); e;
         e = rmq_hmap_next(&n->subs, e, &it)) {
        free(e->value);
    }
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->groups, &it); e;
         e = rmq_hmap_next(&n->groups, e, &it)) {
        struct group *g = e->value;
        free(g->members);
        free(g);
    }
    rmq_level_release(&n->t);
    rmq_hmap_release(&n->subs);
    rmq_hmap_release(&n->groups);
}

struct rmq_router *rmq_router_new(bool (*online)(void *subscriber))
{
    struct rmq_router *r = calloc(1, sizeof *r);
    if (!r) {
        return NULL;
    }
    node_init(&r->root);
    r->online = online;
    return r;
}

void rmq_router_free(struct rmq_router *r)
{
    if (!r) {
        return;
    }
    node_release(&r->root);
    free(r);
}

size_t rmq_router_count(const struct rmq_router *r)
{
    return r->count;
}

/* Finds (create: makes) the node of a non-shared filter. */
static struct node *find_node(struct rmq_router *r, const char *f, size_t len, bool create)
{
    return node_of(rmq_level_find(&r->root.t, f, len, create ? make_node : NULL));
}

/* Frees empty nodes from n up to (not including) the root. */
static void prune(struct node *n)
{
    while (n->t.parent && n->t.children.count == 0 && n->subs.count == 0 && n->groups.count == 0) {
        struct node *p = node_of(n->t.parent);
        rmq_level_unlink(&n->t);
        node_release(n);
        free(n);
        n = p;
    }
}

static rmq_err group_add(struct node *n, const struct rmq_topic_shared *sh, void *subscriber,
                         const struct rmq_sub_opts *opts, bool *existed)
{
    struct group *g = rmq_hmap_get(&n->groups, sh->group, sh->group_len);
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g) {
            return RMQ_ERR_NOMEM;
        }
        if (rmq_hmap_put(&n->groups, sh->group, sh->group_len, g, NULL) != RMQ_OK) {
            free(g);
            return RMQ_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < g->count; i++) {
        if (g->members[i].subscriber == subscriber) {
            g->members[i].opts = *opts;
            *existed = true;
            return RMQ_OK;
        }
    }
    if (g->count == g->alloc) {
        size_t na = g->alloc ? g->alloc * 2 : 4;
        struct sub *m = realloc(g->members, na * sizeof *m);
        if (!m) {
            return RMQ_ERR_NOMEM;
        }
        g->members = m;
        g->alloc = na;
    }
    g->members[g->count].subscriber = subscriber;
    g->members[g->count].opts = *opts;
    g->count++;
    *existed = false;
    return RMQ_OK;
}

rmq_err rmq_router_add(struct rmq_router *r, const char *filter, size_t len, void *subscriber,
                       const struct rmq_sub_opts *opts, bool *existed)
{
    struct rmq_topic_shared sh;
    bool ex = false;
    RMQ_TRY(rmq_topic_split_shared(filter, len, &sh));
    struct node *n = find_node(r, sh.filter, sh.filter_len, true);
    if (!n) {
        return RMQ_ERR_NOMEM;
    }
    rmq_err err = RMQ_OK;
    if (sh.is_shared) {
        err = group_add(n, &sh, subscriber, opts, &ex);
    } else {
        struct sub *s = rmq_hmap_get(&n->subs, &subscriber, sizeof subscriber);
        if (s) {
            s->opts = *opts;
            ex = true;
        } else if (!(s = malloc(sizeof *s))) {
            err = RMQ_ERR_NOMEM;
        } else {
            s->subscriber = subscriber;
            s->opts = *opts;
            err = rmq_hmap_put(&n->subs, &subscriber, sizeof subscriber, s, NULL);
            if (err != RMQ_OK) {
                free(s);
            }
        }
    }
    if (err != RMQ_OK) {
        prune(n);
        return err;
    }
    if (!ex) {
        r->count++;
    }
    if (existed) {
        *existed = ex;
    }
    return RMQ_OK;
}

static bool group_remove(struct node *n, const struct rmq_topic_shared *sh, void *subscriber)
{
    struct group *g = rmq_hmap_get(&n->groups, sh->group, sh->group_len);
    if (!g) {
        return false;
    }
    for (size_t i = 0; i < g->count; i++) {
        if (g->members[i].subscriber == subscriber) {
            memmove(&g->members[i], &g->members[i + 1], (g->count - i - 1) * sizeof *g->members);
            g->count--;
            if (g->count == 0) {
                rmq_hmap_del(&n->groups, sh->group, sh->group_len);
                free(g->members);
                free(g);
            }
            return true;
        }
    }
    return false;
}

bool rmq_router_remove(struct rmq_router *r, const char *filter, size_t len, void *subscriber)
{
    struct rmq_topic_shared sh;
    if (rmq_topic_split_shared(filter, len, &sh) != RMQ_OK) {
        return false;
    }
    struct node *n = find_node(r, sh.filter, sh.filter_len, false);
    if (!n) {
        return false;
    }
    bool removed;
    if (sh.is_shared) {
        removed = group_remove(n, &sh, subscriber);
    } else {
        struct sub *s = rmq_hmap_del(&n->subs, &subscriber, sizeof subscriber);
        removed = s != NULL;
        free(s);
    }
    if (removed) {
        r->count--;
    }
    prune(n);
    return removed;
}

struct match_ctx {
    struct rmq_router *r;
    rmq_router_cb cb;
    void *arg;
};

static void emit(struct match_ctx *m, struct node *n)
{
    size_t it;
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->subs, &it); e;
         e = rmq_hmap_next(&n->subs, e, &it)) {
        struct sub *s = e->value;
        m->cb(s->subscriber, &s->opts, false, m->arg);
    }
    for (struct rmq_hmap_entry *e = rmq_hmap_first(&n->groups, &it); e;
         e = rmq_hmap_next(&n->groups, e, &it)) {
        struct group *g = e->value;
        size_t pick = g->next % g->count;
        for (size_t k = 0; k < g->count && m->r->online; k++) {
            size_t i = (g->next + k) % g->count;
            if (m->r->online(g->members[i].subscriber)) {
                pick = i;
                break;
            }
        }
        g->next = pick + 1;
        m->cb(g->members[pick].subscriber, &g->members[pick].opts, true, m->arg);
    }
}

static void match_level(struct match_ctx *m, struct node *n, const char *t, size_t len, size_t i,
                        bool first)
{
    bool dollar = first && len > 0 && t[0] == '$'; /* MQTT-4.7.2-1 */
    size_t e = i;
    while (e < len && t[e] != '/') {
        e++;
    }
    struct node *hash = dollar ? NULL : node_of(n->t.hash);
    if (hash) {
        emit(m, hash);
    }
    struct node *c = node_of(rmq_level_child(&n->t, t + i, e - i));
    struct node *plus = dollar ? NULL : node_of(n->t.plus);
    struct node *next[2] = {c, plus};
    for (int k = 0; k < 2; k++) {
        if (!next[k]) {
            continue;
        }
        if (e == len) {
            emit(m, next[k]);
            struct node *h = node_of(next[k]->t.hash);
            if (h) {
                emit(m, h); /* "a/#" matches "a" */
            }
        } else {
            match_level(m, next[k], t, len, e + 1, false);
        }
    }
}

void rmq_router_match(struct rmq_router *r, const char *topic, size_t len, rmq_router_cb cb,
                      void *arg)
{
    struct match_ctx m = {r, cb, arg};
    match_level(&m, &r->root, topic, len, 0, true);
}
