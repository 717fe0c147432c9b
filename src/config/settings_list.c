/*
 * settings_list.c — the lists of objects in struct rmq_settings
 * (`authentication.<n>`, `authorization.sources.<n>`): one element per
 * position that has a key set, in position order, starting from the
 * defaults of the list's keys. One mechanism for every list; the table
 * (schema_keys.c) says which keys belong to which list. See config_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

size_t rmq_cfg_list_len(const struct rmq_settings *s, const struct rmq_cfg_list *li)
{
    return *(const size_t *)(const void *)((const char *)s + li->count);
}

void *rmq_cfg_list_at(const struct rmq_settings *s, const struct rmq_cfg_list *li, size_t i)
{
    char *arr = *(char *const *)(const void *)((const char *)s + li->array);
    return arr + i * li->elem_size;
}

const char *rmq_cfg_list_name(const struct rmq_cfg_list *li, const void *elem)
{
    return *(char *const *)(const void *)((const char *)elem + li->name);
}

void *rmq_cfg_list_find(const struct rmq_settings *s, const struct rmq_cfg_list *li,
                        const char *name)
{
    for (size_t i = 0; i < rmq_cfg_list_len(s, li); i++) {
        void *e = rmq_cfg_list_at(s, li, i);
        if (strcmp(rmq_cfg_list_name(li, e), name) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The elements of li for the positions ld sets (the lookup admitted only 1..max). */
static rmq_err make_list(const struct rmq_cfg_load *ld, struct rmq_settings *s,
                         const struct rmq_cfg_list *li)
{
    bool *used = calloc(li->max + 1u, sizeof *used);
    size_t n = 0;
    if (used == NULL) {
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < ld->kvcount; i++) {
        unsigned long pos = strtoul(ld->kv[i].name, NULL, 10);
        if (ld->kv[i].key->list == li && pos >= 1 && pos <= li->max && !used[pos]) {
            used[pos] = true;
            n++;
        }
    }
    char *arr = n > 0 ? calloc(n, li->elem_size) : NULL;
    if (n > 0 && arr == NULL) {
        free(used);
        return RMQ_ERR_NOMEM;
    }
    *(void **)(void *)((char *)s + li->array) = arr;
    rmq_err e = RMQ_OK;
    for (unsigned pos = 1, k = 0; pos <= li->max && e == RMQ_OK; pos++) {
        if (!used[pos]) {
            continue;
        }
        char name[16], **np = (char **)(void *)(arr + k * li->elem_size + li->name);
        snprintf(name, sizeof name, "%u", pos);
        if ((*np = strdup(name)) == NULL) {
            e = RMQ_ERR_NOMEM;
            break;
        }
        *(size_t *)(void *)((char *)s + li->count) = ++k; /* released with what it holds */
        e = rmq_cfg_apply_defaults(RMQ_CFG_LIST, li, NULL, arr + (k - 1) * li->elem_size, name);
    }
    free(used);
    return e;
}

rmq_err rmq_cfg_make_lists(const struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    size_t n;
    const struct rmq_cfg_list *const *lists = rmq_cfg_lists(&n);
    for (size_t i = 0; i < n; i++) {
        RMQ_TRY(make_list(ld, s, lists[i]));
    }
    return RMQ_OK;
}

void rmq_cfg_lists_release(struct rmq_settings *s)
{
    size_t n, count;
    const struct rmq_cfg_list *const *lists = rmq_cfg_lists(&n);
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    for (size_t i = 0; i < n; i++) {
        const struct rmq_cfg_list *li = lists[i];
        for (size_t j = 0; j < rmq_cfg_list_len(s, li); j++) {
            char *e = rmq_cfg_list_at(s, li, j);
            for (size_t k = 0; k < count; k++) {
                if (keys[k].list == li) {
                    rmq_cfg_field_free(&keys[k], e);
                }
            }
            free(*(char **)(void *)(e + li->name));
        }
        free(*(void **)(void *)((char *)s + li->array));
        *(void **)(void *)((char *)s + li->array) = NULL;
        *(size_t *)(void *)((char *)s + li->count) = 0;
    }
}
