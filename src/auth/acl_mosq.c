/*
 * acl_mosq.c — a Mosquitto acl_file as a rule source (revmq extension):
 *
 *   # comment
 *   topic [read|write|readwrite|deny] <filter>     anonymous clients (before any `user`)
 *   user <username>                                the `topic` lines after it are that user's
 *   pattern [read|write|readwrite|deny] <filter>   every client; %u %c substituted
 *
 * Mosquitto's meaning is kept in the first-match model: all `deny` lines
 * first (Mosquitto checks denials before grants), then the grants, then a
 * deny of everything (Mosquitto refuses what the file does not grant). read
 * is subscribe, write is publish. Lines are read through the bounded reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl_int.h"
#include "common/reader.h"

struct mline {
    bool deny;
    unsigned actions;
    bool pattern;
    char *user;  /* owned: for `topic` lines after `user`; NULL = anonymous */
    char *topic; /* owned */
    size_t topic_len;
    int line;
};

static void trim(const uint8_t **p, size_t *n)
{
    while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r')) {
        (*n)--;
    }
}

/* Splits off the first word of [p, p+n). */
static void word(const uint8_t **p, size_t *n, const uint8_t **w, size_t *wn)
{
    *w = *p;
    size_t i = 0;
    while (i < *n && (*p)[i] != ' ' && (*p)[i] != '\t') {
        i++;
    }
    *wn = i;
    *p += i;
    *n -= i;
    trim(p, n);
}

static bool weq(const uint8_t *w, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(w, s, n) == 0;
}

static bool valid_filter(const uint8_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool start = i == 0 || f[i - 1] == '/';
        bool end = i + 1 == n || f[i + 1] == '/';
        if (f[i] == '\0' || (f[i] == '+' && !(start && end)) ||
            (f[i] == '#' && !(start && i + 1 == n))) {
            return false;
        }
    }
    return n > 0;
}

/* "[access] filter" after `topic` / `pattern`. */
static bool access_topic(const uint8_t *p, size_t n, struct mline *m)
{
    const uint8_t *w;
    size_t wn;
    const uint8_t *rest = p;
    size_t rn = n;
    word(&rest, &rn, &w, &wn);
    m->actions = RMQ_ACL_PUBLISH | RMQ_ACL_SUBSCRIBE;
    if (rn > 0 && (weq(w, wn, "read") || weq(w, wn, "write") || weq(w, wn, "readwrite") ||
                   weq(w, wn, "deny"))) {
        m->deny = weq(w, wn, "deny");
        m->actions = weq(w, wn, "read")    ? RMQ_ACL_SUBSCRIBE
                     : weq(w, wn, "write") ? RMQ_ACL_PUBLISH
                                           : RMQ_ACL_PUBLISH | RMQ_ACL_SUBSCRIBE;
        p = rest;
        n = rn;
    }
    if (!valid_filter(p, n)) {
        return false;
    }
    m->topic = strndup((const char *)p, n);
    m->topic_len = n;
    return m->topic != NULL;
}

static void mlines_free(struct mline *ls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ls[i].user);
        free(ls[i].topic);
    }
    free(ls);
}

/* One rule from a line. */
static bool emit(struct rmq_acl *acl, const char *name, const struct mline *m)
{
    struct acl_rule r;
    memset(&r, 0, sizeof r);
    r.allow = !m->deny;
    r.actions = m->actions;
    r.qos_mask = ACL_QOS_ANY;
    r.retain = -1;
    r.who = calloc(1, sizeof *r.who);
    r.topics = calloc(1, sizeof *r.topics);
    bool ok = r.who && r.topics;
    if (ok) {
        r.who->kind = m->pattern ? WHO_ALL : m->user ? WHO_USERNAME : WHO_ANONYMOUS;
        r.topics[0].text = strdup(m->topic);
        r.topics[0].len = m->topic_len;
        r.topics[0].has_ph = m->pattern && rmq_acl__has_placeholder(m->topic, m->topic_len);
        r.n_topics = r.topics[0].text ? 1 : 0;
        ok = r.n_topics == 1 && (!m->user || (r.who->str = strdup(m->user)) != NULL) &&
             asprintf(&r.where, "%s:%d", name, m->line) >= 0;
        if (!ok) {
            r.where = NULL;
        }
    }
    if (!ok || !rmq_acl__push(acl, &r)) {
        rmq_acl__rule_clear(&r);
        return false;
    }
    return true;
}

