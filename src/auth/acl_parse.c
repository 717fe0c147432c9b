/*
 * acl_parse.c — EMQX acl.conf: Erlang terms, each ending with '.':
 *
 *   {allow|deny, Who, Action, Topics}.     {allow|deny, all}.
 *   Who    = all | {username|user, "u" | {re, "regex"}}
 *          | {clientid|client, "c" | {re, "regex"}}
 *          | {ipaddr, "CIDR"} | {ipaddrs, ["CIDR", …]}
 *          | {'and', [Who, …]} | {'or', [Who, …]}
 *   Action = publish | subscribe | all (| pubsub, EMQX 4)
 *          | {publish|subscribe|all, [{qos, 0|1|2|[…]}, {retain, true|false|all}]}
 *   Topics = ["t/${username}/#", {eq, "t/#"}, …]
 *
 * Comments run from '%' to the end of the line. The text is read through the
 * bounded reader into a small term tree (depth and sizes capped), which is
 * then turned into rules; every error names source:line and what was
 * expected. Regular expressions are POSIX extended (regcomp), which covers
 * the anchors, classes and alternations acl.conf files use.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl_int.h"
#include "common/reader.h"

#define DEPTH_MAX 16
#define KIDS_MAX 10000
#define STR_MAX 65535

enum term_kind { T_ATOM, T_STRING, T_INT, T_TUPLE, T_LIST };

struct term {
    enum term_kind k;
    int line;
    char *s; /* owned: atom or string text, NUL-terminated */
    size_t n;
    long long i;
    struct term **kids; /* owned */
    size_t nk;
};

struct pctx {
    struct rmq_reader r;
    const char *name;
    int line;
    char *err;
    size_t errlen;
    bool failed;
};

static void fail(struct pctx *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct pctx *p, int line, const char *fmt, ...)
{
    if (p->failed) {
        return;
    }
    p->failed = true;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->name, line, what);
}

static void term_free(struct term *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->nk; i++) {
        term_free(t->kids[i]);
    }
    free(t->kids);
    free(t->s);
    free(t);
}

/* ---- lexing ------------------------------------------------------------------------------ */

static int peek(const struct pctx *p)
{
    return rmq_reader_left(&p->r) > 0 ? p->r.data[p->r.off] : -1;
}

static int next(struct pctx *p)
{
    uint8_t c;
    if (rmq_reader_u8(&p->r, &c) != RMQ_OK) {
        return -1;
    }
    if (c == '\n') {
        p->line++;
    }
    return c;
}

static void skip_space(struct pctx *p)
{
    for (;;) {
        int c = peek(p);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            (void)next(p);
        } else if (c == '%') {
            while (c != -1 && c != '\n') {
                (void)next(p);
                c = peek(p);
            }
        } else {
            return;
        }
    }
}

static bool is_atom_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '@';
}

