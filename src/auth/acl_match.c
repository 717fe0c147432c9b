/*
 * acl_match.c — rule lists: construction, EMQX topic matching, placeholders,
 * Who matching and the first-match evaluation; see acl.h.
 *
 * Placeholders in rule topics: ${username} ${clientid} ${cert_common_name}
 * ${cert_subject} (EMQX 5) and %u %c (EMQX 4.4, Mosquitto). A rule topic
 * whose placeholder has no value, or a value holding '/', '+' or '#', does
 * not match: a client named "#" must not turn "u/${username}/#" into "u/#/#".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl_int.h"

/* ---- construction -------------------------------------------------------------------------- */

void rmq_acl__who_free(struct who *w)
{
    if (!w) {
        return;
    }
    for (size_t i = 0; i < w->n_kids; i++) {
        rmq_acl__who_free(w->kids[i]);
    }
    if (w->has_re) {
        regfree(&w->re);
    }
    free(w->kids);
    free(w->cidrs);
    free(w->str);
    free(w);
}

void rmq_acl__rule_clear(struct acl_rule *r)
{
    rmq_acl__who_free(r->who);
    for (size_t i = 0; i < r->n_topics; i++) {
        free(r->topics[i].text);
    }
    free(r->topics);
    free(r->where);
    memset(r, 0, sizeof *r);
}

bool rmq_acl__push(struct rmq_acl *acl, struct acl_rule *r)
{
    if (acl->n_rules == acl->a_rules) {
        size_t na = acl->a_rules ? acl->a_rules * 2 : 16;
        struct acl_rule *nr = realloc(acl->rules, na * sizeof *nr);
        if (!nr) {
            return false;
        }
        acl->rules = nr;
        acl->a_rules = na;
    }
    acl->rules[acl->n_rules++] = *r;
    memset(r, 0, sizeof *r);
    return true;
}

struct rmq_acl *rmq_acl_new(void)
{
    struct rmq_acl *acl = calloc(1, sizeof *acl);
    if (acl) {
        atomic_init(&acl->refs, 1);
    }
    return acl;
}

void rmq_acl_free(struct rmq_acl *acl)
{
    if (!acl) {
        return;
    }
    for (size_t i = 0; i < acl->n_rules; i++) {
        rmq_acl__rule_clear(&acl->rules[i]);
    }
    free(acl->rules);
    free(acl);
}

size_t rmq_acl_rule_count(const struct rmq_acl *acl)
{
    return acl->n_rules;
}

rmq_err rmq_acl_load_file(struct rmq_acl *acl, const char *path, bool mosquitto, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the rule file: %s", path, strerror(errno));
        return RMQ_ERR_CONFIG;
    }
    char *buf = malloc(RMQ_ACL_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, RMQ_ACL_FILE_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > RMQ_ACL_FILE_MAX;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read the rule file: %s", path,
                 !buf                   ? "out of memory"
                 : n > RMQ_ACL_FILE_MAX ? "larger than 16MB"
                                        : "read error");
        free(buf);
        return RMQ_ERR_CONFIG;
    }
    rmq_err e = mosquitto ? rmq_acl_parse_mosquitto(acl, path, buf, n, err, errlen)
                          : rmq_acl_parse_emqx(acl, path, buf, n, err, errlen);
    free(buf);
    return e;
}

/* ---- addresses ----------------------------------------------------------------------------- */

static bool parse_ip(const char *s, size_t n, int *family, uint8_t ip[16])
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) {
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, ip) == 1) {
        *family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, ip) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(ip, mapped, 12) == 0) { /* ::ffff:a.b.c.d is IPv4 */
            memmove(ip, ip + 12, 4);
            *family = 4;
        } else {
            *family = 6;
        }
        return true;
    }
    return false;
}

bool rmq_acl__parse_cidr(const char *s, size_t n, struct cidr *out)
{
    const char *slash = memchr(s, '/', n);
    size_t iplen = slash ? (size_t)(slash - s) : n;
    if (!parse_ip(s, iplen, &out->family, out->addr)) {
        return false;
    }
    unsigned max = out->family == 4 ? 32 : 128;
    out->bits = max;
    if (slash) {
        const char *q = slash + 1, *end = s + n;
        unsigned v = 0;
        if (q == end || end - q > 3) {
            return false;
        }
        for (; q < end; q++) {
            if (*q < '0' || *q > '9') {
                return false;
            }
            v = v * 10 + (unsigned)(*q - '0');
        }
        if (v > max) {
            return false;
        }
        out->bits = v;
    }
    return true;
}

