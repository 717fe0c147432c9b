/*
 * parse.h — the configuration text parser: a HOCON subset plus EMQX 4.4 flat lines.
 *
 * A pure function over a byte range (read through src/common/reader.h): it
 * knows syntax only, not keys or types. It calls `on_entry` once per leaf
 * assignment with the full dotted path (`a { b { c = 1 } }` and `a.b.c = 1`
 * both give "a.b.c") and the value as written: a scalar (unquoted text, or a
 * quoted string with escapes decoded) or an array of scalars. An array of
 * objects `p = [ {k = 1}, {k = 2} ]` is flattened: its leaves arrive as
 * `p.1.k` and `p.2.k` (the paths EMQX's `EMQX_P__1__K` variables give); an
 * array may not mix objects and scalars. It stops at the
 * first syntax error and reports it through `on_error` with the line number.
 *
 * EMQX 4.4 flat lines: when a top-level key satisfies `is_raw_key`, the value
 * is the rest of the line, trimmed, taken as is (URLs with `//`, `:` and commas).
 *
 * HOCON extras: `include "f"` (also `required("f")`, `file("f")`) reads f,
 * relative to the including file, through ops->read_file, and parses its
 * members at the current path; a missing file is an error (stricter than
 * HOCON), nesting is limited to RMQ_CFG_INCLUDE_MAX, a cycle is refused at the
 * include line. In unquoted values `${VAR}` is replaced by the environment
 * variable (ops->getenv; unset is an error naming it) and `${?VAR}` by it or
 * nothing: a value that is only unset `${?VAR}`s drops the assignment (or the
 * array item). Only the environment is consulted, not other config paths.
 * Quoted strings and EMQX 4.4 flat values are taken literally. A UTF-8 BOM
 * at the start of a text is skipped. `[v6addr]:port` (e.g. `[::1]:1883`) is a
 * scalar, not an array, in every form.
 *
 * Comments: `#` and `//` start a comment at the beginning of a line or value or
 * after whitespace; inside an unquoted value (`http://host/x`, `a#b`) they are
 * text.
 *
 * Not here: key validation, types, defaults (schema.c), environment (env.c).
 * No globals; reentrant.
 */
#ifndef RMQ_CONFIG_PARSE_H
#define RMQ_CONFIG_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define RMQ_CFG_PATH_MAX 512  /* longest dotted key path */
#define RMQ_CFG_DEPTH_MAX 32  /* deepest block nesting */
#define RMQ_CFG_ITEMS_MAX 256 /* most items in one array */
#define RMQ_CFG_VALUE_MAX 8192
#define RMQ_CFG_INCLUDE_MAX 8 /* deepest include nesting */

struct rmq_cfg_str {
    char *p; /* owned, NUL-terminated (no NUL inside: rejected by the parser) */
    size_t len;
    bool quoted;
};

struct rmq_cfg_value {
    bool is_array;
    bool raw;                  /* EMQX 4.4 flat line or an environment value */
    struct rmq_cfg_str s;      /* the scalar when !is_array */
    struct rmq_cfg_str *items; /* owned array when is_array */
    size_t count;
};

struct rmq_cfg_parse_ops {
    /* May be NULL. True: the top-level key is an EMQX 4.4 flat key (raw value). */
    bool (*is_raw_key)(const char *path, void *arg);
    /* One leaf assignment. `v` is borrowed for the call. A non-OK return stops. */
    rmq_err (*on_entry)(void *arg, const char *path, const struct rmq_cfg_value *v, unsigned line);
    /* A syntax error (the parse stops after it). */
    void (*on_error)(void *arg, unsigned line, const char *msg);
    void *arg;
    /* Optional (NULL/0 when unused): */
    const char *file; /* the text's file name: relative includes resolve against its directory */
    /* Reads an included file (resolved path) into a malloc'ed *text; why on error. */
    rmq_err (*read_file)(void *arg, const char *path, char **text, size_t *len, char *why,
                         size_t whylen);
    /* The value of environment variable `name` for ${name}, or NULL if unset. */
    const char *(*getenv)(void *arg, const char *name);
    /* The lines that follow come from `file` (entering and leaving an include). */
    void (*on_file)(void *arg, const char *file);
};

/* RMQ_OK; RMQ_ERR_MALFORMED after a syntax error; or what on_entry returned. */
RMQ_MUST_USE rmq_err rmq_cfg_parse(const char *text, size_t len,
                                   const struct rmq_cfg_parse_ops *ops);

/*
 * Parses one value the way the right-hand side of `key = ` is parsed, for the
 * environment overlay: `[a, b]` is an array, `"x"` a quoted string, anything
 * else the whole text trimmed (raw). On error *out is empty and `why` says what.
 */
RMQ_MUST_USE rmq_err rmq_cfg_parse_value(const char *text, size_t len, struct rmq_cfg_value *out,
                                         char *why, size_t whylen);

void rmq_cfg_value_clear(struct rmq_cfg_value *v);

/* Writes the value as a user would have written it (quoted if it was), truncated. */
void rmq_cfg_value_show(const struct rmq_cfg_value *v, char *out, size_t outlen);

#endif
