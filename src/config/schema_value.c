/* schema_value.c — converting parsed values to typed fields and back; see schema.h. */
#include "config/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"

void rmq_cfg_typed_clear(struct rmq_cfg_typed *t)
{
    free(t->s);
    for (size_t i = 0; i < t->list.count; i++) {
        free(t->list.items[i]);
    }
    free(t->list.items);
    memset(t, 0, sizeof *t);
}

static rmq_err bad(const struct rmq_cfg_key *k, char *why, size_t whylen, const char *prefix)
{
    char allowed[320];
    rmq_cfg_allowed(k, allowed, sizeof allowed);
    snprintf(why, whylen, "%s%s", prefix, allowed);
    return RMQ_ERR_CONFIG;
}

static bool streq(const struct rmq_cfg_str *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->len == n && memcmp(s->p, lit, n) == 0;
}

static rmq_err list_push(struct rmq_strlist *l, const char *p, size_t n)
{
    char **items = realloc(l->items, (l->count + 1) * sizeof *items);
    if (items == NULL) {
        return RMQ_ERR_NOMEM;
    }
    l->items = items;
    l->items[l->count] = strndup(p, n);
    if (l->items[l->count] == NULL) {
        return RMQ_ERR_NOMEM;
    }
    l->count++;
    return RMQ_OK;
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Array items as they are; a scalar split on commas and whitespace. */
static rmq_err to_list(const struct rmq_cfg_value *v, struct rmq_strlist *l)
{
    if (v->is_array) {
        for (size_t i = 0; i < v->count; i++) {
            RMQ_TRY(list_push(l, v->items[i].p, v->items[i].len));
        }
        return RMQ_OK;
    }
    const char *p = v->s.p, *end = v->s.p + v->s.len;
    while (p < end) {
        while (p < end && is_sep(*p)) {
            p++;
        }
        const char *start = p;
        while (p < end && !is_sep(*p)) {
            p++;
        }
        if (p > start) {
            RMQ_TRY(list_push(l, start, (size_t)(p - start)));
        }
    }
    return RMQ_OK;
}

static rmq_err to_string(const struct rmq_cfg_key *k, const struct rmq_cfg_value *v,
                         struct rmq_cfg_typed *out, char *why, size_t whylen)
{
    if (v->is_array) {
        if (!(k->flags & RMQ_CFG_F_JOIN)) {
            return bad(k, why, whylen, "must be ");
        }
        size_t total = 1;
        for (size_t i = 0; i < v->count; i++) {
            total += v->items[i].len + 1;
        }
        out->s = calloc(1, total);
        if (out->s == NULL) {
            return RMQ_ERR_NOMEM;
        }
        size_t n = 0;
        for (size_t i = 0; i < v->count; i++) {
            if (i > 0) {
                out->s[n++] = ',';
            }
            memcpy(out->s + n, v->items[i].p, v->items[i].len);
            n += v->items[i].len;
        }
    } else if (v->s.len > 0) {
        out->s = strndup(v->s.p, v->s.len);
        if (out->s == NULL) {
            return RMQ_ERR_NOMEM;
        }
    }
    if (out->s == NULL || out->s[0] == '\0') {
        free(out->s);
        out->s = NULL;
        if (!(k->flags & RMQ_CFG_F_OPTIONAL)) {
            return bad(k, why, whylen, "must be ");
        }
    }
    return RMQ_OK;
}

static bool valid_host(const char *p, size_t n)
{
    if (n == 0 || n >= sizeof(((struct rmq_bind *)0)->host)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == ':' || c == '-' || c == '_' || c == '%')) {
            return false;
        }
    }
    return true;
}

/* "host:port", "[v6]:port", "port" (host 0.0.0.0). */
static bool parse_bind(const char *s, size_t n, struct rmq_bind *b)
{
    const char *host = "0.0.0.0", *port = s;
    size_t hostlen = 7;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close + 1 >= s + n || close[1] != ':') {
            return false;
        }
        host = s + 1;
        hostlen = (size_t)(close - host);
        port = close + 2;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ':') {
                if (colon != NULL) {
                    return false; /* bare IPv6 needs brackets */
                }
                colon = s + i;
            }
        }
        if (colon != NULL) {
            host = s;
            hostlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    int64_t pv;
    if (!valid_host(host, hostlen) || !rmq_cfg__parse_int(port, (size_t)(s + n - port), &pv) ||
        pv < 0 || pv > 65535) {
        return false;
    }
    memcpy(b->host, host, hostlen);
    b->host[hostlen] = '\0';
    b->port = (uint16_t)pv;
    return true;
}

