/* parse.c — HOCON subset + EMQX 4.4 flat lines; see parse.h. */
#include "config/parse.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader.h"

struct pst {
    struct rmq_reader r;
    unsigned line;
    const struct rmq_cfg_parse_ops *ops; /* NULL in value-only mode */
    char *why;                           /* value-only mode: error text */
    size_t whylen;
    char path[RMQ_CFG_PATH_MAX];
    size_t pathlen;
    unsigned depth;
    const char *file;         /* the file being read (resolves relative includes), or NULL */
    const struct pst *parent; /* the including file's state, NULL at the top */
    unsigned incl_depth;      /* files above this one */
    const char *real;         /* its resolved path (include cycles), or NULL */
    bool drop;                /* the last scalar was an unset ${?VAR}: no assignment */
};

static int peek(const struct pst *p)
{
    return rmq_reader_left(&p->r) > 0 ? p->r.data[p->r.off] : -1;
}

static int peek_at(const struct pst *p, size_t ahead)
{
    return rmq_reader_left(&p->r) > ahead ? p->r.data[p->r.off + ahead] : -1;
}

static void adv(struct pst *p)
{
    uint8_t c;
    if (rmq_reader_u8(&p->r, &c) == RMQ_OK && c == '\n') {
        p->line++;
    }
}

__attribute__((format(printf, 2, 3))) static rmq_err syntax(struct pst *p, const char *fmt, ...)
{
    char msg[RMQ_CFG_PATH_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->ops != NULL && p->ops->on_error != NULL) {
        p->ops->on_error(p->ops->arg, p->line, msg);
    } else if (p->why != NULL && p->whylen > 0) {
        snprintf(p->why, p->whylen, "%s", msg);
    }
    return RMQ_ERR_MALFORMED;
}

static bool is_inline_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void skip_inline_ws(struct pst *p)
{
    while (is_inline_ws(peek(p))) {
        adv(p);
    }
}

/* At a comment start? `#` or `//` (callers decide whether the position allows one). */
static bool at_comment(const struct pst *p)
{
    int c = peek(p);
    return c == '#' || (c == '/' && peek_at(p, 1) == '/');
}

static void skip_to_eol(struct pst *p)
{
    int c;
    while ((c = peek(p)) != -1 && c != '\n') {
        adv(p);
    }
}

/* Skips whitespace, newlines and comments; *saw_nl tells whether a newline passed. */
static void skip_space(struct pst *p, bool *saw_nl)
{
    for (;;) {
        int c = peek(p);
        if (is_inline_ws(c)) {
            adv(p);
        } else if (c == '\n') {
            if (saw_nl != NULL) {
                *saw_nl = true;
            }
            adv(p);
        } else if (at_comment(p)) {
            skip_to_eol(p);
        } else {
            return;
        }
    }
}

static bool is_key_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static rmq_err path_append(struct pst *p, const char *s, size_t n)
{
    size_t need = n + (p->pathlen > 0 ? 1 : 0);
    if (n == 0) {
        return syntax(p, "empty key segment");
    }
    if (need >= sizeof p->path - p->pathlen) {
        return syntax(p, "key too long (over %d characters)", RMQ_CFG_PATH_MAX - 1);
    }
    if (p->pathlen > 0) {
        p->path[p->pathlen++] = '.';
    }
    memcpy(p->path + p->pathlen, s, n);
    p->pathlen += n;
    p->path[p->pathlen] = '\0';
    return RMQ_OK;
}

static rmq_err parse_quoted(struct pst *p, struct rmq_cfg_str *out);

/* key := segment ('.' segment)*; segment := [A-Za-z0-9_-]+ | quoted string */
static rmq_err parse_key(struct pst *p)
{
    for (;;) {
        if (peek(p) == '"') {
            struct rmq_cfg_str s = {0};
            RMQ_TRY(parse_quoted(p, &s));
            rmq_err e = path_append(p, s.p, s.len);
            free(s.p);
            RMQ_TRY(e);
        } else {
            size_t start = p->r.off;
            while (is_key_char(peek(p))) {
                adv(p);
            }
            if (p->r.off == start) {
                int c = peek(p);
                if (c == -1) {
                    return syntax(p, "unexpected end of input, expected a key");
                }
                return syntax(p, "unexpected character '%c' where a key was expected",
                              (c >= 0x20 && c < 0x7f) ? c : '?');
            }
            RMQ_TRY(path_append(p, (const char *)p->r.data + start, p->r.off - start));
        }
        if (peek(p) != '.') {
            return RMQ_OK;
        }
        adv(p);
    }
}

