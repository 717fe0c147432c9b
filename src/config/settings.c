/*
 * settings.c — loading (file + environment over defaults), printing and
 * freeing struct rmq_settings; see settings.h. The pieces: parse.c (syntax),
 * schema*.c (keys and types), env.c (environment), settings_build.c (struct
 * assembly and cross-key rules), docs.c (docs/configuration.md).
 */
#include "config/settings.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "config/config_int.h"
#include "config/parse.h"
#include "config/schema.h"

#define FILE_MAX (4u << 20) /* a config file larger than this is refused */

__attribute__((format(printf, 2, 0))) static void vappend_line(struct rmq_buf *b, const char *fmt,
                                                               va_list ap)
{
    char line[1025];
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    line[len] = '\n';
    if (rmq_buf_append(b, line, len + 1) != RMQ_OK) {
        return; /* over the cap: the line is dropped */
    }
}

void rmq_cfg_error(struct rmq_cfg_load *ld, const char *fmt, ...)
{
    va_list ap;
    ld->nerrs++;
    if (ld->nerrs > RMQ_CFG_ERRORS_MAX) {
        return;
    }
    va_start(ap, fmt);
    vappend_line(&ld->errs, fmt, ap);
    va_end(ap);
}

void rmq_cfg_warning(struct rmq_cfg_load *ld, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rmq_warn("config", "%s", line);
    char **w = realloc(ld->warnings, (ld->nwarnings + 1) * sizeof *w);
    if (w == NULL) {
        return;
    }
    ld->warnings = w;
    if ((w[ld->nwarnings] = strdup(line)) != NULL) {
        ld->nwarnings++;
    }
}

const struct rmq_cfg_kv *rmq_cfg_find(const struct rmq_cfg_load *ld, const char *path)
{
    for (size_t i = 0; i < ld->kvcount; i++) {
        if (strcmp(ld->kv[i].path, path) == 0) {
            return &ld->kv[i];
        }
    }
    return NULL;
}

static void kv_clear(struct rmq_cfg_kv *kv)
{
    free(kv->path);
    free(kv->name);
    free(kv->origin);
    free(kv->shown);
    rmq_cfg_typed_clear(&kv->val);
    memset(kv, 0, sizeof *kv);
}

/* Inserts or replaces the kv of `canon`; takes *val. */
static rmq_err kv_put(struct rmq_cfg_load *ld, const struct rmq_cfg_key *k, const char *canon,
                      const char *name, const char *origin, const char *shown,
                      struct rmq_cfg_typed *val)
{
    struct rmq_cfg_kv kv = {.path = strdup(canon),
                            .key = k,
                            .name = strdup(name),
                            .origin = strdup(origin),
                            .shown = strdup(shown),
                            .val = *val};
    memset(val, 0, sizeof *val);
    if (kv.path == NULL || kv.name == NULL || kv.origin == NULL || kv.shown == NULL) {
        kv_clear(&kv);
        return RMQ_ERR_NOMEM;
    }
    struct rmq_cfg_kv *old = (struct rmq_cfg_kv *)rmq_cfg_find(ld, canon);
    if (old != NULL) {
        kv_clear(old);
        *old = kv;
        return RMQ_OK;
    }
    struct rmq_cfg_kv *n = realloc(ld->kv, (ld->kvcount + 1) * sizeof *n);
    if (n == NULL) {
        kv_clear(&kv);
        return RMQ_ERR_NOMEM;
    }
    ld->kv = n;
    ld->kv[ld->kvcount++] = kv;
    return RMQ_OK;
}

