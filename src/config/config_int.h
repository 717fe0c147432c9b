/*
 * config_int.h — state shared by the files of src/config while one load runs.
 *
 * A load collects assignments (file lines, environment variables) into a
 * table of canonical key -> typed value + origin, later assignments replacing
 * earlier ones; then settings_build.c turns the table into struct
 * rmq_settings and checks the rules that span keys. Errors are collected,
 * one line each, never stopping at the first. Not public; one thread.
 */
#ifndef RMQ_CONFIG_INT_H
#define RMQ_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "config/schema.h"
#include "config/settings.h"

#define RMQ_CFG_ERRORS_MAX 200   /* more are counted, not listed */
#define RMQ_CFG_LISTENERS_MAX 64 /* distinct configured listeners */

struct rmq_cfg_kv {
    char *path; /* owned: canonical concrete path */
    const struct rmq_cfg_key *key;
    char *name;   /* owned: listener name, "" for globals */
    char *origin; /* owned: "FILE:LINE" or "env NAME" */
    char *shown;  /* owned: the value as written */
    struct rmq_cfg_typed val;
};

struct rmq_cfg_load {
    struct rmq_cfg_kv *kv; /* owned array */
    size_t kvcount;
    struct rmq_buf errs; /* error lines, '\n'-terminated */
    size_t nerrs;
    char **warnings; /* owned */
    size_t nwarnings;
};

/* What a loaded struct rmq_settings keeps in `internal`. */
struct rmq_cfg_origins {
    char **paths;   /* owned, parallel to origins */
    char **origins; /* owned */
    size_t count;
    char **warnings; /* owned */
    size_t nwarnings;
};

void rmq_cfg_error(struct rmq_cfg_load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rmq_cfg_warning(struct rmq_cfg_load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * One assignment from a source. Unknown keys are errors, or warnings when
 * `unknown_is_warning` (EMQX_ variables). Only RMQ_ERR_NOMEM is returned as
 * an error; everything else is recorded in ld.
 */
RMQ_MUST_USE rmq_err rmq_cfg_assign(struct rmq_cfg_load *ld, const char *path,
                                    const struct rmq_cfg_value *v, const char *origin,
                                    bool unknown_is_warning);

/* The kv for a canonical path, or NULL. */
const struct rmq_cfg_kv *rmq_cfg_find(const struct rmq_cfg_load *ld, const char *path);

/* env.c: applies EMQX_* then REVMQ_* variables (so REVMQ_ wins). */
RMQ_MUST_USE rmq_err rmq_cfg_env_apply(struct rmq_cfg_load *ld, char *const *envp);

/* settings_build.c: defaults + table -> *s (allocated); cross-key checks. */
RMQ_MUST_USE rmq_err rmq_cfg_build(struct rmq_cfg_load *ld, struct rmq_settings *s);

/* settings_authn.c: the cross-key rules of the authentication.<n> entries,
 * and the warning for listeners that admit anonymous clients on a
 * non-loopback address. */
void rmq_cfg_check_authn(struct rmq_cfg_load *ld, const struct rmq_settings *s);

/* settings_list.c: the lists of objects (struct rmq_cfg_list). make_lists
 * makes every list's elements for the positions ld sets, in position order,
 * with defaults (on error what was made is released by
 * rmq_cfg_settings_release); lists_release frees them and what they own. */
RMQ_MUST_USE rmq_err rmq_cfg_make_lists(const struct rmq_cfg_load *ld, struct rmq_settings *s);
void rmq_cfg_lists_release(struct rmq_settings *s);
size_t rmq_cfg_list_len(const struct rmq_settings *s, const struct rmq_cfg_list *li);
/* Element i (< len), borrowed from s. */
void *rmq_cfg_list_at(const struct rmq_settings *s, const struct rmq_cfg_list *li, size_t i);
/* Its position, "1", "2", … */
const char *rmq_cfg_list_name(const struct rmq_cfg_list *li, const void *elem);
/* The element at position `name`, or NULL. */
void *rmq_cfg_list_find(const struct rmq_settings *s, const struct rmq_cfg_list *li,
                        const char *name);

/* Shared with settings_build.c: applies every default of `scope` to `base`
 * (with `l` non-NULL: every key that fits the listener's kind, scope unused;
 * scope LIST: the keys of list `li`). */
RMQ_MUST_USE rmq_err rmq_cfg_apply_defaults(enum rmq_cfg_scope scope, const struct rmq_cfg_list *li,
                                            const struct rmq_listener_settings *l, void *base,
                                            const char *lname);

/* Frees what a struct rmq_settings owns (fields, listeners, internal); not s itself. */
void rmq_cfg_settings_release(struct rmq_settings *s);

/* Writes the key's path with <name> replaced by `name`. */
void rmq_cfg_instantiate(const char *pattern, const char *name, char *out, size_t outlen);

#endif
