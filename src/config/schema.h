/*
 * schema.h — the one table of configuration keys, and the generic code that
 * turns a parsed value into a typed field of struct rmq_settings.
 *
 * Every key is one row of data (schema_keys.c): path pattern (`<name>` stands
 * for one listener name, `<n>` for a position 1..max in a list), type, where it lives in the
 * struct, default (as config text, parsed by the same code as user input), range or allowed values,
 * flags, EMQX 4.4 aliases and its documentation. There is no per-key code anywhere.
 *
 * Not here: syntax (parse.c), sources and precedence (settings.c, env.c),
 * cross-key rules (settings_build.c). Constant data; thread-safe.
 */
#ifndef RMQ_CONFIG_SCHEMA_H
#define RMQ_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/parse.h"
#include "config/settings.h"

enum rmq_cfg_type {
    RMQ_CFG_BOOL,
    RMQ_CFG_INT,      /* min..max; flags INFINITY / DISABLED_ZERO add keywords */
    RMQ_CFG_FLOAT,    /* fmin..fmax */
    RMQ_CFG_DURATION, /* milliseconds, min..max */
    RMQ_CFG_BYTESIZE, /* bytes, min..max */
    RMQ_CFG_STRING,
    RMQ_CFG_PATH,
    RMQ_CFG_ENUM,        /* values[i] stored as integer i */
    RMQ_CFG_STRLIST,     /* struct rmq_strlist */
    RMQ_CFG_BIND,        /* struct rmq_bind: host:port or port */
    RMQ_CFG_TLSVERSIONS, /* list of values[] stored as a bit mask, bit i = 1 << i */
    RMQ_CFG_RATE,        /* EMQX rate "1000/s", "10MB/s", "500/10s": stored as units per
                            1000 s (so 1000/s = 1000000); min..max on that; INFINITY flag */
};

/* Where the field lives: struct rmq_settings (GLOBAL), struct
 * rmq_listener_settings (TCP, SSL, WS, WSS), or an element of a list of
 * objects (LIST: `authentication = [{…}, {…}]` giving `authentication.1.…`,
 * `authorization.sources.<n>.…`; the key's `list` says which). */
enum rmq_cfg_scope {
    RMQ_CFG_GLOBAL,
    RMQ_CFG_TCP,
    RMQ_CFG_SSL,
    RMQ_CFG_WS,
    RMQ_CFG_WSS,
    RMQ_CFG_LIST
};

/*
 * A list of objects in struct rmq_settings: an owned array with one element
 * per position `<n>` that has a key set, sorted by position, each element
 * starting from the defaults of the list's keys. Its element type has an
 * owned `char *name` (the position: "1", "2", …).
 */
struct rmq_cfg_list {
    size_t array;     /* offsetof(struct rmq_settings, …) of the element pointer */
    size_t count;     /* offsetof(struct rmq_settings, …) of its size_t count */
    size_t elem_size; /* sizeof one element */
    size_t name;      /* offsetof(element, name) */
    unsigned max;     /* positions 1..max */
};

#define RMQ_CFG_F_INFINITY 0x01u      /* "infinity" = UINT64_MAX / type max */
#define RMQ_CFG_F_DISABLED_ZERO 0x02u /* "disabled" = 0 */
#define RMQ_CFG_F_OPTIONAL 0x04u      /* a string that may be unset ("" = unset) */
#define RMQ_CFG_F_RELOADABLE 0x08u
#define RMQ_CFG_F_SECRET 0x10u       /* printed as ****** */
#define RMQ_CFG_F_JOIN 0x20u         /* a string that also takes an array (joined by ',') */
#define RMQ_CFG_F_DEFAULT_ONLY 0x40u /* default applies to the listener named "default" only */

#define RMQ_CFG_ALIASES_MAX 3

struct rmq_cfg_key {
    const char
        *path; /* "listeners.ssl.<name>.ssl_options.certfile", "authentication.<n>.backend" */
    enum rmq_cfg_type type;
    enum rmq_cfg_scope scope;
    size_t offset;   /* into rmq_settings (GLOBAL) or rmq_listener_settings */
    size_t size;     /* of the field, for integers and enums */
    const char *def; /* default as config text; NULL = unset */
    int64_t min, max;
    double fmin, fmax;
    const char *const *values; /* ENUM / TLSVERSIONS, NULL-terminated */
    unsigned flags;
    const char *aliases[RMQ_CFG_ALIASES_MAX]; /* EMQX 4.4 flat keys */
    const char *doc;
    const char *example; /* a value, as it would be written in the file */
    /* scope LIST (`<n>` in the path): the list; offset is into its element */
    const struct rmq_cfg_list *list;
};