static rmq_err put_utf8(struct pst *p, char *buf, size_t *n, uint32_t cp)
{
    if (cp >= 0xd800 && cp <= 0xdfff) {
        return syntax(p, "\\u escape of a surrogate is not supported");
    }
    if (cp == 0) {
        return syntax(p, "\\u0000 is not allowed in a string");
    }
    if (cp < 0x80) {
        buf[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        buf[(*n)++] = (char)(0xc0 | (cp >> 6));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        buf[(*n)++] = (char)(0xe0 | (cp >> 12));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
    return RMQ_OK;
}

static rmq_err parse_escape(struct pst *p, char *buf, size_t *n)
{
    int c = peek(p);
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    if (c == -1) {
        return syntax(p, "unterminated string");
    }
    adv(p);
    for (size_t i = 0; i < sizeof from - 1; i++) {
        if (c == from[i]) {
            buf[(*n)++] = to[i];
            return RMQ_OK;
        }
    }
    if (c != 'u') {
        return syntax(p,
                      "unknown escape '\\%c' in string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r "
                      "\\t \\uXXXX)",
                      (c >= 0x20 && c < 0x7f) ? c : '?');
    }
    uint32_t cp = 0;
    for (int i = 0; i < 4; i++) {
        int h = peek(p);
        int d = (h >= '0' && h <= '9')   ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0) {
            return syntax(p, "\\u must be followed by 4 hex digits");
        }
        cp = (cp << 4) | (uint32_t)d;
        adv(p);
    }
    return put_utf8(p, buf, n, cp);
}

/* A "double-quoted" string with JSON escapes, on one line. */
static rmq_err parse_quoted(struct pst *p, struct rmq_cfg_str *out)
{
    char *buf = malloc(RMQ_CFG_VALUE_MAX + 4);
    size_t n = 0;
    rmq_err e = RMQ_OK;
    if (buf == NULL) {
        return RMQ_ERR_NOMEM;
    }
    adv(p); /* opening quote */
    for (;;) {
        int c = peek(p);
        if (c == -1 || c == '\n') {
            e = syntax(p, "unterminated string (a quoted string ends on its line)");
            goto fail;
        }
        if (n >= RMQ_CFG_VALUE_MAX) {
            e = syntax(p, "string too long (over %d bytes)", RMQ_CFG_VALUE_MAX);
            goto fail;
        }
        adv(p);
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            if ((e = parse_escape(p, buf, &n)) != RMQ_OK) {
                goto fail;
            }
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n] = '\0';
    out->p = buf;
    out->len = n;
    out->quoted = true;
    return RMQ_OK;
fail:
    free(buf);
    return e;
}

static rmq_err make_str(struct pst *p, size_t start, size_t end, struct rmq_cfg_str *out)
{
    if (end - start > RMQ_CFG_VALUE_MAX) {
        return syntax(p, "value too long (over %d bytes)", RMQ_CFG_VALUE_MAX);
    }
    out->p = malloc(end - start + 1);
    if (out->p == NULL) {
        return RMQ_ERR_NOMEM;
    }
    memcpy(out->p, p->r.data + start, end - start);
    out->p[end - start] = '\0';
    out->len = end - start;
    out->quoted = false;
    return RMQ_OK;
}

/*
 * HOCON substitutions in an unquoted value, from the environment: `${VAR}`
 * must be set (else an error naming it); `${?VAR}` unset is empty text, and
 * when it is the whole value the assignment is dropped (p->drop).
 */
static rmq_err substitute(struct pst *p, struct rmq_cfg_str *s)
{
    if (strstr(s->p, "${") == NULL) {
        return RMQ_OK;
    }
    char *buf = malloc(RMQ_CFG_VALUE_MAX + 1);
    size_t n = 0;
    bool only_unset = true; /* nothing but unset optional substitutions so far */
    const char *q = s->p;
    if (buf == NULL) {
        return RMQ_ERR_NOMEM;
    }
    while (*q != '\0') {
        const char *add = q;
        size_t addlen = 1;
        if (q[0] == '$' && q[1] == '{') {
            const char *close = strchr(q, '}');
            bool opt = q[2] == '?';
            const char *name = q + (opt ? 3 : 2);
            char var[256];
            if (close == NULL || close == name || (size_t)(close - name) >= sizeof var) {
                free(buf);
                return syntax(p, "bad substitution '%.*s' (expected ${NAME} or ${?NAME})",
                              close != NULL ? (int)(close - q + 1) : 2, q);
            }
            memcpy(var, name, (size_t)(close - name));
            var[close - name] = '\0';
            add =
                p->ops != NULL && p->ops->getenv != NULL ? p->ops->getenv(p->ops->arg, var) : NULL;
            if (add == NULL && !opt) {
                free(buf);
                return syntax(p,
                              "substitution ${%s}: environment variable %s is not set (use "
                              "${?%s} to make it optional)",
                              var, var, var);
            }
            if (add != NULL) {
                only_unset = false;
            }
            addlen = add != NULL ? strlen(add) : 0;
            q = close + 1;
        } else {
            only_unset = false;
            q++;
        }
        if (addlen > RMQ_CFG_VALUE_MAX - n) {
            free(buf);
            return syntax(p, "value too long after substitution (over %d bytes)",
                          RMQ_CFG_VALUE_MAX);
        }
        if (addlen > 0) { /* add is NULL for an unset ${?VAR} */
            memcpy(buf + n, add, addlen);
            n += addlen;
        }
    }
    buf[n] = '\0';
    free(s->p);
    s->p = buf;
    s->len = n;
    p->drop = only_unset;
    return RMQ_OK;
}

/*
 * An unquoted value: up to the end of the line, ',', '}' (and ']' in an
 * array), or a comment that starts the value or follows whitespace.
 */
static rmq_err parse_unquoted(struct pst *p, bool in_array, struct rmq_cfg_str *out)
{
    size_t start = p->r.off;
    size_t end = start;
    bool after_ws = true;
    for (;;) {
        int c = peek(p);
        if (c == -1 || c == '\n' || c == ',' || c == '}' || (in_array && c == ']')) {
            break;
        }
        if (after_ws && at_comment(p)) {
            break;
        }
        if (c == '$' && peek_at(p, 1) == '{') {
            /* a substitution: its '}' does not end the value */
            while ((c = peek(p)) != -1 && c != '\n' && c != '}') {
                adv(p);
            }
            if (c != '}') {
                return syntax(p, "unterminated substitution (missing '}' after '${')");
            }
        }
        after_ws = is_inline_ws(c);
        adv(p);
        if (!after_ws) {
            end = p->r.off;
        }
    }
    if (end == start) {
        return syntax(p, "missing value");
    }
    RMQ_TRY(make_str(p, start, end, out));
    rmq_err e = substitute(p, out);
    if (e != RMQ_OK) {
        free(out->p);
        out->p = NULL;
    }
    return e;
}

static rmq_err parse_scalar(struct pst *p, bool in_array, struct rmq_cfg_str *out)
{
    int c = peek(p);
    if (c == '"') {
        return parse_quoted(p, out);
    }
    if (c == '[' || c == '{') {
        return syntax(p,
                      in_array ? "nested arrays and objects in arrays are not supported"
                               : "unexpected '%c'",
                      c);
    }
    return parse_unquoted(p, in_array, out);
}

static rmq_err push_item(struct pst *p, struct rmq_cfg_value *v, struct rmq_cfg_str *s)
{
    if (v->count >= RMQ_CFG_ITEMS_MAX) {
        return syntax(p, "array has more than %d items", RMQ_CFG_ITEMS_MAX);
    }
    struct rmq_cfg_str *n = realloc(v->items, (v->count + 1) * sizeof *n);
    if (n == NULL) {
        return RMQ_ERR_NOMEM;
    }
    v->items = n;
    v->items[v->count++] = *s;
    s->p = NULL;
    return RMQ_OK;
}

/* '[' item (',' | newline) … ']' — items are scalars; may span lines. */
static rmq_err parse_array(struct pst *p, struct rmq_cfg_value *v)
{
    v->is_array = true;
    adv(p); /* '[' */
    for (;;) {
        skip_space(p, NULL);
        int c = peek(p);
        if (c == -1) {
            return syntax(p, "unterminated array (missing ']')");
        }
        if (c == ']') {
            adv(p);
            return RMQ_OK;
        }
        if (c == ',') {
            return syntax(p, "empty array item");
        }
        struct rmq_cfg_str s = {0};
        p->drop = false;
        RMQ_TRY(parse_scalar(p, true, &s));
        rmq_err e = p->drop ? RMQ_OK : push_item(p, v, &s);
        p->drop = false;
        free(s.p);
        RMQ_TRY(e);
        bool nl = false;
        skip_space(p, &nl);
        c = peek(p);
        if (c == ',') {
            adv(p);
        } else if (c != ']' && !nl) {
            return c == -1 ? syntax(p, "unterminated array (missing ']')")
                           : syntax(p, "expected ',' or ']' in array");
        }
    }
}

/* At '[': an IPv6 bind such as `[::1]:1883` or `[::1]:${PORT}` (not an array)? Looks ahead. */
static bool ipv6_bind_ahead(const struct pst *p)
{
    size_t i = 1;
    bool colon = false;
    int c;
    while ((c = peek_at(p, i)) != -1 && c != ']') {
        /* hex digits, ':', '.', and a zone after '%' (fe80::1%eth0) */
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && c != ':' && c != '.' && c != '%') {
            return false;
        }
        colon = colon || c == ':';
        i++;
    }
    if (c != ']' || !colon || peek_at(p, i + 1) != ':') {
        return false;
    }
    c = peek_at(p, i + 2);
    return (c >= '0' && c <= '9') || (c == '$' && peek_at(p, i + 3) == '{');
}