bool rmq_acl_identity_set_addr(struct rmq_acl_identity *id, const char *addr)
{
    id->family = 0;
    if (!addr) {
        return false;
    }
    size_t n = strnlen(addr, 64);
    const char *s = addr;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        return close && parse_ip(s + 1, (size_t)(close - s - 1), &id->family, id->ip);
    }
    /* The net layer writes "host:port", IPv6 without brackets ("::1:1883"),
     * so the port is stripped first; a bare address is the fallback. */
    const char *colon = memrchr(s, ':', n);
    if (colon && parse_ip(s, (size_t)(colon - s), &id->family, id->ip)) {
        return true;
    }
    return parse_ip(s, n, &id->family, id->ip);
}

static bool cidr_has(const struct cidr *c, const struct rmq_acl_identity *id)
{
    if (id->family != c->family) {
        return false;
    }
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, id->ip, full) != 0) {
        return false;
    }
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return rest == 0 || (c->addr[full] & mask) == (id->ip[full] & mask);
}

/* ---- Who ----------------------------------------------------------------------------------- */

bool rmq_acl__who_match(const struct who *w, const struct rmq_acl_identity *id)
{
    switch (w->kind) {
    case WHO_ALL:
        return true;
    case WHO_USERNAME:
        return id->username && strcmp(id->username, w->str) == 0;
    case WHO_USERNAME_RE:
        return id->username && regexec(&w->re, id->username, 0, NULL, 0) == 0;
    case WHO_CLIENTID:
        return id->clientid && strcmp(id->clientid, w->str) == 0;
    case WHO_CLIENTID_RE:
        return id->clientid && regexec(&w->re, id->clientid, 0, NULL, 0) == 0;
    case WHO_IPADDRS:
        for (size_t i = 0; i < w->n_cidrs; i++) {
            if (cidr_has(&w->cidrs[i], id)) {
                return true;
            }
        }
        return false;
    case WHO_AND:
        for (size_t i = 0; i < w->n_kids; i++) {
            if (!rmq_acl__who_match(w->kids[i], id)) {
                return false;
            }
        }
        return true;
    case WHO_OR:
        for (size_t i = 0; i < w->n_kids; i++) {
            if (rmq_acl__who_match(w->kids[i], id)) {
                return true;
            }
        }
        return false;
    case WHO_ANONYMOUS:
        return !id->username || id->username[0] == '\0';
    default:
        return false;
    }
}

/* ---- topics -------------------------------------------------------------------------------- */

bool rmq_acl_topic_match(const char *rule, size_t rlen, const char *subj, size_t slen)
{
    if (rlen > 0 && (rule[0] == '+' || rule[0] == '#') && slen > 0 && subj[0] == '$') {
        return false; /* MQTT-4.7.2-1, as EMQX applies it to rules */
    }
    const char *r = rule, *rend = rule + rlen, *s = subj, *send = subj + slen;
    bool s_done = false;
    for (;;) {
        const char *rl_end = memchr(r, '/', (size_t)(rend - r));
        rl_end = rl_end ? rl_end : rend;
        size_t rl = (size_t)(rl_end - r);
        if (rl == 1 && r[0] == '#') {
            return true;
        }
        if (s_done) {
            return false;
        }
        const char *sl_end = memchr(s, '/', (size_t)(send - s));
        sl_end = sl_end ? sl_end : send;
        size_t sl = (size_t)(sl_end - s);
        if (!(rl == 1 && r[0] == '+') && (rl != sl || memcmp(r, s, rl) != 0)) {
            return false;
        }
        bool r_last = rl_end == rend, s_last = sl_end == send;
        if (r_last) {
            return s_last;
        }
        r = rl_end + 1;
        if (s_last) {
            s_done = true; /* only a following "#" can still match */
        } else {
            s = sl_end + 1;
        }
    }
}