/* Reads a quoted string or quoted atom body up to `q`, handling escapes. */
static char *read_quoted(struct pctx *p, int q, size_t *n)
{
    int line = p->line;
    char *buf = malloc(64);
    size_t len = 0, cap = 64;
    if (!buf) {
        fail(p, line, "out of memory");
        return NULL;
    }
    for (;;) {
        int c = next(p);
        if (c == -1) {
            fail(p, line, "unterminated %s", q == '"' ? "string" : "quoted atom");
            free(buf);
            return NULL;
        }
        if (c == q) {
            break;
        }
        if (c == '\\') {
            c = next(p);
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
            if (c == -1) {
                continue;
            }
        }
        /* no topic, name or address holds U+0000 (MQTT-1.5.4-2), escaped or not */
        if (c == 0) {
            fail(p, p->line, "NUL byte in a %s", q == '"' ? "string" : "quoted atom");
            free(buf);
            return NULL;
        }
        if (len + 1 >= cap) {
            char *nb = cap >= STR_MAX ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                fail(p, line, "string longer than 65535 bytes");
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        buf[len++] = (char)c;
    }
    buf[len] = '\0';
    *n = len;
    return buf;
}

static struct term *term_new(struct pctx *p, enum term_kind k)
{
    struct term *t = calloc(1, sizeof *t);
    if (!t) {
        fail(p, p->line, "out of memory");
        return NULL;
    }
    t->k = k;
    t->line = p->line;
    return t;
}

static struct term *parse_term(struct pctx *p, int depth);

static bool add_kid(struct pctx *p, struct term *t, struct term *kid)
{
    if (t->nk >= KIDS_MAX) {
        fail(p, kid->line, "more than 10000 elements in one tuple or list");
        return false;
    }
    if ((t->nk & (t->nk - 1)) == 0) { /* grow at powers of two */
        struct term **nk = realloc(t->kids, (t->nk ? t->nk * 2 : 1) * sizeof *nk);
        if (!nk) {
            fail(p, kid->line, "out of memory");
            return false;
        }
        t->kids = nk;
    }
    t->kids[t->nk++] = kid;
    return true;
}

/* After '{' or '[': elements separated by ',' up to `close`. */
static struct term *parse_seq(struct pctx *p, enum term_kind k, int close, int depth)
{
    struct term *t = term_new(p, k);
    if (!t) {
        return NULL;
    }
    skip_space(p);
    if (peek(p) == close) {
        (void)next(p);
        return t;
    }
    for (;;) {
        struct term *kid = parse_term(p, depth + 1);
        if (!kid || !add_kid(p, t, kid)) {
            term_free(kid);
            term_free(t);
            return NULL;
        }
        skip_space(p);
        int c = next(p);
        if (c == close) {
            return t;
        }
        if (c != ',') {
            char got[8];
            snprintf(got, sizeof got, "%c", c == -1 ? '?' : c);
            /* at the end of the file, name the line the tuple or list opened on */
            fail(p, c == -1 ? t->line : p->line, "expected ',' or '%c' in a %s, got '%s'", close,
                 close == '}' ? "tuple" : "list", c == -1 ? "end of file" : got);
            term_free(t);
            return NULL;
        }
    }
}

static struct term *parse_scalar(struct pctx *p, int c)
{
    struct term *t = NULL;
    if (c == '"' || c == '\'') {
        (void)next(p);
        t = term_new(p, c == '"' ? T_STRING : T_ATOM);
        if (t && !(t->s = read_quoted(p, c, &t->n))) {
            term_free(t);
            return NULL;
        }
        return t;
    }
    if (c >= '0' && c <= '9') {
        t = term_new(p, T_INT);
        while (t && (c = peek(p)) >= '0' && c <= '9') {
            (void)next(p);
            t->i = t->i < 1000000 ? t->i * 10 + (c - '0') : t->i;
        }
        return t;
    }
    if (c >= 'a' && c <= 'z') {
        t = term_new(p, T_ATOM);
        const uint8_t *start = p->r.data + p->r.off;
        size_t n = 0;
        while (is_atom_char(peek(p))) {
            (void)next(p);
            n++;
        }
        if (t && !(t->s = strndup((const char *)start, n))) {
            term_free(t);
            fail(p, p->line, "out of memory");
            return NULL;
        }
        if (t) {
            t->n = n;
        }
        return t;
    }
    char got[8];
    snprintf(got, sizeof got, "%c", c);
    fail(p, p->line, "expected a term ({…}, […], an atom, a \"string\" or a number), got '%s'",
         c == -1 ? "end of file" : got);
    return NULL;
}

/* <<"…">> is read as a string. */
static struct term *parse_binary(struct pctx *p)
{
    (void)next(p);
    (void)next(p);
    skip_space(p);
    struct term *t = NULL;
    if (peek(p) == '"') {
        t = parse_scalar(p, '"');
    }
    skip_space(p);
    if (!t || next(p) != '>' || next(p) != '>') {
        term_free(t);
        fail(p, p->line, "expected <<\"string\">>");
        return NULL;
    }
    return t;
}

static struct term *parse_term(struct pctx *p, int depth)
{
    if (depth > DEPTH_MAX) {
        fail(p, p->line, "terms nested deeper than 16");
        return NULL;
    }
    skip_space(p);
    int c = peek(p);
    if (c == '{' || c == '[') {
        (void)next(p);
        return parse_seq(p, c == '{' ? T_TUPLE : T_LIST, c == '{' ? '}' : ']', depth);
    }
    if (c == '<' && rmq_reader_left(&p->r) > 1 && p->r.data[p->r.off + 1] == '<') {
        return parse_binary(p);
    }
    return parse_scalar(p, c);
}

/* ---- terms to rules ---------------------------------------------------------------------- */

static bool is_atom(const struct term *t, const char *a)
{
    return t->k == T_ATOM && strcmp(t->s, a) == 0;
}

static const char *show(const struct term *t, char *buf, size_t n)
{
    switch (t->k) {
    case T_ATOM:
        snprintf(buf, n, "%s", t->s);
        break;
    case T_STRING:
        snprintf(buf, n, "\"%.60s\"", t->s);
        break;
    case T_INT:
        snprintf(buf, n, "%lld", t->i);
        break;
    case T_TUPLE:
        snprintf(buf, n, "a tuple of %zu elements", t->nk);
        break;
    default:
        snprintf(buf, n, "a list");
        break;
    }
    return buf;
}

static void fail_got(struct pctx *p, const struct term *t, const char *expected)
{
    char got[100], msg[400];
    snprintf(msg, sizeof msg, "expected %s, got %s", expected, show(t, got, sizeof got));
    fail(p, t->line, "%s", msg);
}

static struct who *who_new(struct pctx *p, enum who_kind k, int line)
{
    struct who *w = calloc(1, sizeof *w);
    if (!w) {
        fail(p, line, "out of memory");
        return NULL;
    }
    w->kind = k;
    return w;
}

/* glibc's regcomp expands a bounded repetition ({m,n}) by copying what it
 * repeats, and nested intervals multiply: "((a{99}){99}){99}" takes 200 MB,
 * one more level 20 GB (fuzz_auth_acl ran out of memory). An ACL file is the
 * operator's, but a typo must not
 * take the broker down: the expanded size is estimated (atoms, times the
 * intervals and `+` around them) and a pattern over RE_COST_MAX, longer than
 * RE_LEN_MAX or nested deeper than RE_DEPTH_MAX is refused before regcomp. */
#define RE_COST_MAX 20000
#define RE_LEN_MAX 1024
#define RE_DEPTH_MAX 32

/* {m}, {m,} or {m,n} at s[i] (s[i] == '{'): the most copies it asks for, 0 if
 * it is not an interval (then the brace is a literal); *end: its last byte. */
static uint64_t re_interval(const char *s, size_t i, size_t *end)
{
    uint64_t m = 0, n = 0;
    size_t j = i + 1;
    bool digits = false, comma = false, ndigits = false;
    for (; s[j] >= '0' && s[j] <= '9'; j++, digits = true) {
        m = m < 1000000 ? m * 10 + (uint64_t)(s[j] - '0') : m;
    }
    if (s[j] == ',') {
        comma = true;
        for (j++; s[j] >= '0' && s[j] <= '9'; j++, ndigits = true) {
            n = n < 1000000 ? n * 10 + (uint64_t)(s[j] - '0') : n;
        }
    }
    if (!digits || s[j] != '}') {
        return 0;
    }
    *end = j;
    uint64_t most = ndigits ? (n > m ? n : m) : comma ? m + 1 : m;
    return most ? most : 1;
}

/* Index of the ']' closing the bracket expression opened at s[i]. */
static size_t re_bracket_end(const char *s, size_t i)
{
    size_t j = i + 1;
    if (s[j] == '^') {
        j++;
    }
    if (s[j] == ']') {
        j++; /* a ']' first is a member */
    }
    while (s[j] && s[j] != ']') {
        j++;
    }
    return s[j] ? j : j - 1;
}

/* NULL if the pattern may be compiled, else why not. */
static const char *re_too_costly(const char *s)
{
    if (strlen(s) > RE_LEN_MAX) {
        return "longer than 1024 bytes";
    }
    uint64_t outer[RE_DEPTH_MAX];
    int depth = 0;
    uint64_t cur = 0;  /* estimated size of the group being read */
    uint64_t last = 0; /* size of the last item, which a repetition applies to */
    for (size_t i = 0; s[i]; i++) {
        size_t end = i;
        uint64_t times;
        if (s[i] == '\\' && s[i + 1]) {
            i++;
            last = 1;
            cur++;
        } else if (s[i] == '[') {
            i = re_bracket_end(s, i);
            last = 1;
            cur++;
        } else if (s[i] == '(') {
            if (depth == RE_DEPTH_MAX) {
                return "groups nested deeper than 32";
            }
            outer[depth++] = cur;
            cur = 0;
            last = 0;
        } else if (s[i] == ')' && depth > 0) {
            last = cur ? cur : 1;
            cur = outer[--depth] + last;
        } else if (s[i] == '{' && last && (times = re_interval(s, i, &end)) != 0) {
            if (times > RE_COST_MAX) {
                return "a repetition count over 20000";
            }
            cur += last * (times - 1);
            last *= times;
            i = end;
        } else if (s[i] == '+' && last) {
            cur += last;
            last *= 2;
        } else if (s[i] == '|') {
            last = 0;
        } else if (s[i] != '*' && s[i] != '?') {
            last = 1;
            cur++;
        }
        if (cur > RE_COST_MAX || last > RE_COST_MAX) {
            return "too large once its repetitions are expanded (nested {m,n})";
        }
    }
    for (; depth > 0; depth--) {
        cur += outer[depth - 1];
    }
    return cur > RE_COST_MAX ? "too large once its repetitions are expanded (nested {m,n})" : NULL;
}

/* {username|clientid, "x" | {re, "regex"}} */
static struct who *who_name(struct pctx *p, const struct term *v, bool user)
{
    bool re =
        v->k == T_TUPLE && v->nk == 2 && is_atom(v->kids[0], "re") && v->kids[1]->k == T_STRING;
    if (!re && v->k != T_STRING) {
        fail_got(p, v, "a \"string\" or {re, \"regex\"}");
        return NULL;
    }
    const struct term *s = re ? v->kids[1] : v;
    struct who *w = who_new(
        p, user ? (re ? WHO_USERNAME_RE : WHO_USERNAME) : (re ? WHO_CLIENTID_RE : WHO_CLIENTID),
        v->line);
    if (w && !(w->str = strdup(s->s))) {
        fail(p, v->line, "out of memory");
    } else if (w && re) {
        const char *costly = re_too_costly(s->s);
        int rc = costly ? 0 : regcomp(&w->re, s->s, REG_EXTENDED | REG_NOSUB);
        if (costly) {
            fail(p, s->line, "regular expression \"%.60s\" refused: %s", s->s, costly);
        } else if (rc != 0) {
            char why[200], msg[320];
            regerror(rc, &w->re, why, sizeof why);
            snprintf(msg, sizeof msg, "invalid regular expression \"%.60s\": %s", s->s, why);
            fail(p, s->line, "%s", msg);
        } else {
            w->has_re = true;
        }
    }
    if (p->failed) {
        rmq_acl__who_free(w);
        return NULL;
    }
    return w;
}

static struct who *who_cidrs(struct pctx *p, const struct term *v)
{
    size_t n = v->k == T_LIST ? v->nk : 1;
    if (n == 0) {
        fail_got(p, v, "a non-empty list of IP addresses or CIDRs");
        return NULL;
    }
    struct who *w = who_new(p, WHO_IPADDRS, v->line);
    if (!w || !(w->cidrs = calloc(n ? n : 1, sizeof *w->cidrs))) {
        rmq_acl__who_free(w);
        fail(p, v->line, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct term *s = v->k == T_LIST ? v->kids[i] : v;
        if (s->k != T_STRING || !rmq_acl__parse_cidr(s->s, s->n, &w->cidrs[i])) {
            fail_got(p, s, "an IP address or CIDR such as \"10.0.0.0/8\"");
            rmq_acl__who_free(w);
            return NULL;
        }
        w->n_cidrs++;
    }
    return w;
}

static struct who *who_from(struct pctx *p, const struct term *t, int depth);

static struct who *who_group(struct pctx *p, const struct term *v, bool and, int depth)
{
    if (v->k != T_LIST || v->nk == 0) {
        fail_got(p, v, "a non-empty list of Who terms");
        return NULL;
    }
    struct who *w = who_new(p, and? WHO_AND : WHO_OR, v->line);
    if (w && !(w->kids = calloc(v->nk, sizeof *w->kids))) {
        rmq_acl__who_free(w);
        fail(p, v->line, "out of memory");
        return NULL;
    }
    for (size_t i = 0; w && i < v->nk; i++) {
        struct who *k = who_from(p, v->kids[i], depth + 1);
        if (!k) {
            rmq_acl__who_free(w);
            return NULL;
        }
        w->kids[w->n_kids++] = k;
    }
    return w;
}

static struct who *who_from(struct pctx *p, const struct term *t, int depth)
{
    static const char *const expected =
        "all, {username, …}, {clientid, …}, {ipaddr, \"CIDR\"}, {ipaddrs, […]}, "
        "{'and', […]} or {'or', […]}";
    if (is_atom(t, "all")) {
        return who_new(p, WHO_ALL, t->line);
    }
    if (t->k != T_TUPLE || t->nk != 2 || t->kids[0]->k != T_ATOM || depth > DEPTH_MAX) {
        fail_got(p, t, expected);
        return NULL;
    }
    const struct term *k = t->kids[0], *v = t->kids[1];
    if (is_atom(k, "username") || is_atom(k, "user")) {
        return who_name(p, v, true);
    }
    if (is_atom(k, "clientid") || is_atom(k, "client")) {
        return who_name(p, v, false);
    }
    if (is_atom(k, "ipaddr") || is_atom(k, "ipaddrs")) {
        if (is_atom(k, "ipaddr") && v->k != T_STRING) {
            fail_got(p, v, "an IP address or CIDR string");
            return NULL;
        }
        return who_cidrs(p, v);
    }
    if (is_atom(k, "and") || is_atom(k, "or")) {
        return who_group(p, v, is_atom(k, "and"), depth);
    }
    fail_got(p, k, expected);
    return NULL;
}

static bool qos_from(struct pctx *p, const struct term *v, unsigned *mask)
{
    size_t n = v->k == T_LIST ? v->nk : 1;
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        const struct term *q = v->k == T_LIST ? v->kids[i] : v;
        if (q->k != T_INT || q->i > 2) {
            fail_got(p, q, "a QoS 0, 1 or 2 (or a list of them)");
            return false;
        }
        *mask |= 1u << q->i;
    }
    if (*mask == 0) {
        fail_got(p, v, "a QoS 0, 1 or 2 (or a list of them)");
        return false;
    }
    return true;
}

static bool qualifiers(struct pctx *p, const struct term *l, struct acl_rule *r)
{
    if (l->k != T_LIST) {
        fail_got(p, l, "a list of qualifiers [{qos, …}, {retain, …}]");
        return false;
    }
    for (size_t i = 0; i < l->nk; i++) {
        const struct term *q = l->kids[i];
        if (q->k == T_TUPLE && q->nk == 2 && is_atom(q->kids[0], "qos")) {
            if (!qos_from(p, q->kids[1], &r->qos_mask)) {
                return false;
            }
        } else if (q->k == T_TUPLE && q->nk == 2 && is_atom(q->kids[0], "retain")) {
            const struct term *v = q->kids[1];
            if (is_atom(v, "true") || is_atom(v, "false") || is_atom(v, "all")) {
                r->retain = is_atom(v, "all") ? -1 : is_atom(v, "true");
            } else {
                fail_got(p, v, "true, false or all");
                return false;
            }
        } else {
            fail_got(p, q, "{qos, …} or {retain, true|false|all}");
            return false;
        }
    }
    return true;
}

static bool action_from(struct pctx *p, const struct term *t, struct acl_rule *r)
{
    const struct term *a = t;
    if (t->k == T_TUPLE && t->nk == 2) {
        a = t->kids[0];
    }
    if (is_atom(a, "publish")) {
        r->actions = RMQ_ACL_PUBLISH;
    } else if (is_atom(a, "subscribe")) {
        r->actions = RMQ_ACL_SUBSCRIBE;
    } else if (is_atom(a, "all") || is_atom(a, "pubsub")) {
        r->actions = RMQ_ACL_PUBLISH | RMQ_ACL_SUBSCRIBE;
    } else {
        fail_got(p, a, "publish, subscribe, all or {Action, [{qos, …}, {retain, …}]}");
        return false;
    }
    return a == t || qualifiers(p, t->kids[1], r);
}

/* A rule filter: levels separated by '/', '#' only as the whole last level,
 * '+' only as a whole level. */
static bool filter_valid(const char *f, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool start = i == 0 || f[i - 1] == '/';
        bool end = i + 1 == n || f[i + 1] == '/';
        if ((f[i] == '+' && !(start && end)) || (f[i] == '#' && !(start && i + 1 == n))) {
            return false;
        }
    }
    return true;
}