/* The rest of the line, trimmed: an EMQX 4.4 flat value. */
static rmq_err parse_raw(struct pst *p, struct rmq_cfg_value *v)
{
    v->raw = true;
    if (peek(p) == '"') {
        return parse_quoted(p, &v->s);
    }
    if (peek(p) == '[' && !ipv6_bind_ahead(p)) {
        return parse_array(p, v);
    }
    size_t start = p->r.off;
    size_t end = start;
    int c;
    while ((c = peek(p)) != -1 && c != '\n') {
        adv(p);
        if (!is_inline_ws(c)) {
            end = p->r.off;
        }
    }
    if (end == start) {
        return syntax(p, "missing value");
    }
    return make_str(p, start, end, &v->s);
}

/* After a value: only whitespace, a comment, or a separator may follow. */
static rmq_err expect_value_end(struct pst *p)
{
    skip_inline_ws(p);
    int c = peek(p);
    if (c == -1 || c == '\n' || c == ',' || c == '}' || at_comment(p)) {
        return RMQ_OK;
    }
    return syntax(p, "unexpected text after the value of %s", p->path);
}

static rmq_err parse_members(struct pst *p, bool braced);

static rmq_err parse_block(struct pst *p)
{
    if (p->depth >= RMQ_CFG_DEPTH_MAX) {
        return syntax(p, "blocks nested deeper than %d", RMQ_CFG_DEPTH_MAX);
    }
    adv(p); /* '{' */
    p->depth++;
    rmq_err e = parse_members(p, true);
    p->depth--;
    return e;
}

