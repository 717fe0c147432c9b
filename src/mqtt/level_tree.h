/*
 * level_tree.h — the tree of topic levels shared by the router (subscription
 * filters) and the retained store (topic names): one node per level, the
 * children of a node in a hash map by level, and one walk that finds (or
 * makes) the node of "a/b/c" level by level.
 *
 * A user embeds struct rmq_level_node as the FIRST member of its own node
 * struct, so a child pointer converts to the user's node. The '+' and '#'
 * children are also kept in `plus` / `hash`, so matching a topic against
 * wildcards costs no hashing.
 *
 * What it is not: matching (the router and the retained store match in
 * opposite directions), subscriptions or messages. Not thread-safe: one
 * owner (the MQTT core thread).
 */
#ifndef RMQ_LEVEL_TREE_H
#define RMQ_LEVEL_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "mqtt/hmap.h"

struct rmq_level_node {
    struct rmq_level_node *parent; /* NULL for the root */
    char *level;                   /* owned, NUL-terminated; NULL for the root */
    size_t level_len;
    struct rmq_hmap children;    /* level -> struct rmq_level_node * (owned by the user) */
    struct rmq_level_node *plus; /* the "+" child, or NULL (also in children) */
    struct rmq_level_node *hash; /* the "#" child, or NULL (also in children) */
};

/* An empty node (for the root, or for a node the user allocated). */
void rmq_level_init(struct rmq_level_node *n);

/* Frees what the base owns (level copy, children table), not the children. */
void rmq_level_release(struct rmq_level_node *n);

/* The child of n at level l[0..len), or NULL. */
static inline struct rmq_level_node *rmq_level_child(const struct rmq_level_node *n, const char *l,
                                                     size_t len)
{
    return rmq_hmap_get(&n->children, l, len);
}

/*
 * The node of t[0..len) below root, split at '/' ("" and "a//b" have empty
 * levels). make == NULL: NULL when a level is missing. Otherwise missing
 * nodes are made: make() allocates the user's node with its base passed
 * through rmq_level_init (NULL on OOM); the new node is linked under its
 * parent. NULL on OOM (nodes made before stay, empty: prune them).
 */
struct rmq_level_node *rmq_level_find(struct rmq_level_node *root, const char *t, size_t len,
                                      struct rmq_level_node *(*make)(void));

/* Detaches n (not the root) from its parent; the caller frees it. */
void rmq_level_unlink(struct rmq_level_node *n);

#endif