static bool topic_from(struct pctx *p, const struct term *t, struct acl_topic *out)
{
    bool eq =
        t->k == T_TUPLE && t->nk == 2 && is_atom(t->kids[0], "eq") && t->kids[1]->k == T_STRING;
    const struct term *s = eq ? t->kids[1] : t;
    if (s->k != T_STRING) {
        fail_got(p, t, "a topic filter \"…\" or {eq, \"…\"}");
        return false;
    }
    if (!eq && !filter_valid(s->s, s->n)) {
        fail_got(p, s, "a topic filter ('+' and '#' as whole levels, '#' last)");
        return false;
    }
    const char *bad = eq ? NULL : rmq_acl__unknown_placeholder(s->s, s->n);
    if (bad) {
        fail(p, s->line,
             "unsupported placeholder \"%.40s\" (supported: ${username}, ${clientid}, "
             "${cert_common_name}, ${cert_subject}, %%u, %%c; use {eq, …} for a literal topic)",
             bad);
        return false;
    }
    out->text = strdup(s->s);
    out->len = s->n;
    out->eq = eq;
    out->has_ph = !eq && rmq_acl__has_placeholder(s->s, s->n);
    if (!out->text) {
        fail(p, t->line, "out of memory");
        return false;
    }
    return true;
}