static bool listener_known(const struct rmq_cfg_load *ld, enum rmq_cfg_scope scope,
                           const char *name)
{
    for (size_t i = 0; i < ld->kvcount; i++) {
        if (ld->kv[i].key->scope == scope && strcmp(ld->kv[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Distinct listeners with at least one key set. */
static size_t count_listeners(const struct rmq_cfg_load *ld)
{
    size_t n = 0;
    for (size_t i = 0; i < ld->kvcount; i++) {
        const struct rmq_cfg_kv *kv = &ld->kv[i];
        bool first = kv->key->scope == RMQ_CFG_TCP || kv->key->scope == RMQ_CFG_SSL;
        for (size_t j = 0; first && j < i; j++) {
            first =
                !(ld->kv[j].key->scope == kv->key->scope && strcmp(ld->kv[j].name, kv->name) == 0);
        }
        n += first;
    }
    return n;
}

rmq_err rmq_cfg_assign(struct rmq_cfg_load *ld, const char *path, const struct rmq_cfg_value *v,
                       const char *origin, bool unknown_is_warning)
{
    char canon[RMQ_CFG_PATH_MAX], name[64], shown[512], why[400], keyname[2 * RMQ_CFG_PATH_MAX];
    bool alias = false;
    struct rmq_cfg_typed t;
    const struct rmq_cfg_key *k =
        rmq_cfg_lookup(path, canon, sizeof canon, name, sizeof name, &alias);
    if (k == NULL && v->is_array && v->count == 0 && rmq_cfg_is_object_list(path)) {
        return RMQ_OK; /* `authentication = []`: an empty list of objects */
    }
    if (k == NULL) {
        char hint[RMQ_CFG_PATH_MAX + 32] = "see docs/configuration.md for the keys";
        /* the suggestion costs an edit distance per key: only for lines that are shown */
        if (ld->nerrs < RMQ_CFG_ERRORS_MAX && rmq_cfg_suggest(path, canon, sizeof canon)) {
            snprintf(hint, sizeof hint, "did you mean %s?", canon);
        }
        if (unknown_is_warning) {
            rmq_cfg_warning(ld, "%s: unknown key %s ignored (not a revmq setting)", origin, path);
        } else {
            rmq_cfg_error(ld, "%s: unknown key %s (%s)", origin, path, hint);
        }
        return RMQ_OK;
    }
    rmq_cfg_value_show(v, shown, sizeof shown);
    if (alias) {
        snprintf(keyname, sizeof keyname, "%s (alias of %s)", path, canon);
    } else {
        snprintf(keyname, sizeof keyname, "%s", canon);
    }
    if ((k->scope == RMQ_CFG_TCP || k->scope == RMQ_CFG_SSL) &&
        !listener_known(ld, k->scope, name) && count_listeners(ld) >= RMQ_CFG_LISTENERS_MAX) {
        rmq_cfg_error(ld, "%s: %s: too many listeners (at most %d)", origin, keyname,
                      RMQ_CFG_LISTENERS_MAX);
        return RMQ_OK;
    }
    rmq_err e = rmq_cfg_convert(k, v, &t, why, sizeof why);
    if (e == RMQ_ERR_NOMEM) {
        return e;
    }
    if (e != RMQ_OK) {
        rmq_cfg_error(ld, "%s: %s = %s: %s", origin, keyname, shown, why);
        return RMQ_OK;
    }
    return kv_put(ld, k, canon, name, origin, shown, &t);
}

/* ---- file source ------------------------------------------------------------------------ */

struct file_ctx {
    struct rmq_cfg_load *ld;
    const char *name; /* the file whose lines are being read (changes inside includes) */
    bool syntax_error;
    char *const *envp;
};

static rmq_err read_file(const char *path, char **text, size_t *len, char **errmsg);

static rmq_err file_read(void *arg, const char *path, char **text, size_t *len, char *why,
                         size_t whylen)
{
    char *msg = NULL;
    struct stat st;
    (void)arg;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        return RMQ_ERR_IO;
    }
    rmq_err e = read_file(path, text, len, &msg);
    if (e != RMQ_OK) {
        /* read_file's message starts with "PATH: cannot read the configuration file: " */
        const char *m = msg != NULL ? strstr(msg, "file: ") : NULL;
        snprintf(why, whylen, "%s", m != NULL ? m + 6 : "cannot read");
    }
    free(msg);
    return e;
}

static const char *file_getenv(void *arg, const char *name)
{
    struct file_ctx *fc = arg;
    size_t n = strlen(name);
    for (size_t i = 0; fc->envp != NULL && fc->envp[i] != NULL; i++) {
        if (strncmp(fc->envp[i], name, n) == 0 && fc->envp[i][n] == '=') {
            return fc->envp[i] + n + 1;
        }
    }
    return NULL;
}

static void file_switch(void *arg, const char *file)
{
    struct file_ctx *fc = arg;
    fc->name = file != NULL ? file : "config";
}

static bool file_is_raw(const char *path, void *arg)
{
    return rmq_cfg_is_flat_alias(path);
}

static rmq_err file_entry(void *arg, const char *path, const struct rmq_cfg_value *v, unsigned line)
{
    struct file_ctx *fc = arg;
    char origin[1100];
    snprintf(origin, sizeof origin, "%s:%u", fc->name, line);
    return rmq_cfg_assign(fc->ld, path, v, origin, false);
}

static void file_error(void *arg, unsigned line, const char *msg)
{
    struct file_ctx *fc = arg;
    fc->syntax_error = true;
    rmq_cfg_error(fc->ld, "%s:%u: syntax error: %s", fc->name, line, msg);
}

/* ---- load --------------------------------------------------------------------------------- */

static void load_release(struct rmq_cfg_load *ld)
{
    for (size_t i = 0; i < ld->kvcount; i++) {
        kv_clear(&ld->kv[i]);
    }
    free(ld->kv);
    for (size_t i = 0; i < ld->nwarnings; i++) {
        free(ld->warnings[i]);
    }
    free(ld->warnings);
    rmq_buf_release(&ld->errs);
    memset(ld, 0, sizeof *ld);
}

/* Moves origins and warnings into the settings' internal table. */
static rmq_err keep_origins(struct rmq_cfg_load *ld, struct rmq_settings *s)
{
    struct rmq_cfg_origins *o = calloc(1, sizeof *o);
    if (o == NULL) {
        return RMQ_ERR_NOMEM;
    }
    s->internal = o;
    o->paths = calloc(ld->kvcount + 1, sizeof *o->paths);
    o->origins = calloc(ld->kvcount + 1, sizeof *o->origins);
    if (o->paths == NULL || o->origins == NULL) {
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < ld->kvcount; i++) {
        o->paths[i] = ld->kv[i].path;
        o->origins[i] = ld->kv[i].origin;
        ld->kv[i].path = NULL;
        ld->kv[i].origin = NULL;
        o->count++;
    }
    o->warnings = ld->warnings;
    o->nwarnings = ld->nwarnings;
    ld->warnings = NULL;
    ld->nwarnings = 0;
    return RMQ_OK;
}

static char *take_errors(struct rmq_cfg_load *ld)
{
    if (ld->nerrs > RMQ_CFG_ERRORS_MAX) {
        char line[96];
        int n =
            snprintf(line, sizeof line, "… and %zu more errors\n", ld->nerrs - RMQ_CFG_ERRORS_MAX);
        rmq_err ae = rmq_buf_append(&ld->errs, line, (size_t)n);
        (void)ae; /* over the cap: the summary line is dropped */
    }
    char *msg = malloc(ld->errs.len + 1);
    if (msg == NULL) {
        return NULL;
    }
    if (ld->errs.len > 0) {
        memcpy(msg, ld->errs.data, ld->errs.len);
    }
    msg[ld->errs.len] = '\0';
    /* drop the final newline: callers print the message as is */
    if (ld->errs.len > 0 && msg[ld->errs.len - 1] == '\n') {
        msg[ld->errs.len - 1] = '\0';
    }
    return msg;
}

rmq_err rmq_settings_load_buffer(const char *name, const char *text, size_t len, char *const *envp,
                                 struct rmq_settings **out, char **errmsg)
{
    struct rmq_cfg_load ld = {0};
    struct rmq_settings *s = NULL;
    rmq_err e = RMQ_OK;
    *out = NULL;
    if (errmsg != NULL) {
        *errmsg = NULL;
    }
    struct file_ctx fc = {&ld, name != NULL ? name : "config", false, envp};
    rmq_buf_init(&ld.errs, 1u << 20);
    if (text != NULL) {
        struct rmq_cfg_parse_ops ops = {.is_raw_key = file_is_raw,
                                        .on_entry = file_entry,
                                        .on_error = file_error,
                                        .arg = &fc,
                                        .file = name,
                                        .read_file = file_read,
                                        .getenv = file_getenv,
                                        .on_file = file_switch};
        e = rmq_cfg_parse(text, len, &ops);
        if (e == RMQ_ERR_MALFORMED) {
            e = RMQ_OK; /* recorded by file_error */
        }
    }
    if (e == RMQ_OK) {
        e = rmq_cfg_env_apply(&ld, envp);
    }
    /* Cross-key rules run even after per-key errors (all problems in one go), but
     * not after a syntax error: the rest of the file was never read. */
    if (e == RMQ_OK && !fc.syntax_error) {
        s = calloc(1, sizeof *s);
        e = s == NULL ? RMQ_ERR_NOMEM : rmq_cfg_build(&ld, s);
    }
    if (e == RMQ_OK && ld.nerrs == 0) {
        e = keep_origins(&ld, s);
    }
    if (e == RMQ_ERR_NOMEM) {
        rmq_cfg_error(&ld, "out of memory while loading the configuration");
    } else if (e == RMQ_OK && ld.nerrs > 0) {
        e = RMQ_ERR_CONFIG;
    }
    if (e != RMQ_OK) {
        rmq_settings_free(s);
        s = NULL;
        if (errmsg != NULL) {
            *errmsg = take_errors(&ld);
        }
    }
    load_release(&ld);
    *out = s;
    return e == RMQ_OK ? RMQ_OK : RMQ_ERR_CONFIG;
}

static rmq_err read_file(const char *path, char **text, size_t *len, char **errmsg)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    const char *why = NULL;
    if (f == NULL) {
        why = strerror(errno);
    } else if ((buf = malloc(FILE_MAX + 1)) == NULL) {
        why = "out of memory";
    } else {
        n = fread(buf, 1, FILE_MAX + 1, f);
        if (ferror(f)) {
            why = strerror(errno);
        } else if (n > FILE_MAX) {
            why = "file larger than 4MB";
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    if (why != NULL) {
        free(buf);
        if (errmsg != NULL &&
            asprintf(errmsg, "%s: cannot read the configuration file: %s", path, why) < 0) {
            *errmsg = NULL;
        }
        return RMQ_ERR_CONFIG;
    }
    *text = buf;
    *len = n;
    return RMQ_OK;
}

rmq_err rmq_settings_load(const char *path, char *const *envp, struct rmq_settings **out,
                          char **errmsg)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (errmsg != NULL) {
        *errmsg = NULL;
    }
    if (path != NULL) {
        RMQ_TRY(read_file(path, &text, &len, errmsg));
    }
    rmq_err e = rmq_settings_load_buffer(path, text, len, envp, out, errmsg);
    free(text);
    return e;
}

void rmq_settings_free(struct rmq_settings *s)
{
    if (s == NULL) {
        return;
    }
    rmq_cfg_settings_release(s);
    free(s);
}

const struct rmq_listener_settings *rmq_settings_listener_by_id(const struct rmq_settings *s,
                                                                const char *id)
{
    for (size_t i = 0; id != NULL && i < s->listener_count; i++) {
        if (strcmp(s->listeners[i].id, id) == 0) {
            return &s->listeners[i];
        }
    }
    return NULL;
}

const struct rmq_listener_settings *rmq_settings_listener_kind(const struct rmq_settings *s,
                                                               enum rmq_listener_kind kind,
                                                               const char *name)
{
    for (size_t i = 0; s != NULL && i < s->listener_count; i++) {
        const struct rmq_listener_settings *l = &s->listeners[i];
        if (l->kind == kind && strcmp(l->name, name) == 0) {
            return l;
        }
    }
    return NULL;
}

const struct rmq_listener_settings *rmq_settings_listener(const struct rmq_settings *s, bool is_ssl,
                                                          const char *name)
{
    return rmq_settings_listener_kind(s, is_ssl ? RMQ_LISTENER_SSL : RMQ_LISTENER_TCP, name);
}

size_t rmq_settings_warning_count(const struct rmq_settings *s)
{
    const struct rmq_cfg_origins *o = s != NULL ? s->internal : NULL;
    return o != NULL ? o->nwarnings : 0;
}

const char *rmq_settings_warning(const struct rmq_settings *s, size_t i)
{
    const struct rmq_cfg_origins *o = s != NULL ? s->internal : NULL;
    return o != NULL && i < o->nwarnings ? o->warnings[i] : NULL;
}

const char *rmq_settings_origin(const struct rmq_settings *s, const char *path)
{
    const struct rmq_cfg_origins *o = s != NULL ? s->internal : NULL;
    for (size_t i = 0; o != NULL && i < o->count; i++) {
        if (strcmp(o->paths[i], path) == 0) {
            return o->origins[i];
        }
    }
    return "default";
}

/* ---- print -------------------------------------------------------------------------------- */

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_line(char ***lines, size_t *n, const struct rmq_settings *s,
                     const struct rmq_cfg_key *k, const void *base, const char *lname,
                     enum rmq_listener_kind kind)
{
    char path[RMQ_CFG_PATH_MAX], value[2048];
    char *line = NULL;
    rmq_cfg_instantiate_for(k, kind, lname, path, sizeof path);
    rmq_cfg_format(k, base, true, value, sizeof value);
    if (asprintf(&line, "%s = %s  # %s", path, value, rmq_settings_origin(s, path)) < 0) {
        return;
    }
    char **nl = realloc(*lines, (*n + 1) * sizeof *nl);
    if (nl == NULL) {
        free(line);
        return;
    }
    *lines = nl;
    nl[(*n)++] = line;
}

void rmq_settings_print(const struct rmq_settings *s, FILE *f)
{
    size_t count, n = 0;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    char **lines = NULL;
    for (size_t i = 0; i < count; i++) {
        if (keys[i].scope == RMQ_CFG_LIST) {
            for (size_t j = 0; j < rmq_cfg_list_len(s, keys[i].list); j++) {
                const void *e = rmq_cfg_list_at(s, keys[i].list, j);
                add_line(&lines, &n, s, &keys[i], e, rmq_cfg_list_name(keys[i].list, e),
                         RMQ_LISTENER_TCP);
            }
            continue;
        }
        if (keys[i].scope == RMQ_CFG_GLOBAL) {
            add_line(&lines, &n, s, &keys[i], s, "", RMQ_LISTENER_TCP);
            continue;
        }
        for (size_t j = 0; j < s->listener_count; j++) {
            const struct rmq_listener_settings *l = &s->listeners[j];
            if (rmq_cfg_key_fits(&keys[i], l->kind)) {
                add_line(&lines, &n, s, &keys[i], l, l->name, l->kind);
            }
        }
    }
    qsort(lines, n, sizeof *lines, cmp_lines);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
}