/* At '[': is the first item an object? (Looks ahead only.) */
static bool array_of_objects(const struct pst *p)
{
    struct pst q = *p;
    adv(&q); /* '[' */
    skip_space(&q, NULL);
    return peek(&q) == '{';
}

/*
 * '[' '{' members '}' (',' | newline) … ']' — a list of objects. Object i
 * (from 1) is parsed as the block `path.i { … }`, so its leaves arrive as
 * `path.i.key`: the paths EMQX's environment form `EMQX_PATH__i__KEY` gives.
 */
static rmq_err parse_object_array(struct pst *p)
{
    size_t saved = p->pathlen;
    unsigned idx = 0;
    adv(p); /* '[' */
    for (;;) {
        skip_space(p, NULL);
        int c = peek(p);
        if (c == -1) {
            return syntax(p, "unterminated array (missing ']')");
        }
        if (c == ']') {
            adv(p);
            return RMQ_OK;
        }
        if (c != '{') {
            return syntax(p, "array %s mixes objects with other values (only {…} items allowed)",
                          p->path);
        }
        if (idx >= RMQ_CFG_ITEMS_MAX) {
            return syntax(p, "array has more than %d items", RMQ_CFG_ITEMS_MAX);
        }
        char num[16];
        int n = snprintf(num, sizeof num, "%u", ++idx);
        RMQ_TRY(path_append(p, num, (size_t)n));
        rmq_err e = parse_block(p);
        p->pathlen = saved;
        p->path[saved] = '\0';
        RMQ_TRY(e);
        bool nl = false;
        skip_space(p, &nl);
        c = peek(p);
        if (c == ',') {
            adv(p);
        } else if (c != ']' && !nl) {
            return c == -1 ? syntax(p, "unterminated array (missing ']')")
                           : syntax(p, "expected ',' or ']' after an object in array %s", p->path);
        }
    }
}