/* The table and its length. */
const struct rmq_cfg_key *rmq_cfg_keys(size_t *count);
/* The lists of objects the table's keys belong to, and their number. */
const struct rmq_cfg_list *const *rmq_cfg_lists(size_t *count);

/* The typed result of converting a value. Strings and lists owned. */
struct rmq_cfg_typed {
    uint64_t u; /* INT, DURATION, BYTESIZE, ENUM index, TLSVERSIONS mask, BOOL */
    double d;
    char *s;
    struct rmq_strlist list;
    struct rmq_bind bind;
};

/*
 * Finds the key for a dotted path, directly or through an alias. On success
 * `canon` holds the canonical concrete path (with the listener name filled
 * in), `name` the listener name ("" for globals) and *alias says whether an
 * alias matched. NULL if no key matches.
 */
const struct rmq_cfg_key *rmq_cfg_lookup(const char *path, char *canon, size_t canonlen, char *name,
                                         size_t namelen, bool *alias);

/*
 * Whether key k belongs to listeners of `kind`. Every SSL key under
 * `ssl_options.` also belongs to WSS listeners (`listeners.wss.<name>.ssl_options.*`
 * is the same key: one row, one doc entry), so wss reuses the TLS machinery.
 */
bool rmq_cfg_key_fits(const struct rmq_cfg_key *k, enum rmq_listener_kind kind);
/* The kind of listener a canonical listener path is under (TCP for non-listener paths). */
enum rmq_listener_kind rmq_cfg_path_kind(const char *canon);
/* Like rmq_cfg_instantiate for key k on a listener of `kind` (listeners.wss.… for the
 * shared ssl_options keys). */
void rmq_cfg_instantiate_for(const struct rmq_cfg_key *k, enum rmq_listener_kind kind,
                             const char *name, char *out, size_t outlen);

/* A known key within 3 edits of an unknown `path` ("did you mean"); false if none. */
bool rmq_cfg_suggest(const char *path, char *out, size_t outlen);

/* True if `path` is a list of objects (keys `path.<n>.…` exist), e.g. "authentication". */
bool rmq_cfg_is_object_list(const char *path);

/* True if `path` is an EMQX 4.4 flat alias (its value is the rest of the line). */
bool rmq_cfg_is_flat_alias(const char *path);

/*
 * Converts `v` for key `k`. On error returns RMQ_ERR_CONFIG, *out is empty,
 * and `why` says what is allowed ("must be an integer from 0 to 2").
 */
RMQ_MUST_USE rmq_err rmq_cfg_convert(const struct rmq_cfg_key *k, const struct rmq_cfg_value *v,
                                     struct rmq_cfg_typed *out, char *why, size_t whylen);
void rmq_cfg_typed_clear(struct rmq_cfg_typed *t);

/* Stores `t` into the field of `base` (ownership of strings/lists moves; *t is emptied). */
void rmq_cfg_store(const struct rmq_cfg_key *k, void *base, struct rmq_cfg_typed *t);
/* Frees what the field owns and zeroes it. */
void rmq_cfg_field_free(const struct rmq_cfg_key *k, void *base);
/* The field's value as config text (secrets masked when `mask`). */
void rmq_cfg_format(const struct rmq_cfg_key *k, const void *base, bool mask, char *out,
                    size_t outlen);
/* What values are allowed, as a phrase: "an integer from 0 to 2". */
void rmq_cfg_allowed(const struct rmq_cfg_key *k, char *out, size_t outlen);
/* A short type name for the docs: "integer", "duration", … */
const char *rmq_cfg_type_name(const struct rmq_cfg_key *k);

/* Formats milliseconds / bytes the way the docs and --check-config show them. */
void rmq_cfg_format_duration(uint64_t ms, char *out, size_t outlen);
void rmq_cfg_format_bytesize(uint64_t bytes, char *out, size_t outlen);

/* Internal to src/config (schema.c): bounded number parsers over [s, s+n).
 * Durations use the one grammar of common/duration.h. */
bool rmq_cfg__parse_bytesize(const char *s, size_t n, uint64_t *bytes);
/* "<amount>[KB|MB|GB]/[<n>]<unit>" (unit ms, s, m, h, d): units per 1000 s. */
bool rmq_cfg__parse_rate(const char *s, size_t n, uint64_t *per_ks);
void rmq_cfg_format_rate(uint64_t per_ks, char *out, size_t outlen);
bool rmq_cfg__parse_float(const char *s, size_t n, double *out);
bool rmq_cfg__parse_int(const char *s, size_t n, int64_t *out);

#endif