static bool emit_all(struct rmq_acl *acl, const char *name, const struct mline *ls, size_t n,
                     int last_line)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (ls[i].deny == (pass == 0) && !emit(acl, name, &ls[i])) {
                return false;
            }
        }
    }
    struct mline end = {.deny = true,
                        .actions = RMQ_ACL_PUBLISH | RMQ_ACL_SUBSCRIBE,
                        .pattern = true,
                        .topic = (char *)"#",
                        .topic_len = 1,
                        .line = last_line};
    if (!emit(acl, name, &end)) {
        return false;
    }
    /* the implicit deny also covers topics starting with '$' */
    acl->rules[acl->n_rules - 1].all_topics = true;
    return true;
}

/* Parses one non-comment line into *m (or a `user` switch). */
static const char *parse_line(const uint8_t *p, size_t n, char **user, struct mline *m,
                              bool *is_rule)
{
    const uint8_t *w;
    size_t wn;
    *is_rule = false;
    if (memchr(p, 0, n) != NULL) {
        return "NUL byte in the line";
    }
    word(&p, &n, &w, &wn);
    if (weq(w, wn, "user")) {
        if (n == 0) {
            return "expected a username after 'user'";
        }
        free(*user);
        *user = strndup((const char *)p, n);
        return *user ? NULL : "out of memory";
    }
    if (weq(w, wn, "topic") || weq(w, wn, "pattern")) {
        m->pattern = weq(w, wn, "pattern");
        if (!access_topic(p, n, m)) {
            return "expected [read|write|readwrite|deny] and a topic filter ('+' and '#' as "
                   "whole levels, '#' last)";
        }
        if (!m->pattern && *user && !(m->user = strdup(*user))) {
            return "out of memory";
        }
        *is_rule = true;
        return NULL;
    }
    return "expected 'topic', 'user' or 'pattern' at the start of the line";
}

rmq_err rmq_acl_parse_mosquitto(struct rmq_acl *acl, const char *name, const char *text, size_t len,
                                char *err, size_t errlen)
{
    struct rmq_reader r = rmq_reader_make(text, len);
    struct mline *ls = NULL;
    size_t n = 0, cap = 0, first = acl->n_rules;
    char *user = NULL;
    int line = 0;
    const uint8_t *p;
    size_t pn;
    const char *why = NULL;
    while (!why && rmq_reader_line(&r, &p, &pn) == RMQ_OK) {
        line++;
        trim(&p, &pn);
        if (pn == 0 || p[0] == '#') {
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct mline *nl = nc <= RMQ_ACL_RULES_MAX ? realloc(ls, nc * sizeof *nl) : NULL;
            if (!nl) {
                why = nc > RMQ_ACL_RULES_MAX ? "more than 100000 rules" : "out of memory";
                break;
            }
            ls = nl;
            cap = nc;
        }
        struct mline m = {.line = line};
        bool is_rule;
        why = parse_line(p, pn, &user, &m, &is_rule);
        if (why || !is_rule) {
            free(m.user);
            free(m.topic);
            continue;
        }
        ls[n++] = m;
    }
    free(user);
    if (!why && !emit_all(acl, name, ls, n, line)) {
        why = "out of memory";
    }
    mlines_free(ls, n);
    if (why) {
        snprintf(err, errlen, "%s:%d: %s", name, line, why);
        while (acl->n_rules > first) {
            rmq_acl__rule_clear(&acl->rules[--acl->n_rules]);
        }
        return RMQ_ERR_CONFIG;
    }
    return RMQ_OK;
}