static rmq_err parse_assignment(struct pst *p, bool top)
{
    struct rmq_cfg_value v = {0};
    unsigned line = p->line;
    rmq_err e;
    skip_inline_ws(p);
    p->drop = false;
    if (peek(p) == '{') {
        return parse_block(p);
    }
    if (top && p->ops->is_raw_key != NULL && p->ops->is_raw_key(p->path, p->ops->arg)) {
        e = parse_raw(p, &v);
    } else if (peek(p) == '[' && ipv6_bind_ahead(p)) {
        e = parse_unquoted(p, false, &v.s);
    } else if (peek(p) == '[' && array_of_objects(p)) {
        e = parse_object_array(p);
        return e == RMQ_OK ? expect_value_end(p) : e;
    } else if (peek(p) == '[') {
        e = parse_array(p, &v);
    } else {
        e = parse_scalar(p, false, &v.s);
    }
    if (e == RMQ_OK) {
        e = expect_value_end(p);
    }
    if (e == RMQ_OK && !p->drop) {
        e = p->ops->on_entry(p->ops->arg, p->path, &v, line);
    }
    p->drop = false;
    rmq_cfg_value_clear(&v);
    return e;
}

static rmq_err parse_member(struct pst *p)
{
    size_t saved = p->pathlen;
    rmq_err e = parse_key(p);
    if (e == RMQ_OK) {
        skip_inline_ws(p);
        int c = peek(p);
        if (c == '{') {
            e = parse_block(p);
        } else if (c == '=' || c == ':') {
            adv(p);
            e = parse_assignment(p, saved == 0);
        } else if (c == -1 || c == '\n') {
            e = syntax(p, "key %s has no value (expected '=', ':' or '{')", p->path);
        } else {
            e = syntax(p, "expected '=', ':' or '{' after key %s", p->path);
        }
    }
    p->pathlen = saved;
    p->path[saved] = '\0';
    return e;
}

static bool at_word(const struct pst *p, const char *w, size_t *at)
{
    size_t i = *at;
    for (; *w != '\0'; w++, i++) {
        if (peek_at(p, i) != (unsigned char)*w) {
            return false;
        }
    }
    *at = i;
    return true;
}

/* At `include "f"`, `include required("f")` or `include file("f")`? */
static bool at_include(const struct pst *p)
{
    size_t i = 0;
    if (!at_word(p, "include", &i) || !is_inline_ws(peek_at(p, i))) {
        return false;
    }
    while (is_inline_ws(peek_at(p, i))) {
        i++;
    }
    size_t j = i;
    return peek_at(p, i) == '"' || at_word(p, "required(", &i) || at_word(p, "file(", &j);
}

static bool bom_skipped(struct pst *p)
{
    if (peek(p) == 0xef && peek_at(p, 1) == 0xbb && peek_at(p, 2) == 0xbf) {
        p->r.off += 3;
        return true;
    }
    return false;
}

static rmq_err check_nul(struct pst *p);

/* Resolves `name` against the including file's directory into out. */
static void include_path(const struct pst *p, const char *name, char *out, size_t outlen)
{
    const char *slash = p->file != NULL ? strrchr(p->file, '/') : NULL;
    if (name[0] == '/' || slash == NULL) {
        snprintf(out, outlen, "%s", name);
    } else {
        snprintf(out, outlen, "%.*s/%s", (int)(slash - p->file), p->file, name);
    }
}

