/*
 * lru.c — the intrusive LRU list of lru.h: link at the head, unlink anywhere.
 */
#include "common/lru.h"

void rmq_lru_push(struct rmq_lru *l, struct rmq_lru_node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head != NULL) {
        l->head->prev = n;
    } else {
        l->tail = n;
    }
    l->head = n;
    l->len++;
}

void rmq_lru_remove(struct rmq_lru *l, struct rmq_lru_node *n)
{
    if (n->prev != NULL) {
        n->prev->next = n->next;
    } else {
        l->head = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    } else {
        l->tail = n->prev;
    }
    n->prev = n->next = NULL;
    l->len--;
}

void rmq_lru_touch(struct rmq_lru *l, struct rmq_lru_node *n)
{
    if (l->head != n) {
        rmq_lru_remove(l, n);
        rmq_lru_push(l, n);
    }
}