static const struct {
    const char *name;
    size_t len;
} placeholders[] = {
    {"${username}", 11},     {"${clientid}", 11}, {"${cert_common_name}", 19},
    {"${cert_subject}", 15}, {"%u", 2},           {"%c", 2},
};

static const char *ph_value(size_t i, const struct rmq_acl_identity *id)
{
    switch (i) {
    case 0:
    case 4:
        return id->username;
    case 1:
    case 5:
        return id->clientid;
    case 2:
        return id->cert_cn;
    case 3:
        return id->cert_subject;
    default:
        return NULL;
    }
}

/* The placeholder at t[0..n) (index into placeholders[]), or -1. */
static int ph_at(const char *t, size_t n)
{
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++) {
        if (n >= placeholders[i].len && memcmp(t, placeholders[i].name, placeholders[i].len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *rmq_acl__unknown_placeholder(const char *t, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (t[i] == '$' && t[i + 1] == '{' && ph_at(t + i, n - i) < 0) {
            return t + i;
        }
    }
    return NULL;
}

bool rmq_acl__has_placeholder(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ph_at(t + i, n - i) >= 0) {
            return true;
        }
    }
    return false;
}

/* Writes the rule topic with values filled in to out (NULL: only measures);
 * false when a value is missing or unfit for a topic level. */
static bool expand(const struct acl_topic *t, const struct rmq_acl_identity *id, char *out,
                   size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < t->len;) {
        int ph = ph_at(t->text + i, t->len - i);
        if (ph < 0) {
            if (out) {
                out[o] = t->text[i];
            }
            o++;
            i++;
            continue;
        }
        const char *v = ph_value((size_t)ph, id);
        size_t vl = v ? strlen(v) : 0;
        if (vl == 0 || strpbrk(v, "/+#") != NULL) {
            return false;
        }
        if (out) {
            memcpy(out + o, v, vl);
        }
        o += vl;
        i += placeholders[ph].len;
    }
    *len = o;
    return true;
}

static bool topic_matches(const struct acl_topic *t, const struct rmq_acl_identity *id,
                          const char *topic, size_t len)
{
    if (t->eq) {
        return t->len == len && memcmp(t->text, topic, len) == 0;
    }
    if (!t->has_ph) {
        return rmq_acl_topic_match(t->text, t->len, topic, len);
    }
    size_t need;
    if (!expand(t, id, NULL, &need)) {
        return false;
    }
    char stack[512];
    char *buf = need <= sizeof stack ? stack : malloc(need);
    if (!buf) {
        return false;
    }
    bool m = expand(t, id, buf, &need) && rmq_acl_topic_match(buf, need, topic, len);
    if (buf != stack) {
        free(buf);
    }
    return m;
}

bool rmq_acl__rule_applies(const struct acl_rule *r, const struct rmq_acl_identity *id,
                           enum rmq_acl_action action, const char *topic, size_t len, uint8_t qos,
                           bool retain)
{
    if (!(r->actions & (unsigned)action) || qos > 2 || !(r->qos_mask & (1u << qos))) {
        return false;
    }
    if (action == RMQ_ACL_PUBLISH && r->retain >= 0 && r->retain != (int)retain) {
        return false;
    }
    if (r->all_topics) {
        return true;
    }
    for (size_t i = 0; i < r->n_topics; i++) {
        if (topic_matches(&r->topics[i], id, topic, len)) {
            return true;
        }
    }
    return false;
}

enum rmq_acl_result rmq_acl_check(const struct rmq_acl *acl, const struct rmq_acl_identity *id,
                                  enum rmq_acl_action action, const char *topic, size_t len,
                                  uint8_t qos, bool retain, const char **line)
{
    for (size_t i = 0; i < acl->n_rules; i++) {
        const struct acl_rule *r = &acl->rules[i];
        if (rmq_acl__who_match(r->who, id) &&
            rmq_acl__rule_applies(r, id, action, topic, len, qos, retain)) {
            if (line) {
                *line = r->where;
            }
            return r->allow ? RMQ_ACL_ALLOW : RMQ_ACL_DENY;
        }
    }
    return RMQ_ACL_NOMATCH;
}