/* Reads the file `name` and parses its members at the current path. */
static rmq_err include_file(struct pst *p, const char *name)
{
    char shown[PATH_MAX], real[PATH_MAX], why[256] = "";
    char *text = NULL;
    size_t len = 0;
    if (p->ops == NULL || p->ops->read_file == NULL) {
        return syntax(p, "include \"%s\": includes are not allowed here", name);
    }
    if (p->incl_depth >= RMQ_CFG_INCLUDE_MAX) {
        return syntax(p, "include \"%s\": includes nested deeper than %d", name,
                      RMQ_CFG_INCLUDE_MAX);
    }
    include_path(p, name, shown, sizeof shown);
    if (realpath(shown, real) == NULL) {
        return syntax(p, "include \"%s\": cannot read %s: %s", name, shown, strerror(errno));
    }
    for (const struct pst *q = p; q != NULL; q = q->parent) {
        if (q->real != NULL && strcmp(q->real, real) == 0) {
            return syntax(p, "include \"%s\": include cycle (%s is already being read)", name,
                          real);
        }
    }
    if (p->ops->read_file(p->ops->arg, real, &text, &len, why, sizeof why) != RMQ_OK) {
        return syntax(p, "include \"%s\": cannot read %s: %s", name, shown, why);
    }
    struct pst c = {.r = rmq_reader_make(text, len),
                    .line = 1,
                    .ops = p->ops,
                    .depth = p->depth,
                    .file = shown,
                    .real = real,
                    .parent = p,
                    .incl_depth = p->incl_depth + 1};
    memcpy(c.path, p->path, p->pathlen + 1);
    c.pathlen = p->pathlen;
    if (p->ops->on_file != NULL) {
        p->ops->on_file(p->ops->arg, shown);
    }
    rmq_err e = check_nul(&c);
    if (e == RMQ_OK) {
        bom_skipped(&c);
        e = parse_members(&c, false);
    }
    if (p->ops->on_file != NULL) {
        p->ops->on_file(p->ops->arg, p->file);
    }
    free(text);
    return e;
}

static rmq_err parse_include(struct pst *p)
{
    size_t i = 0;
    bool wrapped = false;
    struct rmq_cfg_str name = {0};
    (void)at_word(p, "include", &i);
    p->r.off += i;
    skip_inline_ws(p);
    i = 0;
    if (at_word(p, "required(", &i) || at_word(p, "file(", &i)) {
        p->r.off += i;
        wrapped = true;
    }
    if (peek(p) != '"') {
        return syntax(p, "include expects a quoted file name");
    }
    RMQ_TRY(parse_quoted(p, &name));
    rmq_err e = RMQ_OK;
    if (wrapped && peek(p) != ')') {
        e = syntax(p, "include: missing ')' after the file name");
    } else if (wrapped) {
        adv(p);
    }
    skip_inline_ws(p);
    int c = peek(p);
    if (e == RMQ_OK && !(c == -1 || c == '\n' || c == ',' || c == '}' || at_comment(p))) {
        e = syntax(p, "unexpected text after include \"%s\"", name.p);
    }
    if (e == RMQ_OK) {
        e = include_file(p, name.p);
    }
    free(name.p);
    return e;
}

static rmq_err parse_members(struct pst *p, bool braced)
{
    for (;;) {
        skip_space(p, NULL);
        int c = peek(p);
        if (c == ',') {
            adv(p);
            continue;
        }
        if (c == -1) {
            return braced ? syntax(p, "unexpected end of input: missing '}'") : RMQ_OK;
        }
        if (c == '}') {
            if (!braced) {
                return syntax(p, "unexpected '}' (no block is open)");
            }
            adv(p);
            return RMQ_OK;
        }
        if (at_include(p)) {
            RMQ_TRY(parse_include(p));
            continue;
        }
        RMQ_TRY(parse_member(p));
    }
}

static rmq_err check_nul(struct pst *p)
{
    const void *z = memchr(p->r.data, '\0', p->r.len);
    if (z == NULL) {
        return RMQ_OK;
    }
    size_t at = (size_t)((const uint8_t *)z - p->r.data);
    for (size_t i = 0; i < at; i++) {
        if (p->r.data[i] == '\n') {
            p->line++;
        }
    }
    return syntax(p, "NUL byte in input");
}