static bool topics_from(struct pctx *p, const struct term *t, struct acl_rule *r)
{
    size_t n = t->k == T_LIST ? t->nk : 1;
    if (n == 0) {
        fail_got(p, t, "a non-empty list of topic filters");
        return false;
    }
    if (!(r->topics = calloc(n, sizeof *r->topics))) {
        fail(p, t->line, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!topic_from(p, t->k == T_LIST ? t->kids[i] : t, &r->topics[r->n_topics])) {
            return false;
        }
        r->n_topics++;
    }
    return true;
}

static bool rule_from(struct pctx *p, const struct term *t, struct acl_rule *r)
{
    static const char *const shape =
        "a rule {allow|deny, Who, Action, Topics} or {allow|deny, all}";
    memset(r, 0, sizeof *r);
    r->qos_mask = ACL_QOS_ANY;
    r->retain = -1;
    if (t->k != T_TUPLE || (t->nk != 2 && t->nk != 4)) {
        fail_got(p, t, shape);
        return false;
    }
    if (!is_atom(t->kids[0], "allow") && !is_atom(t->kids[0], "deny")) {
        fail_got(p, t->kids[0], "allow or deny");
        return false;
    }
    r->allow = is_atom(t->kids[0], "allow");
    if (t->nk == 2) {
        if (!is_atom(t->kids[1], "all")) {
            fail_got(p, t->kids[1], "all (in {allow|deny, all})");
            return false;
        }
        r->actions = RMQ_ACL_PUBLISH | RMQ_ACL_SUBSCRIBE;
        r->all_topics = true;
        return (r->who = who_new(p, WHO_ALL, t->line)) != NULL;
    }
    return (r->who = who_from(p, t->kids[1], 0)) != NULL && action_from(p, t->kids[2], r) &&
           topics_from(p, t->kids[3], r);
}