static rmq_err to_versions(const struct rmq_cfg_key *k, const struct rmq_cfg_value *v,
                           struct rmq_cfg_typed *out, char *why, size_t whylen)
{
    struct rmq_strlist l = {0};
    rmq_err e = to_list(v, &l);
    if (e == RMQ_OK && l.count == 0) {
        e = bad(k, why, whylen, "must be ");
    }
    for (size_t i = 0; e == RMQ_OK && i < l.count; i++) {
        size_t j = 0;
        while (k->values[j] != NULL && strcmp(k->values[j], l.items[i]) != 0) {
            j++;
        }
        if (k->values[j] == NULL) {
            e = bad(k, why, whylen, "must be ");
        } else {
            out->u |= 1u << j;
        }
    }
    struct rmq_cfg_typed tmp = {.list = l};
    rmq_cfg_typed_clear(&tmp);
    return e;
}

static rmq_err to_int(const struct rmq_cfg_key *k, const struct rmq_cfg_str *s,
                      struct rmq_cfg_typed *out, char *why, size_t whylen)
{
    int64_t v;
    if ((k->flags & RMQ_CFG_F_INFINITY) && streq(s, "infinity")) {
        out->u = k->size >= 8 ? UINT64_MAX : (1ull << (k->size * 8)) - 1;
        return RMQ_OK;
    }
    if ((k->flags & RMQ_CFG_F_DISABLED_ZERO) && streq(s, "disabled")) {
        out->u = 0;
        return RMQ_OK;
    }
    if (!rmq_cfg__parse_int(s->p, s->len, &v) || v < k->min || v > k->max) {
        return bad(k, why, whylen, "must be ");
    }
    out->u = (uint64_t)v;
    return RMQ_OK;
}

static rmq_err to_scalar(const struct rmq_cfg_key *k, const struct rmq_cfg_str *s,
                         struct rmq_cfg_typed *out, char *why, size_t whylen)
{
    uint64_t u = 0;
    switch (k->type) {
    case RMQ_CFG_BOOL:
        if (streq(s, "true") || streq(s, "on")) {
            out->u = 1;
        } else if (!streq(s, "false") && !streq(s, "off")) {
            return bad(k, why, whylen, "must be ");
        }
        return RMQ_OK;
    case RMQ_CFG_INT:
        return to_int(k, s, out, why, whylen);
    case RMQ_CFG_FLOAT:
        if (!rmq_cfg__parse_float(s->p, s->len, &out->d) || out->d < k->fmin || out->d > k->fmax) {
            return bad(k, why, whylen, "must be ");
        }
        return RMQ_OK;
    case RMQ_CFG_DURATION:
    case RMQ_CFG_BYTESIZE: {
        bool ok = k->type == RMQ_CFG_DURATION
                      ? rmq_duration_parse(s->p, s->len, RMQ_DURATION_BARE_ZERO, &u) == RMQ_OK
                      : rmq_cfg__parse_bytesize(s->p, s->len, &u);
        if (!ok || u < (uint64_t)k->min || u > (uint64_t)k->max) {
            return bad(k, why, whylen, "must be ");
        }
        out->u = u;
        return RMQ_OK;
    }
    case RMQ_CFG_RATE:
        if ((k->flags & RMQ_CFG_F_INFINITY) && streq(s, "infinity")) {
            out->u = UINT64_MAX;
            return RMQ_OK;
        }
        if (!rmq_cfg__parse_rate(s->p, s->len, &u) || u < (uint64_t)k->min ||
            u > (uint64_t)k->max) {
            return bad(k, why, whylen, "must be ");
        }
        out->u = u;
        return RMQ_OK;
    case RMQ_CFG_ENUM:
        for (size_t i = 0; k->values[i] != NULL; i++) {
            if (streq(s, k->values[i])) {
                out->u = i;
                return RMQ_OK;
            }
        }
        return bad(k, why, whylen, "must be ");
    case RMQ_CFG_BIND:
        if (!parse_bind(s->p, s->len, &out->bind)) {
            return bad(k, why, whylen, "must be ");
        }
        return RMQ_OK;
    default:
        return bad(k, why, whylen, "must be ");
    }
}