rmq_err rmq_cfg_parse(const char *text, size_t len, const struct rmq_cfg_parse_ops *ops)
{
    char real[PATH_MAX];
    struct pst p = {.r = rmq_reader_make(text, len), .line = 1, .ops = ops, .file = ops->file};
    if (ops->file != NULL && realpath(ops->file, real) != NULL) {
        p.real = real;
    }
    RMQ_TRY(check_nul(&p));
    bom_skipped(&p);
    skip_space(&p, NULL);
    if (peek(&p) == '{') {
        /* optional root braces: `{ a = 1 }` */
        adv(&p);
        p.depth++;
        RMQ_TRY(parse_members(&p, true));
        skip_space(&p, NULL);
        if (peek(&p) != -1) {
            return syntax(&p, "unexpected text after the closing '}' of the root block");
        }
        return RMQ_OK;
    }
    return parse_members(&p, false);
}

rmq_err rmq_cfg_parse_value(const char *text, size_t len, struct rmq_cfg_value *out, char *why,
                            size_t whylen)
{
    struct pst p = {.r = rmq_reader_make(text, len), .line = 1, .why = why, .whylen = whylen};
    rmq_err e = check_nul(&p);
    memset(out, 0, sizeof *out);
    if (e != RMQ_OK) {
        return e;
    }
    bom_skipped(&p);
    skip_inline_ws(&p);
    if (peek(&p) == -1) {
        /* NAME= : an empty string (unsets an optional string; an error for other types) */
        out->s.p = calloc(1, 1);
        out->raw = true;
        return out->s.p != NULL ? RMQ_OK : RMQ_ERR_NOMEM;
    }
    if (peek(&p) == '[' && array_of_objects(&p)) {
        e = syntax(&p, "a list of objects cannot be given as one value; set its keys one by one "
                       "(e.g. EMQX_AUTHENTICATION__1__MECHANISM)");
    } else if (peek(&p) == '[' && !ipv6_bind_ahead(&p)) {
        e = parse_array(&p, out);
    } else if (peek(&p) == '"') {
        e = parse_quoted(&p, &out->s);
    } else {
        e = parse_raw(&p, out);
        if (e == RMQ_OK && peek(&p) == '\n') {
            e = syntax(&p, "newline in value");
        }
    }
    if (e == RMQ_OK) {
        bool nl = false;
        skip_space(&p, &nl);
        if (peek(&p) != -1) {
            e = syntax(&p, "unexpected text after the value");
        }
    }
    out->raw = true;
    if (e != RMQ_OK) {
        rmq_cfg_value_clear(out);
    }
    return e;
}

void rmq_cfg_value_clear(struct rmq_cfg_value *v)
{
    free(v->s.p);
    for (size_t i = 0; i < v->count; i++) {
        free(v->items[i].p);
    }
    free(v->items);
    memset(v, 0, sizeof *v);
}

static void append(char *out, size_t outlen, size_t *n, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        for (const char *q = parts[i]; *q != '\0' && *n + 1 < outlen; q++) {
            out[(*n)++] = *q;
        }
    }
    out[*n] = '\0';
}

static void show_str(const struct rmq_cfg_str *s, char *out, size_t outlen, size_t *n)
{
    const char *q = s->quoted ? "\"" : "";
    append(out, outlen, n, q, s->p ? s->p : "", q);
}

void rmq_cfg_value_show(const struct rmq_cfg_value *v, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    if (!v->is_array) {
        show_str(&v->s, out, outlen, &n);
    } else {
        append(out, outlen, &n, "[", "", "");
        for (size_t i = 0; i < v->count; i++) {
            append(out, outlen, &n, i > 0 ? ", " : "", "", "");
            show_str(&v->items[i], out, outlen, &n);
        }
        append(out, outlen, &n, "]", "", "");
    }
    /* control characters would break the one-line-per-error rule */
    for (size_t i = 0; out[i] != '\0'; i++) {
        if ((unsigned char)out[i] < 0x20) {
            out[i] = '?';
        }
    }
}
