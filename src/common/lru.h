/*
 * lru.h — an intrusive least-recently-used list: the recency order of a
 * bounded cache, with the count of its entries.
 *
 * What it is: a doubly linked list of `struct rmq_lru_node` members embedded
 * in the caller's entries; the head is the most recently used, the tail the
 * one to evict. Every operation is O(1) and allocates nothing.
 * What it is not: a cache. Lookup (a hash table), the size bound, what an
 * entry owns and how it is freed stay with the caller, which finds its entry
 * from a node with RMQ_LRU_ENTRY.
 *
 * Threads: none of its own; the caller's lock protects the list and its nodes.
 * A zeroed `struct rmq_lru` is an empty list; a node is linked into at most
 * one list at a time.
 */
#ifndef RMQ_LRU_H
#define RMQ_LRU_H

#include <stddef.h>

struct rmq_lru_node {
    struct rmq_lru_node *prev, *next; /* next: toward the least recently used */
};

struct rmq_lru {
    struct rmq_lru_node *head; /* most recently used; NULL when empty */
    struct rmq_lru_node *tail; /* least recently used; NULL when empty */
    size_t len;                /* nodes linked */
};

/* The entry of type `type` whose member `member` is the node n. */
#define RMQ_LRU_ENTRY(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

/* Links n (not linked) as the most recently used. */
void rmq_lru_push(struct rmq_lru *l, struct rmq_lru_node *n);

/* Unlinks n (linked in l); its pointers are cleared. */
void rmq_lru_remove(struct rmq_lru *l, struct rmq_lru_node *n);

/* Marks n (linked in l) as the most recently used. */
void rmq_lru_touch(struct rmq_lru *l, struct rmq_lru_node *n);

#endif