rmq_err rmq_cfg_convert(const struct rmq_cfg_key *k, const struct rmq_cfg_value *v,
                        struct rmq_cfg_typed *out, char *why, size_t whylen)
{
    rmq_err e;
    memset(out, 0, sizeof *out);
    switch (k->type) {
    case RMQ_CFG_STRING:
    case RMQ_CFG_PATH:
        e = to_string(k, v, out, why, whylen);
        break;
    case RMQ_CFG_STRLIST:
        e = to_list(v, &out->list);
        break;
    case RMQ_CFG_TLSVERSIONS:
        e = to_versions(k, v, out, why, whylen);
        break;
    default:
        e = v->is_array ? bad(k, why, whylen, "must be ") : to_scalar(k, &v->s, out, why, whylen);
        break;
    }
    if (e == RMQ_ERR_NOMEM) {
        snprintf(why, whylen, "out of memory");
    }
    if (e != RMQ_OK) {
        rmq_cfg_typed_clear(out);
    }
    return e;
}

/* ---- fields ---------------------------------------------------------------------------- */

static void put_uint(void *field, size_t size, uint64_t v)
{
    uint8_t u8 = (uint8_t)v;
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;
    switch (size) {
    case 1:
        memcpy(field, &u8, 1);
        break;
    case 2:
        memcpy(field, &u16, 2);
        break;
    case 4:
        memcpy(field, &u32, 4);
        break;
    default:
        memcpy(field, &v, 8);
        break;
    }
}

static uint64_t get_uint(const void *field, size_t size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t v;
    switch (size) {
    case 1:
        memcpy(&u8, field, 1);
        return u8;
    case 2:
        memcpy(&u16, field, 2);
        return u16;
    case 4:
        memcpy(&u32, field, 4);
        return u32;
    default:
        memcpy(&v, field, 8);
        return v;
    }
}

void rmq_cfg_field_free(const struct rmq_cfg_key *k, void *base)
{
    char *field = (char *)base + k->offset;
    if (k->type == RMQ_CFG_STRING || k->type == RMQ_CFG_PATH) {
        char *s;
        memcpy(&s, field, sizeof s);
        free(s);
        s = NULL;
        memcpy(field, &s, sizeof s);
    } else if (k->type == RMQ_CFG_STRLIST) {
        struct rmq_cfg_typed t = {0};
        memcpy(&t.list, field, sizeof t.list);
        rmq_cfg_typed_clear(&t);
        memset(field, 0, sizeof t.list);
    }
}

void rmq_cfg_store(const struct rmq_cfg_key *k, void *base, struct rmq_cfg_typed *t)
{
    char *field = (char *)base + k->offset;
    rmq_cfg_field_free(k, base);
    switch (k->type) {
    case RMQ_CFG_STRING:
    case RMQ_CFG_PATH:
        memcpy(field, &t->s, sizeof t->s);
        t->s = NULL;
        break;
    case RMQ_CFG_STRLIST:
        memcpy(field, &t->list, sizeof t->list);
        memset(&t->list, 0, sizeof t->list);
        break;
    case RMQ_CFG_FLOAT:
        memcpy(field, &t->d, sizeof t->d);
        break;
    case RMQ_CFG_BIND:
        memcpy(field, &t->bind, sizeof t->bind);
        break;
    case RMQ_CFG_BOOL: {
        bool b = t->u != 0;
        memcpy(field, &b, sizeof b);
        break;
    }
    default:
        put_uint(field, k->size, t->u);
        break;
    }
    rmq_cfg_typed_clear(t);
}