static bool set_where(struct pctx *p, struct acl_rule *r, int line)
{
    if (asprintf(&r->where, "%s:%d", p->name, line) < 0) {
        r->where = NULL;
        fail(p, line, "out of memory");
        return false;
    }
    return true;
}

rmq_err rmq_acl_parse_emqx(struct rmq_acl *acl, const char *name, const char *text, size_t len,
                           char *err, size_t errlen)
{
    struct pctx p = {rmq_reader_make(text, len), name, 1, err, errlen, false};
    size_t first = acl->n_rules;
    err[0] = '\0';
    for (;;) {
        skip_space(&p);
        if (peek(&p) == -1) {
            return RMQ_OK;
        }
        struct term *t = parse_term(&p, 0);
        struct acl_rule r;
        bool ok = t != NULL;
        if (ok) {
            skip_space(&p);
            if (next(&p) != '.') {
                fail(&p, t->line, "expected '.' after the rule");
                ok = false;
            }
        }
        if (ok && acl->n_rules >= RMQ_ACL_RULES_MAX) {
            fail(&p, t->line, "more than 100000 rules");
            ok = false;
        }
        if (ok) {
            ok = rule_from(&p, t, &r) && set_where(&p, &r, t->line);
            if (ok && !rmq_acl__push(acl, &r)) {
                fail(&p, t->line, "out of memory");
                ok = false;
            }
            if (!ok) {
                rmq_acl__rule_clear(&r);
            }
        }
        term_free(t);
        if (!ok) {
            while (acl->n_rules > first) {
                rmq_acl__rule_clear(&acl->rules[--acl->n_rules]);
            }
            return RMQ_ERR_CONFIG;
        }
    }
}