/* Appends s quoted with \" and \\ escaped (and control characters as \uXXXX). */
static void quote(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen < 3) {
        return;
    }
    out[n++] = '"';
    for (; *s != '\0' && n + 8 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
}

static void format_list(const struct rmq_strlist *l, char *out, size_t outlen)
{
    size_t n = 0;
    char q[1024];
    n += (size_t)snprintf(out, outlen, "[");
    for (size_t i = 0; i < l->count && n < outlen; i++) {
        quote(l->items[i], q, sizeof q);
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", q);
    }
    if (n < outlen) {
        snprintf(out + n, outlen - n, "]");
    }
}

static void format_versions(const struct rmq_cfg_key *k, uint64_t mask, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "[");
    bool first = true;
    /* newest first, as EMQX writes them */
    size_t count = 0;
    while (k->values[count] != NULL) {
        count++;
    }
    for (size_t i = count; i-- > 0 && n < outlen;) {
        if (mask & (1u << i)) {
            n += (size_t)snprintf(out + n, outlen - n, "%s%s", first ? "" : ", ", k->values[i]);
            first = false;
        }
    }
    if (n < outlen) {
        snprintf(out + n, outlen - n, "]");
    }
}

static void format_bind(const struct rmq_bind *b, char *out, size_t outlen)
{
    bool v6 = memchr(b->host, ':', strnlen(b->host, sizeof b->host)) != NULL;
    snprintf(out, outlen, "\"%s%s%s:%u\"", v6 ? "[" : "", b->host, v6 ? "]" : "",
             (unsigned)b->port);
}

void rmq_cfg_format(const struct rmq_cfg_key *k, const void *base, bool mask, char *out,
                    size_t outlen)
{
    const char *field = (const char *)base + k->offset;
    uint64_t u = k->size > 0 ? get_uint(field, k->size) : 0;
    switch (k->type) {
    case RMQ_CFG_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        snprintf(out, outlen, "%s", b ? "true" : "false");
        break;
    }
    case RMQ_CFG_INT:
        if ((k->flags & RMQ_CFG_F_INFINITY) &&
            u == (k->size >= 8 ? UINT64_MAX : (1ull << (k->size * 8)) - 1)) {
            snprintf(out, outlen, "infinity");
        } else if ((k->flags & RMQ_CFG_F_DISABLED_ZERO) && u == 0) {
            snprintf(out, outlen, "disabled");
        } else {
            snprintf(out, outlen, "%llu", (unsigned long long)u);
        }
        break;
    case RMQ_CFG_FLOAT: {
        double d;
        memcpy(&d, field, sizeof d);
        snprintf(out, outlen, "%g", d);
        break;
    }
    case RMQ_CFG_DURATION:
        rmq_cfg_format_duration(u, out, outlen);
        break;
    case RMQ_CFG_BYTESIZE:
        rmq_cfg_format_bytesize(u, out, outlen);
        break;
    case RMQ_CFG_RATE:
        rmq_cfg_format_rate(u, out, outlen);
        break;
    case RMQ_CFG_STRING:
    case RMQ_CFG_PATH: {
        const char *s;
        memcpy(&s, field, sizeof s);
        if (s != NULL && mask && (k->flags & RMQ_CFG_F_SECRET)) {
            snprintf(out, outlen, "\"******\"");
        } else {
            quote(s != NULL ? s : "", out, outlen);
        }
        break;
    }
    case RMQ_CFG_ENUM: {
        size_t i = 0;
        while (k->values[i] != NULL && i < u) {
            i++;
        }
        snprintf(out, outlen, "%s", k->values[i] != NULL ? k->values[i] : "?");
        break;
    }
    case RMQ_CFG_STRLIST: {
        struct rmq_strlist l;
        memcpy(&l, field, sizeof l);
        format_list(&l, out, outlen);
        break;
    }
    case RMQ_CFG_BIND: {
        struct rmq_bind b;
        memcpy(&b, field, sizeof b);
        format_bind(&b, out, outlen);
        break;
    }
    case RMQ_CFG_TLSVERSIONS:
        format_versions(k, u, out, outlen);
        break;
    default:
        snprintf(out, outlen, "?");
        break;
    }
}
